#pragma once

#include "aggregation/error.h"
#include "aggregation/layout.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fedgan::aggregation::test {

/// Float storage for one model or delta, one vector per tensor, with the views the API takes.
struct Tensors {
  std::vector<std::vector<float>> values;

  ConstViews views() const {
    ConstViews out;
    for (const auto& tensor : values) out.push_back(tensor.data());
    return out;
  }
  MutableViews mutable_views() {
    MutableViews out;
    for (auto& tensor : values) out.push_back(tensor.data());
    return out;
  }
};

/// Zero-filled storage matching `layout`.
inline Tensors zeros_like(const ModelLayout& layout) {
  Tensors out;
  for (const TensorEntry& entry : layout.tensors) out.values.emplace_back(entry.size, 0.0f);
  return out;
}

/// The message of the AggregationError `fn` throws; a test failure when it throws none.
template <typename Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const AggregationError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an AggregationError";
  return "";
}

/// True when `text` contains `part`.
inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace fedgan::aggregation::test
