#include "aggregation/robust_aggregator.h"

#include "tests/aggregation/test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <vector>

namespace fedgan::aggregation {
namespace {

using test::contains;
using test::error_message;
using test::Tensors;

const ModelLayout kLayout{{{"w", 3}, {"b", 2}}};

// Three deltas with exactly representable values; b is not kept by the rounds below.
const Tensors kDelta1{{{0.5f, -1.0f, 2.0f}, {7.0f, 7.0f}}};
const Tensors kDelta2{{{1.5f, 3.0f, -2.0f}, {7.0f, 7.0f}}};
const Tensors kDelta3{{{-0.25f, 0.125f, 1.0f}, {7.0f, 7.0f}}};

RobustRuleOptions rule_options(RuleKind kind) {
  RobustRuleOptions options;
  options.kind = kind;
  return options;
}

std::unique_ptr<RobustAggregator> median_round(RobustRule& rule, uint64_t memory_bytes) {
  UpdateStoreOptions store;
  store.memory_budget_bytes = memory_bytes;
  store.spill_directory = std::filesystem::temp_directory_path();
  auto round = std::make_unique<RobustAggregator>(kLayout, std::vector<bool>{true, false}, rule,
                                                  store, 1, 0.5);
  round->add(kDelta1.views(), 10);
  round->add(kDelta2.views(), 20);
  round->add(kDelta3.views(), 30);
  return round;
}

TEST(RobustAggregator, AggregatesTheKeptTensorsAndStepsOnlyThem) {
  auto rule = make_robust_rule(rule_options(RuleKind::kMedian));
  auto round = median_round(*rule, 1 << 20);
  EXPECT_EQ(round->num_updates(), 3u);
  EXPECT_EQ(round->total_samples(), 60u);
  Tensors aggregate = test::zeros_like(kLayout);
  round->aggregate_into(aggregate.mutable_views());
  // Medians of w: {0.5, 1.5, -0.25} -> 0.5; {-1, 3, 0.125} -> 0.125; {2, -2, 1} -> 1.
  EXPECT_EQ(aggregate.values[0], (std::vector<float>{0.5f, 0.125f, 1.0f}));
  EXPECT_EQ(aggregate.values[1], (std::vector<float>{0.0f, 0.0f}));  // b is not kept
  Tensors global{{{1.0f, 1.0f, 1.0f}, {3.0f, 3.0f}}};
  const double norm = round->apply_to(global.mutable_views(), {true, true});
  // global + 0.5 * median: 1.25, 1.0625, 1.5; b untouched.
  EXPECT_EQ(global.values[0], (std::vector<float>{1.25f, 1.0625f, 1.5f}));
  EXPECT_EQ(global.values[1], (std::vector<float>{3.0f, 3.0f}));
  EXPECT_DOUBLE_EQ(norm, std::sqrt(0.25 * 0.25 + 0.0625 * 0.0625 + 0.5 * 0.5));
}

TEST(RobustAggregator, SpilledUpdatesGiveTheSameAggregateAndReview) {
  for (const RuleKind kind :
       {RuleKind::kMedian, RuleKind::kGeometricMedian, RuleKind::kCenteredClipping}) {
    auto rule = make_robust_rule(rule_options(kind));
    auto in_memory = median_round(*rule, 1 << 20);
    auto spilled = median_round(*rule, 0);
    Tensors a = test::zeros_like(kLayout), b = test::zeros_like(kLayout);
    in_memory->aggregate_into(a.mutable_views());
    spilled->aggregate_into(b.mutable_views());
    EXPECT_EQ(a.values, b.values) << static_cast<int>(kind);
    const auto ra = in_memory->review(), rb = spilled->review();
    ASSERT_EQ(ra.size(), 3u);
    ASSERT_EQ(rb.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(ra[i].distance, rb[i].distance);
      EXPECT_EQ(ra[i].verdict.weight, rb[i].verdict.weight);
    }
  }
}

TEST(RobustAggregator, TheReviewMeasuresEachUpdateAgainstTheAggregate) {
  auto rule = make_robust_rule(rule_options(RuleKind::kMedian));
  auto round = median_round(*rule, 1 << 20);
  const auto reviews = round->review();
  ASSERT_EQ(reviews.size(), 3u);
  // Delta 1 - median over w: (0, -1.125, 1): distance sqrt(1.265625 + 1) = 1.505199...
  EXPECT_DOUBLE_EQ(reviews[0].distance, std::sqrt(1.125 * 1.125 + 1.0));
  // cos(delta1, median) = (0.25 + -0.125 + 2) / (|delta1| |median|).
  const double norm1 = std::sqrt(0.25 + 1.0 + 4.0);
  const double median_norm = std::sqrt(0.25 + 0.015625 + 1.0);
  ASSERT_TRUE(reviews[0].cosine.has_value());
  EXPECT_NEAR(*reviews[0].cosine, 2.125 / (norm1 * median_norm), 1e-15);
  double weights = 0;
  for (const auto& review : reviews) weights += review.verdict.weight;
  EXPECT_NEAR(weights, 1.0, 1e-12);
}

// aggregation.norm_bound = "round_median": norms 3, 5 and 50 (factor 2: bound 10); the third is
// scaled to norm 10 before the rule, whether the updates are in memory or spilled.
TEST(RobustAggregator, TheRoundsMedianNormClipsItsOutliersBeforeTheRule) {
  const Tensors a{{{3.0f, 0.0f, 0.0f}, {0.0f, 0.0f}}};
  const Tensors b{{{0.0f, 4.0f, 3.0f}, {0.0f, 0.0f}}};
  const Tensors c{{{0.0f, 0.0f, 0.0f}, {30.0f, 40.0f}}};
  RobustRuleOptions options = rule_options(RuleKind::kCenteredClipping);
  options.clip_radius = 1e6;  // one iteration with a huge radius: the plain mean
  options.clip_iterations = 1;
  auto rule = make_robust_rule(options);
  for (const uint64_t memory : {uint64_t{1} << 20, uint64_t{0}}) {
    UpdateStoreOptions store;
    store.memory_budget_bytes = memory;
    store.spill_directory = std::filesystem::temp_directory_path();
    RobustAggregator round(kLayout, {true, true}, *rule, store, 1, 1.0);
    round.clip_to_round_median(2.0);
    round.add(a.views(), 1);
    round.add(b.views(), 1);
    round.add(c.views(), 1);
    Tensors mean = test::zeros_like(kLayout);
    round.aggregate_into(mean.mutable_views());
    ASSERT_TRUE(round.round_norm_bound().has_value());
    EXPECT_EQ(*round.round_norm_bound(), 10.0);
    // c scaled by 10/50 = 0.2: (6, 8); the mean of the three: (1, 4/3, 1, 2, 8/3).
    EXPECT_EQ(mean.values[0], (std::vector<float>{1.0f, 4.0f / 3.0f, 1.0f})) << memory;
    EXPECT_EQ(mean.values[1], (std::vector<float>{2.0f, 8.0f / 3.0f})) << memory;
    const auto reviews = round.review();
    EXPECT_NE(reviews[0].verdict.effect, UpdateEffect::kClipped);
    EXPECT_EQ(reviews[2].verdict.effect, UpdateEffect::kClipped);
    EXPECT_EQ(reviews[2].norm_bound, 10.0);
  }
  auto median = make_robust_rule(rule_options(RuleKind::kMedian));
  RobustAggregator late(kLayout, {true, true}, *median, UpdateStoreOptions{}, 1, 1.0);
  late.add(a.views(), 1);
  EXPECT_TRUE(
      contains(error_message([&] { late.clip_to_round_median(2.0); }), "before the first update"));
  EXPECT_TRUE(contains(error_message([&] { late.clip_to_round_median(0.5); }), "0.5"));
}

TEST(RobustAggregator, AStepBeyondTheFloatRangeChangesNothing) {
  auto rule = make_robust_rule(rule_options(RuleKind::kMedian));
  UpdateStoreOptions store;
  RobustAggregator round(kLayout, {true, true}, *rule, store, 1, 10.0);
  const Tensors huge{{{3e38f, 0.0f, 0.0f}, {0.0f, 0.0f}}};
  round.add(huge.views(), 1);
  Tensors global{{{3e38f, 1.0f, 1.0f}, {1.0f, 1.0f}}};
  const Tensors before = global;
  const std::string message = error_message([&] {
    round.apply_to(global.mutable_views(), {true, true});
  });
  EXPECT_TRUE(contains(message, "the step would make w[0] non-finite")) << message;
  EXPECT_EQ(global.values, before.values);
}

TEST(RobustAggregator, TooFewUpdatesForTheRuleNameTheNumbers) {
  RobustRuleOptions options = rule_options(RuleKind::kMultiKrum);
  options.byzantine = 1;
  auto rule = make_robust_rule(options);
  auto round = median_round(*rule, 1 << 20);
  Tensors aggregate = test::zeros_like(kLayout);
  const std::string message =
      error_message([&] { round->aggregate_into(aggregate.mutable_views()); });
  EXPECT_TRUE(contains(message, "5")) << message;
  EXPECT_TRUE(contains(message, "3")) << message;
  // Nothing was computed, so nothing can be applied by mistake.
  EXPECT_TRUE(round->kept_aggregate().empty());
  EXPECT_TRUE(round->verdicts().empty());
}

TEST(RobustAggregator, AnUpdateAfterTheAggregateIsRefused) {
  auto rule = make_robust_rule(rule_options(RuleKind::kMedian));
  auto round = median_round(*rule, 1 << 20);
  Tensors aggregate = test::zeros_like(kLayout);
  round->aggregate_into(aggregate.mutable_views());
  const std::string message = error_message([&] { round->add(kDelta1.views(), 1); });
  EXPECT_TRUE(contains(message, "after the round's aggregate was computed")) << message;
  round->reset();
  EXPECT_EQ(round->num_updates(), 0u);
  EXPECT_TRUE(round->kept_aggregate().empty());
}

}  // namespace
}  // namespace fedgan::aggregation
