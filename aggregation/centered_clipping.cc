// Centered clipping (Karimireddy, He, Jaggi, "Learning from History for Byzantine Robust
// Optimization", 2021): L iterations from the center v_0,
//
//   s_i = min(1, tau / ||x_i - v_l||),  v_{l+1} = v_l + sum_i s_i (x_i - v_l) / n,
//
// so a step moves v by at most tau whatever the updates hold. v is kept in double (one vector of
// num_columns doubles) and rounded once to float at the end. Each iteration reads the rows twice:
// once for the distances to v_l, once for the step, whose scales need every distance; the step of
// a block is finished within the block, so only the block's sums are held besides v.

#include "aggregation/error.h"
#include "aggregation/rule_support.h"

#include <algorithm>
#include <cmath>

namespace fedgan::aggregation::detail {
namespace {

class CenteredClippingRule final : public RobustRule {
 public:
  explicit CenteredClippingRule(const RobustRuleOptions& options) : options_(options) {}

  /// The center is checked by aggregate(): it must have the updates' num_columns, and finite
  /// values. With nullptr, num_columns is ignored (the zero vector of any length).
  void set_center(const float* center, size_t num_columns) override {
    has_center_ = center != nullptr;
    if (has_center_) {
      center_.assign(center, center + num_columns);
    } else {
      center_.clear();
    }
  }

  /// Verdicts, from the scales s_i of the last iteration: kClipped when s_i < 1, kKept otherwise;
  /// the weight is s_i / sum_j s_j, the row's share of the last step's pull (1/n each when no row
  /// is clipped; a row that was not clipped gets more than 1/n when another was).
  std::vector<UpdateVerdict> aggregate(const UpdateMatrix& updates, uint64_t shuffle_seed,
                                       float* out) override {
    const size_t n = updates.num_rows();
    const size_t d = updates.num_columns();
    check_row_count(options_, n, 1);
    std::vector<double> estimate = start(d);
    std::vector<double> scales;
    std::vector<double> sums;
    for (size_t l = 0; l < options_.clip_iterations; ++l) {
      scales = clip_scales(distances_to(options_, updates, estimate));
      updates.for_each_block([&](size_t first, size_t length, const float* const* rows) {
        step(rows, scales, first, length, sums, estimate);
      });
    }
    for (size_t c = 0; c < d; ++c) out[c] = static_cast<float>(estimate[c]);
    check_finite_result(options_, out, d);
    return verdicts_of(scales);
  }

 private:
  // v_0: the center, or zeros.
  std::vector<double> start(size_t d) const {
    if (!has_center_) return std::vector<double>(d, 0.0);
    check(center_.size() == d, "centered clipping's center has {} columns, the updates have {}",
          center_.size(), d);
    for (size_t c = 0; c < d; ++c) {
      check(std::isfinite(center_[c]), "centered clipping's center is not finite at column {}: {}",
            c, center_[c]);
    }
    return std::vector<double>(center_.begin(), center_.end());
  }

  std::vector<double> clip_scales(const std::vector<double>& distances) const {
    std::vector<double> scales(distances.size());
    for (size_t i = 0; i < distances.size(); ++i) {
      // Not min(1, tau / distance): a distance of 0 would divide by zero.
      const double distance = distances[i];
      scales[i] = distance > options_.clip_radius ? options_.clip_radius / distance : 1.0;
    }
    return scales;
  }

  // v += sum_i s_i (x_i - v) / n over one block; each column summed in row order.
  static void step(const float* const* rows, const std::vector<double>& scales, size_t first,
                   size_t length, std::vector<double>& sums, std::vector<double>& estimate) {
    sums.assign(length, 0.0);
    double* sum = sums.data();
    const double* v = estimate.data() + first;
    for (size_t i = 0; i < scales.size(); ++i) {
      const double scale = scales[i];
      const float* row = rows[i];
      for (size_t j = 0; j < length; ++j) sum[j] += scale * (static_cast<double>(row[j]) - v[j]);
    }
    const double n = static_cast<double>(scales.size());
    double* target = estimate.data() + first;
    for (size_t j = 0; j < length; ++j) target[j] += sum[j] / n;
  }

  static std::vector<UpdateVerdict> verdicts_of(const std::vector<double>& scales) {
    double total = 0.0;
    for (double scale : scales) total += scale;
    std::vector<UpdateVerdict> verdicts(scales.size());
    for (size_t i = 0; i < scales.size(); ++i) {
      verdicts[i].weight = scales[i] / total;
      verdicts[i].effect = scales[i] < 1.0 ? UpdateEffect::kClipped : UpdateEffect::kKept;
    }
    return verdicts;
  }

  RobustRuleOptions options_;
  bool has_center_ = false;
  std::vector<float> center_;
};

}  // namespace

std::unique_ptr<RobustRule> make_centered_clipping_rule(const RobustRuleOptions& options) {
  return std::make_unique<CenteredClippingRule>(options);
}

}  // namespace fedgan::aggregation::detail
