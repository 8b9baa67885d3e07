#include "coordinator/history_tables.h"

#include "coordinator/error.h"
#include "storage/schema.h"

#include <algorithm>
#include <ctime>

namespace fedgan::coordinator::history_tables {

namespace fs = std::filesystem;

storage::Database open_read_only(const fs::path& database) {
  std::error_code error;
  check(fs::exists(database, error), "no database at {}: has the coordinator run?",
        database.string());
  storage::DatabaseOptions options;
  options.read_only = true;
  return storage::open_database(database.string(), options);
}

storage::Run find_run(storage::History& history, const fs::path& database,
                      const std::string& run_id) {
  if (std::optional<storage::Run> run = history.find_run(run_id)) return *run;
  std::string names;
  for (const storage::Run& run : history.runs()) {
    names += fmt::format("{}'{}'", names.empty() ? "" : ", ", run.run_id);
  }
  throw CoordinatorError(
      fmt::format("no run '{}' in {} (runs there: {}); choose one with "
                  "--storage.run_id",
                  run_id, database.string(), names.empty() ? "none" : names));
}

std::string utc_text(double unix_seconds, bool iso) {
  const auto seconds = static_cast<std::time_t>(std::floor(unix_seconds));
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S", &tm);
  return text;
}

std::string dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void TextTable::print(std::ostream& out, std::string_view indent) const {
  std::vector<size_t> widths(right_.size(), 0);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows_) {
    std::string line(indent);
    for (size_t c = 0; c < row.size(); ++c) {
      const std::string pad(widths[c] - row[c].size(), ' ');
      if (c > 0) line += "  ";
      line += right_[c] ? pad + row[c] : row[c] + pad;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  }
}

}  // namespace fedgan::coordinator::history_tables
