// What every robust rule shares: options, minimum round sizes, the in-memory matrix, and the
// properties each rule must have whatever its arithmetic (block size, row order, identical rows,
// error messages). The rules' own arithmetic is tested in one file per source file.

#include "aggregation/robust_rule.h"

#include "tests/aggregation/robust_test_util.h"
#include "tests/aggregation/test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace fedgan::aggregation {
namespace {

using test::contains;
using test::error_message;
using test::options_for;
using test::Outcome;
using test::Rows;

// One configuration of every rule, with and without bucketing; all defined for 11 rows.
std::vector<RobustRuleOptions> every_rule() {
  std::vector<RobustRuleOptions> rules;
  for (RuleKind kind :
       {RuleKind::kMedian, RuleKind::kTrimmedMean, RuleKind::kMultiKrum, RuleKind::kBulyan,
        RuleKind::kGeometricMedian, RuleKind::kCenteredClipping}) {
    RobustRuleOptions options = options_for(kind);
    options.trim_beta = 0.2;
    options.byzantine = 2;  // Bulyan needs 11
    options.weiszfeld_iterations = 20;
    options.clip_radius = 2.0;
    rules.push_back(options);
  }
  for (RuleKind kind : {RuleKind::kMedian, RuleKind::kMultiKrum, RuleKind::kGeometricMedian}) {
    RobustRuleOptions options = options_for(kind);
    options.byzantine = 1;  // 6 buckets of at most 2 reach Multi-Krum's 5
    options.bucket_size = 2;
    rules.push_back(options);
  }
  return rules;
}

std::string name_of(const RobustRuleOptions& options) {
  return std::to_string(static_cast<int>(options.kind)) + "/buckets of " +
         std::to_string(options.bucket_size);
}

TEST(RobustRuleOptions, DefaultsAreValidAndEveryBadValueIsNamed) {
  validate(RobustRuleOptions{});
  auto message_for = [](auto change) {
    RobustRuleOptions options;
    change(options);
    return error_message([&] { validate(options); });
  };
  EXPECT_TRUE(contains(message_for([](auto& o) { o.trim_beta = 0.5; }), "trim_beta"));
  EXPECT_TRUE(contains(message_for([](auto& o) { o.trim_beta = -0.1; }), "trim_beta"));
  EXPECT_TRUE(contains(message_for([](auto& o) { o.trim_beta = std::nan(""); }), "trim_beta"));
  EXPECT_TRUE(
      contains(message_for([](auto& o) { o.weiszfeld_iterations = 0; }), "weiszfeld_iterations"));
  EXPECT_TRUE(
      contains(message_for([](auto& o) { o.weiszfeld_tolerance = 0.0; }), "weiszfeld_tolerance"));
  EXPECT_TRUE(
      contains(message_for([](auto& o) { o.weiszfeld_smoothing = -1.0; }), "weiszfeld_smoothing"));
  EXPECT_TRUE(contains(
      message_for([](auto& o) { o.clip_radius = std::numeric_limits<double>::infinity(); }),
      "clip_radius"));
  EXPECT_TRUE(contains(message_for([](auto& o) { o.clip_iterations = 0; }), "clip_iterations"));
  EXPECT_TRUE(
      contains(message_for([](auto& o) { o.kind = static_cast<RuleKind>(17); }), "kind 17"));
  // Checked whatever the kind: a median configured with clip_radius 0 is a mistake too.
  EXPECT_TRUE(contains(message_for([](auto& o) { o.clip_radius = 0.0; }), "clip_radius"));
  EXPECT_TRUE(contains(error_message([] {
                         RobustRuleOptions options;
                         options.trim_beta = 0.7;
                         make_robust_rule(options);
                       }),
                       "trim_beta"));
  RobustRuleOptions any_bucket;
  any_bucket.bucket_size = 1000;
  validate(any_bucket);
}

TEST(RobustRuleOptions, MinUpdatesPerRuleAndInBuckets) {
  RobustRuleOptions options;
  options.byzantine = 2;
  for (RuleKind kind : {RuleKind::kMedian, RuleKind::kTrimmedMean, RuleKind::kGeometricMedian,
                        RuleKind::kCenteredClipping}) {
    options.kind = kind;
    EXPECT_EQ(min_updates(options), 1u);
  }
  options.kind = RuleKind::kMultiKrum;
  EXPECT_EQ(min_updates(options), 7u);  // 2f + 3
  options.kind = RuleKind::kBulyan;
  EXPECT_EQ(min_updates(options), 11u);  // 4f + 3
  // Buckets of 3: ceil(n / 3) >= 11 from n = 31 (10 full buckets and one of 1).
  options.bucket_size = 3;
  EXPECT_EQ(min_updates(options), 31u);
  options.kind = RuleKind::kMedian;
  EXPECT_EQ(min_updates(options), 1u);
  options.bucket_size = 1;  // off
  options.kind = RuleKind::kMultiKrum;
  EXPECT_EQ(min_updates(options), 7u);
  // Sizes that would overflow read as "more than any round has".
  options.byzantine = std::numeric_limits<size_t>::max() / 2;
  EXPECT_EQ(min_updates(options), std::numeric_limits<size_t>::max());
  options.byzantine = 2;
  options.bucket_size = std::numeric_limits<size_t>::max() / 2;
  EXPECT_EQ(min_updates(options), std::numeric_limits<size_t>::max());
}

TEST(MatrixOver, VisitsConsecutiveBlocksOfAtMostTheBlockWidth) {
  const std::vector<float> a = {0, 1, 2, 3, 4, 5, 6};
  const std::vector<float> b = {10, 11, 12, 13, 14, 15, 16};
  const auto matrix = matrix_over({a.data(), b.data()}, 7, 3);
  EXPECT_EQ(matrix->num_rows(), 2u);
  EXPECT_EQ(matrix->num_columns(), 7u);
  EXPECT_EQ(matrix->block_columns(), 3u);
  std::vector<std::pair<size_t, size_t>> blocks;
  matrix->for_each_block([&](size_t first, size_t length, const float* const* rows) {
    blocks.emplace_back(first, length);
    for (size_t j = 0; j < length; ++j) {
      EXPECT_EQ(rows[0][j], static_cast<float>(first + j));
      EXPECT_EQ(rows[1][j], static_cast<float>(10 + first + j));
    }
  });
  EXPECT_EQ(blocks, (std::vector<std::pair<size_t, size_t>>{{0, 3}, {3, 3}, {6, 1}}));
  EXPECT_TRUE(contains(error_message([&] { matrix_over({a.data()}, 7, 0); }), "at least one"));
  EXPECT_TRUE(contains(error_message([&] { matrix_over({a.data(), nullptr}, 7, 2); }), "row 1"));
}

TEST(RobustRules, TooFewUpdatesAreRefusedWithTheNumbers) {
  RobustRuleOptions krum = options_for(RuleKind::kMultiKrum);
  krum.byzantine = 2;
  const Rows five(5, std::vector<float>{1.0f, 2.0f});
  EXPECT_EQ(error_message([&] { test::run(krum, five); }),
            "Multi-Krum with f = 2 needs at least 7 updates, got 5");
  RobustRuleOptions bulyan = options_for(RuleKind::kBulyan);
  EXPECT_EQ(error_message([&] { test::run(bulyan, Rows(6, std::vector<float>{1.0f})); }),
            "Bulyan with f = 1 needs at least 7 updates, got 6");
  krum.bucket_size = 3;
  EXPECT_EQ(error_message([&] { test::run(krum, Rows(15, std::vector<float>{1.0f})); }),
            "Multi-Krum with f = 2 in buckets of 3 needs at least 19 updates (7 buckets), got 15 "
            "(5 buckets)");
  krum.bucket_size = 0;
  krum.krum_selected = 8;
  EXPECT_EQ(error_message([&] { test::run(krum, Rows(7, std::vector<float>{1.0f})); }),
            "Multi-Krum with f = 2 averages krum_selected = 8 updates, got only 7");
  for (const RobustRuleOptions& options : every_rule()) {
    const auto rule = make_robust_rule(options);
    const std::string message = error_message([&] { test::run(*rule, {}, 3); });
    EXPECT_TRUE(contains(message, "got 0")) << name_of(options) << ": " << message;
  }
}

TEST(RobustRules, NonFiniteUpdatesAreRefused) {
  std::mt19937 gen(3);
  for (const RobustRuleOptions& options : every_rule()) {
    Rows rows = test::normal_rows(gen, 11, 4);
    rows[6][2] = std::numeric_limits<float>::quiet_NaN();
    const std::string message = error_message([&] { test::run(options, rows, 3); });
    EXPECT_TRUE(contains(message, "NaN") || contains(message, "non-finite"))
        << name_of(options) << ": " << message;
  }
}

TEST(RobustRules, UpdatesWithoutColumnsGiveOneVerdictEach) {
  for (const RobustRuleOptions& options : every_rule()) {
    const auto rule = make_robust_rule(options);
    const Outcome outcome = test::run(*rule, Rows(11), 0);
    EXPECT_EQ(outcome.verdicts.size(), 11u) << name_of(options);
    double total = 0.0;
    for (const UpdateVerdict& verdict : outcome.verdicts) total += verdict.weight;
    EXPECT_NEAR(total, 1.0, 1e-12) << name_of(options);
  }
}

TEST(RobustRules, ResultIsTheSameForEveryBlockWidth) {
  std::mt19937 gen(11);
  for (int trial = 0; trial < 20; ++trial) {
    const Rows rows = test::normal_rows(gen, 11, 10);
    for (const RobustRuleOptions& options : every_rule()) {
      const Outcome whole = test::run(options, rows, 0, trial);
      for (size_t block : {1, 3, 4, 7, 64}) {
        const Outcome blocked = test::run(options, rows, block, trial);
        // Bitwise: the block-by-block arithmetic does not depend on where blocks start.
        EXPECT_EQ(blocked.out, whole.out) << name_of(options) << " block " << block;
        EXPECT_EQ(test::weights(blocked.verdicts), test::weights(whole.verdicts))
            << name_of(options) << " block " << block;
        EXPECT_EQ(test::effects(blocked.verdicts), test::effects(whole.verdicts));
      }
    }
  }
}

TEST(RobustRules, IdenticalUpdatesGiveThatUpdateExactly) {
  std::mt19937 gen(5);
  for (int trial = 0; trial < 20; ++trial) {
    const Rows one = test::normal_rows(gen, 1, 9);
    const Rows rows(11, one[0]);
    for (RobustRuleOptions options : every_rule()) {
      // Centered clipping from zero moves at most tau per iteration: a radius beyond the update's
      // norm lets one step reach it (the center case is in centered_clipping_test.cc).
      options.clip_radius = 100.0;
      const Outcome outcome = test::run(options, rows, 4, trial);
      EXPECT_EQ(outcome.out, one[0]) << name_of(options);
    }
  }
}

// Runs `options` on `rows` and on the rows in the order `order` (row k of the second run is row
// order[k] of the first): the aggregate, and each update's verdict, must not change.
void expect_order_does_not_matter(const RobustRuleOptions& options, const Rows& rows,
                                  const std::vector<size_t>& order, float tolerance) {
  Rows shuffled;
  for (size_t k : order) shuffled.push_back(rows[k]);
  const Outcome first = test::run(options, rows, 3);
  const Outcome second = test::run(options, shuffled, 3);
  for (size_t c = 0; c < first.out.size(); ++c) {
    if (tolerance == 0.0f) {
      EXPECT_EQ(first.out[c], second.out[c]) << name_of(options) << " column " << c;
    } else {
      EXPECT_NEAR(first.out[c], second.out[c], tolerance) << name_of(options) << " column " << c;
    }
  }
  for (size_t k = 0; k < order.size(); ++k) {
    EXPECT_EQ(second.verdicts[k].effect, first.verdicts[order[k]].effect) << name_of(options);
    EXPECT_NEAR(second.verdicts[k].weight, first.verdicts[order[k]].weight, 1e-12);
  }
}

TEST(RobustRules, OrderOfTheUpdatesDoesNotMatter) {
  std::mt19937 gen(17);
  for (int trial = 0; trial < 30; ++trial) {
    const Rows rows = test::normal_rows(gen, 11, 8);
    std::vector<size_t> order(rows.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::shuffle(order.begin(), order.end(), gen);
    for (const RobustRuleOptions& options : every_rule()) {
      if (options.bucket_size > 1) continue;  // buckets follow the row order by design
      // Median, trimmed mean and Bulyan add sorted values, Multi-Krum adds rows in score order:
      // bitwise equal. The geometric median and centered clipping add weighted rows in row
      // order, so the last bit of a double may differ.
      const bool weighted =
          options.kind == RuleKind::kGeometricMedian || options.kind == RuleKind::kCenteredClipping;
      expect_order_does_not_matter(options, rows, order, weighted ? 1e-6f : 0.0f);
    }
  }
}

}  // namespace
}  // namespace fedgan::aggregation
