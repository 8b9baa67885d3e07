#pragma once

// What the read-only subcommands of fedgan-coordinator (history_command.h) share: opening the
// database read-only, finding the run, UTC times, the JSON builder and the aligned text table.
// Internal to the coordinator library.

#include "storage/database.h"
#include "storage/history.h"
#include "storage/records.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace fedgan::coordinator::history_tables {

// Shown in a table cell that has no value.
inline constexpr std::string_view kNone = "-";

// Opens `database` read-only; CoordinatorError when there is no file there.
storage::Database open_read_only(const std::filesystem::path& database);

// Run `run_id`; CoordinatorError listing the runs there when there is none.
storage::Run find_run(storage::History& history, const std::filesystem::path& database,
                      const std::string& run_id);

// "2026-11-22 17:44:03", or with `iso` "2026-11-22T17:44:03Z"; UTC, whole seconds.
std::string utc_text(double unix_seconds, bool iso = false);

// ---------------------------------------------------------------------------------------------
// JSON, with nlohmann-json. Objects keep their keys in the order they are added. Non-finite
// numbers become null (JSON has none; an infinite KL divergence shows as null in JSON and as "inf"
// in the table).

using Json = nlohmann::ordered_json;

inline Json json_value(double value) {
  return std::isfinite(value) ? Json(value) : Json(nullptr);
}
template <typename T>
Json json_value(const T& value) {
  return Json(value);
}
template <typename T>
Json json_value(const std::optional<T>& value) {
  return value ? json_value(*value) : Json(nullptr);
}

// Builds one JSON object, keys in the order they are added.
class JsonObject {
 public:
  template <typename T>
  JsonObject& add(std::string_view key, const T& value) {
    json_[std::string(key)] = json_value(value);
    return *this;
  }
  Json get() { return std::move(json_); }  // the builder is spent afterwards

 private:
  Json json_ = Json::object();
};

// Text that is not UTF-8 (a path, a failure reason) is written with U+FFFD in its place, so the
// output is always valid JSON.
std::string dump(const Json& json);

// ---------------------------------------------------------------------------------------------
// A text table whose columns are as wide as their widest cell.

class TextTable {
 public:
  // `right` says, per column, whether it is right-aligned (numbers).
  TextTable(std::vector<std::string> headers, std::vector<bool> right)
      : rows_{std::move(headers)}, right_(std::move(right)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

  void print(std::ostream& out, std::string_view indent = "") const;

 private:
  std::vector<std::vector<std::string>> rows_;  // the header first
  std::vector<bool> right_;
};

// `value` formatted with `format`, kNone when empty, "inf" / "-inf" for infinities.
template <typename T>
std::string cell(const std::optional<T>& value, std::string_view format = "{}") {
  if (!value) return std::string(kNone);
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isinf(*value)) return *value > 0 ? "inf" : "-inf";
  }
  return fmt::format(fmt::runtime(format), *value);
}

}  // namespace fedgan::coordinator::history_tables
