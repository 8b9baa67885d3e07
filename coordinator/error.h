#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace fedgan::coordinator {

/// Raised for configuration mistakes and for failures the coordinator cannot continue after;
/// the message says what to change.
class CoordinatorError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Throws CoordinatorError(message) when `condition` is false.
template <typename... Args>
void check(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) throw CoordinatorError(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace fedgan::coordinator
