#pragma once

#include "text/printable.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace fedgan::config {

/// One value of a setting that takes one of a fixed set of names, and its name.
template <typename E>
struct EnumName {
  E value;
  std::string_view name;
};

// A setting such as model.architecture = "dcgan" is an `enum class` field. Its names are declared
// once, next to the enum and in its namespace, by a function that argument-dependent lookup finds:
//
//   enum class Codec { kFp32, kFp16 };
//   constexpr std::array<config::EnumName<Codec>, 2> enum_names(Codec) {
//     return {{{Codec::kFp32, "fp32"}, {Codec::kFp16, "fp16"}}};
//   }
//
// The TOML reader, the flags (and their --help) and a program's JSON writer then read and write
// the names, and refuse any other name when the file or the flag is read. The order of the table
// is the order in which messages and --help list the names. A value left out of the table (a
// "not chosen yet" value) is written as "" and can never be read.

/// Longest part of a refused name quoted in a message: the name comes from a file or a flag.
inline constexpr size_t kMaxQuotedNameBytes = 64;

template <typename T, typename = void>
struct HasEnumNames : std::false_type {};
template <typename T>
struct HasEnumNames<T, std::void_t<decltype(enum_names(std::declval<T>()))>>
    : std::bool_constant<std::is_enum_v<T>> {};

/// Enums with an enum_names table: the fields read and written by name.
template <typename T>
inline constexpr bool kIsNamedEnum = HasEnumNames<T>::value;

/// The name of `value`; "" for a value the table leaves out.
template <typename E>
constexpr std::string_view enum_name(E value) {
  for (const auto& entry : enum_names(value)) {
    if (entry.value == value) return entry.name;
  }
  return {};
}

/// The value named `name` (exactly: names are case-sensitive), if any.
template <typename E>
std::optional<E> enum_value(std::string_view name) {
  for (const auto& entry : enum_names(E{})) {
    if (entry.name == name) return entry.value;
  }
  return std::nullopt;
}

/// The names in table order.
template <typename E>
std::vector<std::string> enum_name_list() {
  std::vector<std::string> names;
  for (const auto& entry : enum_names(E{})) names.emplace_back(entry.name);
  return names;
}

/// What is wrong with `name`, for a message that starts with the setting:
/// `is "resnet": it must be one of "dcgan", "mlp"`. The name is quoted printable and bounded.
template <typename E>
std::string unknown_name_problem(std::string_view name) {
  std::string list;
  for (const auto& entry : enum_names(E{})) {
    list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", entry.name);
  }
  return fmt::format("is \"{}\": it must be one of {}", text::printable(name, kMaxQuotedNameBytes),
                     list);
}

}  // namespace fedgan::config
