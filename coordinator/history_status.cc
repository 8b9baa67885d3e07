// `fedgan-coordinator status` (history_command.h): the run, its attempts, its last committed and
// running attempts, and the clients seen most recently.

#include "coordinator/history_command.h"

#include "coordinator/history_tables.h"
#include "storage/database.h"
#include "storage/history.h"
#include "storage/records.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace fedgan::coordinator {
namespace {

namespace fs = std::filesystem;
using history_tables::dump;
using history_tables::find_run;
using history_tables::Json;
using history_tables::JsonObject;
using history_tables::open_read_only;
using history_tables::TextTable;
using history_tables::utc_text;

// Clients print_status lists.
constexpr size_t kRecentClients = 5;

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
