#include "storage/history.h"

#include "storage/error.h"

namespace fedgan::storage {
namespace {

// Column lists in the order the readers below take them.
constexpr std::string_view kRunColumns =
    "run_id, created_at, finished_at, seed, model, config FROM runs";
constexpr std::string_view kClientColumns =
    "client_id, identity, first_seen, last_seen, updates_accepted, updates_rejected, "
    "samples_accepted, bytes_received, flagged_rounds FROM clients";
constexpr std::string_view kRoundColumns =
    "round_id, run_id, round, attempt, status, started_at, finished_at, clients_selected, "
    "updates_accepted, updates_rejected, samples_accepted, aggregate_norm, metrics, eval_fid, "
    "eval_classes_covered, eval_modes_captured, eval_high_quality, eval_kl_uniform, "
    "checkpoint_path, checkpoint_sha256, sample_grid_path, failure_reason FROM rounds";

Run read_run(const Statement& s) {
  Run run;
  run.run_id = s.column<std::string>(0);
  run.created_at = s.column<double>(1);
  run.finished_at = s.column<std::optional<double>>(2);
  run.seed = static_cast<uint64_t>(s.column<int64_t>(3));
  run.model = s.column<std::string>(4);
  run.config_json = s.column<std::string>(5);
  return run;
}

Client read_client(const Statement& s) {
  Client client;
  client.client_id = s.column<int64_t>(0);
  client.identity = s.column<std::string>(1);
  client.first_seen = s.column<double>(2);
  client.last_seen = s.column<double>(3);
  client.updates_accepted = s.column<int64_t>(4);
  client.updates_rejected = s.column<int64_t>(5);
  client.samples_accepted = s.column<int64_t>(6);
  client.bytes_received = s.column<int64_t>(7);
  client.flagged_rounds = s.column<int64_t>(8);
  return client;
}

Round read_round(const Statement& s) {
  Round round;
  round.round_id = s.column<int64_t>(0);
  round.run_id = s.column<std::string>(1);
  round.round = s.column<int64_t>(2);
  round.attempt = s.column<int64_t>(3);
  round.status = parse_round_status(s.column<std::string>(4));
  round.started_at = s.column<double>(5);
  round.finished_at = s.column<std::optional<double>>(6);
  round.clients_selected = s.column<int64_t>(7);
  round.updates_accepted = s.column<int64_t>(8);
  round.updates_rejected = s.column<int64_t>(9);
  round.samples_accepted = s.column<int64_t>(10);
  round.aggregate_norm = s.column<std::optional<double>>(11);
  round.metrics_json = s.column<std::optional<std::string>>(12);
  round.evaluation.fid = s.column<std::optional<double>>(13);
  round.evaluation.classes_covered = s.column<std::optional<int64_t>>(14);
  round.evaluation.modes_captured = s.column<std::optional<int64_t>>(15);
  round.evaluation.high_quality_fraction = s.column<std::optional<double>>(16);
  round.evaluation.kl_to_uniform = s.column<std::optional<double>>(17);
  round.checkpoint_path = s.column<std::optional<std::string>>(18);
  round.checkpoint_sha256 = s.column<std::optional<std::string>>(19);
  round.sample_grid_path = s.column<std::optional<std::string>>(20);
  round.failure_reason = s.column<std::optional<std::string>>(21);
  return round;
}

Update read_update(const Statement& s) {
  Update update;
  update.update_id = s.column<int64_t>(0);
  update.round_id = s.column<int64_t>(1);
  update.client = s.column<std::string>(2);
  update.received_at = s.column<double>(3);
  update.accepted = s.column<bool>(4);
  update.reject_reason = s.column<std::optional<std::string>>(5).value_or("");
  update.reject_message = s.column<std::optional<std::string>>(6).value_or("");
  update.num_samples = s.column<std::optional<int64_t>>(7);
  update.delta_norm = s.column<std::optional<double>>(8);
  update.bytes_received = s.column<int64_t>(9);
  update.upload_seconds = s.column<std::optional<double>>(10);
  update.train_seconds = s.column<std::optional<double>>(11);
  update.samples_per_second = s.column<std::optional<double>>(12);
  update.local_metrics_json = s.column<std::optional<std::string>>(13);
  update.norm_bound = s.column<std::optional<double>>(14);
  return update;
}

Event read_event(const Statement& s) {
  Event event;
  event.event_id = s.column<int64_t>(0);
  event.logged_at = s.column<double>(1);
  event.level = parse_event_level(s.column<std::string>(2));
  event.kind = s.column<std::string>(3);
  event.message = s.column<std::string>(4);
  event.run_id = s.column<std::optional<std::string>>(5);
  event.round = s.column<std::optional<int64_t>>(6);
  event.client = s.column<std::optional<std::string>>(7);
  return event;
}

template <typename Reader>
auto read_all(Statement& statement, Reader reader) {
  std::vector<decltype(reader(statement))> rows;
  while (statement.step()) rows.push_back(reader(statement));
  return rows;
}

template <typename Reader>
auto read_one(Statement& statement, Reader reader) -> std::optional<decltype(reader(statement))> {
  if (!statement.step()) return std::nullopt;
  return reader(statement);
}

}  // namespace

std::optional<Run> History::find_run(const std::string& run_id) {
  auto s = db_.prepare(fmt::format("SELECT {} WHERE run_id = ?", kRunColumns));
  s.bind_all(run_id);
  return read_one(s, read_run);
}

std::vector<Run> History::runs() {
  auto s = db_.prepare(fmt::format("SELECT {} ORDER BY created_at, run_id", kRunColumns));
  return read_all(s, read_run);
}

std::optional<Client> History::find_client(const std::string& identity) {
  auto s = db_.prepare(fmt::format("SELECT {} WHERE identity = ?", kClientColumns));
  s.bind_all(identity);
  return read_one(s, read_client);
}

std::vector<Client> History::clients() {
  auto s = db_.prepare(fmt::format("SELECT {} ORDER BY identity", kClientColumns));
  return read_all(s, read_client);
}

std::optional<Round> History::find_round(int64_t round_id) {
  auto s = db_.prepare(fmt::format("SELECT {} WHERE round_id = ?", kRoundColumns));
  s.bind_all(round_id);
  return read_one(s, read_round);
}

std::vector<Round> History::rounds(const std::string& run_id) {
  auto s =
      db_.prepare(fmt::format("SELECT {} WHERE run_id = ? ORDER BY round, attempt", kRoundColumns));
  s.bind_all(run_id);
  return read_all(s, read_round);
}

std::optional<Round> History::last_committed_round(const std::string& run_id) {
  auto s = db_.prepare(
      fmt::format("SELECT {} WHERE run_id = ? AND status = 'committed' ORDER BY round DESC LIMIT 1",
                  kRoundColumns));
  s.bind_all(run_id);
  return read_one(s, read_round);
}

std::vector<Update> History::updates(int64_t round_id) {
  auto s = db_.prepare(
      "SELECT u.update_id, u.round_id, c.identity, u.received_at, u.accepted, u.reject_reason, "
      "u.reject_message, u.num_samples, u.delta_norm, u.bytes_received, u.upload_seconds, "
      "u.train_seconds, u.samples_per_second, u.local_metrics, u.norm_bound "
      "FROM updates u JOIN clients c USING (client_id) WHERE u.round_id = ? ORDER BY u.update_id");
  s.bind_all(round_id);
  return read_all(s, read_update);
}

std::vector<double> History::aggregated_norms(int64_t round_id) {
  auto s = db_.prepare(
      "SELECT min(delta_norm, coalesce(norm_bound, delta_norm)) FROM updates "
      "WHERE round_id = ? AND accepted = 1 ORDER BY update_id");
  s.bind_all(round_id);
  return read_all(s, [](const Statement& row) { return row.column<double>(0); });
}

std::vector<Event> History::events(const std::string& run_id) {
  auto s = db_.prepare(
      "SELECT event_id, logged_at, level, kind, message, run_id, round, client FROM events "
      "WHERE run_id = ? ORDER BY event_id");
  s.bind_all(run_id);
  return read_all(s, read_event);
}

std::vector<std::string> History::quarantined_clients(const std::string& run_id) {
  auto s = db_.prepare(
      "SELECT DISTINCT client FROM events WHERE run_id = ? AND kind = 'client_quarantined' "
      "AND client IS NOT NULL ORDER BY client");
  s.bind_all(run_id);
  return read_all(s, [](const Statement& row) { return row.column<std::string>(0); });
}

std::vector<std::pair<int64_t, std::string>> History::flagged_updates(const std::string& run_id,
                                                                      int64_t first_round) {
  auto s = db_.prepare(
      "SELECT r.round, c.identity FROM updates u JOIN rounds r USING (round_id) "
      "JOIN clients c USING (client_id) WHERE r.run_id = ? AND r.status = 'committed' "
      "AND r.round >= ? AND u.flagged = 1 ORDER BY r.round, c.identity");
  s.bind_all(run_id, first_round);
  return read_all(s, [](const Statement& row) {
    return std::make_pair(row.column<int64_t>(0), row.column<std::string>(1));
  });
}

}  // namespace fedgan::storage
