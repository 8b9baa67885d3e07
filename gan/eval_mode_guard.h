#pragma once

#include <torch/nn/module.h>

namespace fedgan::gan {

/// Puts a module in eval mode (BatchNorm uses its running statistics) for the guard's lifetime and
/// restores the mode it had before.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(torch::nn::Module& module)
      : module_(module), was_training_(module.is_training()) {
    module_.eval();
  }
  ~EvalModeGuard() { module_.train(was_training_); }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  torch::nn::Module& module_;  // owned by the caller, outlives the guard
  bool was_training_;
};

}  // namespace fedgan::gan
