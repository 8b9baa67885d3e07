#pragma once

#include "coordinator/options.h"
#include "gan/trained_networks.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fedgan::coordinator {

/// The median of `values` (the mean of the middle two for an even count); nullopt when empty.
std::optional<double> median(std::vector<double> values);

/// The bound each update's L2 norm is judged against (aggregation.norm_bound), round by round.
///
/// Why adaptive by default: a site's delta is the result of a few local steps from the global
/// model, so honest deltas of one kind of round have norms of one order, and a delta many times
/// the typical one would move the model where no honest site took it. The typical norm is the
/// median of the last committed round that trained the same networks (alternating D and G rounds
/// have norms of different orders), taken over the norms as they were aggregated (after
/// clipping), so even a majority of hostile sites can raise the bound by at most the factor per
/// round. Before any such round the bound is the factor times the global model's norm: one round
/// of local training does not move a model by several times its own size.
///
/// Not thread-safe; the coordinator calls it under its mutex.
class NormBound {
 public:
  explicit NormBound(const AggregationOptions& options);

  /// Whether for_round needs the global model's norm for a round that trains `networks` (an
  /// adaptive bound with no committed round of that kind yet), so a caller passes over the model
  /// only then.
  bool needs_model_norm(gan::TrainedNetworks networks) const;

  /// The bound for a round that trains `networks` when the global model's L2 norm is
  /// `global_norm` (read only when needs_model_norm); nullopt for no bound (norm_bound = "none",
  /// or an adaptive bound with nothing to scale: a zero model and no history).
  std::optional<double> for_round(gan::TrainedNetworks networks, double global_norm) const;

  /// Records the norms (as aggregated) of a committed round's accepted updates. A round whose
  /// median is zero (every update empty) leaves the history as it was, so the bound cannot
  /// collapse to zero.
  void committed(gan::TrainedNetworks networks, std::vector<double> aggregated_norms);

 private:
  NormBoundKind kind_;
  double factor_;
  double fixed_;
  std::map<gan::TrainedNetworks, double> median_;  // of the last committed round of each kind
};

}  // namespace fedgan::coordinator
