// Multi-Krum and Bulyan (aggregation/krum.cc).

#include "aggregation/robust_rule.h"

#include "tests/aggregation/robust_test_util.h"
#include "tests/aggregation/test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace fedgan::aggregation {
namespace {

using test::Outcome;
using test::Rows;

constexpr auto kKept = UpdateEffect::kKept;
constexpr auto kDown = UpdateEffect::kDownWeighted;
constexpr auto kExcluded = UpdateEffect::kExcluded;

RobustRuleOptions krum(size_t f, size_t m = 0) {
  RobustRuleOptions options = test::options_for(RuleKind::kMultiKrum);
  options.byzantine = f;
  options.krum_selected = m;
  return options;
}

RobustRuleOptions bulyan(size_t f) {
  RobustRuleOptions options = test::options_for(RuleKind::kBulyan);
  options.byzantine = f;
  return options;
}

// Rows (x, -x) for x = 0, 1, 2, 3, 100: squared distances are 2 (x - y)^2. With f = 1 each row is
// scored on its n - f - 2 = 2 nearest:
//   x = 0: 2 (1 + 4) = 10    x = 1: 2 (1 + 1) = 4    x = 2: 2 (1 + 1) = 4    x = 3: 2 (1 + 4) = 10
//   x = 100: 2 (97^2 + 98^2) = 38026
// Ties go to the smaller sum of squared distances to all the others:
//   x = 1: 2 (1 + 1 + 4 + 99^2) = 19614 > x = 2: 2 (4 + 1 + 1 + 98^2) = 19220
//   x = 0: 2 (1 + 4 + 9 + 100^2) = 20028 > x = 3: 2 (9 + 4 + 1 + 97^2) = 18846
// Ranking: rows 2, 1, 3, 0, 4.
const Rows kFiveRows = {{0, 0}, {1, -1}, {2, -2}, {3, -3}, {100, -100}};

TEST(MultiKrum, AveragesTheNMinusFBestScoredRows) {
  const Outcome outcome = test::run(krum(1), kFiveRows);
  // m = n - f = 4: rows 2, 1, 3, 0 -> (2 + 1 + 3 + 0) / 4 = 1.5.
  EXPECT_EQ(outcome.out, (std::vector<float>{1.5f, -1.5f}));
  EXPECT_EQ(test::effects(outcome.verdicts),
            (std::vector<UpdateEffect>{kKept, kKept, kKept, kKept, kExcluded}));
  EXPECT_EQ(test::weights(outcome.verdicts), (std::vector<double>{0.25, 0.25, 0.25, 0.25, 0.0}));
}

TEST(MultiKrum, TiesGoToTheCloserRowThenToTheLowerIndex) {
  // m = 3: rows 2, 1 and then row 3 (score 10, tied with row 0) -> (2 + 1 + 3) / 3 = 2.
  const Outcome three = test::run(krum(1, 3), kFiveRows);
  EXPECT_EQ(three.out, (std::vector<float>{2, -2}));
  EXPECT_EQ(test::effects(three.verdicts),
            (std::vector<UpdateEffect>{kExcluded, kKept, kKept, kKept, kExcluded}));
  EXPECT_EQ(three.verdicts[1].weight, 1.0 / 3);
  // m = 1 is Krum: row 2 (score 4, tied with row 1).
  const Outcome one = test::run(krum(1, 1), kFiveRows);
  EXPECT_EQ(one.out, (std::vector<float>{2, -2}));
  EXPECT_EQ(test::weights(one.verdicts), (std::vector<double>{0, 0, 1, 0, 0}));
  // m = n averages every row: (0 + 1 + 2 + 3 + 100) / 5 = 21.2, rounded once.
  EXPECT_EQ(test::run(krum(1, 5), kFiveRows).out[0], static_cast<float>(106.0 / 5));
  // Identical rows tie on both keys: the lowest indices are selected.
  const Outcome same = test::run(krum(1, 2), Rows(5, std::vector<float>{7, 7}));
  EXPECT_EQ(test::effects(same.verdicts),
            (std::vector<UpdateEffect>{kKept, kKept, kExcluded, kExcluded, kExcluded}));
}

// Rows x = 0, 1, 2, 3, 4, 5, 100 with f = 1: theta = 5 rows by repeated Krum, then the
// beta = 3 values of each coordinate closest to their median. Squared distances (x - y)^2; ties
// of the score go to the smaller sum of squared distances to all the others left.
//   7 left, 4 nearest: x = 2 and x = 3 score 1 + 1 + 4 + 4 = 10; sums 9623 and 9428: row 3.
//   6 left, 3 nearest: x = 2 scores 1 + 4 + 4 = 9 (x = 1: 11, x = 4: 14): row 2.
//   5 left, 2 nearest: x = 1 and x = 4 score 1 + 9 = 10; sums 9827 and 9242: row 4.
//   4 left {0, 1, 5, 100}, 1 nearest: x = 0 and x = 1 score 1; sums 10026 and 9818: row 1.
//   3 left {0, 5, 100}, 3 - 1 - 2 = 0 nearest: every score is 0; sums 10025, 9050 and 19025:
//   row 5.
// Selected values 1 2 3 4 5, median 3; the run 1..5 drops 5 (tie of |1 - 3| and |5 - 3| drops
// the upper end), then 1: 2 3 4 -> 3.
TEST(Bulyan, SelectsByRepeatedKrumThenAveragesTheValuesClosestToTheMedian) {
  const Rows rows = {{0}, {1}, {2}, {3}, {4}, {5}, {100}};
  const Outcome outcome = test::run(bulyan(1), rows);
  EXPECT_EQ(outcome.out, (std::vector<float>{3}));
  // Rows 2, 3, 4 formed the coordinate: 1 / (1 * 3) each, the selection's share being 1/5.
  EXPECT_EQ(test::effects(outcome.verdicts),
            (std::vector<UpdateEffect>{kExcluded, kDown, kKept, kKept, kKept, kDown, kExcluded}));
  EXPECT_EQ(test::weights(outcome.verdicts),
            (std::vector<double>{0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 0}));
}

TEST(Bulyan, EvenSelectionUsesTheMeanOfTheMiddleValues) {
  // n = 8, f = 1: theta = 6, beta = 4. The two far rows are never the best scored (the last pick,
  // among one near row and both far ones, scores each on both others) and are left out. Column:
  // 1 2 3 4 6 10 -> median 3.5; drop 10 (6.5 away), then 1 and 6 are both 2.5 away: the upper
  // end goes, leaving 1 2 3 4 -> 2.5.
  const Rows rows = {{1}, {2}, {3}, {4}, {6}, {10}, {-500}, {600}};
  const Outcome outcome = test::run(bulyan(1), rows);
  EXPECT_EQ(outcome.out, (std::vector<float>{2.5f}));
  EXPECT_EQ(outcome.verdicts[6].effect, kExcluded);
  EXPECT_EQ(outcome.verdicts[7].effect, kExcluded);
}

// Distances that decide whether far attackers can be selected.
struct Separation {
  double honest = 0.0;               // largest squared distance between two honest rows
  double attacker_honest = 1e300;    // smallest between an attacker and an honest row
  double attacker_attacker = 1e300;  // smallest between two attackers
};

Separation separation_of(const test::Round& round) {
  Separation s;
  for (size_t i = 0; i < round.rows.size(); ++i) {
    for (size_t j = i + 1; j < round.rows.size(); ++j) {
      const double d = test::squared_distance(round.rows[i], round.rows[j]);
      const int attackers = round.attacker[i] + round.attacker[j];
      double& slot = attackers == 0   ? s.honest
                     : attackers == 1 ? s.attacker_honest
                                      : s.attacker_attacker;
      slot = attackers == 0 ? std::max(slot, d) : std::min(slot, d);
    }
  }
  return s;
}

// Honest rows: multiples of 1/64 in [4, 6] (exact sums); attackers far from them.
Rows honest_rows(std::mt19937& gen, size_t h, size_t d) {
  std::uniform_int_distribution<int> step(-64, 64);
  Rows rows(h, std::vector<float>(d));
  for (auto& row : rows) {
    for (float& x : row) x = 5.0f + static_cast<float>(step(gen)) / 64.0f;
  }
  return rows;
}

constexpr test::Attack kFarAttacks[] = {test::Attack::kHuge, test::Attack::kSignFlip,
                                        test::Attack::kFarNoise};

// An honest row's score is at most (n - f - 2) * max honest distance; an attacker's at least
// (n - 2f - 1) * min attacker-honest distance (at most f - 1 of its nearest are attackers, and
// n >= 2f + 3). When the latter is larger, Multi-Krum (m = n - f) selects exactly the honest rows
// and Krum (m = 1) returns one honest row. Rounds that miss the bound are skipped and counted.
TEST(MultiKrum, FarAttackersAreNeverSelected) {
  std::mt19937 gen(99);
  int checked = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const size_t f = std::uniform_int_distribution<size_t>(0, 4)(gen);
    const size_t h = std::uniform_int_distribution<size_t>(f + 3, f + 10)(gen);
    const size_t d = std::uniform_int_distribution<size_t>(1, 10)(gen);
    const bool collude = trial % 2 == 0;
    const test::Round round =
        test::with_attackers(honest_rows(gen, h, d), f, kFarAttacks[trial % 3], gen, collude);
    const size_t n = round.rows.size();
    const Separation s = separation_of(round);
    if (f > 0 && (n - 2 * f - 1) * s.attacker_honest <= (n - f - 2) * s.honest) continue;
    ++checked;
    SCOPED_TRACE(testing::Message() << "trial " << trial << ": n = " << n << ", f = " << f);

    const Outcome all = test::run(krum(f), round.rows, 3);
    std::vector<double> sums(d, 0.0);
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(all.verdicts[i].effect, round.attacker[i] ? kExcluded : kKept) << "row " << i;
      if (round.attacker[i]) continue;
      for (size_t c = 0; c < d; ++c) sums[c] += round.rows[i][c];
    }
    for (size_t c = 0; c < d; ++c) EXPECT_EQ(all.out[c], static_cast<float>(sums[c] / h));

    const Outcome one = test::run(krum(f, 1), round.rows, 3);
    size_t matches = 0;
    for (size_t i = 0; i < n; ++i) matches += !round.attacker[i] && round.rows[i] == one.out;
    EXPECT_GE(matches, 1u);
  }
  EXPECT_GE(checked, 300);
}

// Bulyan with attackers farther from every row than the honest rows are from each other: each
// repeated-Krum pick is honest (an attacker's score is its nearest count times at least that
// distance), so every attacker is excluded and the result lies in the honest range. With
// colluding identical attackers one of them can be the last pick (its twins are its nearest),
// but its values are the farthest from every coordinate's median and trimmed: the result still
// lies in the honest range.
TEST(Bulyan, FarAttackersAreExcludedOrTrimmed) {
  std::mt19937 gen(7);
  int checked = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const size_t f = std::uniform_int_distribution<size_t>(0, 3)(gen);
    const size_t h = std::uniform_int_distribution<size_t>(3 * f + 3, 3 * f + 8)(gen);
    const size_t d = std::uniform_int_distribution<size_t>(1, 10)(gen);
    const bool collude = trial % 2 == 0;
    // Colluders: huge values or sign flips, far in every coordinate.
    const test::Attack attack = collude ? kFarAttacks[trial % 4 / 2] : kFarAttacks[trial % 3];
    const test::Round round = test::with_attackers(honest_rows(gen, h, d), f, attack, gen, collude);
    const Separation s = separation_of(round);
    if (!collude && std::min(s.attacker_honest, s.attacker_attacker) <= s.honest) continue;
    ++checked;
    SCOPED_TRACE(testing::Message() << "trial " << trial << ": h = " << h << ", f = " << f);
    const Outcome outcome = test::run(bulyan(f), round.rows, 4);
    test::expect_within_honest_range(round, outcome.out);
    if (collude) continue;
    size_t excluded = 0;
    for (size_t i = 0; i < round.rows.size(); ++i) {
      excluded += outcome.verdicts[i].effect == kExcluded;
      if (round.attacker[i]) {
        EXPECT_EQ(outcome.verdicts[i].effect, kExcluded) << "row " << i;
      }
    }
    EXPECT_EQ(excluded, 2 * f);
  }
  EXPECT_GE(checked, 300);
}

}  // namespace
}  // namespace fedgan::aggregation
