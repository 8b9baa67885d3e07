#include "aggregation/robust_rule.h"

#include "aggregation/error.h"
#include "aggregation/rule_support.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace fedgan::aggregation {
namespace {

constexpr size_t kSizeMax = std::numeric_limits<size_t>::max();

// a * b + c, or kSizeMax when that does not fit: a huge f or bucket size must read as "more
// updates than any round has", not wrap around to a small minimum.
size_t saturating_multiply_add(size_t a, size_t b, size_t c) {
  if (b != 0 && a > (kSizeMax - c) / b) return kSizeMax;
  return a * b + c;
}

void check_positive(double value, const char* name) {
  check(std::isfinite(value) && value > 0.0, "{} must be finite and positive, got {}", name, value);
}

// The rows of a caller's matrix, blocks of block_columns_ columns.
class RowsMatrix final : public UpdateMatrix {
 public:
  RowsMatrix(std::vector<const float*> rows, size_t num_columns, size_t block_columns)
      : rows_(std::move(rows)), num_columns_(num_columns), block_columns_(block_columns) {}

  size_t num_rows() const override { return rows_.size(); }
  size_t num_columns() const override { return num_columns_; }
  size_t block_columns() const override { return block_columns_; }

  void for_each_block(const BlockVisitor& visit) const override {
    std::vector<const float*> block(rows_.size());
    for (size_t first = 0; first < num_columns_; first += block_columns_) {
      for (size_t i = 0; i < rows_.size(); ++i) block[i] = rows_[i] + first;
      visit(first, std::min(block_columns_, num_columns_ - first), block.data());
    }
  }

 private:
  std::vector<const float*> rows_;
  size_t num_columns_;
  size_t block_columns_;
};

}  // namespace

void validate(const RobustRuleOptions& options) {
  const int kind = static_cast<int>(options.kind);
  check(kind >= static_cast<int>(RuleKind::kMedian) &&
            kind <= static_cast<int>(RuleKind::kCenteredClipping),
        "kind {} is not a RuleKind value", kind);
  // Every option is checked whatever the kind, so a mistyped value is caught even for a rule that
  // would ignore it.
  check(std::isfinite(options.trim_beta) && options.trim_beta >= 0.0 && options.trim_beta < 0.5,
        "trim_beta must be in [0, 0.5), got {}", options.trim_beta);
  check(options.weiszfeld_iterations >= 1, "weiszfeld_iterations must be at least 1, got 0");
  check_positive(options.weiszfeld_tolerance, "weiszfeld_tolerance");
  check_positive(options.weiszfeld_smoothing, "weiszfeld_smoothing");
  check_positive(options.clip_radius, "clip_radius");
  check(options.clip_iterations >= 1, "clip_iterations must be at least 1, got 0");
}

size_t min_updates(const RobustRuleOptions& options) {
  size_t rule_minimum = 1;
  if (options.kind == RuleKind::kMultiKrum) {
    rule_minimum = saturating_multiply_add(2, options.byzantine, 3);
  } else if (options.kind == RuleKind::kBulyan) {
    rule_minimum = saturating_multiply_add(4, options.byzantine, 3);
  }
  if (options.bucket_size <= 1 || rule_minimum == kSizeMax) return rule_minimum;
  // ceil(n / s) >= m exactly when n > (m - 1) * s.
  return saturating_multiply_add(rule_minimum - 1, options.bucket_size, 1);
}

std::unique_ptr<RobustRule> make_robust_rule(const RobustRuleOptions& options) {
  validate(options);
  RobustRuleOptions plain = options;
  plain.bucket_size = 0;
  std::unique_ptr<RobustRule> rule;
  switch (options.kind) {
    case RuleKind::kMedian:
      rule = detail::make_median_rule(plain);
      break;
    case RuleKind::kTrimmedMean:
      rule = detail::make_trimmed_mean_rule(plain);
      break;
    case RuleKind::kMultiKrum:
      rule = detail::make_multi_krum_rule(plain);
      break;
    case RuleKind::kBulyan:
      rule = detail::make_bulyan_rule(plain);
      break;
    case RuleKind::kGeometricMedian:
      rule = detail::make_geometric_median_rule(plain);
      break;
    case RuleKind::kCenteredClipping:
      rule = detail::make_centered_clipping_rule(plain);
      break;
  }
  if (options.bucket_size <= 1) return rule;
  return detail::make_bucketing_rule(options, std::move(rule));
}

std::unique_ptr<UpdateMatrix> matrix_over(std::vector<const float*> rows, size_t num_columns,
                                          size_t block_columns) {
  check(block_columns > 0, "an update matrix needs blocks of at least one column, got 0");
  if (num_columns > 0) {
    for (size_t i = 0; i < rows.size(); ++i) {
      check(rows[i] != nullptr, "row {} of the update matrix is a null pointer", i);
    }
  }
  return std::make_unique<RowsMatrix>(std::move(rows), num_columns, block_columns);
}

}  // namespace fedgan::aggregation
