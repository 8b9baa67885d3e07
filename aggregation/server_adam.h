#pragma once

#include "aggregation/layout.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fedgan::aggregation {

struct ServerAdamOptions {
  /// Step size of the server's update.
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.99;
  /// Added to sqrt(v_hat) in the denominator; finite and positive.
  double epsilon = 1e-8;
};

/// Throws AggregationError naming the option when `options` is invalid: lr and epsilon must be
/// finite and positive, the betas in [0, 1).
void validate(const ServerAdamOptions& options);

/// Adam on the server (FedAdam, Reddi et al., "Adaptive Federated Optimization"): the round's mean
/// delta d is a pseudo-gradient pointing downhill (it is local - global), and the global model
/// takes one bias-corrected Adam step along it per round:
///
///   m = beta1 m + (1 - beta1) d,  v = beta2 v + (1 - beta2) d^2,
///   global += lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon).
///
/// With clients taking one plain SGD step per round, d is a multiple of the gradient on the union
/// of the round's batches, so the federation follows centralized Adam; with Adam on the clients
/// instead, averaging their steps shrinks the progress per round (see docs/benchmarks.md).
///
/// Tensors marked non-adaptive (BatchNorm running statistics, which are averages rather than
/// weights descending a loss) skip Adam: global += d, so they become the mean of the sites'.
/// A step may move only some tensors (`moving`): the others keep their values and their moments,
/// and each tensor's bias correction counts the steps that moved it. A federation that alternates
/// discriminator and generator rounds steps each network only in its own rounds, which is then
/// centralized Adam on each network.
///
/// Moments are kept in double, 16 bytes per parameter. Not thread-safe.
class ServerAdam {
 public:
  /// `adaptive` has one entry per tensor of `layout`. Throws AggregationError for an invalid
  /// layout, a mask of the wrong size or invalid options.
  ServerAdam(ModelLayout layout, std::vector<bool> adaptive, ServerAdamOptions options);

  /// One step with the mean delta `mean` on `global`, in place, each element computed in double
  /// and rounded once. Returns the L2 norm of the change applied (before rounding). Throws
  /// AggregationError for views that do not match the layout, and for a step that would leave a
  /// value of the model non-finite (beyond the float range), naming the tensor and element; the
  /// model and moments are then untouched.
  double step(const ConstViews& mean, const MutableViews& global);
  /// The same for the tensors whose `moving` entry is true (one entry per tensor of the layout);
  /// the others, model and moments, stay as they are and their mean is discarded.
  double step(const ConstViews& mean, const MutableViews& global, const std::vector<bool>& moving);

  /// Steps taken since construction or reset().
  int64_t steps() const { return steps_; }
  /// Steps that moved tensor `index` (of the layout) since construction or reset().
  int64_t tensor_steps(size_t index) const { return tensor_steps_.at(index); }
  const ServerAdamOptions& options() const { return options_; }
  const ModelLayout& layout() const { return layout_; }

  /// Sets the step size of the following steps, keeping the moments: a learning-rate schedule
  /// calls it between rounds. Throws AggregationError unless `lr` is finite and positive.
  void set_lr(double lr);

  /// Forgets the moments: the next step is a first step again.
  void reset();

 private:
  ModelLayout layout_;
  std::vector<bool> adaptive_;
  ServerAdamOptions options_;
  std::vector<size_t> offsets_;  // where each tensor starts in m_ and v_
  std::vector<double> m_;
  std::vector<double> v_;
  std::vector<int64_t> tensor_steps_;  // per tensor: its own bias-correction step count
  int64_t steps_ = 0;
};

}  // namespace fedgan::aggregation
