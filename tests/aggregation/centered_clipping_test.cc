// Centered clipping (aggregation/centered_clipping.cc).

#include "aggregation/robust_rule.h"

#include "tests/aggregation/robust_test_util.h"
#include "tests/aggregation/test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace fedgan::aggregation {
namespace {

using test::contains;
using test::error_message;
using test::Outcome;
using test::Rows;

constexpr auto kKept = UpdateEffect::kKept;
constexpr auto kClipped = UpdateEffect::kClipped;

std::unique_ptr<RobustRule> clipping(double tau, size_t iterations) {
  RobustRuleOptions options = test::options_for(RuleKind::kCenteredClipping);
  options.clip_radius = tau;
  options.clip_iterations = iterations;
  return make_robust_rule(options);
}

TEST(CenteredClipping, OneIterationFromZeroByHand) {
  // tau = 2.5. Norms 0.5, 0.5, 5, 0: only (3, 4) is clipped, by 2.5 / 5 = 0.5, to (1.5, 2).
  // v_1 = ((0.5, 0) + (0, 0.5) + (1.5, 2) + 0) / 4 = (0.5, 0.625).
  const auto rule = clipping(2.5, 1);
  const Outcome outcome = test::run(*rule, {{0.5f, 0}, {0, 0.5f}, {3, 4}, {0, 0}}, 2);
  EXPECT_EQ(outcome.out, (std::vector<float>{0.5f, 0.625f}));
  // Scales 1, 1, 0.5, 1: weights s_i / 3.5.
  EXPECT_EQ(test::effects(outcome.verdicts),
            (std::vector<UpdateEffect>{kKept, kKept, kClipped, kKept}));
  EXPECT_EQ(test::weights(outcome.verdicts),
            (std::vector<double>{1 / 3.5, 1 / 3.5, 0.5 / 3.5, 1 / 3.5}));
}

TEST(CenteredClippingCenter, TheResultMovesFromTheCenter) {
  // Center (4, 4), tau = 2.5. Differences (3, 4) (norm 5, scaled by 0.5 to (1.5, 2)), (0, 0),
  // (0, 2) and (-2, 0): v_1 = (4, 4) + (-0.5, 4) / 4 = (3.875, 5).
  const auto rule = clipping(2.5, 1);
  const std::vector<float> center = {4, 4};
  rule->set_center(center.data(), center.size());
  const Rows rows = {{7, 8}, {4, 4}, {4, 6}, {2, 4}};
  const Outcome outcome = test::run(*rule, rows, 2);
  EXPECT_EQ(outcome.out, (std::vector<float>{3.875f, 5}));
  EXPECT_EQ(test::effects(outcome.verdicts),
            (std::vector<UpdateEffect>{kClipped, kKept, kKept, kKept}));
  // aggregate() leaves the center as it was: the same round again gives the same result.
  EXPECT_EQ(test::run(*rule, rows, 2, 1).out, outcome.out);
  // nullptr: the zero vector again. (7, 8) has norm sqrt(113), so everything differs.
  rule->set_center(nullptr, 0);
  EXPECT_NE(test::run(*rule, rows, 2).out, outcome.out);
}

TEST(CenteredClippingCenter, ACenterOfTheWrongSizeOrNotFiniteIsRefused) {
  const auto rule = clipping(1.0, 2);
  const std::vector<float> three = {1, 2, 3};
  rule->set_center(three.data(), three.size());
  EXPECT_EQ(error_message([&] {
              test::run(*rule, {{1, 2}}, 2);
            }),
            "centered clipping's center has 3 columns, the updates have 2");
  const std::vector<float> bad = {1, std::numeric_limits<float>::infinity()};
  rule->set_center(bad.data(), bad.size());
  EXPECT_TRUE(contains(error_message([&] { test::run(*rule, {{1, 2}}, 2); }), "column 1"));
}

TEST(CenteredClipping, AHugeRadiusGivesTheMeanAfterOneIteration) {
  std::mt19937 gen(12);
  for (int trial = 0; trial < 50; ++trial) {
    const Rows rows = test::dyadic_rows(gen, 9, 6);
    const Outcome outcome = test::run(*clipping(1e30, 1), rows, 6, 4);
    // From zero, v_1 = sum_i x_i / n: the mean in double, rounded once.
    for (size_t c = 0; c < 6; ++c) {
      double sum = 0.0;
      for (const auto& row : rows) sum += row[c];
      EXPECT_EQ(outcome.out[c], static_cast<float>(sum / 9));
    }
    for (const UpdateVerdict& verdict : outcome.verdicts) {
      EXPECT_EQ(verdict.effect, kKept);
      EXPECT_EQ(verdict.weight, 1.0 / 9);
    }
  }
}

TEST(CenteredClipping, EachIterationMovesAtMostTheRadius) {
  // Every update at (30, 40), 50 from the center 0: each of 3 iterations moves tau = 2 toward
  // it, so v_3 = (6 / 50) * (30, 40) = (3.6, 4.8), and every update is clipped.
  const auto rule = clipping(2.0, 3);
  const Outcome outcome = test::run(*rule, Rows(5, std::vector<float>{30, 40}), 2);
  EXPECT_FLOAT_EQ(outcome.out[0], 3.6f);
  EXPECT_FLOAT_EQ(outcome.out[1], 4.8f);
  for (const UpdateVerdict& verdict : outcome.verdicts) {
    EXPECT_EQ(verdict.effect, kClipped);
    EXPECT_DOUBLE_EQ(verdict.weight, 0.2);
  }
  // With the center on the updates nothing moves: that update, exactly.
  const std::vector<float> center = {30, 40};
  rule->set_center(center.data(), center.size());
  EXPECT_EQ(test::run(*rule, Rows(5, center), 2, 1).out, center);
}

TEST(CenteredClipping, ClipsAnOutlierAndBoundsItsPull) {
  std::mt19937 gen(4);
  Rows rows = test::normal_rows(gen, 6, 8);
  for (auto& row : rows) {
    for (float& x : row) x *= 0.1f;  // norms well below tau = 1
  }
  rows.push_back(std::vector<float>(8, 1e6f));
  const Outcome outcome = test::run(*clipping(1.0, 3), rows, 3);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(outcome.verdicts[i].effect, kKept) << i;
  EXPECT_EQ(outcome.verdicts[6].effect, kClipped);
  // The outlier pulls by at most tau / n per iteration: 3 / 7 in all, plus the honest mean.
  double norm = 0.0;
  for (float x : outcome.out) norm += static_cast<double>(x) * x;
  EXPECT_LT(std::sqrt(norm), 3.0 / 7 + 0.5);
}

}  // namespace
}  // namespace fedgan::aggregation
