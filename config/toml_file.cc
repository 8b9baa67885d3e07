#include "config/toml_file.h"

#include <algorithm>
#include <fstream>
#include <system_error>
#include <utility>

namespace fedgan::config::detail {

namespace fs = std::filesystem;

void fail(const fs::path& file, uint32_t line, const std::string& message) {
  if (line == 0) throw ConfigError(fmt::format("{}: {}", file.string(), message));
  throw ConfigError(fmt::format("{}:{}: {}", file.string(), line, message));
}

void fail(const Place& place, const std::string& problem) {
  fail(place.file, place.line, fmt::format("{}.{} {}", place.section, place.key, problem));
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

namespace {

template <typename... Args>
void check(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) throw ConfigError(fmt::format(format, std::forward<Args>(args)...));
}

std::string read_bounded(const fs::path& file) {
  std::error_code error;
  const fs::file_status status = fs::status(file, error);
  check(fs::exists(status), "cannot read config file {}: no such file", file.string());
  check(fs::is_regular_file(status), "config file {} is not a regular file", file.string());
  std::ifstream in(file, std::ios::binary);
  check(in.is_open(), "cannot open config file {}", file.string());
  // One byte more than allowed, to tell a file of exactly the limit from a larger one.
  std::string text(kMaxConfigFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  check(!in.bad(), "cannot read config file {}", file.string());
  text.resize(static_cast<size_t>(in.gcount()));
  check(text.size() <= kMaxConfigFileBytes, "config file {} is larger than {} bytes", file.string(),
        kMaxConfigFileBytes);
  return text;
}

std::string join(const std::vector<std::string_view>& names) {
  std::string text;
  for (std::string_view name : names) text += fmt::format("{}{}", text.empty() ? "" : ", ", name);
  return text;
}

}  // namespace

toml::table parse_bounded(const fs::path& file) {
  const std::string text = read_bounded(file);
  try {
    return toml::parse(text, file.string());
  } catch (const toml::parse_error& error) {
    fail(file, error.source().begin.line,
         fmt::format("invalid TOML (column {}): {}", error.source().begin.column,
                     error.description()));
  }
}

void check_known_keys(const toml::table& root, const fs::path& file,
                      const std::vector<std::pair<std::string_view, std::string_view>>& fields) {
  std::vector<std::string_view> sections;
  for (const auto& [section, key] : fields) {
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
      sections.push_back(section);
    }
  }
  for (const auto& [section_key, section_node] : root) {
    const std::string_view section = section_key.str();
    const uint32_t line = section_key.source().begin.line;
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
      fail(file, line,
           fmt::format("unknown section [{}] (the sections are {})", section, join(sections)));
    }
    const toml::table* table = section_node.as_table();
    if (!table) {
      fail(file, line,
           fmt::format("{} must be a table ([{}]), not {}", section, section,
                       type_name(section_node)));
    }
    for (const auto& [key, node] : *table) {
      const std::pair<std::string_view, std::string_view> name(section, key.str());
      if (std::find(fields.begin(), fields.end(), name) != fields.end()) continue;
      std::vector<std::string_view> keys;
      for (const auto& [s, k] : fields) {
        if (s == section) keys.push_back(k);
      }
      fail(file, key.source().begin.line,
           fmt::format("unknown key {}.{} (the keys of [{}] are {})", section, key.str(), section,
                       join(keys)));
    }
  }
}

std::vector<std::string> read_string_list(const toml::node& node, const Place& place) {
  const auto* array = node.as_array();
  if (!array) fail(place, fmt::format("must be an array of strings, not {}", type_name(node)));
  std::vector<std::string> values;
  for (const toml::node& element : *array) {
    const auto* value = element.as_string();
    if (!value) {
      fail({place.file, place.section, place.key, element.source().begin.line},
           fmt::format("must be an array of strings; element {} is {}", values.size() + 1,
                       type_name(element)));
    }
    values.push_back(value->get());
  }
  return values;
}

}  // namespace fedgan::config::detail
