#pragma once

// Private to the robust rules (robust_rule.cc, coordinate_rules.cc, krum.cc, geometric_median.cc,
// centered_clipping.cc, bucketing.cc): the factories make_robust_rule dispatches to, and the
// arithmetic several rules share. Not part of the library's interface (tests may use it).

#include "aggregation/robust_rule.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fedgan::aggregation::detail {

/// A verdict weight below share * (1 - kShareSlack) counts as less than the share: the weights are
/// quotients computed in double, and an update that kept its share should not be flagged for a
/// last-bit rounding.
constexpr double kShareSlack = 1e-9;

/// The rules without state between rounds: set_center does nothing.
class StatelessRule : public RobustRule {
 public:
  void set_center(const float* center, size_t num_columns) override {}
};

// Each factory takes options that validate() accepted, with bucket_size ignored.
std::unique_ptr<RobustRule> make_median_rule(const RobustRuleOptions& options);
std::unique_ptr<RobustRule> make_trimmed_mean_rule(const RobustRuleOptions& options);
std::unique_ptr<RobustRule> make_multi_krum_rule(const RobustRuleOptions& options);
std::unique_ptr<RobustRule> make_bulyan_rule(const RobustRuleOptions& options);
std::unique_ptr<RobustRule> make_geometric_median_rule(const RobustRuleOptions& options);
std::unique_ptr<RobustRule> make_centered_clipping_rule(const RobustRuleOptions& options);
/// Wraps `inner` (built from `options` without bucketing) in bucketing of options.bucket_size.
std::unique_ptr<RobustRule> make_bucketing_rule(const RobustRuleOptions& options,
                                                std::unique_ptr<RobustRule> inner);

/// Bucketing's permutation of rows 0..n-1: Fisher-Yates (from the last position down, each swapped
/// with a uniform draw among the positions up to it) driven by std::mt19937_64 seeded with `seed`,
/// with its own unbiased draw (rejection) rather than std::shuffle or
/// std::uniform_int_distribution, whose algorithms the standard leaves to the implementation: the
/// same seed gives the same permutation on every platform.
std::vector<size_t> shuffled_rows(size_t n, uint64_t seed);

/// 0, 1, ..., n - 1.
std::vector<size_t> row_indices(size_t n);

/// The rule as error messages name it: "Multi-Krum with f = 2", "the trimmed mean with beta = 0.1".
std::string describe_rule(const RobustRuleOptions& options);

/// Throws AggregationError "<rule> needs at least <needed> updates, got <count>" when count <
/// needed.
void check_row_count(const RobustRuleOptions& options, size_t count, size_t needed);

/// Throws AggregationError naming the rule, the column and the value when out[0, size) holds a
/// value that is not finite.
void check_finite_result(const RobustRuleOptions& options, const float* out, size_t size);

/// One value of a coordinate and the row it came from, sorted by value, then by row index: a
/// strict order, so the positions the coordinate-wise rules keep are well defined. Which of equal
/// values sits at a kept position does not change the result, and KeptCredits shares the credit.
struct ColumnEntry {
  float value = 0.0f;
  size_t row = 0;
};

inline bool operator<(const ColumnEntry& a, const ColumnEntry& b) {
  return a.value < b.value || (a.value == b.value && a.row < b.row);
}

/// entries[k] = {rows[members[k]][column], members[k]} for every k; `rows` are a block's rows and
/// `column` is relative to the block, `first` where the block starts. Throws AggregationError
/// naming the update and its column when a value is NaN or infinite (which would break the order).
void gather_column(const float* const* rows, const std::vector<size_t>& members, size_t first,
                   size_t column, std::vector<ColumnEntry>& entries);

/// What the coordinate-wise rules (median, trimmed mean, Bulyan) count for the verdicts: for each
/// row, the coordinates where its value entered the result. Where equal values straddle the edge
/// of the kept positions, the kept positions they hold are shared equally among all the rows with
/// that value (they are indistinguishable in the result): rows with identical values get
/// identical verdicts, whatever their index.
class KeptCredits {
 public:
  explicit KeptCredits(size_t num_rows);

  /// Credits positions [begin, end) of one coordinate's values `sorted` (ascending ColumnEntry
  /// order).
  void credit_sorted(const std::vector<ColumnEntry>& sorted, size_t begin, size_t end);

  /// Credits `kept` positions held by `value` among one coordinate's values `entries` (any order):
  /// each row with that value gets kept / (how many rows have it).
  void credit_value(const std::vector<ColumnEntry>& entries, float value, size_t kept);

  /// One verdict per row for `columns` coordinates that each kept `kept` values: the weight is
  /// (credited coordinates) / (columns * kept), kDownWeighted when below `share` (less
  /// kShareSlack), kKept otherwise. With no columns every row gets `share`, kKept.
  std::vector<UpdateVerdict> verdicts(size_t columns, size_t kept, double share) const;

 private:
  void add(size_t row, size_t kept, size_t among);

  std::vector<uint64_t> whole_;  // coordinates credited in full: exact
  // Fractions from shared positions, in Neumaier-compensated sums: a row credited 1/n in each of
  // millions of coordinates must still read as exactly its share.
  std::vector<double> parts_;
  std::vector<double> compensation_;
};

/// out[j] = the mean of rows[members[k]][j] over k, for j < length: summed in double in the order
/// of `members` (a column's sum does not depend on the block it falls in), divided once and
/// rounded once to float. `sums` is scratch (resized to length). members is not empty.
void mean_of_rows(const float* const* rows, const std::vector<size_t>& members, size_t length,
                  std::vector<double>& sums, float* out);

/// A sum of squares over columns kept in kLanes partial sums, column c always adding to lane
/// c % kLanes in column order: the sum is the same however the columns are split into blocks (a
/// single running sum would not vectorise, a vectorised reduction would depend on where each
/// block starts).
class LaneSum {
 public:
  static constexpr size_t kLanes = 4;

  /// Adds (a[j] - b[j])^2 for the columns first + j, j < length; a and b point at column `first`.
  void add_squared_differences(const float* a, const float* b, size_t first, size_t length);
  void add_squared_differences(const float* a, const double* b, size_t first, size_t length);

  double total() const { return (lanes_[0] + lanes_[1]) + (lanes_[2] + lanes_[3]); }

 private:
  std::array<double, kLanes> lanes_{};
};

/// ||x_i - point|| for every row i, squares summed by LaneSum over one pass of for_each_block;
/// `point` has num_columns entries. Throws AggregationError naming the rule and the row when a
/// distance is not finite (with a finite point: the row holds a NaN or an infinity).
std::vector<double> distances_to(const RobustRuleOptions& options, const UpdateMatrix& updates,
                                 const std::vector<double>& point);

/// Squared Euclidean distances between every two rows, n * n row-major with a zero diagonal,
/// accumulated over one pass of for_each_block (LaneSum per pair, so independent of the block
/// size and symmetric). Throws AggregationError when a distance is not finite (a row holds a NaN
/// or an infinity), naming the two rows.
std::vector<double> pairwise_squared_distances(const UpdateMatrix& updates);

/// Krum's score of row `row` among the rows `candidates` (which may include `row`): the sum of its
/// `nearest` smallest squared distances to the other candidates, added in ascending order (so
/// the score does not depend on the candidates' order). `distances` is n * n as above.
double krum_score(const std::vector<double>& distances, size_t n, size_t row,
                  const std::vector<size_t>& candidates, size_t nearest);

}  // namespace fedgan::aggregation::detail
