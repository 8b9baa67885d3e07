#pragma once

#include "aggregation/update_matrix.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fedgan::aggregation {

/// The rules that need every update of a round. Each takes the round's accepted (screened,
/// norm-bounded) deltas unweighted: a reported sample count is the one number a hostile site
/// controls freely, so robust rules do not let it weigh in.
enum class RuleKind {
  kMedian,            ///< coordinate-wise median
  kTrimmedMean,       ///< coordinate-wise mean without the beta*n lowest and highest values
  kMultiKrum,         ///< mean of the m updates with the lowest Krum scores (Blanchard et al. 2017)
  kBulyan,            ///< Krum selection of n - 2f, then a trimmed mean of the beta = n - 4f values
                      ///< closest to the coordinate-wise median (El Mhamdi et al. 2018)
  kGeometricMedian,   ///< smoothed Weiszfeld iterations, as in RFA (Pillutla et al. 2022)
  kCenteredClipping,  ///< iterative clipping around a center that starts at the last aggregate
                      ///< (Karimireddy, He, Jaggi 2021)
};

/// What the rule did to one update, for the round's `updates` rows.
enum class UpdateEffect {
  kKept,          ///< entered the aggregate with its full share
  kDownWeighted,  ///< entered with less than its share (geometric median weights, trimmed values)
  kClipped,       ///< clipped toward the center (centered clipping)
  kExcluded,      ///< left out (not selected by Krum or Bulyan)
};

struct UpdateVerdict {
  UpdateEffect effect = UpdateEffect::kKept;
  /// The update's share of the aggregate, in [0, 1]; the shares of a round sum to 1 for rules that
  /// are weighted means (Krum, Weiszfeld's last weights) and are the share of coordinates where the
  /// value entered the result for coordinate-wise rules (median, trimmed mean, Bulyan), divided by
  /// the number of values each coordinate keeps.
  ///
  /// Per rule: median and trimmed mean: the credited coordinates / (d * kept), kDownWeighted below
  /// 1/n, where equal values that straddle the edge of the kept positions share the positions
  /// they hold (rows with equal values get equal verdicts); Bulyan: the same over the selected
  /// rows, kDownWeighted below 1/theta, and kExcluded with 0 for the rows not selected;
  /// Multi-Krum: 1/m kKept or 0 kExcluded; geometric median: the final normalised Weiszfeld
  /// weight, kDownWeighted below 1/n; centered clipping: s_i / sum_j s_j with s_i the last
  /// iteration's clipping scale, kClipped when s_i < 1. "Below" means by more than a relative
  /// 1e-9. With bucketing a row gets its bucket's effect and an equal part of its bucket's weight.
  /// With no columns the coordinate-wise rules give every row (every selected row, for Bulyan)
  /// its share.
  double weight = 0.0;
};

struct RobustRuleOptions {
  RuleKind kind = RuleKind::kMedian;
  /// Trimmed mean: the share of values dropped at each end of every coordinate, in [0, 0.5);
  /// floor(trim_beta * n) values are dropped at each end.
  double trim_beta = 0.1;
  /// Krum and Bulyan: the number of Byzantine updates the rule is sized for.
  size_t byzantine = 1;
  /// Multi-Krum: how many of the best-scored updates are averaged; 0 means n - f. Ties between
  /// Krum scores (here and in Bulyan's selection) go to the update with the smaller sum of
  /// squared distances to all the other candidates, then to the lower row index.
  size_t krum_selected = 0;
  /// Geometric median: iteration cap, relative tolerance on the objective and the smoothing nu
  /// (a distance below it counts as nu, so a candidate on top of an update cannot divide by 0).
  /// The iterations start at the mean and stop once |objective change| <= tolerance * objective.
  size_t weiszfeld_iterations = 8;
  double weiszfeld_tolerance = 1e-6;
  double weiszfeld_smoothing = 1e-6;
  /// Centered clipping: the clipping radius tau (> 0) and the number of iterations L (>= 1).
  double clip_radius = 1.0;
  size_t clip_iterations = 3;
  /// Bucketing (Karimireddy et al. 2022): when > 1, the updates are shuffled (by the round's
  /// seed), averaged in buckets of this many and the rule runs on the bucket means. 0 or 1: off.
  /// The permutation is Fisher-Yates driven by std::mt19937_64(seed) with its own unbiased
  /// draws, so a seed gives the same buckets on every platform; the last bucket holds the
  /// n mod s rows left over, when there are some.
  size_t bucket_size = 0;
};

/// Throws AggregationError naming the option when a value is out of range.
void validate(const RobustRuleOptions& options);

/// The fewest updates `options` is defined for: 1 for median, trimmed mean and geometric median
/// and centered clipping; 2f + 3 for Multi-Krum; 4f + 3 for Bulyan; with bucketing, counted in
/// buckets (ceil(n / s) buckets must reach the rule's minimum). Used when the configuration is
/// read (against the round's minimum participation) and by every round.
size_t min_updates(const RobustRuleOptions& options);

/// A rule with the state it keeps between rounds (centered clipping's center).
class RobustRule {
 public:
  virtual ~RobustRule() = default;

  /// Writes the aggregate of the rows of `updates` (num_columns() floats) into `out` and returns
  /// one verdict per row. `shuffle_seed` drives bucketing's permutation (the same seed gives the
  /// same buckets). Throws AggregationError, naming the numbers, when there are fewer rows than
  /// the rule needs, and when the result would not be finite; `out` is then unspecified and the
  /// rule's state unchanged.
  virtual std::vector<UpdateVerdict> aggregate(const UpdateMatrix& updates, uint64_t shuffle_seed,
                                               float* out) = 0;

  /// Centered clipping: the center the next aggregate starts from (num_columns floats, copied),
  /// or nullptr for the zero vector. The caller sets it before each aggregate (the last committed
  /// aggregate of the same columns); aggregate() does not change it, so a round that fails after
  /// the rule ran leaves nothing to undo. Other rules ignore it. aggregate() throws
  /// AggregationError when a center was given with another number of columns or a value that is
  /// not finite.
  virtual void set_center(const float* center, size_t num_columns) = 0;
};

/// Validates `options` and builds the rule (wrapped in bucketing when bucket_size > 1).
std::unique_ptr<RobustRule> make_robust_rule(const RobustRuleOptions& options);

/// A plain UpdateMatrix over rows in memory (tests, bucket means): `rows[i]` points at
/// `num_columns` floats owned by the caller; blocks are `block_columns` wide. Throws
/// AggregationError when block_columns is 0 or a row is null (with columns to read).
std::unique_ptr<UpdateMatrix> matrix_over(std::vector<const float*> rows, size_t num_columns,
                                          size_t block_columns);

}  // namespace fedgan::aggregation
