// The geometric median argmin_z sum_i ||x_i - z|| by smoothed Weiszfeld iterations, as RFA
// computes it (Pillutla, Kakade, Harchaoui, "Robust Aggregation for Federated Learning", 2022):
//
//   z_0 = the mean of the rows
//   b_i = 1 / max(nu, ||x_i - z_t||),  z_{t+1} = sum_i b_i x_i / sum_i b_i
//
// stopping after the iteration cap, or as soon as the objective sum_i ||x_i - z|| changes by at
// most tolerance * objective from one estimate to the next. The estimate z is kept in double (one
// vector of num_columns doubles) and rounded once to float at the end. Each iteration reads the
// rows twice: once for the distances to z_t, once for z_{t+1}, whose weights need every distance.

#include "aggregation/error.h"
#include "aggregation/rule_support.h"

#include <algorithm>
#include <cmath>

namespace fedgan::aggregation::detail {
namespace {

class GeometricMedianRule final : public StatelessRule {
 public:
  explicit GeometricMedianRule(const RobustRuleOptions& options) : options_(options) {}

  /// z_0 = sum_i (1/n) x_i. Verdicts: the normalised weights b_i / sum_j b_j that produced the
  /// returned estimate (at least one iteration runs, so these are Weiszfeld weights);
  /// kDownWeighted when below 1/n by more than a relative kShareSlack, kKept otherwise.
  std::vector<UpdateVerdict> aggregate(const UpdateMatrix& updates, uint64_t shuffle_seed,
                                       float* out) override {
    const size_t n = updates.num_rows();
    check_row_count(options_, n, 1);
    std::vector<double> estimate(updates.num_columns(), 0.0);
    std::vector<double> weights(n, 1.0 / static_cast<double>(n));
    weighted_mean(updates, weights, estimate);
    std::vector<double> distances = distances_to(options_, updates, estimate);
    double objective = sum_of(distances);
    for (size_t t = 1; t <= options_.weiszfeld_iterations; ++t) {
      weights = weiszfeld_weights(distances);
      weighted_mean(updates, weights, estimate);
      if (t == options_.weiszfeld_iterations) break;  // the distances would go unused
      distances = distances_to(options_, updates, estimate);
      const double previous = objective;
      objective = sum_of(distances);
      if (std::fabs(previous - objective) <= options_.weiszfeld_tolerance * objective) break;
    }
    for (size_t c = 0; c < estimate.size(); ++c) out[c] = static_cast<float>(estimate[c]);
    check_finite_result(options_, out, estimate.size());
    return verdicts_of(weights);
  }

 private:
  // estimate = sum_i weights[i] * x_i, block by block; every column is summed in row order.
  static void weighted_mean(const UpdateMatrix& updates, const std::vector<double>& weights,
                            std::vector<double>& estimate) {
    updates.for_each_block([&](size_t first, size_t length, const float* const* rows) {
      double* sum = estimate.data() + first;
      std::fill(sum, sum + length, 0.0);
      for (size_t i = 0; i < weights.size(); ++i) {
        const double weight = weights[i];
        const float* row = rows[i];
        for (size_t j = 0; j < length; ++j) sum[j] += weight * static_cast<double>(row[j]);
      }
    });
  }

  // b_i / sum_j b_j with b_i = 1 / max(nu, distance_i).
  std::vector<double> weiszfeld_weights(const std::vector<double>& distances) const {
    std::vector<double> weights(distances.size());
    double total = 0.0;
    for (size_t i = 0; i < distances.size(); ++i) {
      weights[i] = 1.0 / std::max(options_.weiszfeld_smoothing, distances[i]);
      total += weights[i];
    }
    for (double& weight : weights) weight /= total;
    return weights;
  }

  static double sum_of(const std::vector<double>& values) {
    double sum = 0.0;
    for (double value : values) sum += value;
    return sum;
  }

  static std::vector<UpdateVerdict> verdicts_of(const std::vector<double>& weights) {
    const double share = 1.0 / static_cast<double>(weights.size());
    std::vector<UpdateVerdict> verdicts(weights.size());
    for (size_t i = 0; i < weights.size(); ++i) {
      verdicts[i].weight = weights[i];
      verdicts[i].effect = weights[i] < share * (1.0 - kShareSlack) ? UpdateEffect::kDownWeighted
                                                                    : UpdateEffect::kKept;
    }
    return verdicts;
  }

  RobustRuleOptions options_;
};

}  // namespace

std::unique_ptr<RobustRule> make_geometric_median_rule(const RobustRuleOptions& options) {
  return std::make_unique<GeometricMedianRule>(options);
}

}  // namespace fedgan::aggregation::detail
