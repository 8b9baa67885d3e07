#include "aggregation/server_adam.h"

#include "tests/aggregation/test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace fedgan::aggregation {
namespace {

using test::contains;
using test::error_message;
using test::Tensors;

// "w" is a weight (Adam), "bn" a running statistic (plain mean).
const ModelLayout kLayout{{{"w", 2}, {"bn", 1}}};

// Values chosen so every bias-corrected second moment is 1 or 4: the steps are hand-computable.
ServerAdamOptions hand_options() {
  ServerAdamOptions options;
  options.lr = 0.5;
  options.beta1 = 0.5;
  options.beta2 = 0.75;
  options.epsilon = 0.25;
  return options;
}

TEST(ServerAdam, TwoStepsMatchAHandComputation) {
  ServerAdam adam(kLayout, {true, false}, hand_options());
  Tensors global{{{0.0f, 1.0f}, {2.0f}}};

  // Step 1, d = (1, -2 | 0.5): m = (0.5, -1), v = (0.25, 1); step size 0.5 / (1 - 0.5) = 1,
  // v_hat = v / (1 - 0.75) = (1, 4). Change: 0.5 / (1 + 0.25) = 0.4, -1 / (2 + 0.25) = -4/9;
  // bn += 0.5.
  const Tensors d1{{{1.0f, -2.0f}, {0.5f}}};
  const double norm1 = adam.step(d1.views(), global.mutable_views());
  EXPECT_FLOAT_EQ(global.values[0][0], 0.4f);
  EXPECT_FLOAT_EQ(global.values[0][1], static_cast<float>(5.0 / 9.0));
  EXPECT_FLOAT_EQ(global.values[1][0], 2.5f);
  EXPECT_NEAR(norm1, std::sqrt(0.16 + 16.0 / 81.0 + 0.25), 1e-12);
  EXPECT_EQ(adam.steps(), 1);

  // Step 2, d = (1, 2 | -0.5): m = (0.75, 0.5), v = (0.4375, 1.75); step size
  // 0.5 / (1 - 0.25) = 2/3, v_hat = v / (1 - 0.5625) = (1, 4). Change: (2/3) 0.75 / 1.25 = 0.4,
  // (2/3) 0.5 / 2.25 = 4/27; bn -= 0.5.
  const Tensors d2{{{1.0f, 2.0f}, {-0.5f}}};
  const double norm2 = adam.step(d2.views(), global.mutable_views());
  EXPECT_FLOAT_EQ(global.values[0][0], 0.8f);
  EXPECT_FLOAT_EQ(global.values[0][1], static_cast<float>(19.0 / 27.0));
  EXPECT_FLOAT_EQ(global.values[1][0], 2.0f);
  EXPECT_NEAR(norm2, std::sqrt(0.16 + 16.0 / 729.0 + 0.25), 1e-12);
  EXPECT_EQ(adam.steps(), 2);
}

TEST(ServerAdam, FirstStepMovesEveryWeightByAboutLrWhateverTheDeltaScale) {
  // Adam's first step is lr * d / (|d| + epsilon): the pseudo-gradient's scale (a client's SGD
  // learning rate) hardly matters, which is what lets sites take small plain-SGD steps.
  ServerAdamOptions options;
  options.lr = 0.01;
  ServerAdam adam(kLayout, {true, true}, options);
  Tensors global{{{0.0f, 0.0f}, {0.0f}}};
  const Tensors d{{{1e-4f, -3.0f}, {0.02f}}};
  adam.step(d.views(), global.mutable_views());
  EXPECT_NEAR(global.values[0][0], 0.01, 1e-6);
  EXPECT_NEAR(global.values[0][1], -0.01, 1e-6);
  EXPECT_NEAR(global.values[1][0], 0.01, 1e-6);
}

TEST(ServerAdam, ResetForgetsTheMoments) {
  ServerAdam adam(kLayout, {true, false}, hand_options());
  Tensors global{{{0.0f, 1.0f}, {2.0f}}};
  adam.step(Tensors{{{3.0f, 3.0f}, {0.0f}}}.views(), global.mutable_views());
  adam.reset();
  EXPECT_EQ(adam.steps(), 0);
  global = Tensors{{{0.0f, 1.0f}, {2.0f}}};
  adam.step(Tensors{{{1.0f, -2.0f}, {0.5f}}}.views(), global.mutable_views());
  EXPECT_FLOAT_EQ(global.values[0][0], 0.4f);  // as the first step of the hand computation
  EXPECT_FLOAT_EQ(global.values[0][1], static_cast<float>(5.0 / 9.0));
}

TEST(ServerAdam, SetLrScalesTheFollowingStepsAndKeepsTheMoments) {
  ServerAdam adam(kLayout, {true, false}, hand_options());
  Tensors global{{{0.0f, 1.0f}, {2.0f}}};
  adam.step(Tensors{{{1.0f, -2.0f}, {0.5f}}}.views(), global.mutable_views());
  // The hand computation's second step at half its step size: weight changes 0.2 and 2/27 (the
  // moments carried over from step 1), the running statistic's plain mean is not scaled.
  adam.set_lr(0.25);
  adam.step(Tensors{{{1.0f, 2.0f}, {-0.5f}}}.views(), global.mutable_views());
  EXPECT_FLOAT_EQ(global.values[0][0], 0.6f);
  EXPECT_FLOAT_EQ(global.values[0][1], static_cast<float>(5.0 / 9.0 + 2.0 / 27.0));
  EXPECT_FLOAT_EQ(global.values[1][0], 2.0f);
  EXPECT_EQ(adam.options().lr, 0.25);
  EXPECT_TRUE(contains(error_message([&] { adam.set_lr(0.0); }), "lr must be finite and positive"));
  EXPECT_TRUE(contains(error_message([&] { adam.set_lr(std::nan("")); }), "lr"));
  EXPECT_EQ(adam.options().lr, 0.25);
}

TEST(ServerAdam, MismatchedViewsLeaveModelAndMomentsUntouched) {
  ServerAdam adam(kLayout, {true, false}, hand_options());
  Tensors global{{{0.0f, 1.0f}, {2.0f}}};
  const Tensors short_delta{{{1.0f, -2.0f}}};
  EXPECT_TRUE(
      contains(error_message([&] { adam.step(short_delta.views(), global.mutable_views()); }),
               "mean delta"));
  EXPECT_EQ(adam.steps(), 0);
  EXPECT_EQ(global.values[0][0], 0.0f);
  adam.step(Tensors{{{1.0f, -2.0f}, {0.5f}}}.views(), global.mutable_views());
  EXPECT_FLOAT_EQ(global.values[0][0], 0.4f);
}

TEST(ServerAdam, AStepMovesOnlyTheMovingTensorsAndEachCountsItsOwnSteps) {
  // "g" and "d" stand for two networks stepped in alternate rounds.
  const ModelLayout layout{{{"g", 1}, {"d", 1}, {"bn", 1}}};
  ServerAdam adam(layout, {true, true, false}, hand_options());
  Tensors global{{{0.0f}, {0.0f}, {2.0f}}};
  const Tensors d{{{1.0f}, {1.0f}, {0.5f}}};

  // Only "d" and the running statistic move. As step 1 of the hand computation: 0.4.
  const double norm = adam.step(d.views(), global.mutable_views(), {false, true, true});
  EXPECT_EQ(global.values[0][0], 0.0f);
  EXPECT_FLOAT_EQ(global.values[1][0], 0.4f);
  EXPECT_FLOAT_EQ(global.values[2][0], 2.5f);
  EXPECT_NEAR(norm, std::sqrt(0.16 + 0.25), 1e-12);
  EXPECT_EQ(adam.tensor_steps(0), 0);
  EXPECT_EQ(adam.tensor_steps(1), 1);

  // "g" takes its first step (bias correction for t = 1, moments fresh): 0.4 again.
  adam.step(d.views(), global.mutable_views(), {true, false, false});
  EXPECT_FLOAT_EQ(global.values[0][0], 0.4f);
  EXPECT_FLOAT_EQ(global.values[1][0], 0.4f);
  EXPECT_FLOAT_EQ(global.values[2][0], 2.5f);

  // "d" takes its second step: m = 0.75, v = 0.4375, step size 2/3, v_hat = 1, change 0.4.
  adam.step(d.views(), global.mutable_views(), {false, true, false});
  EXPECT_FLOAT_EQ(global.values[1][0], 0.8f);
  EXPECT_EQ(adam.steps(), 3);
  EXPECT_EQ(adam.tensor_steps(0), 1);
  EXPECT_EQ(adam.tensor_steps(1), 2);
  EXPECT_TRUE(contains(error_message([&] { adam.step(d.views(), global.mutable_views(), {true}); }),
                       "moving mask"));
  EXPECT_EQ(adam.steps(), 3);
}

TEST(ServerAdam, RejectsInvalidOptionsAndMasks) {
  auto with = [](auto change) {
    ServerAdamOptions options;
    change(options);
    return error_message([&] { ServerAdam(kLayout, {true, false}, options); });
  };
  EXPECT_TRUE(contains(with([](auto& o) { o.lr = 0; }), "lr"));
  EXPECT_TRUE(contains(with([](auto& o) { o.lr = std::nan(""); }), "lr"));
  EXPECT_TRUE(contains(with([](auto& o) { o.beta1 = 1.0; }), "beta1"));
  EXPECT_TRUE(contains(with([](auto& o) { o.beta2 = -0.1; }), "beta2"));
  EXPECT_TRUE(contains(with([](auto& o) { o.epsilon = 0; }), "epsilon"));
  EXPECT_TRUE(contains(error_message([] { ServerAdam(kLayout, {true}, {}); }), "mask"));
}

// A step that would leave a value beyond the float range changes neither the model nor the
// moments: the next valid step is the one a fresh optimizer would take.
TEST(ServerAdam, RefusesAStepBeyondTheFloatRangeAndKeepsModelAndMoments) {
  constexpr float kMax = std::numeric_limits<float>::max();
  ServerAdam adam(kLayout, {true, false}, hand_options());
  ServerAdam fresh(kLayout, {true, false}, hand_options());
  Tensors global{{{0.0f, 1.0f}, {kMax}}};
  const Tensors before = global;
  const Tensors overflowing{{{1.0f, -2.0f}, {kMax}}};  // bn takes the plain mean: kMax + kMax
  const std::string message =
      error_message([&] { adam.step(overflowing.views(), global.mutable_views()); });
  EXPECT_TRUE(contains(message, "bn[0]")) << message;
  EXPECT_EQ(global.values, before.values);
  EXPECT_EQ(adam.steps(), 0);
  EXPECT_EQ(adam.tensor_steps(0), 0);
  const Tensors d{{{1.0f, -2.0f}, {-1.0f}}};
  Tensors expected = before;
  fresh.step(d.views(), expected.mutable_views());
  adam.step(d.views(), global.mutable_views());
  EXPECT_EQ(global.values, expected.values);
}

}  // namespace
}  // namespace fedgan::aggregation
