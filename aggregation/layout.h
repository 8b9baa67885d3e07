#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace fedgan::aggregation {

/// One federated float32 tensor: its name (for messages) and its number of elements.
struct TensorEntry {
  std::string name;
  size_t size = 0;
};

/// The federated float32 tensors of a model, in the order every delta and model view lists them.
/// The library never sees shapes: a tensor is a flat run of `size` floats.
struct ModelLayout {
  std::vector<TensorEntry> tensors;

  size_t num_tensors() const { return tensors.size(); }
  /// Sum of the tensor sizes.
  size_t num_parameters() const;
};

/// Throws AggregationError for a layout without tensors, a tensor without a name, or two tensors
/// with the same name.
void validate_layout(const ModelLayout& layout);

/// A read-only view of one model or delta: one pointer per tensor of the layout, in layout order,
/// each to `layout.tensors[t].size` contiguous floats owned by the caller.
using ConstViews = std::vector<const float*>;
/// A writable view of one model or delta, as ConstViews.
using MutableViews = std::vector<float*>;

/// The same pointers, read-only (a writable staging buffer passed where a read-only view is due).
ConstViews read_only(const MutableViews& views);

/// Throws AggregationError, naming `what` and the tensor, when `views` does not have one pointer
/// per tensor of `layout` or a pointer is null (null is accepted for a tensor of size 0).
void check_views(const ModelLayout& layout, const ConstViews& views, std::string_view what);
void check_views(const ModelLayout& layout, const MutableViews& views, std::string_view what);

}  // namespace fedgan::aggregation
