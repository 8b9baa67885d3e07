#include "aggregation/delta.h"

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

const ModelLayout kSmall{{{"a", 2}, {"b", 1}, {"c", 2}}};

// Norm 85 across three tensors: 3^2 + 4^2 + 12^2 + 84^2 = 7225.
Tensors small_delta() {
  return Tensors{{{3.0f, 4.0f}, {12.0f}, {0.0f, 84.0f}}};
}

TEST(L2Norm, SumsSquaresAcrossAllTensors) {
  EXPECT_DOUBLE_EQ(l2_norm(kSmall, small_delta().views()), 85.0);
  const Tensors negative{{{-3.0f, -4.0f}, {-12.0f}, {0.0f, -84.0f}}};
  EXPECT_DOUBLE_EQ(l2_norm(kSmall, negative.views()), 85.0);
}

TEST(L2Norm, LongTensorsAndEmptyOnes) {
  const ModelLayout layout{{{"long", 10000}, {"empty", 0}, {"odd", 3}}};
  const Tensors delta{{std::vector<float>(10000, 0.5f), {}, {1.0f, 2.0f, 2.0f}}};
  // 10000 * 0.25 + 9 = 2509, every partial sum exact in double whatever the summation order.
  EXPECT_DOUBLE_EQ(l2_norm(layout, delta.views()), std::sqrt(2509.0));
}

TEST(L2Norm, IsFiniteForTheLargestFloatsAndNotForNonFiniteValues) {
  const ModelLayout layout{{{"x", 2}}};
  const float max = std::numeric_limits<float>::max();
  EXPECT_DOUBLE_EQ(l2_norm(layout, Tensors{{{max, max}}}.views()),
                   static_cast<double>(max) * std::sqrt(2.0));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(std::isnan(l2_norm(layout, Tensors{{{1.0f, nan}}}.views())));
  EXPECT_TRUE(std::isinf(l2_norm(layout, Tensors{{{-inf, 1.0f}}}.views())));
}

TEST(SubtractScreened, WritesLocalMinusGlobalExactly) {
  const Tensors local{{{1.5f, -2.25f}, {10.0f}, {0.1f, 3.0f}}};
  const Tensors global{{{0.5f, 0.75f}, {10.0f}, {0.2f, -1.0f}}};
  Tensors delta = test::zeros_like(kSmall);
  EXPECT_FALSE(subtract_screened(kSmall, local.views(), global.views(), delta.mutable_views()));
  const float tenth_minus_fifth = 0.1f - 0.2f;  // float rounding, as torch::sub does it
  EXPECT_EQ(delta.values,
            (std::vector<std::vector<float>>{{1.0f, -3.0f}, {0.0f}, {tenth_minus_fifth, 4.0f}}));
}

TEST(SubtractScreened, GivesTheFirstNonFiniteDifferenceAndStillWritesTheRest) {
  const ModelLayout layout{{{"w", 3}, {"big", 10000}, {"b", 2}}};
  Tensors local = test::zeros_like(layout);
  Tensors global = test::zeros_like(layout);
  for (auto& tensor : local.values) tensor.assign(tensor.size(), 2.0f);
  const float max = std::numeric_limits<float>::max();
  local.values[1][9000] = max;  // max - (-max) overflows to infinity
  global.values[1][9000] = -max;
  local.values[2][1] = std::numeric_limits<float>::quiet_NaN();
  Tensors delta = test::zeros_like(layout);
  auto position = subtract_screened(layout, local.views(), global.views(), delta.mutable_views());
  ASSERT_TRUE(position);
  EXPECT_EQ(position->tensor, 1u);
  EXPECT_EQ(position->index, 9000u);
  EXPECT_EQ(delta.values[1][8999], 2.0f);
  EXPECT_EQ(delta.values[1][9001], 2.0f);
  EXPECT_EQ(delta.values[2][0], 2.0f);
  EXPECT_TRUE(std::isnan(delta.values[2][1]));

  global.values[1][9000] = max;  // now max - max = 0: the NaN in the last tensor comes first
  position = subtract_screened(layout, local.views(), global.views(), delta.mutable_views());
  ASSERT_TRUE(position);
  EXPECT_EQ(position->tensor, 2u);
  EXPECT_EQ(position->index, 1u);
  EXPECT_EQ(delta.values[1][9000], 0.0f);
}

TEST(SubtractScreened, RefusesViewsThatDoNotMatchTheLayout) {
  const Tensors local = small_delta();
  Tensors delta = test::zeros_like(kSmall);
  ConstViews short_global = local.views();
  short_global.pop_back();
  EXPECT_TRUE(contains(error_message([&] {
                         subtract_screened(kSmall, local.views(), short_global,
                                           delta.mutable_views());
                       }),
                       "global model"));
}

TEST(FirstNonFinite, NulloptWhenEveryValueIsFinite) {
  const ModelLayout layout{{{"x", 5}}};
  const float max = std::numeric_limits<float>::max();
  const float tiny = std::numeric_limits<float>::denorm_min();
  EXPECT_FALSE(first_non_finite(layout, Tensors{{{max, -max, tiny, -0.0f, 0.0f}}}.views()));
}

TEST(FirstNonFinite, GivesTensorAndIndexOfTheFirstBadValue) {
  const ModelLayout layout{{{"w", 3}, {"big", 10000}, {"b", 2}}};
  Tensors delta = test::zeros_like(layout);
  delta.values[1][9000] = std::numeric_limits<float>::infinity();
  delta.values[1][5000] = std::numeric_limits<float>::quiet_NaN();
  delta.values[2][0] = -std::numeric_limits<float>::infinity();
  auto position = first_non_finite(layout, delta.views());
  ASSERT_TRUE(position);
  EXPECT_EQ(position->tensor, 1u);
  EXPECT_EQ(position->index, 5000u);

  delta.values[1].assign(10000, 1.0f);
  position = first_non_finite(layout, delta.views());
  ASSERT_TRUE(position);
  EXPECT_EQ(position->tensor, 2u);
  EXPECT_EQ(position->index, 0u);
}

TEST(FirstNonFinite, FindsABadValueInTheLastPartialBlock) {
  const ModelLayout layout{{{"x", 4096 + 7}}};
  Tensors delta = test::zeros_like(layout);
  delta.values[0][4096 + 6] = -std::numeric_limits<float>::quiet_NaN();
  const auto position = first_non_finite(layout, delta.views());
  ASSERT_TRUE(position);
  EXPECT_EQ(position->index, 4096u + 6);
}

TEST(ScaleInPlace, MultipliesEveryTensor) {
  Tensors delta = small_delta();
  scale_in_place(kSmall, delta.mutable_views(), -0.5);
  EXPECT_EQ(delta.values,
            (std::vector<std::vector<float>>{{-1.5f, -2.0f}, {-6.0f}, {0.0f, -42.0f}}));
  EXPECT_TRUE(
      contains(error_message([&] { scale_in_place(kSmall, delta.mutable_views(), std::nan("")); }),
               "not finite"));
}

TEST(ClipToNorm, ScalesADeltaAboveTheBoundOntoIt) {
  Tensors delta = small_delta();
  const double factor = clip_to_norm(kSmall, delta.mutable_views(), 17.0);
  EXPECT_DOUBLE_EQ(factor, 0.2);
  EXPECT_FLOAT_EQ(delta.values[0][0], 0.6f);
  EXPECT_FLOAT_EQ(delta.values[0][1], 0.8f);
  EXPECT_FLOAT_EQ(delta.values[1][0], 2.4f);
  EXPECT_FLOAT_EQ(delta.values[2][1], 16.8f);
  EXPECT_NEAR(l2_norm(kSmall, delta.views()), 17.0, 17.0 * 1e-6);
}

TEST(ClipToNorm, LeavesADeltaWithinTheBoundUntouched) {
  Tensors delta = small_delta();
  EXPECT_EQ(clip_to_norm(kSmall, delta.mutable_views(), 85.0), 1.0);
  EXPECT_EQ(clip_to_norm(kSmall, delta.mutable_views(), 1e9), 1.0);
  EXPECT_EQ(delta.values, small_delta().values);
}

TEST(ClipToNorm, RejectsBadBoundsAndNonFiniteDeltas) {
  Tensors delta = small_delta();
  for (double bound : {0.0, -1.0, std::numeric_limits<double>::infinity(), std::nan("")}) {
    EXPECT_TRUE(contains(error_message([&] { clip_to_norm(kSmall, delta.mutable_views(), bound); }),
                         "must be finite and positive"))
        << bound;
  }
  delta.values[1][0] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(contains(error_message([&] { clip_to_norm(kSmall, delta.mutable_views(), 1.0); }),
                       "NaN or infinite"));
}

TEST(DeltaViews, AreCheckedAgainstTheLayout) {
  const Tensors delta = small_delta();
  ConstViews views = delta.views();
  views.pop_back();
  EXPECT_TRUE(contains(error_message([&] { l2_norm(kSmall, views); }), "delta has 2 tensors"));
  EXPECT_THROW(first_non_finite(kSmall, views), AggregationError);
  views.push_back(nullptr);
  EXPECT_TRUE(contains(error_message([&] { first_non_finite(kSmall, views); }), "tensor 2 ('c'"));
}

}  // namespace
}  // namespace fedgan::aggregation
