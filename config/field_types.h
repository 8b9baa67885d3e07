#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

namespace fedgan::config {

// The field types a for_each_field may visit: bool, integers (signed or unsigned, any width),
// double, std::string, std::filesystem::path, std::vector<std::string> and enums with a table of
// names (enum_names.h), read and written by name. A for_each_field is a
// template `void for_each_field(Options& o, Visitor&& visit)` that calls
// `visit(section, key, field, help)` once per field, in the order of --help.

/// Largest configuration file read_toml_file reads.
inline constexpr std::uintmax_t kMaxConfigFileBytes = 1 << 20;

template <typename T>
using Plain = std::remove_const_t<std::remove_reference_t<T>>;

/// Integers other than bool.
template <typename T>
inline constexpr bool kIsInteger = std::is_integral_v<T> && !std::is_same_v<T, bool>;

template <typename T>
inline constexpr bool kIsStringList = std::is_same_v<T, std::vector<std::string>>;

}  // namespace fedgan::config
