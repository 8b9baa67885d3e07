#pragma once

#include "aggregation/aggregator.h"
#include "aggregation/layout.h"
#include "aggregation/robust_rule.h"
#include "aggregation/update_store.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace fedgan::aggregation {

/// How one kept update compared with the round's aggregate, over the kept tensors.
struct KeptUpdateReview {
  UpdateVerdict verdict;  ///< kClipped also when the round's norm bound clipped it
  /// The round's own bound (clip_to_round_median), when one applied.
  std::optional<double> norm_bound;
  double distance = 0;           ///< L2 distance to the aggregate
  std::optional<double> cosine;  ///< cosine similarity; empty when either vector is zero
};

/// One round's aggregation by a rule that needs every update (RobustRule): `add` keeps each delta
/// (the tensors the round moves only) in an UpdateStore, and the rule runs once, when the
/// aggregate is first asked for. The step is global += server_lr * aggregate, as for FedAvg.
/// Not thread-safe (see Aggregator).
class RobustAggregator final : public Aggregator {
 public:
  /// `kept` has one entry per tensor of `layout`: the tensors the round moves, which the store
  /// keeps and the rule aggregates (the others' aggregate is 0). `rule` is owned by the caller
  /// (it outlives the round: centered clipping's center is set on it between rounds).
  /// `shuffle_seed` drives bucketing. Throws AggregationError for a layout, mask or server_lr
  /// that is not valid.
  RobustAggregator(ModelLayout layout, std::vector<bool> kept, RobustRule& rule,
                   UpdateStoreOptions store, uint64_t shuffle_seed, double server_lr);

  const ModelLayout& layout() const override { return layout_; }
  /// Sets the server learning rate apply_to uses (a schedule changes it per round). Throws
  /// AggregationError unless it is finite and positive.
  void set_server_lr(double server_lr);
  /// Before the rule runs, clips every update whose L2 norm (over the kept tensors) is above
  /// `factor` times the median norm of the round's updates to that bound (aggregation.norm_bound =
  /// "round_median"). 0 turns it off (the default). Throws AggregationError unless factor is 0 or
  /// finite and >= 1, or once an update was added.
  void clip_to_round_median(double factor);
  /// The round's bound once the rule ran with clip_to_round_median; nullopt otherwise.
  std::optional<double> round_norm_bound() const { return round_bound_; }
  /// Keeps the delta's kept tensors; the sample count is only summed (robust rules weigh every
  /// update alike). Throws AggregationError for views that do not match the layout, after the
  /// aggregate was computed, or when the spill file cannot be written (the store unchanged).
  void add(const ConstViews& delta, uint64_t num_samples) override;
  size_t num_updates() const override { return store_->num_rows(); }
  /// The sum of the reported sample counts of the updates added.
  uint64_t total_samples() const { return total_samples_; }

  /// Runs the rule (the first call only) and writes the aggregate; 0 for tensors not kept. Throws
  /// AggregationError when nothing was added, when the rule cannot run (too few updates, named
  /// with the numbers) or its result is not finite.
  void aggregate_into(const MutableViews& out) const override;
  /// global += server_lr * aggregate on the kept tensors, each value in double and rounded once;
  /// a read-only pass first, so a step that would leave a value non-finite changes nothing and
  /// throws AggregationError naming the tensor and element.
  void apply_to(const MutableViews& global) const override;
  /// The same, for the tensors that are both kept and `moving`; returns the step's L2 norm.
  double apply_to(const MutableViews& global, const std::vector<bool>& moving) const;
  /// The rule's verdict on each update, in the order added: empty until the rule ran.
  const std::vector<UpdateVerdict>& verdicts() const { return verdicts_; }
  /// Each update's verdict, distance and cosine to the aggregate, in the order added: one pass
  /// over the kept updates (in double). Runs the rule first if it has not run; throws as
  /// aggregate_into does.
  std::vector<KeptUpdateReview> review() const;
  /// The flat aggregate over the kept tensors, in layout order: empty until the rule ran.
  const std::vector<float>& kept_aggregate() const { return aggregate_; }
  const std::vector<bool>& kept() const { return kept_; }
  /// The round's kept updates (how many stayed in memory, how many were spilled).
  const UpdateStore& kept_updates() const { return *store_; }

  void reset() override;

 private:
  void run_rule() const;
  void clip_rows_to_round_median() const;

  ModelLayout layout_;
  std::vector<bool> kept_;
  RobustRule& rule_;  // owned by the round aggregation that made this round
  UpdateStoreOptions store_options_;
  std::unique_ptr<UpdateStore> store_;
  uint64_t shuffle_seed_;
  double server_lr_;
  uint64_t total_samples_ = 0;
  double round_norm_factor_ = 0;
  std::vector<double> norms_;  // of each kept update, while clip_to_round_median is on
  mutable std::optional<double> round_bound_;
  mutable std::vector<bool> round_clipped_;
  // The rule's result, computed on first demand by the const accessors.
  mutable std::vector<float> aggregate_;
  mutable std::vector<UpdateVerdict> verdicts_;
};

/// The number of values of the tensors whose `kept` entry is true.
size_t kept_columns(const ModelLayout& layout, const std::vector<bool>& kept);

}  // namespace fedgan::aggregation
