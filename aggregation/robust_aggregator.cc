#include "aggregation/robust_aggregator.h"

#include "aggregation/error.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace fedgan::aggregation {

namespace {

constexpr double kFloatMax = std::numeric_limits<float>::max();

}  // namespace

size_t kept_columns(const ModelLayout& layout, const std::vector<bool>& kept) {
  size_t columns = 0;
  for (size_t t = 0; t < layout.num_tensors(); ++t) {
    if (kept[t]) columns += layout.tensors[t].size;
  }
  return columns;
}

RobustAggregator::RobustAggregator(ModelLayout layout, std::vector<bool> kept, RobustRule& rule,
                                   UpdateStoreOptions store, uint64_t shuffle_seed,
                                   double server_lr)
    : layout_(std::move(layout)),
      kept_(std::move(kept)),
      rule_(rule),
      store_options_(std::move(store)),
      shuffle_seed_(shuffle_seed),
      server_lr_(server_lr) {
  validate_layout(layout_);
  check(kept_.size() == layout_.num_tensors(),
        "the kept-tensor mask has {} entries for a layout of {} tensors", kept_.size(),
        layout_.num_tensors());
  check(kept_columns(layout_, kept_) > 0, "a robust round must keep at least one value per update");
  set_server_lr(server_lr);
  reset();
}

void RobustAggregator::set_server_lr(double server_lr) {
  check(std::isfinite(server_lr) && server_lr > 0, "server_lr is {}: it must be finite and > 0",
        server_lr);
  server_lr_ = server_lr;
}

void RobustAggregator::clip_to_round_median(double factor) {
  check(factor == 0 || (std::isfinite(factor) && factor >= 1),
        "the round's norm bound factor is {}: it must be 0 (off) or a finite number >= 1", factor);
  check(store_->num_rows() == 0, "the round's norm bound is set before the first update");
  round_norm_factor_ = factor;
}

void RobustAggregator::add(const ConstViews& delta, uint64_t num_samples) {
  check_views(layout_, delta, "delta");
  check(aggregate_.empty(), "an update was added after the round's aggregate was computed");
  std::vector<UpdateStore::Piece> pieces;
  for (size_t t = 0; t < layout_.num_tensors(); ++t) {
    if (kept_[t]) pieces.emplace_back(delta[t], layout_.tensors[t].size);
  }
  store_->append(pieces);
  if (round_norm_factor_ > 0) {
    double squares = 0;
    for (const auto& [data, size] : pieces) {
      for (size_t i = 0; i < size; ++i) squares += static_cast<double>(data[i]) * data[i];
    }
    norms_.push_back(std::sqrt(squares));
  }
  // Admission bounds each count to 2^40, so a sum over 2^23 updates cannot wrap.
  total_samples_ += num_samples;
}

// The median of the round's norms (the mean of the two middle ones for an even count), times the
// factor: every update above it is scaled down to it, once, before the rule reads the updates.
void RobustAggregator::clip_rows_to_round_median() const {
  if (round_norm_factor_ <= 0 || !round_clipped_.empty() || norms_.empty()) return;
  std::vector<double> sorted = norms_;
  std::sort(sorted.begin(), sorted.end());
  const size_t mid = sorted.size() / 2;
  const double median = sorted.size() % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const double bound = round_norm_factor_ * median;
  round_clipped_.assign(norms_.size(), false);
  if (!(bound > 0)) return;  // most updates are zero: nothing to scale them toward
  round_bound_ = bound;
  for (size_t i = 0; i < norms_.size(); ++i) {
    if (norms_[i] <= bound) continue;
    store_->scale_row(i, bound / norms_[i]);
    round_clipped_[i] = true;
  }
}

void RobustAggregator::run_rule() const {
  if (!aggregate_.empty()) return;
  check(store_->num_rows() > 0, "no update was added: there is nothing to aggregate");
  clip_rows_to_round_median();
  std::vector<float> result(store_->num_columns());
  std::vector<UpdateVerdict> verdicts = rule_.aggregate(*store_, shuffle_seed_, result.data());
  for (size_t i = 0; i < round_clipped_.size() && i < verdicts.size(); ++i) {
    if (round_clipped_[i] && verdicts[i].effect != UpdateEffect::kExcluded) {
      verdicts[i].effect = UpdateEffect::kClipped;
    }
  }
  check(verdicts.size() == store_->num_rows(), "the rule returned {} verdicts for {} updates",
        verdicts.size(), store_->num_rows());
  aggregate_ = std::move(result);
  verdicts_ = std::move(verdicts);
}

void RobustAggregator::aggregate_into(const MutableViews& out) const {
  check_views(layout_, out, "aggregate");
  run_rule();
  const float* at = aggregate_.data();
  for (size_t t = 0; t < layout_.num_tensors(); ++t) {
    const size_t size = layout_.tensors[t].size;
    if (kept_[t]) {
      std::copy(at, at + size, out[t]);
      at += size;
    } else {
      std::fill(out[t], out[t] + size, 0.0f);
    }
  }
}

void RobustAggregator::apply_to(const MutableViews& global) const {
  apply_to(global, std::vector<bool>(layout_.num_tensors(), true));
}

double RobustAggregator::apply_to(const MutableViews& global,
                                  const std::vector<bool>& moving) const {
  check_views(layout_, global, "global model");
  check(moving.size() == layout_.num_tensors(),
        "the moving mask has {} entries for a layout of {} tensors", moving.size(),
        layout_.num_tensors());
  run_rule();
  // A read-only pass first: a step that would leave a value non-finite changes nothing.
  const float* at = aggregate_.data();
  for (size_t t = 0; t < layout_.num_tensors(); ++t) {
    if (!kept_[t]) continue;
    const size_t size = layout_.tensors[t].size;
    if (moving[t]) {
      for (size_t i = 0; i < size; ++i) {
        const double value = static_cast<double>(global[t][i]) + server_lr_ * at[i];
        if (std::fabs(value) <= kFloatMax) continue;
        throw AggregationError(fmt::format(
            "the step would make {}[{}] non-finite: {} + {} * {} is beyond the float range",
            layout_.tensors[t].name, i, global[t][i], server_lr_, at[i]));
      }
    }
    at += size;
  }
  double squares = 0.0;
  at = aggregate_.data();
  for (size_t t = 0; t < layout_.num_tensors(); ++t) {
    if (!kept_[t]) continue;
    const size_t size = layout_.tensors[t].size;
    if (moving[t]) {
      for (size_t i = 0; i < size; ++i) {
        const double step = server_lr_ * at[i];
        squares += step * step;
        global[t][i] = static_cast<float>(static_cast<double>(global[t][i]) + step);
      }
    }
    at += size;
  }
  return std::sqrt(squares);
}

std::vector<KeptUpdateReview> RobustAggregator::review() const {
  run_rule();
  const size_t rows = store_->num_rows();
  std::vector<double> dots(rows, 0.0), squares(rows, 0.0), distances(rows, 0.0);
  double aggregate_squares = 0.0;
  store_->for_each_block([&](size_t first, size_t length, const float* const* block) {
    const float* aggregate = aggregate_.data() + first;
    for (size_t i = 0; i < length; ++i) {
      aggregate_squares += static_cast<double>(aggregate[i]) * aggregate[i];
    }
    for (size_t r = 0; r < rows; ++r) {
      double dot = 0, square = 0, distance = 0;
#pragma omp simd reduction(+ : dot, square, distance)
      for (size_t i = 0; i < length; ++i) {
        const double value = block[r][i];
        const double difference = value - aggregate[i];
        dot += value * aggregate[i];
        square += value * value;
        distance += difference * difference;
      }
      dots[r] += dot;
      squares[r] += square;
      distances[r] += distance;
    }
  });
  std::vector<KeptUpdateReview> reviews(rows);
  for (size_t r = 0; r < rows; ++r) {
    reviews[r].verdict = verdicts_[r];
    reviews[r].norm_bound = round_bound_;
    reviews[r].distance = std::sqrt(distances[r]);
    if (squares[r] > 0 && aggregate_squares > 0) {
      // Clamped: rounding can take |cos| a hair past 1 for parallel vectors.
      reviews[r].cosine =
          std::clamp(dots[r] / std::sqrt(squares[r] * aggregate_squares), -1.0, 1.0);
    }
  }
  return reviews;
}

void RobustAggregator::reset() {
  store_ = std::make_unique<UpdateStore>(kept_columns(layout_, kept_), store_options_);
  total_samples_ = 0;
  norms_.clear();
  round_bound_.reset();
  round_clipped_.clear();
  aggregate_.clear();
  verdicts_.clear();
}

}  // namespace fedgan::aggregation
