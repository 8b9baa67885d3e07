// Bucketing (aggregation/bucketing.cc) and its permutation.

#include "aggregation/robust_rule.h"
#include "aggregation/rule_support.h"

#include "tests/aggregation/robust_test_util.h"
#include "tests/aggregation/test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

namespace fedgan::aggregation {
namespace {

using detail::shuffled_rows;
using test::Outcome;
using test::Rows;

RobustRuleOptions in_buckets(RuleKind kind, size_t bucket_size) {
  RobustRuleOptions options = test::options_for(kind);
  options.bucket_size = bucket_size;
  return options;
}

// The bucket means the rule should see: buckets of s consecutive rows of shuffled_rows(n, seed),
// each mean summed in double in that order and rounded once.
Rows bucket_means(const Rows& rows, size_t s, uint64_t seed) {
  const std::vector<size_t> order = shuffled_rows(rows.size(), seed);
  Rows means;
  for (size_t begin = 0; begin < order.size(); begin += s) {
    const size_t end = std::min(order.size(), begin + s);
    std::vector<float> mean(rows[0].size());
    for (size_t c = 0; c < mean.size(); ++c) {
      double sum = 0.0;
      for (size_t k = begin; k < end; ++k) sum += rows[order[k]][c];
      mean[c] = static_cast<float>(sum / static_cast<double>(end - begin));
    }
    means.push_back(mean);
  }
  return means;
}

TEST(ShuffledRows, IsAPermutationFixedByTheSeed) {
  for (size_t n : {0, 1, 2, 5, 17}) {
    for (uint64_t seed = 0; seed < 20; ++seed) {
      std::vector<size_t> order = shuffled_rows(n, seed);
      EXPECT_EQ(shuffled_rows(n, seed), order);
      std::sort(order.begin(), order.end());
      EXPECT_EQ(order, detail::row_indices(n));
    }
  }
  EXPECT_NE(shuffled_rows(17, 1), shuffled_rows(17, 2));
  // Pinned (computed once from this implementation): mt19937_64's sequence is fixed by the
  // standard and the draws are our own, so these must not change across platforms or releases
  // (a round's buckets are reproducible from its seed).
  EXPECT_EQ(shuffled_rows(8, 42), (std::vector<size_t>{7, 0, 5, 1, 2, 4, 3, 6}));
  EXPECT_EQ(shuffled_rows(8, 7), (std::vector<size_t>{2, 3, 5, 6, 1, 0, 4, 7}));
}

TEST(ShuffledRows, EveryPermutationIsEquallyLikely) {
  // 24 permutations of 4 rows over 24000 seeds: 1000 each expected, standard deviation ~31.
  std::map<std::vector<size_t>, int> counts;
  for (uint64_t seed = 0; seed < 24000; ++seed) ++counts[shuffled_rows(4, seed)];
  EXPECT_EQ(counts.size(), 24u);
  for (const auto& [order, count] : counts) {
    EXPECT_GT(count, 850);
    EXPECT_LT(count, 1150);
  }
}

TEST(Bucketing, RunsTheRuleOnTheBucketMeansAndSharesTheirVerdicts) {
  // 7 rows in buckets of 3: two full buckets and one of a single row.
  const Rows rows = {{0, 1}, {10, -1}, {20, 4}, {30, 2}, {40, 8}, {50, 0.5f}, {60, 3}};
  const uint64_t seed = 1234;
  const Rows means = bucket_means(rows, 3, seed);
  ASSERT_EQ(means.size(), 3u);
  const Outcome direct = test::run(test::options_for(RuleKind::kMedian), means);
  const Outcome bucketed = test::run(in_buckets(RuleKind::kMedian, 3), rows, 1, seed);
  EXPECT_EQ(bucketed.out, direct.out);
  const std::vector<size_t> order = shuffled_rows(rows.size(), seed);
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t bucket = k / 3;
    const double size = bucket < 2 ? 3.0 : 1.0;
    EXPECT_EQ(bucketed.verdicts[order[k]].effect, direct.verdicts[bucket].effect);
    EXPECT_EQ(bucketed.verdicts[order[k]].weight, direct.verdicts[bucket].weight / size);
  }
}

TEST(Bucketing, TheSameSeedGivesTheSameBucketsAndOtherSeedsMayNot) {
  std::mt19937 gen(21);
  const Rows rows = test::normal_rows(gen, 12, 5);
  const RobustRuleOptions options = in_buckets(RuleKind::kGeometricMedian, 2);
  const Outcome first = test::run(options, rows, 2, 77);
  EXPECT_EQ(test::run(options, rows, 5, 77).out, first.out);
  int differing = 0;
  for (uint64_t seed = 0; seed < 10; ++seed)
    differing += test::run(options, rows, 2, seed).out != first.out;
  EXPECT_GE(differing, 9);
}

TEST(Bucketing, KrumExcludesTheBucketThatHoldsTheAttacker) {
  // Ten near rows and one huge one, buckets of 2: 6 buckets, Multi-Krum with f = 1 keeps the
  // 5 best; the huge row's bucket mean is the far one, so it and its bucket mate are excluded and
  // every other row gets (1/5) / 2 (or 1/5 alone in the last bucket).
  std::mt19937 gen(5);
  Rows rows = test::normal_rows(gen, 10, 4);
  rows.insert(rows.begin() + 3, std::vector<float>(4, 1e20f));
  RobustRuleOptions options = in_buckets(RuleKind::kMultiKrum, 2);
  options.byzantine = 1;
  const Outcome outcome = test::run(options, rows, 3, 9);
  const std::vector<size_t> order = shuffled_rows(rows.size(), 9);
  const size_t position = std::find(order.begin(), order.end(), 3) - order.begin();
  for (size_t k = 0; k < order.size(); ++k) {
    const bool same_bucket = k / 2 == position / 2;
    const double size = k / 2 == 5 ? 1.0 : 2.0;
    EXPECT_EQ(outcome.verdicts[order[k]].effect,
              same_bucket ? UpdateEffect::kExcluded : UpdateEffect::kKept);
    EXPECT_EQ(outcome.verdicts[order[k]].weight, same_bucket ? 0.0 : 0.2 / size);
  }
}

TEST(Bucketing, PassesTheCenterToTheRule) {
  const Rows rows = {{1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}};
  const std::vector<float> center = {2, 2};
  RobustRuleOptions options = in_buckets(RuleKind::kCenteredClipping, 2);
  options.clip_radius = 1.5;
  const auto bucketed = make_robust_rule(options);
  bucketed->set_center(center.data(), center.size());
  options.bucket_size = 0;
  const auto plain = make_robust_rule(options);
  plain->set_center(center.data(), center.size());
  const Rows means = bucket_means(rows, 2, 3);
  EXPECT_EQ(test::run(*bucketed, rows, 2, 0, 3).out, test::run(*plain, means, 2).out);
}

}  // namespace
}  // namespace fedgan::aggregation
