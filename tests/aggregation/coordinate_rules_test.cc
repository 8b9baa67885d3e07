// The coordinate-wise median and trimmed mean (aggregation/coordinate_rules.cc).

#include "aggregation/robust_rule.h"

#include "tests/aggregation/robust_test_util.h"
#include "tests/aggregation/test_util.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace fedgan::aggregation {
namespace {

using test::options_for;
using test::Outcome;
using test::Rows;

constexpr auto kKept = UpdateEffect::kKept;
constexpr auto kDown = UpdateEffect::kDownWeighted;

RobustRuleOptions trimmed(double beta) {
  RobustRuleOptions options = options_for(RuleKind::kTrimmedMean);
  options.trim_beta = beta;
  return options;
}

TEST(Median, OddCountTakesTheMiddleValueAndCreditsItsRow) {
  // Column 0: 1 2 3 -> 2 (row 1). Column 1: 4 5 6 -> 5 (row 0).
  const Rows rows = {{1, 5}, {2, 4}, {3, 6}};
  const Outcome outcome = test::run(options_for(RuleKind::kMedian), rows);
  EXPECT_EQ(outcome.out, (std::vector<float>{2, 5}));
  // Rows 0 and 1 formed one coordinate of two each: 1/2; row 2 none: 0, below 1/3.
  EXPECT_EQ(test::weights(outcome.verdicts), (std::vector<double>{0.5, 0.5, 0.0}));
  EXPECT_EQ(test::effects(outcome.verdicts), (std::vector<UpdateEffect>{kKept, kKept, kDown}));
}

TEST(Median, EvenCountAveragesTheTwoMiddleValuesInDoubleRoundedOnce) {
  // 1 2 4 100 -> (2 + 4) / 2 = 3. Rows 2 and 0 each hold one of the two kept positions: weight
  // = credits / (d * kept) = 1 / (1 * 2).
  const Outcome outcome = test::run(options_for(RuleKind::kMedian), {{4}, {100}, {2}, {1}});
  EXPECT_EQ(outcome.out, (std::vector<float>{3}));
  EXPECT_EQ(test::weights(outcome.verdicts), (std::vector<double>{0.5, 0.0, 0.5, 0.0}));
  EXPECT_EQ(test::effects(outcome.verdicts),
            (std::vector<UpdateEffect>{kKept, kDown, kKept, kDown}));
  const Outcome inexact = test::run(options_for(RuleKind::kMedian), {{0.1f}, {0.2f}});
  EXPECT_EQ(inexact.out[0],
            static_cast<float>((static_cast<double>(0.1f) + static_cast<double>(0.2f)) / 2));
}

TEST(Median, EqualValuesShareTheCredit) {
  // 5 5 5 1 9: the median 5 is held by three rows, each credited 1/3; the share is 1/5.
  const Outcome odd = test::run(options_for(RuleKind::kMedian), {{5}, {5}, {5}, {1}, {9}});
  EXPECT_EQ(odd.out, (std::vector<float>{5}));
  EXPECT_EQ(test::weights(odd.verdicts), (std::vector<double>{1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 0}));
  EXPECT_EQ(test::effects(odd.verdicts),
            (std::vector<UpdateEffect>{kKept, kKept, kKept, kDown, kDown}));
  // 2 2 7 2: both middle positions hold 2; three rows share them, 2/3 each, over kept = 2.
  const Outcome even = test::run(options_for(RuleKind::kMedian), {{2}, {2}, {7}, {2}});
  EXPECT_EQ(even.out, (std::vector<float>{2}));
  const double third = (2.0 / 3) / 2;
  EXPECT_EQ(test::weights(even.verdicts), (std::vector<double>{third, third, 0, third}));
}

TEST(Median, VerdictWeightsAverageOverCoordinates) {
  const Rows rows = {{0, 0, 0, 7}, {9, 9, 9, 9}, {5, 5, 5, 5}, {3, 3, 3, 3}};
  // Even n = 4, so each column keeps two values: columns 0-2 sorted 0 3 5 9 -> rows 3 and 2;
  // column 3 sorted 3 5 7 9 -> rows 2 and 0. Row 2: 4 credits, row 3: 3, row 0: 1, over 4 * 2.
  const Outcome outcome = test::run(options_for(RuleKind::kMedian), rows, 1);
  EXPECT_EQ(outcome.out, (std::vector<float>{4, 4, 4, 6}));
  EXPECT_EQ(test::weights(outcome.verdicts), (std::vector<double>{0.125, 0.0, 0.5, 0.375}));
  EXPECT_EQ(test::effects(outcome.verdicts),
            (std::vector<UpdateEffect>{kDown, kDown, kKept, kKept}));
}

TEST(TrimmedMean, DropsFloorBetaNAtEachEndAndAveragesTheRest) {
  // n = 5, beta = 0.2: k = 1. Column 0: -100 | 1 2 4 | 50 -> 7/3; column 1: -1 | 0 0.5 2 | 3
  // -> 2.5/3. Each kept value counts 1 / (2 columns * 3 kept).
  const Rows rows = {{-100, 0}, {1, 3}, {50, 0.5f}, {2, -1}, {4, 2}};
  const Outcome outcome = test::run(trimmed(0.2), rows);
  EXPECT_EQ(outcome.out[0], static_cast<float>(7.0 / 3));
  EXPECT_EQ(outcome.out[1], static_cast<float>(2.5 / 3));
  // Kept: row 0 in column 1, row 1 in column 0, row 2 in column 1, row 3 in column 0, row 4 in
  // both.
  EXPECT_EQ(test::weights(outcome.verdicts),
            (std::vector<double>{1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6, 2.0 / 6}));
  EXPECT_EQ(test::effects(outcome.verdicts),
            (std::vector<UpdateEffect>{kDown, kDown, kDown, kDown, kKept}));
}

TEST(TrimmedMean, BetaZeroIsTheMeanAndSmallRoundsKeepEverything) {
  // beta = 0.2 with n = 4: k = floor(0.8) = 0, the plain mean (1 + 2 + 4 + 9) / 4 = 4.
  const Rows rows = {{1}, {2}, {4}, {9}};
  EXPECT_EQ(test::run(trimmed(0.2), rows).out, (std::vector<float>{4}));
  EXPECT_EQ(test::run(trimmed(0.0), rows).out, (std::vector<float>{4}));
  // beta = 0.49 with n = 4: k = 1, (2 + 4) / 2 = 3; with n = 3, k = 1 leaves the median.
  EXPECT_EQ(test::run(trimmed(0.49), rows).out, (std::vector<float>{3}));
  EXPECT_EQ(test::run(trimmed(0.49), {{1}, {2}, {9}}).out, (std::vector<float>{2}));
}

TEST(TrimmedMean, EqualValuesAtTheEdgeShareTheKeptPosition) {
  // 3 3 5 7 9, k = 1: kept 3 5 7 -> 5. The kept 3 is held by rows 0 and 1: 1/2 each, so their
  // weight is (1/2) / 3 = 1/6, below the share 1/5.
  const Outcome outcome = test::run(trimmed(0.2), {{3}, {3}, {5}, {7}, {9}});
  EXPECT_EQ(outcome.out, (std::vector<float>{5}));
  EXPECT_EQ(test::weights(outcome.verdicts),
            (std::vector<double>{1.0 / 6, 1.0 / 6, 1.0 / 3, 1.0 / 3, 0.0}));
  EXPECT_EQ(test::effects(outcome.verdicts),
            (std::vector<UpdateEffect>{kDown, kDown, kKept, kKept, kDown}));
}

// With f attackers, 2f < n, every attack leaves the median of each coordinate between the
// smallest and the largest honest value; so does the trimmed mean with k = floor(beta n) >= f.
TEST(CoordinateRules, AttackersCannotLeaveTheHonestRange) {
  std::mt19937 gen(2024);
  std::uniform_int_distribution<size_t> honest_count(2, 12);
  std::uniform_int_distribution<size_t> columns(1, 12);
  for (int trial = 0; trial < 400; ++trial) {
    const size_t h = honest_count(gen);
    const size_t f = std::uniform_int_distribution<size_t>(0, h - 1)(gen);  // f < h: 2f < n
    const test::Attack attack = test::kEveryAttack[trial % 5];
    const test::Round round =
        test::with_attackers(test::normal_rows(gen, h, columns(gen)), f, attack, gen);
    const size_t n = round.rows.size();
    const size_t block = std::uniform_int_distribution<size_t>(1, 5)(gen);
    SCOPED_TRACE(testing::Message() << "trial " << trial << ": n = " << n << ", f = " << f);
    test::expect_within_honest_range(
        round, test::run(options_for(RuleKind::kMedian), round.rows, block).out);
    // The smallest beta with floor(beta n) >= f, when it is below 1/2.
    const double beta = (static_cast<double>(f) + 0.5) / static_cast<double>(n);
    if (beta < 0.5) {
      test::expect_within_honest_range(round, test::run(trimmed(beta), round.rows, block).out);
    }
  }
}

}  // namespace
}  // namespace fedgan::aggregation
