#include "coordinator/norm_bound.h"

#include "coordinator/error.h"

#include <algorithm>
#include <cmath>

namespace fedgan::coordinator {

std::optional<double> median(std::vector<double> values) {
  if (values.empty()) return std::nullopt;
  const size_t middle = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + middle, values.end());
  const double upper = values[middle];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + middle);
  return lower + (upper - lower) / 2;
}

NormBound::NormBound(const AggregationOptions& options)
    : kind_(options.norm_bound),
      factor_(options.norm_bound_factor),
      fixed_(options.max_delta_norm) {}

bool NormBound::needs_model_norm(gan::TrainedNetworks networks) const {
  return kind_ == NormBoundKind::kAdaptive && median_.count(networks) == 0;
}

std::optional<double> NormBound::for_round(gan::TrainedNetworks networks,
                                           double global_norm) const {
  switch (kind_) {
    case NormBoundKind::kNone:
    case NormBoundKind::kRoundMedian:  // applied to the kept updates at commit (RobustStep)
      return std::nullopt;
    case NormBoundKind::kFixed:
      return fixed_;
    case NormBoundKind::kAdaptive:
      break;
  }
  const auto found = median_.find(networks);
  const double typical = found != median_.end() ? found->second : global_norm;
  const double bound = factor_ * typical;
  if (!(bound > 0) || !std::isfinite(bound)) return std::nullopt;
  return bound;
}

void NormBound::committed(gan::TrainedNetworks networks, std::vector<double> aggregated_norms) {
  const auto middle = median(std::move(aggregated_norms));
  if (middle && *middle > 0 && std::isfinite(*middle)) median_[networks] = *middle;
}

}  // namespace fedgan::coordinator
