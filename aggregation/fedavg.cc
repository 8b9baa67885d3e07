#include "aggregation/fedavg.h"

#include "aggregation/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace fedgan::aggregation {
namespace {

constexpr float kFloatMax = std::numeric_limits<float>::max();

// The per-element loops below are kept free of branches and calls so the compiler vectorises
// them; `sum` (double) and the float views cannot alias, which it may assume from their types.

void accumulate(double* sum, const float* delta, size_t size, double weight) {
  for (size_t i = 0; i < size; ++i) sum[i] += weight * static_cast<double>(delta[i]);
}

void write_mean(float* out, const double* sum, size_t size, double total_weight) {
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<float>(sum[i] / total_weight);
}

// The value add_scaled_mean stores at one element; both passes use it, so the check below sees
// exactly the float that would be stored.
inline float stepped(float global, double sum, double total_weight, double server_lr) {
  return static_cast<float>(static_cast<double>(global) + server_lr * (sum / total_weight));
}

// Index of the first element add_scaled_mean would make infinite or NaN (a finite double beyond
// the float range rounds to infinity), or `size` when there is none. Reads only.
size_t first_non_finite_step(const float* global, const double* sum, size_t size,
                             double total_weight, double server_lr) {
  bool bad = false;
  for (size_t i = 0; i < size; ++i) {
    bad |= !(std::fabs(stepped(global[i], sum[i], total_weight, server_lr)) <= kFloatMax);
  }
  if (!bad) return size;
  size_t i = 0;
  while (std::fabs(stepped(global[i], sum[i], total_weight, server_lr)) <= kFloatMax) ++i;
  return i;
}

// Returns the sum of the squares of the steps it adds. Four partial sums, one per lane, let the
// compiler vectorise the reduction without reordering any one of them.
double add_scaled_mean(float* global, const double* sum, size_t size, double total_weight,
                       double server_lr) {
  double squares[4] = {0.0, 0.0, 0.0, 0.0};
  size_t i = 0;
  for (; i + 4 <= size; i += 4) {
    for (size_t lane = 0; lane < 4; ++lane) {
      const double step = server_lr * (sum[i + lane] / total_weight);
      squares[lane] += step * step;
      global[i + lane] = stepped(global[i + lane], sum[i + lane], total_weight, server_lr);
    }
  }
  for (; i < size; ++i) {
    const double step = server_lr * (sum[i] / total_weight);
    squares[0] += step * step;
    global[i] = stepped(global[i], sum[i], total_weight, server_lr);
  }
  return (squares[0] + squares[1]) + (squares[2] + squares[3]);
}

}  // namespace

std::string_view weighting_name(Weighting weighting) {
  switch (weighting) {
    case Weighting::kSampleCount:
      return "sample_count";
    case Weighting::kUniform:
      return "uniform";
  }
  return "unknown";
}

Weighting parse_weighting(std::string_view name) {
  for (Weighting weighting : {Weighting::kSampleCount, Weighting::kUniform}) {
    if (name == weighting_name(weighting)) return weighting;
  }
  throw AggregationError(
      fmt::format("unknown weighting '{}': expected 'sample_count' or 'uniform'", name));
}

void validate(const FedAvgOptions& options) {
  check(options.weighting == Weighting::kSampleCount || options.weighting == Weighting::kUniform,
        "weighting {} is not a Weighting value", static_cast<int>(options.weighting));
  check(std::isfinite(options.server_lr) && options.server_lr > 0.0,
        "server_lr must be finite and positive, got {}", options.server_lr);
}

double update_weight(const FedAvgOptions& options, uint64_t num_samples) {
  if (options.weighting == Weighting::kUniform) return 1.0;
  check(num_samples > 0, "an update with 0 samples has no weight under sample-count weighting");
  const uint64_t cap = options.max_samples_per_update;
  return static_cast<double>(cap == 0 ? num_samples : std::min(num_samples, cap));
}

StreamingFedAvg::StreamingFedAvg(ModelLayout layout, FedAvgOptions options)
    : layout_(std::move(layout)), options_(options) {
  validate_layout(layout_);
  validate(options_);
  offsets_.reserve(layout_.num_tensors());
  for (const TensorEntry& entry : layout_.tensors) {
    offsets_.push_back(num_parameters_);
    num_parameters_ += entry.size;
  }
}

void StreamingFedAvg::set_server_lr(double server_lr) {
  FedAvgOptions changed = options_;
  changed.server_lr = server_lr;
  validate(changed);
  options_ = changed;
}

void StreamingFedAvg::add(const ConstViews& delta, uint64_t num_samples) {
  check_views(layout_, delta, "delta");
  const double weight = update_weight(options_, num_samples);
  // Allocated here rather than by the constructor, so starting a round touches none of it: the
  // first update of a round usually arrives well before the last one.
  if (sum_.empty()) sum_.assign(num_parameters_, 0.0);
  for (size_t t = 0; t < delta.size(); ++t) {
    accumulate(sum_.data() + offsets_[t], delta[t], layout_.tensors[t].size, weight);
  }
  ++num_updates_;
  total_weight_ += weight;
}

void StreamingFedAvg::aggregate_into(const MutableViews& out) const {
  check_views(layout_, out, "aggregate output");
  check(num_updates_ > 0, "no update was added: there is no mean to take");
  // A weighted mean of finite floats lies within their range, so it is finite; a step that uses
  // it (ServerAdam::step) checks its own results.
  for (size_t t = 0; t < out.size(); ++t) {
    write_mean(out[t], sum_.data() + offsets_[t], layout_.tensors[t].size, total_weight_);
  }
}

void StreamingFedAvg::apply_to(const MutableViews& global) const {
  apply_to(global, std::vector<bool>(layout_.num_tensors(), true));
}

double StreamingFedAvg::apply_to(const MutableViews& global,
                                 const std::vector<bool>& moving) const {
  check_views(layout_, global, "global model");
  check(moving.size() == layout_.num_tensors(),
        "the moving mask has {} entries for a layout of {} tensors", moving.size(),
        layout_.num_tensors());
  check(num_updates_ > 0, "no update was added: the global model cannot be moved");
  // A read-only pass first, so a step that would leave a value non-finite leaves every value as it
  // was: deltas that are each finite can still sum beyond the float range.
  for (size_t t = 0; t < global.size(); ++t) {
    if (!moving[t]) continue;
    const size_t size = layout_.tensors[t].size;
    const size_t bad = first_non_finite_step(global[t], sum_.data() + offsets_[t], size,
                                             total_weight_, options_.server_lr);
    // Not check(): its arguments would read element `bad` even when it is one past the end.
    if (bad == size) continue;
    throw AggregationError(
        fmt::format("the step would make {}[{}] non-finite: {} + {} * {} is beyond the float range",
                    layout_.tensors[t].name, bad, global[t][bad], options_.server_lr,
                    sum_[offsets_[t] + bad] / total_weight_));
  }
  double squares = 0.0;
  for (size_t t = 0; t < global.size(); ++t) {
    if (!moving[t]) continue;
    squares += add_scaled_mean(global[t], sum_.data() + offsets_[t], layout_.tensors[t].size,
                               total_weight_, options_.server_lr);
  }
  return std::sqrt(squares);
}

void StreamingFedAvg::reset() {
  sum_.clear();
  num_updates_ = 0;
  total_weight_ = 0.0;
}

}  // namespace fedgan::aggregation
