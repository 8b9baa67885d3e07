#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>  // lets messages format shapes (c10::IntArrayRef is a range)

#include <stdexcept>
#include <string>
#include <utility>

namespace fedgan::gan {

/// Raised for every invalid argument, malformed data file or failed evaluation in the gan library.
/// The message names the offending value and, where possible, what the caller can do about it.
class GanError : public std::runtime_error {
 public:
  explicit GanError(const std::string& message) : std::runtime_error(message) {}
};

/// Throws GanError with a fmt-formatted message when `condition` is false.
template <typename... Args>
void check(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) throw GanError(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace fedgan::gan
