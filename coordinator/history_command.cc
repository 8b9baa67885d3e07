#include "coordinator/history_command.h"

#include "coordinator/config_file.h"
#include "coordinator/error.h"
#include "protocol/metric_names.h"
#include "storage/database.h"
#include "storage/history.h"
#include "storage/records.h"
#include "storage/schema.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace fedgan::coordinator {
namespace {

namespace fs = std::filesystem;

// Clients print_status lists.
constexpr size_t kRecentClients = 5;
// Shown in a table cell that has no value.
constexpr std::string_view kNone = "-";

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

// "2026-11-22 17:44:03", or with `iso` "2026-11-22T17:44:03Z"; UTC, whole seconds.
std::string utc_text(double unix_seconds, bool iso = false) {
  const auto seconds = static_cast<std::time_t>(std::floor(unix_seconds));
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S", &tm);
  return text;
}

// ---------------------------------------------------------------------------------------------
// JSON, with nlohmann-json. Objects keep their keys in the order they are added. Non-finite
// numbers become null (JSON has none; an infinite KL divergence shows as null in JSON and as "inf"
// in the table).

using Json = nlohmann::ordered_json;

Json json_value(double value) {
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
std::string dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// ---------------------------------------------------------------------------------------------
// A text table whose columns are as wide as their widest cell.

class TextTable {
 public:
  // `right` says, per column, whether it is right-aligned (numbers).
  TextTable(std::vector<std::string> headers, std::vector<bool> right)
      : rows_{std::move(headers)}, right_(std::move(right)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

  void print(std::ostream& out, std::string_view indent = "") const {
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

 private:
  std::vector<std::vector<std::string>> rows_;  // the header first
  std::vector<bool> right_;
};

template <typename T>
std::string cell(const std::optional<T>& value, std::string_view format = "{}") {
  if (!value) return std::string(kNone);
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isinf(*value)) return *value > 0 ? "inf" : "-inf";
  }
  return fmt::format(fmt::runtime(format), *value);
}

// ---------------------------------------------------------------------------------------------
// history

struct Losses {
  std::optional<double> generator;
  std::optional<double> discriminator;
};

// Mean local losses of the accepted updates of every attempt of the run, by round_id. Values that
// are not numbers are left out of the means.
std::map<int64_t, Losses> mean_losses(storage::Database& db, const std::string& run_id) {
  // The JSON paths are bound as parameters: the metric names come from the one list sites write.
  storage::Statement query = db.prepare(R"sql(
    SELECT u.round_id,
           avg(CASE WHEN json_type(u.local_metrics, ?1) IN ('real', 'integer')
                    THEN json_extract(u.local_metrics, ?1) END),
           avg(CASE WHEN json_type(u.local_metrics, ?2) IN ('real', 'integer')
                    THEN json_extract(u.local_metrics, ?2) END)
    FROM updates u JOIN rounds r ON r.round_id = u.round_id
    WHERE u.accepted AND r.run_id = ?3
    GROUP BY u.round_id)sql");
  query.bind_all(fmt::format("$.{}", protocol::metric::kGeneratorLoss),
                 fmt::format("$.{}", protocol::metric::kDiscriminatorLoss), run_id);
  std::map<int64_t, Losses> losses;
  while (query.step()) {
    losses[query.column<int64_t>(0)] = {query.column<std::optional<double>>(1),
                                        query.column<std::optional<double>>(2)};
  }
  return losses;
}

std::optional<double> duration(const storage::Round& round) {
  if (!round.finished_at) return std::nullopt;
  return *round.finished_at - round.started_at;
}

std::optional<double> percent(const std::optional<double>& fraction) {
  if (!fraction) return std::nullopt;
  return 100 * *fraction;
}

Json history_json(const storage::Round& r, const Losses& losses) {
  const storage::Evaluation& e = r.evaluation;
  return JsonObject()
      .add("round", r.round)
      .add("attempt", r.attempt)
      .add("status", std::string(storage::to_string(r.status)))
      .add("started_at", r.started_at)
      .add("started_utc", utc_text(r.started_at, true))
      .add("finished_at", r.finished_at)
      .add("duration_seconds", duration(r))
      .add("clients_selected", r.clients_selected)
      .add("updates_accepted", r.updates_accepted)
      .add("updates_rejected", r.updates_rejected)
      .add("samples_accepted", r.samples_accepted)
      .add("aggregate_norm", r.aggregate_norm)
      .add(protocol::metric::kGeneratorLoss, losses.generator)
      .add(protocol::metric::kDiscriminatorLoss, losses.discriminator)
      .add("fid", e.fid)
      .add("classes_covered", e.classes_covered)
      .add("modes_captured", e.modes_captured)
      .add("high_quality_fraction", e.high_quality_fraction)
      .add("kl_to_uniform", e.kl_to_uniform)
      .add("checkpoint_path", r.checkpoint_path)
      .add("failure_reason", r.failure_reason)
      .get();
}

// Which optional column groups any of `rounds` fills.
struct HistoryColumns {
  bool images = false;   // FID, classes covered
  bool mixture = false;  // modes captured, high-quality percentage
  bool reason = false;   // failure reason
};

HistoryColumns columns_of(const std::vector<storage::Round>& rounds) {
  HistoryColumns columns;
  for (const storage::Round& r : rounds) {
    columns.images |= r.evaluation.fid || r.evaluation.classes_covered;
    columns.mixture |= r.evaluation.modes_captured || r.evaluation.high_quality_fraction;
    columns.reason |= r.failure_reason.has_value();
  }
  return columns;
}

void print_history_table(const std::vector<storage::Round>& rounds,
                         const std::map<int64_t, Losses>& losses, std::ostream& out) {
  const HistoryColumns columns = columns_of(rounds);
  std::vector<std::string> headers = {"round",   "attempt",  "status",   "started (UTC)",
                                      "seconds", "selected", "accepted", "rejected",
                                      "samples", "norm",     "G loss",   "D loss"};
  std::vector<bool> right = {true, true, false, false, true, true,
                             true, true, true,  true,  true, true};
  const auto extra = [&](std::vector<std::string> names, bool align_right) {
    for (std::string& name : names) {
      headers.push_back(std::move(name));
      right.push_back(align_right);
    }
  };
  if (columns.images) extra({"FID", "classes"}, true);
  if (columns.mixture) extra({"modes", "HQ %"}, true);
  if (columns.reason) extra({"reason"}, false);
  TextTable table(std::move(headers), std::move(right));
  for (const storage::Round& r : rounds) {
    const auto found = losses.find(r.round_id);
    const Losses loss = found == losses.end() ? Losses{} : found->second;
    const storage::Evaluation& e = r.evaluation;
    std::vector<std::string> row = {std::to_string(r.round),
                                    std::to_string(r.attempt),
                                    std::string(storage::to_string(r.status)),
                                    utc_text(r.started_at),
                                    cell(duration(r), "{:.1f}"),
                                    std::to_string(r.clients_selected),
                                    std::to_string(r.updates_accepted),
                                    std::to_string(r.updates_rejected),
                                    std::to_string(r.samples_accepted),
                                    cell(r.aggregate_norm, "{:.4g}"),
                                    cell(loss.generator, "{:.4f}"),
                                    cell(loss.discriminator, "{:.4f}")};
    if (columns.images) {
      row.push_back(cell(e.fid, "{:.2f}"));
      row.push_back(cell(e.classes_covered));
    }
    if (columns.mixture) {
      row.push_back(cell(e.modes_captured));
      row.push_back(cell(percent(e.high_quality_fraction), "{:.1f}"));
    }
    if (columns.reason) row.push_back(r.failure_reason.value_or(""));
    table.add(std::move(row));
  }
  table.print(out);
}

// ---------------------------------------------------------------------------------------------
// status

struct RunSummary {
  storage::Run run;
  int64_t committed = 0, failed = 0, aborted = 0, attempts = 0;
  std::optional<storage::Round> last_committed;
  std::optional<storage::Round> running;
  size_t clients_known = 0;
  std::vector<storage::Client> recent_clients;  // most recently seen first
};

RunSummary summarize(storage::History& history, const fs::path& database,
                     const std::string& run_id) {
  RunSummary s;
  s.run = find_run(history, database, run_id);
  for (const storage::Round& r : history.rounds(run_id)) {
    ++s.attempts;
    if (r.status == storage::RoundStatus::kCommitted) ++s.committed;
    if (r.status == storage::RoundStatus::kFailed) ++s.failed;
    if (r.status == storage::RoundStatus::kAborted) ++s.aborted;
    if (r.status == storage::RoundStatus::kRunning) s.running = r;
  }
  s.last_committed = history.last_committed_round(run_id);
  s.recent_clients = history.clients();
  s.clients_known = s.recent_clients.size();
  std::stable_sort(s.recent_clients.begin(), s.recent_clients.end(),
                   [](const auto& a, const auto& b) { return a.last_seen > b.last_seen; });
  if (s.recent_clients.size() > kRecentClients) s.recent_clients.resize(kRecentClients);
  return s;
}

Json status_json(const RunSummary& s) {
  Json last_committed = nullptr, running = nullptr;
  if (const auto& r = s.last_committed) {
    last_committed = JsonObject()
                         .add("round", r->round)
                         .add("attempt", r->attempt)
                         .add("finished_at", r->finished_at)
                         .add("finished_utc", utc_text(r->finished_at.value_or(0), true))
                         .add("checkpoint_path", r->checkpoint_path)
                         .add("checkpoint_sha256", r->checkpoint_sha256)
                         .get();
  }
  if (const auto& r = s.running) {
    running = JsonObject()
                  .add("round", r->round)
                  .add("attempt", r->attempt)
                  .add("started_at", r->started_at)
                  .add("started_utc", utc_text(r->started_at, true))
                  .add("clients_selected", r->clients_selected)
                  .add("updates_accepted", r->updates_accepted)
                  .add("updates_rejected", r->updates_rejected)
                  .get();
  }
  Json clients = Json::array();
  for (const storage::Client& c : s.recent_clients) {
    clients.push_back(JsonObject()
                          .add("identity", c.identity)
                          .add("last_seen", c.last_seen)
                          .add("last_seen_utc", utc_text(c.last_seen, true))
                          .add("updates_accepted", c.updates_accepted)
                          .add("updates_rejected", c.updates_rejected)
                          .add("flagged_rounds", c.flagged_rounds)
                          .get());
  }
  std::optional<std::string> finished_utc;
  if (s.run.finished_at) finished_utc = utc_text(*s.run.finished_at, true);
  Json json = JsonObject()
                  .add("run_id", s.run.run_id)
                  .add("model", s.run.model)
                  .add("seed", s.run.seed)
                  .add("created_at", s.run.created_at)
                  .add("created_utc", utc_text(s.run.created_at, true))
                  .add("finished", s.run.finished_at.has_value())
                  .add("finished_at", s.run.finished_at)
                  .add("finished_utc", finished_utc)
                  .add("rounds_committed", s.committed)
                  .add("attempts", s.attempts)
                  .add("attempts_failed", s.failed)
                  .add("attempts_aborted", s.aborted)
                  .get();
  json["last_committed"] = std::move(last_committed);
  json["running"] = std::move(running);
  json["clients_known"] = static_cast<int64_t>(s.clients_known);
  json["recent_clients"] = std::move(clients);
  return json;
}

void print_status_text(const RunSummary& s, std::ostream& out) {
  const auto line = [&](std::string_view label, const std::string& value) {
    out << fmt::format("{:<15}{}\n", label, value);
  };
  line("run", fmt::format("{} (model {}, seed {})", s.run.run_id, s.run.model, s.run.seed));
  line("created", utc_text(s.run.created_at) + " UTC");
  line("finished", s.run.finished_at ? utc_text(*s.run.finished_at) + " UTC" : "no");
  line("rounds", fmt::format("{} committed; {} attempts, {} failed, {} aborted", s.committed,
                             s.attempts, s.failed, s.aborted));
  if (const auto& r = s.last_committed) {
    line("last committed", fmt::format("round {} (attempt {}) at {} UTC", r->round, r->attempt,
                                       utc_text(r->finished_at.value_or(0))));
    line("checkpoint", r->checkpoint_path.value_or(""));
    line("sha256", r->checkpoint_sha256.value_or(""));
  } else {
    line("last committed", "none");
  }
  if (const auto& r = s.running) {
    line("running", fmt::format("round {} (attempt {}) since {} UTC: {} selected, {} accepted, "
                                "{} rejected",
                                r->round, r->attempt, utc_text(r->started_at), r->clients_selected,
                                r->updates_accepted, r->updates_rejected));
  } else {
    line("running", "no attempt");
  }
  line("clients", fmt::format("{} known{}", s.clients_known,
                              s.recent_clients.empty() ? "" : "; seen most recently:"));
  if (s.recent_clients.empty()) return;
  TextTable table({"identity", "last seen (UTC)", "accepted", "rejected", "flagged rounds"},
                  {false, false, true, true, true});
  for (const storage::Client& c : s.recent_clients) {
    table.add({c.identity, utc_text(c.last_seen), std::to_string(c.updates_accepted),
               std::to_string(c.updates_rejected), std::to_string(c.flagged_rounds)});
  }
  table.print(out, "  ");
}

}  // namespace

void print_history(const fs::path& database, const std::string& run_id, bool json,
                   std::optional<int64_t> last, std::ostream& out) {
  check(!last || *last >= 1, "--last is {}: it must be at least 1", last.value_or(0));
  storage::Database db = open_read_only(database);
  storage::History history(db);
  find_run(history, database, run_id);
  std::vector<storage::Round> rounds = history.rounds(run_id);
  if (last && static_cast<size_t>(*last) < rounds.size()) {
    rounds.erase(rounds.begin(), rounds.end() - *last);
  }
  const std::map<int64_t, Losses> losses = mean_losses(db, run_id);
  if (json) {
    // One attempt per line, so the output reads (and greps) as a table.
    out << '[';
    for (size_t i = 0; i < rounds.size(); ++i) {
      const auto found = losses.find(rounds[i].round_id);
      out << (i == 0 ? "" : ",\n ")
          << dump(history_json(rounds[i], found == losses.end() ? Losses{} : found->second));
    }
    out << "]\n";
    return;
  }
  if (rounds.empty()) {
    out << fmt::format("run '{}' has no rounds yet\n", run_id);
    return;
  }
  print_history_table(rounds, losses, out);
}

void print_status(const fs::path& database, const std::string& run_id, bool json,
                  std::ostream& out) {
  storage::Database db = open_read_only(database);
  storage::History history(db);
  const RunSummary summary = summarize(history, database, run_id);
  if (json) {
    out << dump(status_json(summary)) << '\n';
  } else {
    print_status_text(summary, out);
  }
}

}  // namespace fedgan::coordinator
