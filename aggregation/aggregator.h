#pragma once

#include "aggregation/layout.h"

#include <cstddef>
#include <cstdint>

namespace fedgan::aggregation {

/// A rule that folds the accepted deltas of one round into one aggregate delta and applies it to
/// the global model. StreamingFedAvg is the weighted mean; robust rules (coordinate-wise median,
/// trimmed mean, Krum) implement the same interface, keeping whatever state they need.
///
/// The caller screens every delta (first_non_finite, l2_norm, clip_to_norm) before `add`.
/// Implementations are not thread-safe: one round's updates are added from one thread (or strand).
class Aggregator {
 public:
  virtual ~Aggregator() = default;

  /// The layout every delta and model view must match.
  virtual const ModelLayout& layout() const = 0;

  /// Folds one client's delta in. `num_samples` is the sample count the client reported; a rule
  /// may use it as a weight or ignore it. The delta is read during the call only.
  virtual void add(const ConstViews& delta, uint64_t num_samples) = 0;

  /// Deltas added since construction or the last reset().
  virtual size_t num_updates() const = 0;

  /// Writes the aggregate delta (float32, one buffer per tensor) into `out`. Throws
  /// AggregationError when no delta was added.
  virtual void aggregate_into(const MutableViews& out) const = 0;

  /// global += server_lr * aggregate, rounded once per element. Throws AggregationError when no
  /// delta was added; the model is then untouched.
  virtual void apply_to(const MutableViews& global) const = 0;

  /// Forgets every delta, ready for the next round; keeps the memory it holds.
  virtual void reset() = 0;
};

}  // namespace fedgan::aggregation
