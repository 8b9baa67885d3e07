#include "aggregation/server_adam.h"

#include "aggregation/error.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace fedgan::aggregation {
namespace {

struct AdamScalars {
  double beta1;
  double beta2;
  double step_size;     // lr / (1 - beta1^t): the first moment's bias correction folded in
  double v_correction;  // 1 / (1 - beta2^t)
  double epsilon;
};

// Returns the squared norm of the change. Free of branches and calls so it vectorises.
double adam_update(float* global, const float* mean, double* m, double* v, size_t size,
                   const AdamScalars& s) {
  double squared = 0.0;
#pragma omp simd reduction(+ : squared)
  for (size_t i = 0; i < size; ++i) {
    const double d = static_cast<double>(mean[i]);
    m[i] = s.beta1 * m[i] + (1.0 - s.beta1) * d;
    v[i] = s.beta2 * v[i] + (1.0 - s.beta2) * d * d;
    const double change = s.step_size * m[i] / (std::sqrt(v[i] * s.v_correction) + s.epsilon);
    global[i] = static_cast<float>(static_cast<double>(global[i]) + change);
    squared += change * change;
  }
  return squared;
}

double add_mean(float* global, const float* mean, size_t size) {
  double squared = 0.0;
#pragma omp simd reduction(+ : squared)
  for (size_t i = 0; i < size; ++i) {
    const double d = static_cast<double>(mean[i]);
    global[i] = static_cast<float>(static_cast<double>(global[i]) + d);
    squared += d * d;
  }
  return squared;
}

}  // namespace

void validate(const ServerAdamOptions& options) {
  check(std::isfinite(options.lr) && options.lr > 0.0,
        "server Adam lr must be finite and positive, got {}", options.lr);
  check(options.beta1 >= 0.0 && options.beta1 < 1.0, "server Adam beta1 must be in [0, 1), got {}",
        options.beta1);
  check(options.beta2 >= 0.0 && options.beta2 < 1.0, "server Adam beta2 must be in [0, 1), got {}",
        options.beta2);
  check(std::isfinite(options.epsilon) && options.epsilon > 0.0,
        "server Adam epsilon must be finite and positive, got {}", options.epsilon);
}

ServerAdam::ServerAdam(ModelLayout layout, std::vector<bool> adaptive, ServerAdamOptions options)
    : layout_(std::move(layout)), adaptive_(std::move(adaptive)), options_(options) {
  validate_layout(layout_);
  validate(options_);
  check(adaptive_.size() == layout_.num_tensors(),
        "the adaptive mask has {} entries for a layout of {} tensors", adaptive_.size(),
        layout_.num_tensors());
  size_t offset = 0;
  for (const TensorEntry& entry : layout_.tensors) {
    offsets_.push_back(offset);
    offset += entry.size;
  }
  m_.assign(offset, 0.0);
  v_.assign(offset, 0.0);
  tensor_steps_.assign(layout_.num_tensors(), 0);
}

void ServerAdam::set_lr(double lr) {
  ServerAdamOptions changed = options_;
  changed.lr = lr;
  validate(changed);
  options_ = changed;
}

double ServerAdam::step(const ConstViews& mean, const MutableViews& global) {
  return step(mean, global, std::vector<bool>(layout_.num_tensors(), true));
}

double ServerAdam::step(const ConstViews& mean, const MutableViews& global,
                        const std::vector<bool>& moving) {
  check_views(layout_, mean, "mean delta");
  check_views(layout_, global, "global model");
  check(moving.size() == layout_.num_tensors(),
        "the moving mask has {} entries for a layout of {} tensors", moving.size(),
        layout_.num_tensors());
  double squared = 0.0;
  for (size_t k = 0; k < layout_.num_tensors(); ++k) {
    if (!moving[k]) continue;
    const size_t size = layout_.tensors[k].size;
    if (!adaptive_[k]) {
      squared += add_mean(global[k], mean[k], size);
    } else {
      const double t = static_cast<double>(tensor_steps_[k] + 1);
      const AdamScalars scalars{options_.beta1, options_.beta2,
                                options_.lr / (1.0 - std::pow(options_.beta1, t)),
                                1.0 / (1.0 - std::pow(options_.beta2, t)), options_.epsilon};
      squared += adam_update(global[k], mean[k], m_.data() + offsets_[k], v_.data() + offsets_[k],
                             size, scalars);
    }
    ++tensor_steps_[k];
  }
  ++steps_;
  return std::sqrt(squared);
}

void ServerAdam::reset() {
  std::fill(m_.begin(), m_.end(), 0.0);
  std::fill(v_.begin(), v_.end(), 0.0);
  std::fill(tensor_steps_.begin(), tensor_steps_.end(), 0);
  steps_ = 0;
}

}  // namespace fedgan::aggregation
