#pragma once

#include "aggregation/aggregator.h"
#include "aggregation/layout.h"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace fedgan::aggregation {

/// How FedAvg weighs one client's delta.
enum class Weighting {
  kSampleCount,  ///< the reported sample count, capped by FedAvgOptions::max_samples_per_update
  kUniform,      ///< every accepted delta alike
};

/// "sample_count" or "uniform".
std::string_view weighting_name(Weighting weighting);
/// The inverse of weighting_name; throws AggregationError naming the accepted values.
Weighting parse_weighting(std::string_view name);

struct FedAvgOptions {
  /// Default: sample-count weights, as in McMahan et al.'s FedAvg.
  Weighting weighting = Weighting::kSampleCount;
  /// Cap on the weight one delta can get under kSampleCount, so a client that reports a huge count
  /// cannot dominate the mean. 0 (the default) means no cap. Ignored under kUniform.
  uint64_t max_samples_per_update = 0;
  /// Server learning rate: global += server_lr * mean(delta). Finite and positive; default 1, which
  /// makes the new global model the weighted mean of the clients' local models.
  double server_lr = 1.0;
};

/// Throws AggregationError naming the option when `options` is invalid.
void validate(const FedAvgOptions& options);

/// The weight of one delta: min(num_samples, max_samples_per_update) under kSampleCount (no cap
/// when it is 0), 1 under kUniform. Throws AggregationError for 0 samples under kSampleCount.
double update_weight(const FedAvgOptions& options, uint64_t num_samples);

/// Federated averaging over a stream of deltas: keeps sum_i w_i * delta_i in double, one double per
/// parameter whatever the number of deltas, and divides by sum_i w_i only when the result is asked
/// for. Each product w_i * delta_i is exact for weights below 2^29, so the result is the weighted
/// mean computed in double, rounded once to float. Not thread-safe (see Aggregator).
class StreamingFedAvg final : public Aggregator {
 public:
  /// Validates the layout and the options (AggregationError). The accumulator, 8 bytes per
  /// parameter, is allocated by the first add.
  StreamingFedAvg(ModelLayout layout, FedAvgOptions options);

  const ModelLayout& layout() const override { return layout_; }
  const FedAvgOptions& options() const { return options_; }
  /// Sets the server learning rate apply_to uses (a schedule changes it per round). Throws
  /// AggregationError unless it is finite and positive.
  void set_server_lr(double server_lr);

  /// sum += update_weight(num_samples) * delta. Throws AggregationError (the aggregate untouched)
  /// for views that do not match the layout or 0 samples under kSampleCount.
  void add(const ConstViews& delta, uint64_t num_samples) override;

  size_t num_updates() const override { return num_updates_; }
  /// Sum of the weights of the deltas added so far.
  double total_weight() const { return total_weight_; }
  /// The running sum_i w_i * delta_i, flat in layout order (one entry per parameter); empty before
  /// the first add and after reset().
  const std::vector<double>& weighted_sum() const { return sum_; }

  /// out = sum / total_weight, rounded to float. Throws AggregationError when nothing was added.
  void aggregate_into(const MutableViews& out) const override;
  /// global = global + server_lr * (sum / total_weight), in double, rounded once to float. Throws
  /// AggregationError, leaving `global` untouched, when a value would not be finite in float
  /// (finite deltas can sum beyond the float range); the message names the tensor and element.
  void apply_to(const MutableViews& global) const override;
  /// The same for the tensors whose `moving` entry is true; the others stay as they are (their
  /// mean is discarded). `moving` has one entry per tensor of the layout. Returns the L2 norm of
  /// the step, server_lr * mean over the moving tensors, in double before rounding: computed in
  /// the same pass, so a caller that records it needs no buffer for the mean.
  double apply_to(const MutableViews& global, const std::vector<bool>& moving) const;

  void reset() override;

 private:
  ModelLayout layout_;
  FedAvgOptions options_;
  std::vector<size_t> offsets_;  // where each tensor starts in sum_
  size_t num_parameters_ = 0;
  std::vector<double> sum_;
  size_t num_updates_ = 0;
  double total_weight_ = 0.0;
};

}  // namespace fedgan::aggregation
