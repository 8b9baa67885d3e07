#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace fedgan::config {

// Checks of single settings for a program's validate(), raising the program's own error type
// `Error` (constructible from a message) with a message that names the setting and the rule.

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

template <typename Error>
void check_one_of(const std::string& value, std::string_view name,
                  std::initializer_list<std::string_view> allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
  std::string list;
  for (std::string_view a : allowed) list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", a);
  throw Error(fmt::format("{} is \"{}\": it must be one of {}", name, value, list));
}

}  // namespace fedgan::config
