#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace fedgan::aggregation {

/// Raised for every invalid argument of the aggregation library: bad options, a delta that does
/// not match the model layout, a null tensor pointer, a result asked for before any update. The
/// message names the tensor or option at fault.
class AggregationError : public std::runtime_error {
 public:
  explicit AggregationError(const std::string& message) : std::runtime_error(message) {}
};

/// Throws AggregationError with a fmt-formatted message when `condition` is false.
template <typename... Args>
void check(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) throw AggregationError(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace fedgan::aggregation
