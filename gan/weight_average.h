#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fedgan::gan {

/// Exponential moving average of a module's weights over training steps (Polyak averaging):
/// after each update, average = decay * average + (1 - decay) * current, for every parameter and
/// floating-point buffer (BatchNorm running statistics); integer buffers (BatchNorm's step count)
/// take the current value. A GAN's generator circles around an equilibrium rather than settling
/// on it, and on a mixture of modes it drops and regains modes as it circles; the average of its
/// recent weights sits nearer the centre of that cycle, which is why the averaged generator is
/// what gets evaluated and shipped.
///
/// The average starts at the module's weights when constructed. Not thread-safe.
class WeightAverage {
 public:
  /// Throws GanError unless 0 <= decay < 1 (0 keeps only the latest weights).
  WeightAverage(const torch::nn::Module& module, double decay);

  /// Folds the module's current weights into the average. The module must have the names, shapes
  /// and dtypes it had at construction (GanError otherwise).
  void update(const torch::nn::Module& module);

  /// Writes the average into the module's weights (same checks as update).
  void copy_to(torch::nn::Module& module) const;

  /// The averaged tensors and their names (parameter or buffer name), in the module's order:
  /// parameters, then buffers.
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<torch::Tensor>& values() const { return values_; }

  double decay() const { return decay_; }
  int64_t updates() const { return updates_; }

 private:
  double decay_;
  int64_t updates_ = 0;
  std::vector<std::string> names_;
  std::vector<torch::Tensor> values_;
};

/// Swaps a WeightAverage's weights into a module for the guard's lifetime (e.g. to evaluate the
/// averaged generator with the module's own forward) and restores the module's weights after.
class AveragedWeightsGuard {
 public:
  AveragedWeightsGuard(torch::nn::Module& module, const WeightAverage& average);
  ~AveragedWeightsGuard();
  AveragedWeightsGuard(const AveragedWeightsGuard&) = delete;
  AveragedWeightsGuard& operator=(const AveragedWeightsGuard&) = delete;

 private:
  torch::nn::Module& module_;         // owned by the caller, outlives the guard
  std::vector<torch::Tensor> saved_;  // the module's own weights, in WeightAverage order
};

}  // namespace fedgan::gan
