#pragma once

#include "config/enum_names.h"
#include "config/error.h"
#include "config/field_types.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fedgan::config {

namespace detail {

// Where a value came from, for messages: "coordinator.toml:7: rounds.min_clients ...".
struct Place {
  const std::filesystem::path& file;
  std::string_view section;
  std::string_view key;
  uint32_t line = 0;
};

[[noreturn]] void fail(const std::filesystem::path& file, uint32_t line,
                       const std::string& message);
[[noreturn]] void fail(const Place& place, const std::string& problem);
std::string_view type_name(const toml::node& node);
/// The file parsed as TOML; ConfigError when it cannot be read, is larger than
/// kMaxConfigFileBytes or is not valid TOML.
toml::table parse_bounded(const std::filesystem::path& file);
/// Refuses sections and keys that are not in `fields` (section, key pairs in declaration order),
/// and sections that are not tables: a misspelt key would otherwise be ignored and its default
/// used without a word.
void check_known_keys(const toml::table& root, const std::filesystem::path& file,
                      const std::vector<std::pair<std::string_view, std::string_view>>& fields);

template <typename T>
void read_integer(const toml::node& node, T& field, const Place& place) {
  const auto* value = node.as_integer();
  if (!value) fail(place, fmt::format("must be an integer, not {}", type_name(node)));
  const int64_t v = value->get();
  if constexpr (std::is_unsigned_v<T>) {
    if (v < 0) fail(place, fmt::format("is {}: it must not be negative", v));
    if (static_cast<uint64_t>(v) > std::numeric_limits<T>::max()) {
      fail(place, fmt::format("is {}: it must be at most {}", v, std::numeric_limits<T>::max()));
    }
  } else if constexpr (sizeof(T) < sizeof(int64_t)) {
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
      fail(place, fmt::format("is {}: it must be in [{}, {}]", v, std::numeric_limits<T>::min(),
                              std::numeric_limits<T>::max()));
    }
  }
  field = static_cast<T>(v);
}

std::vector<std::string> read_string_list(const toml::node& node, const Place& place);

template <typename T>
void read_value(const toml::node& node, T& field, const Place& place,
                const std::filesystem::path& base) {
  if constexpr (std::is_same_v<T, bool>) {
    const auto* value = node.as_boolean();
    if (!value) fail(place, fmt::format("must be true or false, not {}", type_name(node)));
    field = value->get();
  } else if constexpr (kIsInteger<T>) {
    read_integer(node, field, place);
  } else if constexpr (std::is_same_v<T, double>) {
    if (const auto* integer = node.as_integer()) {
      field = static_cast<double>(integer->get());
    } else if (const auto* number = node.as_floating_point()) {
      field = number->get();
    } else {
      fail(place, fmt::format("must be a number, not {}", type_name(node)));
    }
  } else if constexpr (std::is_same_v<T, std::string>) {
    const auto* value = node.as_string();
    if (!value) fail(place, fmt::format("must be a string, not {}", type_name(node)));
    field = value->get();
  } else if constexpr (kIsNamedEnum<T>) {
    const auto* value = node.as_string();
    if (!value) fail(place, fmt::format("must be a string, not {}", type_name(node)));
    const std::optional<T> named = enum_value<T>(value->get());
    if (!named) fail(place, unknown_name_problem<T>(value->get()));
    field = *named;
  } else if constexpr (std::is_same_v<T, std::filesystem::path>) {
    const auto* value = node.as_string();
    if (!value) fail(place, fmt::format("must be a path (a string), not {}", type_name(node)));
    const std::filesystem::path path(value->get());
    field = path.empty() || path.is_absolute() ? path : (base / path).lexically_normal();
  } else {
    static_assert(kIsStringList<T>, "unsupported field type");
    field = read_string_list(node, place);
  }
}

}  // namespace detail

/// Reads the TOML file `file` over `options`: each key is the field of that name in its section,
/// as `for_each_field(options, visit)` declares them (see field_types.h); a missing key keeps the
/// value `options` holds. Relative paths are resolved against the directory of the file (so a
/// file works from any working directory); an empty path stays empty. The file is untrusted
/// input: throws ConfigError for a file that cannot be read or is larger than
/// kMaxConfigFileBytes, invalid TOML, an unknown section or key, a value of the wrong type, an
/// integer out of its field's range and a name that its enum field does not have (the message
/// lists the names it has); the message names the file, the line and the key
/// ("client.toml:7: coordinator.port is 70000: it must be at most 65535").
template <typename Options, typename ForEachField>
void read_toml_file(const std::filesystem::path& file, Options& options,
                    ForEachField&& for_each_field) {
  const toml::table root = detail::parse_bounded(file);
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  for_each_field(options, [&](std::string_view section, std::string_view key, auto&, auto) {
    fields.emplace_back(section, key);
  });
  detail::check_known_keys(root, file, fields);
  const std::filesystem::path base = std::filesystem::absolute(file).parent_path();
  for_each_field(options, [&](std::string_view section, std::string_view key, auto& field, auto) {
    const toml::table* table = root.get_as<toml::table>(section);
    const toml::node* node = table ? table->get(key) : nullptr;
    if (node) {
      detail::read_value(*node, field, detail::Place{file, section, key, node->source().begin.line},
                         base);
    }
  });
}

}  // namespace fedgan::config
