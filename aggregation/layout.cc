#include "aggregation/layout.h"

#include "aggregation/error.h"

#include <unordered_set>

namespace fedgan::aggregation {
namespace {

template <typename Pointer>
void check_views_impl(const ModelLayout& layout, const std::vector<Pointer>& views,
                      std::string_view what) {
  check(views.size() == layout.num_tensors(),
        "{} has {} tensors, but the model layout has {}: pass one pointer per tensor, in layout "
        "order",
        what, views.size(), layout.num_tensors());
  for (size_t t = 0; t < views.size(); ++t) {
    const TensorEntry& entry = layout.tensors[t];
    check(views[t] != nullptr || entry.size == 0,
          "{}: tensor {} ('{}', {} elements) is a null pointer", what, t, entry.name, entry.size);
  }
}

}  // namespace

size_t ModelLayout::num_parameters() const {
  size_t total = 0;
  for (const TensorEntry& entry : tensors) total += entry.size;
  return total;
}

void validate_layout(const ModelLayout& layout) {
  check(!layout.tensors.empty(), "the model layout has no tensors");
  std::unordered_set<std::string_view> names;
  for (size_t t = 0; t < layout.num_tensors(); ++t) {
    const std::string& name = layout.tensors[t].name;
    check(!name.empty(), "tensor {} of the model layout has no name", t);
    check(names.insert(name).second, "tensor name '{}' appears twice in the model layout", name);
  }
}

ConstViews read_only(const MutableViews& views) {
  return ConstViews(views.begin(), views.end());
}

void check_views(const ModelLayout& layout, const ConstViews& views, std::string_view what) {
  check_views_impl(layout, views, what);
}

void check_views(const ModelLayout& layout, const MutableViews& views, std::string_view what) {
  check_views_impl(layout, views, what);
}

}  // namespace fedgan::aggregation
