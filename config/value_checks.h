#pragma once

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <string_view>

namespace fedgan::config {

// Checks of single settings for a program's validate(), raising the program's own error type
// `Error` (constructible from a message) with a message that names the setting and the rule. A
// setting with a fixed set of names is an enum field (enum_names.h), refused when it is read.

template <typename Error>
void check_positive(double value, std::string_view name) {
  if (!(std::isfinite(value) && value > 0)) {
    throw Error(fmt::format("{} is {}: it must be a finite number > 0", name, value));
  }
}

template <typename Error>
void check_at_least(int64_t value, int64_t minimum, std::string_view name) {
  if (value < minimum) {
    throw Error(fmt::format("{} is {}: it must be at least {}", name, value, minimum));
  }
}

}  // namespace fedgan::config
