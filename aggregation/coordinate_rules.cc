// The coordinate-wise median and trimmed mean. Both treat every column on its own, so a block of
// columns is final once visited: one pass over the updates, O(n) scratch.
//
// Ties: the n values of a coordinate are ordered by value, then by row index (ColumnEntry), and
// the values at the kept positions of that order form the result, which therefore depends on the
// values only. The verdicts share a kept position held by equal values among all the rows with
// that value (KeptCredits), so they do not depend on the row index either.

#include "aggregation/error.h"
#include "aggregation/rule_support.h"

#include <algorithm>
#include <cmath>

namespace fedgan::aggregation::detail {
namespace {

// The median of entries (n >= 1, any order on entry, reordered on return): the middle value for
// odd n, the mean of the two middle values in double for even n. Credits the rows that formed it.
float median_of(std::vector<ColumnEntry>& entries, KeptCredits& credits) {
  const size_t mid = entries.size() / 2;
  std::nth_element(entries.begin(), entries.begin() + mid, entries.end());
  const ColumnEntry upper = entries[mid];
  if (entries.size() % 2 == 1) {
    credits.credit_value(entries, upper.value, 1);
    return upper.value;
  }
  // After nth_element every entry before `mid` is below it: the largest of them is the other
  // middle value.
  const ColumnEntry lower = *std::max_element(entries.begin(), entries.begin() + mid);
  if (lower.value == upper.value) {
    credits.credit_value(entries, upper.value, 2);
  } else {
    credits.credit_value(entries, lower.value, 1);
    credits.credit_value(entries, upper.value, 1);
  }
  return static_cast<float>((static_cast<double>(lower.value) + static_cast<double>(upper.value)) /
                            2.0);
}

class MedianRule final : public StatelessRule {
 public:
  explicit MedianRule(const RobustRuleOptions& options) : options_(options) {}

  /// Verdicts: weight_i = (coordinates where row i's value formed the median) / (d * kept), kept
  /// = 1 for odd n and 2 for even n; kDownWeighted below 1/n (KeptCredits).
  std::vector<UpdateVerdict> aggregate(const UpdateMatrix& updates, uint64_t shuffle_seed,
                                       float* out) override {
    const size_t n = updates.num_rows();
    check_row_count(options_, n, 1);
    const std::vector<size_t> members = row_indices(n);
    KeptCredits credits(n);
    std::vector<ColumnEntry> entries;
    updates.for_each_block([&](size_t first, size_t length, const float* const* rows) {
      for (size_t j = 0; j < length; ++j) {
        gather_column(rows, members, first, j, entries);
        out[first + j] = median_of(entries, credits);
      }
    });
    check_finite_result(options_, out, updates.num_columns());
    return credits.verdicts(updates.num_columns(), n % 2 == 1 ? 1 : 2,
                            1.0 / static_cast<double>(n));
  }

 private:
  RobustRuleOptions options_;
};

class TrimmedMeanRule final : public StatelessRule {
 public:
  explicit TrimmedMeanRule(const RobustRuleOptions& options) : options_(options) {}

  /// k = floor(beta * n) values dropped at each end; the n - 2k kept ones are added in double in
  /// ascending order (so the sum does not depend on the rows' order) and divided once. Verdicts as
  /// for the median with kept = n - 2k.
  std::vector<UpdateVerdict> aggregate(const UpdateMatrix& updates, uint64_t shuffle_seed,
                                       float* out) override {
    const size_t n = updates.num_rows();
    check_row_count(options_, n, 1);
    const size_t k = static_cast<size_t>(std::floor(options_.trim_beta * static_cast<double>(n)));
    // beta < 0.5 makes 2k < n, but beta * n is a rounded product: checked rather than assumed.
    check(n > 2 * k,
          "{} drops k = {} values at each end of every coordinate, so it needs more than {} "
          "updates, got {}",
          describe_rule(options_), k, 2 * k, n);
    const std::vector<size_t> members = row_indices(n);
    KeptCredits credits(n);
    std::vector<ColumnEntry> entries;
    updates.for_each_block([&](size_t first, size_t length, const float* const* rows) {
      for (size_t j = 0; j < length; ++j) {
        gather_column(rows, members, first, j, entries);
        std::sort(entries.begin(), entries.end());
        double sum = 0.0;
        for (size_t r = k; r < n - k; ++r) sum += entries[r].value;
        credits.credit_sorted(entries, k, n - k);
        out[first + j] = static_cast<float>(sum / static_cast<double>(n - 2 * k));
      }
    });
    check_finite_result(options_, out, updates.num_columns());
    return credits.verdicts(updates.num_columns(), n - 2 * k, 1.0 / static_cast<double>(n));
  }

 private:
  RobustRuleOptions options_;
};

}  // namespace

std::unique_ptr<RobustRule> make_median_rule(const RobustRuleOptions& options) {
  return std::make_unique<MedianRule>(options);
}

std::unique_ptr<RobustRule> make_trimmed_mean_rule(const RobustRuleOptions& options) {
  return std::make_unique<TrimmedMeanRule>(options);
}

}  // namespace fedgan::aggregation::detail
