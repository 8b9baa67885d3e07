#pragma once

#include "aggregation/aggregator.h"
#include "aggregation/robust_aggregator.h"
#include "coordinator/global_model.h"
#include "coordinator/options.h"

#include <memory>
#include <vector>

namespace fedgan::coordinator {

/// How the engine turns a round's accepted updates into a new global model, in two parts:
/// - the round's rule, an aggregation::Aggregator made per attempt: accepted deltas go in as they
///   arrive (already screened and clipped), and it yields the aggregate delta. Streaming FedAvg
///   folds each one into a running sum; a rule that needs every update of the round keeps them.
/// - the server step, which moves the global model along the aggregate: global += server_lr *
///   aggregate (FedAvg), or one server Adam step.
/// The state machine only calls begin_round(), Aggregator::add() and commit(); see
/// docs/architecture.md for how robust, secure and buffered asynchronous aggregation plug in.
class RoundAggregation {
 public:
  virtual ~RoundAggregation() = default;
  /// The rule for one attempt at round `round`.
  virtual std::unique_ptr<aggregation::Aggregator> begin_round(int64_t round) = 0;
  /// Moves the tensors of `model` whose `moving` entry is true along the round's aggregate with
  /// step size `server_lr`; returns the step's L2 norm. Throws aggregation::AggregationError,
  /// leaving the model (and any optimizer state) untouched, when the step would not be finite.
  virtual double commit(aggregation::Aggregator& round, GlobalModel& model,
                        const std::vector<bool>& moving, double server_lr) = 0;
  /// The sum of the weights of the round's updates, for the round's metrics.
  virtual double total_weight(const aggregation::Aggregator& round) const = 0;
  /// What the rule did to each update of the round and how it compared with the aggregate, in the
  /// order added, after commit(); empty for a rule that keeps no update (streaming FedAvg).
  virtual std::vector<aggregation::KeptUpdateReview> review(
      const aggregation::Aggregator& round) const {
    (void)round;
    return {};
  }
};

/// The configured aggregation: streaming FedAvg (aggregation.weighting,
/// max_samples_per_update), stepped with plain server_lr or with server Adam
/// (aggregation.server_optimizer). The Adam moments live in memory only: a restarted coordinator
/// starts them afresh (docs/configuration.md).
std::unique_ptr<RoundAggregation> make_round_aggregation(const CoordinatorOptions& options,
                                                         const GlobalModel& model);

}  // namespace fedgan::coordinator
