#pragma once

#include "aggregation/layout.h"

#include <cstddef>
#include <optional>

namespace fedgan::aggregation {

// Screening and clipping of one model delta (local - global), as the coordinator does to an upload
// before folding it into an aggregate. Every function treats the delta's tensors as one flat vector
// in layout order and throws AggregationError for views that do not match the layout.

/// Where one element sits: the tensor's index in the layout and the element's index within it.
struct ElementPosition {
  size_t tensor = 0;
  size_t index = 0;
};

/// The first NaN or infinite value in layout order, or nullopt when every value is finite.
std::optional<ElementPosition> first_non_finite(const ModelLayout& layout, const ConstViews& delta);

/// Writes delta = local - global (float32 subtraction, as torch::sub rounds it) and returns the
/// first position where the result is NaN or infinite (a non-finite local value, or a difference
/// beyond the float range), or nullopt: a site's delta and its screening in one pass over the
/// three buffers. `delta` may alias `local` or `global`.
std::optional<ElementPosition> subtract_screened(const ModelLayout& layout, const ConstViews& local,
                                                 const ConstViews& global,
                                                 const MutableViews& delta);

/// Euclidean norm of the whole delta, squares summed in double. The square of a finite float
/// cannot overflow a double, so the result is NaN or infinite exactly when some value is: one pass
/// screens both the norm bound and finiteness (first_non_finite then says where the value is).
double l2_norm(const ModelLayout& layout, const ConstViews& delta);

/// Multiplies every value by `factor` in place, each product computed in double and rounded once.
void scale_in_place(const ModelLayout& layout, const MutableViews& delta, double factor);

/// Scales the delta in place to L2 norm `max_norm` when its norm is above it (the result's norm is
/// `max_norm` to within float rounding), and leaves it untouched otherwise. Returns the factor
/// applied: max_norm / norm, or 1. Throws AggregationError when `max_norm` is not finite and
/// positive or the delta holds a non-finite value (screen with first_non_finite first).
double clip_to_norm(const ModelLayout& layout, const MutableViews& delta, double max_norm);

}  // namespace fedgan::aggregation
