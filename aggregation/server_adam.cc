#include "aggregation/server_adam.h"

#include "aggregation/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
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

// The scalars of the next step of a tensor that has taken `steps` steps.
AdamScalars scalars_after(const ServerAdamOptions& o, int64_t steps) {
  const double t = static_cast<double>(steps + 1);
  return {o.beta1, o.beta2, o.lr / (1.0 - std::pow(o.beta1, t)), 1.0 / (1.0 - std::pow(o.beta2, t)),
          o.epsilon};
}

constexpr float kFloatMax = std::numeric_limits<float>::max();

// One element of Adam's step: updates the moments in place and returns the change. Both the
// checking pass and the writing pass use it, so they compute the same values.
inline double adam_change(double d, double& m, double& v, const AdamScalars& s) {
  m = s.beta1 * m + (1.0 - s.beta1) * d;
  v = s.beta2 * v + (1.0 - s.beta2) * d * d;
  return s.step_size * m / (std::sqrt(v * s.v_correction) + s.epsilon);
}

inline bool fits_float(double value) {
  return std::fabs(static_cast<float>(value)) <= kFloatMax;  // false for NaN and infinity
}

// Returns the squared norm of the change. Free of branches and calls so it vectorises.
double adam_update(float* global, const float* mean, double* m, double* v, size_t size,
                   const AdamScalars& s) {
  double squared = 0.0;
#pragma omp simd reduction(+ : squared)
  for (size_t i = 0; i < size; ++i) {
    const double change = adam_change(static_cast<double>(mean[i]), m[i], v[i], s);
    global[i] = static_cast<float>(static_cast<double>(global[i]) + change);
    squared += change * change;
  }
  return squared;
}

// Index of the first element adam_update would make non-finite, or `size`. Reads only: the
// moments are updated in copies.
size_t first_non_finite_adam(const float* global, const float* mean, const double* m,
                             const double* v, size_t size, const AdamScalars& s) {
  for (size_t i = 0; i < size; ++i) {
    double m_i = m[i];
    double v_i = v[i];
    const double change = adam_change(static_cast<double>(mean[i]), m_i, v_i, s);
    if (!fits_float(static_cast<double>(global[i]) + change)) return i;
  }
  return size;
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

size_t first_non_finite_sum(const float* global, const float* mean, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    if (!fits_float(static_cast<double>(global[i]) + static_cast<double>(mean[i]))) return i;
  }
  return size;
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
  // A read-only pass first: a step that would leave a value non-finite changes neither the model
  // nor the moments.
  for (size_t k = 0; k < layout_.num_tensors(); ++k) {
    if (!moving[k]) continue;
    const size_t size = layout_.tensors[k].size;
    const size_t bad = adaptive_[k]
                           ? first_non_finite_adam(global[k], mean[k], m_.data() + offsets_[k],
                                                   v_.data() + offsets_[k], size,
                                                   scalars_after(options_, tensor_steps_[k]))
                           : first_non_finite_sum(global[k], mean[k], size);
    // Not check(): its arguments would read element `bad` even when it is one past the end.
    if (bad == size) continue;
    throw AggregationError(fmt::format(
        "the step would make {}[{}] non-finite: the mean delta there is {}, the value {}",
        layout_.tensors[k].name, bad, mean[k][bad], global[k][bad]));
  }
  double squared = 0.0;
  for (size_t k = 0; k < layout_.num_tensors(); ++k) {
    if (!moving[k]) continue;
    const size_t size = layout_.tensors[k].size;
    if (!adaptive_[k]) {
      squared += add_mean(global[k], mean[k], size);
    } else {
      squared += adam_update(global[k], mean[k], m_.data() + offsets_[k], v_.data() + offsets_[k],
                             size, scalars_after(options_, tensor_steps_[k]));
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
