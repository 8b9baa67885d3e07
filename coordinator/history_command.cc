// `fedgan-coordinator history` (history_command.h): one line per attempt at a round of the run.

#include "coordinator/history_command.h"

#include "coordinator/error.h"
#include "coordinator/history_tables.h"
#include "protocol/metric_names.h"
#include "storage/database.h"
#include "storage/history.h"
#include "storage/records.h"

#include <fmt/format.h>

#include <map>
#include <utility>
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

}  // namespace fedgan::coordinator
