#include "aggregation/fedavg.h"

#include "tests/aggregation/test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <vector>

namespace fedgan::aggregation {
namespace {

using test::contains;
using test::error_message;
using test::Tensors;

const ModelLayout kLayout{{{"w", 3}, {"b", 2}}};

// Three deltas with exactly representable values; the sample counts are 3, 1 and 6.
const Tensors kDelta1{{{0.5f, -1.0f, 2.0f}, {0.25f, 4.0f}}};
const Tensors kDelta2{{{1.5f, 3.0f, -2.0f}, {-0.75f, 0.0f}}};
const Tensors kDelta3{{{-0.25f, 0.125f, 1.0f}, {1.0f, -2.0f}}};

void add_three(StreamingFedAvg& fedavg) {
  fedavg.add(kDelta1.views(), 3);
  fedavg.add(kDelta2.views(), 1);
  fedavg.add(kDelta3.views(), 6);
}

std::vector<float> flat_mean(const StreamingFedAvg& fedavg) {
  Tensors out = test::zeros_like(fedavg.layout());
  fedavg.aggregate_into(out.mutable_views());
  std::vector<float> flat;
  for (const auto& tensor : out.values) flat.insert(flat.end(), tensor.begin(), tensor.end());
  return flat;
}

TEST(StreamingFedAvg, WeightsBySampleCountExactly) {
  StreamingFedAvg fedavg(kLayout, FedAvgOptions{});
  add_three(fedavg);
  EXPECT_EQ(fedavg.num_updates(), 3u);
  EXPECT_DOUBLE_EQ(fedavg.total_weight(), 10.0);
  // Hand computation: 3 * delta1 + 1 * delta2 + 6 * delta3.
  //   w: 1.5 + 1.5 - 1.5 = 1.5;  -3 + 3 + 0.75 = 0.75;  6 - 2 + 6 = 10
  //   b: 0.75 - 0.75 + 6 = 6;    12 + 0 - 12 = 0
  const std::vector<double> expected_sum = {1.5, 0.75, 10.0, 6.0, 0.0};
  ASSERT_EQ(fedavg.weighted_sum().size(), expected_sum.size());
  for (size_t i = 0; i < expected_sum.size(); ++i) {
    EXPECT_DOUBLE_EQ(fedavg.weighted_sum()[i], expected_sum[i]) << i;
  }
  const std::vector<float> mean = flat_mean(fedavg);
  EXPECT_FLOAT_EQ(mean[0], 0.15f);
  EXPECT_FLOAT_EQ(mean[1], 0.075f);
  EXPECT_FLOAT_EQ(mean[2], 1.0f);
  EXPECT_FLOAT_EQ(mean[3], 0.6f);
  EXPECT_FLOAT_EQ(mean[4], 0.0f);
  // Not merely close: the double quotient rounded once to float.
  for (size_t i = 0; i < mean.size(); ++i) {
    EXPECT_EQ(mean[i], static_cast<float>(expected_sum[i] / 10.0)) << i;
  }
}

TEST(StreamingFedAvg, CapsSampleCountWeights) {
  FedAvgOptions options;
  options.max_samples_per_update = 2;
  StreamingFedAvg fedavg(kLayout, options);
  add_three(fedavg);  // weights 2, 1, 2
  EXPECT_DOUBLE_EQ(fedavg.total_weight(), 5.0);
  //   w: 1 + 1.5 - 0.5 = 2;  -2 + 3 + 0.25 = 1.25;  4 - 2 + 2 = 4
  //   b: 0.5 - 0.75 + 2 = 1.75;  8 + 0 - 4 = 4
  const std::vector<float> mean = flat_mean(fedavg);
  EXPECT_FLOAT_EQ(mean[0], 0.4f);
  EXPECT_FLOAT_EQ(mean[1], 0.25f);
  EXPECT_FLOAT_EQ(mean[2], 0.8f);
  EXPECT_FLOAT_EQ(mean[3], 0.35f);
  EXPECT_FLOAT_EQ(mean[4], 0.8f);
}

TEST(StreamingFedAvg, UniformWeightsIgnoreSampleCounts) {
  FedAvgOptions options;
  options.weighting = Weighting::kUniform;
  StreamingFedAvg fedavg(kLayout, options);
  add_three(fedavg);
  EXPECT_DOUBLE_EQ(fedavg.total_weight(), 3.0);
  //   w: 0.5 + 1.5 - 0.25 = 1.75;  -1 + 3 + 0.125 = 2.125;  2 - 2 + 1 = 1
  //   b: 0.25 - 0.75 + 1 = 0.5;    4 + 0 - 2 = 2
  const std::vector<float> mean = flat_mean(fedavg);
  EXPECT_EQ(mean[0], static_cast<float>(1.75 / 3));
  EXPECT_EQ(mean[1], static_cast<float>(2.125 / 3));
  EXPECT_EQ(mean[2], static_cast<float>(1.0 / 3));
  EXPECT_EQ(mean[3], static_cast<float>(0.5 / 3));
  EXPECT_EQ(mean[4], static_cast<float>(2.0 / 3));
}

TEST(StreamingFedAvg, ApplyAddsTheMeanScaledByTheServerLearningRate) {
  FedAvgOptions options;
  options.server_lr = 0.5;
  StreamingFedAvg fedavg(kLayout, options);
  add_three(fedavg);
  Tensors global{{{1.0f, 2.0f, 3.0f}, {-1.0f, 0.5f}}};
  fedavg.apply_to(global.mutable_views());
  // global + 0.5 * {0.15, 0.075, 1, 0.6, 0}
  EXPECT_FLOAT_EQ(global.values[0][0], 1.075f);
  EXPECT_FLOAT_EQ(global.values[0][1], 2.0375f);
  EXPECT_FLOAT_EQ(global.values[0][2], 3.5f);
  EXPECT_FLOAT_EQ(global.values[1][0], -0.7f);
  EXPECT_FLOAT_EQ(global.values[1][1], 0.5f);
  EXPECT_EQ(global.values[0][0], static_cast<float>(1.0 + 0.5 * (1.5 / 10)));
  EXPECT_EQ(global.values[1][0], static_cast<float>(-1.0 + 0.5 * (6.0 / 10)));
}

TEST(StreamingFedAvg, ApplyMovesOnlyTheTensorsOfTheMovingMask) {
  StreamingFedAvg fedavg(kLayout, FedAvgOptions{});
  add_three(fedavg);
  Tensors global{{{1.0f, 2.0f, 3.0f}, {-1.0f, 0.5f}}};
  EXPECT_EQ(fedavg.apply_to(global.mutable_views(), {false, true}), 0.6);
  // "w" keeps its values; "b" += {0.6, 0}; the step's norm counts "b" only.
  EXPECT_EQ(global.values[0], (std::vector<float>{1.0f, 2.0f, 3.0f}));
  EXPECT_EQ(global.values[1][0], static_cast<float>(-1.0 + 6.0 / 10));
  EXPECT_EQ(global.values[1][1], 0.5f);
  EXPECT_TRUE(contains(error_message([&] { fedavg.apply_to(global.mutable_views(), {true}); }),
                       "moving mask"));
}

TEST(StreamingFedAvg, ServerLearningRateOneMovesTheModelToTheMeanOfTheLocalModels) {
  StreamingFedAvg fedavg(kLayout, FedAvgOptions{});
  Tensors global{{{1.0f, 2.0f, 3.0f}, {-1.0f, 0.5f}}};
  // Two clients whose local models are global + delta.
  const Tensors delta_a{{{1.0f, 1.0f, 1.0f}, {1.0f, 1.0f}}};
  const Tensors delta_b{{{-3.0f, 0.0f, 5.0f}, {2.0f, -0.5f}}};
  fedavg.add(delta_a.views(), 1);
  fedavg.add(delta_b.views(), 1);
  // The step is the mean delta {-1, 0.5, 3, 1.5, 0.25}: its norm is sqrt(12.5625).
  EXPECT_EQ(fedavg.apply_to(global.mutable_views(), {true, true}), std::sqrt(12.5625));
  EXPECT_EQ(global.values, (std::vector<std::vector<float>>{{0.0f, 2.5f, 6.0f}, {0.5f, 0.75f}}));
}

TEST(StreamingFedAvg, OrderOfUpdatesDoesNotMatter) {
  const ModelLayout layout{{{"w", 257}, {"b", 31}}};
  std::mt19937 gen(7);
  std::normal_distribution<float> value(0.0f, 1.0f);
  std::uniform_int_distribution<uint64_t> samples(1, 5000);
  std::vector<Tensors> deltas(40);
  std::vector<uint64_t> counts;
  for (Tensors& delta : deltas) {
    delta = test::zeros_like(layout);
    for (auto& tensor : delta.values) {
      for (float& v : tensor) v = value(gen) * 1e-3f;
    }
    counts.push_back(samples(gen));
  }
  std::vector<size_t> order(deltas.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;

  std::vector<float> reference;
  for (int trial = 0; trial < 3; ++trial) {
    StreamingFedAvg fedavg(layout, FedAvgOptions{});
    for (size_t i : order) fedavg.add(deltas[i].views(), counts[i]);
    const std::vector<float> mean = flat_mean(fedavg);
    if (trial == 0) {
      reference = mean;
    } else {
      for (size_t i = 0; i < mean.size(); ++i) EXPECT_FLOAT_EQ(mean[i], reference[i]) << i;
    }
    std::shuffle(order.begin(), order.end(), gen);
  }
}

TEST(StreamingFedAvg, DoubleAccumulationKeepsWhatFloatAccumulationLoses) {
  const ModelLayout layout{{{"x", 1}}};
  StreamingFedAvg fedavg(layout, FedAvgOptions{});
  const float big = 1e8f;  // float spacing at 1e8 is 8: adding 1 is lost
  const float one = 1.0f;
  fedavg.add({&big}, 1);
  float float_sum = big;
  for (int i = 0; i < 1000; ++i) {
    fedavg.add({&one}, 1);
    float_sum += one;
  }
  EXPECT_EQ(float_sum, big);  // float accumulation lost all thousand
  EXPECT_DOUBLE_EQ(fedavg.weighted_sum()[0], 1e8 + 1000);
  float mean = 0.0f;
  fedavg.aggregate_into({&mean});
  EXPECT_EQ(mean, static_cast<float>((1e8 + 1000) / 1001));  // 99901.0989...
  EXPECT_NE(mean, float_sum / 1001.0f);                      // 99900.0999...
  EXPECT_NEAR(mean, 99901.0989, 0.01);
  EXPECT_EQ(fedavg.weighted_sum().size(), 1u);  // one double per parameter after 1001 updates
}

TEST(StreamingFedAvg, AcceptsEmptyTensorsWithNullPointers) {
  const ModelLayout layout{{{"w", 2}, {"empty", 0}}};
  StreamingFedAvg fedavg(layout, FedAvgOptions{});
  const float delta[2] = {1.0f, -2.0f};
  fedavg.add({delta, nullptr}, 2);
  float global[2] = {0.5f, 0.5f};
  fedavg.apply_to({global, nullptr});
  EXPECT_EQ(global[0], 1.5f);
  EXPECT_EQ(global[1], -1.5f);
}

TEST(StreamingFedAvg, ResetStartsAFreshRound) {
  StreamingFedAvg fedavg(kLayout, FedAvgOptions{});
  EXPECT_TRUE(fedavg.weighted_sum().empty());  // nothing allocated before the first add
  add_three(fedavg);
  fedavg.reset();
  EXPECT_EQ(fedavg.num_updates(), 0u);
  EXPECT_EQ(fedavg.total_weight(), 0.0);
  EXPECT_TRUE(fedavg.weighted_sum().empty());
  EXPECT_TRUE(contains(error_message([&] { flat_mean(fedavg); }), "no update"));
  fedavg.add(kDelta2.views(), 4);
  EXPECT_EQ(flat_mean(fedavg), (std::vector<float>{1.5f, 3.0f, -2.0f, -0.75f, 0.0f}));
  // The sum starts from zero again, not from the three deltas before the reset: 4 * delta2.
  EXPECT_EQ(fedavg.weighted_sum(), (std::vector<double>{6.0, 12.0, -8.0, -3.0, 0.0}));
}

TEST(StreamingFedAvg, WorksThroughTheAggregatorInterface) {
  std::unique_ptr<Aggregator> aggregator =
      std::make_unique<StreamingFedAvg>(kLayout, FedAvgOptions{});
  aggregator->add(kDelta1.views(), 3);
  aggregator->add(kDelta3.views(), 6);
  Tensors out = test::zeros_like(kLayout);
  aggregator->aggregate_into(out.mutable_views());
  EXPECT_EQ(aggregator->num_updates(), 2u);
  EXPECT_EQ(out.values[0][0], static_cast<float>(0.0 / 9));   // 1.5 - 1.5
  EXPECT_EQ(out.values[0][2], static_cast<float>(12.0 / 9));  // 6 + 6
}

TEST(StreamingFedAvg, RefusesNoUpdatesAndLeavesTheModelUntouched) {
  StreamingFedAvg fedavg(kLayout, FedAvgOptions{});
  Tensors global{{{1.0f, 2.0f, 3.0f}, {-1.0f, 0.5f}}};
  const Tensors before = global;
  EXPECT_TRUE(
      contains(error_message([&] { fedavg.apply_to(global.mutable_views()); }), "no update"));
  EXPECT_EQ(global.values, before.values);
}

TEST(StreamingFedAvg, RefusesZeroSamplesUnderSampleWeightingWithoutChangingTheSum) {
  StreamingFedAvg fedavg(kLayout, FedAvgOptions{});
  fedavg.add(kDelta1.views(), 3);
  EXPECT_TRUE(contains(error_message([&] { fedavg.add(kDelta2.views(), 0); }), "0 samples"));
  EXPECT_EQ(fedavg.num_updates(), 1u);
  EXPECT_DOUBLE_EQ(fedavg.total_weight(), 3.0);
  EXPECT_DOUBLE_EQ(fedavg.weighted_sum()[0], 1.5);
}

TEST(StreamingFedAvg, RefusesDeltasAndModelsThatDoNotMatchTheLayout) {
  StreamingFedAvg fedavg(kLayout, FedAvgOptions{});
  const float values[3] = {};
  std::string message = error_message([&] { fedavg.add({values}, 1); });
  EXPECT_TRUE(contains(message, "delta has 1 tensors, but the model layout has 2")) << message;
  message = error_message([&] { fedavg.add({values, nullptr}, 1); });
  EXPECT_TRUE(contains(message, "tensor 1 ('b', 2 elements) is a null pointer")) << message;
  EXPECT_EQ(fedavg.num_updates(), 0u);
  fedavg.add(kDelta1.views(), 1);
  float out[3];
  message = error_message([&] { fedavg.apply_to({out, out, out}); });
  EXPECT_TRUE(contains(message, "global model has 3 tensors")) << message;
  message = error_message([&] { fedavg.aggregate_into({nullptr, out}); });
  EXPECT_TRUE(contains(message, "aggregate output: tensor 0 ('w'")) << message;
}

TEST(StreamingFedAvg, RefusesAnInvalidLayout) {
  EXPECT_THROW(StreamingFedAvg(ModelLayout{}, FedAvgOptions{}), AggregationError);
  EXPECT_THROW(StreamingFedAvg(ModelLayout{{{"w", 1}, {"w", 1}}}, FedAvgOptions{}),
               AggregationError);
}

// Finite deltas can sum beyond the float range: the step is refused before any value changes.
TEST(StreamingFedAvg, RefusesAStepBeyondTheFloatRangeAndLeavesTheModelUntouched) {
  constexpr float kMax = std::numeric_limits<float>::max();
  FedAvgOptions options;
  options.server_lr = 2.0;
  StreamingFedAvg fedavg(kLayout, options);
  const Tensors huge{{{1.0f, kMax, 1.0f}, {0.5f, -kMax}}};
  fedavg.add(huge.views(), 1);
  Tensors global{{{1.0f, 2.0f, 3.0f}, {4.0f, 5.0f}}};
  const Tensors before = global;
  const std::string message = error_message([&] { fedavg.apply_to(global.mutable_views()); });
  EXPECT_TRUE(contains(message, "w[1]")) << message;
  EXPECT_TRUE(contains(message, "non-finite")) << message;
  EXPECT_EQ(global.values, before.values);
  // Only the moving tensors are checked and moved: with "w" held, "b" overflows too.
  EXPECT_TRUE(contains(error_message([&] {
                         fedavg.apply_to(global.mutable_views(), {false, true});
                       }),
                       "b[1]"));
  EXPECT_EQ(global.values, before.values);
  // At server_lr 1 the mean is within range: the same sum is applied.
  StreamingFedAvg plain(kLayout, FedAvgOptions{});
  plain.add(huge.views(), 1);
  plain.apply_to(global.mutable_views());
  EXPECT_EQ(global.values[0][1], kMax);
}

TEST(FedAvgOptions, ServerLearningRateMustBeFiniteAndPositive) {
  for (double lr : {0.0, -1.0, std::numeric_limits<double>::infinity(), std::nan("")}) {
    FedAvgOptions options;
    options.server_lr = lr;
    EXPECT_TRUE(contains(error_message([&] { validate(options); }), "server_lr")) << lr;
    EXPECT_THROW(StreamingFedAvg(kLayout, options), AggregationError);
  }
  FedAvgOptions options;
  options.weighting = static_cast<Weighting>(7);
  EXPECT_TRUE(contains(error_message([&] { validate(options); }), "weighting 7"));
  EXPECT_NO_THROW(validate(FedAvgOptions{}));
}

TEST(UpdateWeight, SampleCountCappedOrUniform) {
  FedAvgOptions options;
  EXPECT_EQ(update_weight(options, 1), 1.0);
  EXPECT_EQ(update_weight(options, 60000), 60000.0);
  options.max_samples_per_update = 500;
  EXPECT_EQ(update_weight(options, 499), 499.0);
  EXPECT_EQ(update_weight(options, 500), 500.0);
  EXPECT_EQ(update_weight(options, std::numeric_limits<uint64_t>::max()), 500.0);
  EXPECT_THROW(update_weight(options, 0), AggregationError);
  options.weighting = Weighting::kUniform;
  EXPECT_EQ(update_weight(options, 0), 1.0);
  EXPECT_EQ(update_weight(options, 123456), 1.0);
}

TEST(Weighting, NamesRoundTrip) {
  for (Weighting weighting : {Weighting::kSampleCount, Weighting::kUniform}) {
    EXPECT_EQ(parse_weighting(weighting_name(weighting)), weighting);
  }
  EXPECT_EQ(parse_weighting("uniform"), Weighting::kUniform);
  EXPECT_TRUE(contains(error_message([] { parse_weighting("median"); }),
                       "expected 'sample_count' or 'uniform'"));
}

}  // namespace
}  // namespace fedgan::aggregation
