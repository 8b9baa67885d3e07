// `fedgan-coordinator history --clients` (history_command.h): every client the database knows,
// with its totals and, for the run shown, how often the robust rule flagged it.

#include "coordinator/history_command.h"

#include "coordinator/history_tables.h"
#include "storage/database.h"
#include "storage/history.h"
#include "storage/records.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fedgan::coordinator {
namespace {

namespace fs = std::filesystem;
using history_tables::cell;
using history_tables::dump;
using history_tables::find_run;
using history_tables::Json;
using history_tables::JsonObject;
using history_tables::open_read_only;
using history_tables::TextTable;
using history_tables::utc_text;

// One client's accepted updates in the run shown.
struct InRun {
  int64_t updates = 0;
  int64_t flagged = 0;
  std::optional<double> mean_cosine;  // no cosine under FedAvg
};

std::map<int64_t, InRun> in_run(storage::Database& db, const std::string& run_id) {
  auto s = db.prepare(
      "SELECT u.client_id, count(*), coalesce(sum(u.flagged), 0), avg(u.aggregate_cosine) "
      "FROM updates u JOIN rounds r USING (round_id) WHERE r.run_id = ? AND u.accepted "
      "GROUP BY u.client_id");
  s.bind_all(run_id);
  std::map<int64_t, InRun> figures;
  while (s.step()) {
    figures[s.column<int64_t>(0)] = {s.column<int64_t>(1), s.column<int64_t>(2),
                                     s.column<std::optional<double>>(3)};
  }
  return figures;
}

}  // namespace

void print_client_history(const fs::path& database, const std::string& run_id, bool json,
                          std::ostream& out) {
  storage::Database db = open_read_only(database);
  storage::History history(db);
  find_run(history, database, run_id);
  std::vector<storage::Client> clients = history.clients();
  std::stable_sort(clients.begin(), clients.end(), [](const auto& a, const auto& b) {
    return a.flagged_rounds != b.flagged_rounds ? a.flagged_rounds > b.flagged_rounds
                                                : a.identity < b.identity;
  });
  const std::map<int64_t, InRun> figures = in_run(db, run_id);
  const auto of = [&](const storage::Client& c) {
    const auto found = figures.find(c.client_id);
    return found == figures.end() ? InRun{} : found->second;
  };
  if (json) {
    Json rows = Json::array();
    for (const storage::Client& c : clients) {
      const InRun run = of(c);
      rows.push_back(JsonObject()
                         .add("identity", c.identity)
                         .add("first_seen_utc", utc_text(c.first_seen, true))
                         .add("last_seen_utc", utc_text(c.last_seen, true))
                         .add("updates_accepted", c.updates_accepted)
                         .add("updates_rejected", c.updates_rejected)
                         .add("samples_accepted", c.samples_accepted)
                         .add("flagged_rounds", c.flagged_rounds)
                         .add("run_updates_accepted", run.updates)
                         .add("run_updates_flagged", run.flagged)
                         .add("run_mean_cosine", run.mean_cosine)
                         .get());
    }
    out << dump(rows) << "\n";
    return;
  }
  if (clients.empty()) {
    out << "no client has connected yet\n";
    return;
  }
  out << fmt::format("clients, most often flagged first; \"in run\" is run '{}'\n", run_id);
  TextTable table({"identity", "first seen (UTC)", "last seen (UTC)", "accepted", "rejected",
                   "samples", "flagged rounds", "in run", "flagged in run", "mean cosine"},
                  {false, false, false, true, true, true, true, true, true, true});
  for (const storage::Client& c : clients) {
    const InRun run = of(c);
    table.add({c.identity, utc_text(c.first_seen), utc_text(c.last_seen),
               std::to_string(c.updates_accepted), std::to_string(c.updates_rejected),
               std::to_string(c.samples_accepted), std::to_string(c.flagged_rounds),
               std::to_string(run.updates), std::to_string(run.flagged),
               cell(run.mean_cosine, "{:.3f}")});
  }
  table.print(out);
}

}  // namespace fedgan::coordinator
