#include "storage/run_store.h"

#include "storage/error.h"

#include <cmath>

namespace fedgan::storage {
namespace {

// Local metrics are a few dozen numbers; the bound keeps one row small whatever a caller passes.
constexpr size_t kMaxMetricsJsonBytes = 64 * 1024;

std::optional<std::string> null_if_empty(const std::string& text) {
  if (text.empty()) return std::nullopt;
  return text;
}

bool is_sha256_hex(const std::string& text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool is_reason_code(const std::string& text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// NaN passes: it is stored as NULL ("not measured"), like every NaN the Statement binds.
void check_non_negative(std::optional<double> value, std::string_view field) {
  check(!value || std::isnan(*value) || *value >= 0, "{} must be >= 0, got {}", field,
        value.value_or(0));
}

void check_update(const Update& u) {
  check(!u.client.empty(), "update for round attempt {}: empty client identity", u.round_id);
  if (u.accepted) {
    check(u.reject_reason.empty(), "accepted update from '{}' carries reject reason '{}'", u.client,
          u.reject_reason);
    check(u.num_samples && u.delta_norm && std::isfinite(*u.delta_norm),
          "accepted update from '{}' needs num_samples and a finite delta_norm", u.client);
  } else {
    check(is_reason_code(u.reject_reason),
          "rejected update from '{}' needs a reason code of capital letters, digits and '_' "
          "(e.g. NON_FINITE), got '{}'",
          u.client, u.reject_reason);
  }
  check(!u.num_samples || *u.num_samples >= 0, "update from '{}': num_samples {} < 0", u.client,
        u.num_samples.value_or(0));
  check(u.bytes_received >= 0, "update from '{}': bytes_received {} < 0", u.client,
        u.bytes_received);
  check_non_negative(u.delta_norm, "delta_norm");
  check(!u.norm_bound || (std::isfinite(*u.norm_bound) && *u.norm_bound > 0),
        "update from '{}': norm_bound must be finite and > 0, got {}", u.client,
        u.norm_bound.value_or(0));
  check(!u.local_metrics_json || u.local_metrics_json->size() <= kMaxMetricsJsonBytes,
        "update from '{}': local metrics of {} bytes exceed the limit of {}", u.client,
        u.local_metrics_json ? u.local_metrics_json->size() : 0, kMaxMetricsJsonBytes);
  check_non_negative(u.upload_seconds, "upload_seconds");
  check_non_negative(u.train_seconds, "train_seconds");
  check_non_negative(u.samples_per_second, "samples_per_second");
}

void check_evaluation(const Evaluation& e) {
  check_non_negative(e.fid, "evaluation fid");
  check_non_negative(e.kl_to_uniform, "evaluation kl_to_uniform");
  check(
      !e.high_quality_fraction || (*e.high_quality_fraction >= 0 && *e.high_quality_fraction <= 1),
      "evaluation high_quality_fraction must be in [0, 1], got {}",
      e.high_quality_fraction.value_or(0));
  check(e.classes_covered.value_or(0) >= 0 && e.modes_captured.value_or(0) >= 0,
        "evaluation counts must be >= 0");
}

}  // namespace

RunStore::RunStore(Database& db) : db_(db), history_(db) {}

RunStore::OpenedRun RunStore::create_or_resume_run(const Run& run) {
  Transaction transaction(db_);
  std::optional<Run> stored = history_.find_run(run.run_id);
  if (stored) {
    check(stored->seed == run.seed && stored->model == run.model,
          "run '{}' exists with seed {} and model '{}'; resuming it with seed {} and model '{}' "
          "would mix two experiments under one name: choose another run id",
          run.run_id, stored->seed, stored->model, run.seed, run.model);
  } else {
    db_.prepare("INSERT INTO runs (run_id, created_at, seed, model, config) VALUES (?, ?, ?, ?, ?)")
        .bind_all(run.run_id, run.created_at, static_cast<int64_t>(run.seed), run.model,
                  run.config_json)
        .run();
  }
  Event event;
  event.logged_at = run.created_at;  // the caller's now, also when resuming
  event.kind = stored ? "run_resumed" : "run_created";
  event.message = fmt::format("run '{}' {} (model {}, seed {})", run.run_id,
                              stored ? "resumed" : "created", run.model, run.seed);
  event.run_id = run.run_id;
  log_event(event);
  transaction.commit();
  return {stored ? *stored : run, stored.has_value()};
}

void RunStore::finish_run(const std::string& run_id, double finished_at) {
  auto statement = db_.prepare("UPDATE runs SET finished_at = ? WHERE run_id = ?");
  statement.bind_all(finished_at, run_id).run();
  check(db_.changes() == 1, "finish_run: unknown run '{}'", run_id);
}

ResumePoint RunStore::recover(const std::string& run_id, double now, const std::string& reason) {
  check(!reason.empty(), "recover: the abort reason must not be empty");
  Transaction transaction(db_);
  check(history_.find_run(run_id).has_value(), "recover: unknown run '{}'", run_id);
  ResumePoint point;
  auto running = db_.prepare(
      "SELECT round_id, round, attempt FROM rounds WHERE run_id = ? AND status = 'running'");
  running.bind_all(run_id);
  while (running.step()) {
    point.aborted.push_back({running.column<int64_t>(0), run_id, running.column<int64_t>(1),
                             running.column<int64_t>(2)});
  }
  // max(): a clock that stepped back since the round started must not violate the CHECK.
  auto abort = db_.prepare(
      "UPDATE rounds SET status = 'aborted', finished_at = max(started_at, ?), failure_reason = ? "
      "WHERE round_id = ?");
  for (const RoundAttempt& attempt : point.aborted) {
    abort.bind_all(now, reason, attempt.round_id).run();
    abort.reset();
    log_event(
        {0, now, EventLevel::kWarning, "round_aborted",
         fmt::format("round {} attempt {} aborted: {}", attempt.round, attempt.attempt, reason),
         run_id, attempt.round, std::nullopt});
  }
  point.last_committed = history_.last_committed_round(run_id);
  transaction.commit();
  return point;
}

int64_t RunStore::upsert_client(const std::string& identity, double seen_at) {
  auto client = db_.prepare(
      "INSERT INTO clients (identity, first_seen, last_seen) VALUES (?1, ?2, ?2) "
      "ON CONFLICT (identity) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), "
      "last_seen = max(last_seen, excluded.last_seen) RETURNING client_id");
  client.bind_all(identity, seen_at).step();
  const auto client_id = client.column<int64_t>(0);
  client.run();  // a RETURNING statement finishes when stepped to its end
  return client_id;
}

Client RunStore::touch_client(const std::string& identity, double seen_at) {
  check(!identity.empty(), "touch_client: empty client identity");
  upsert_client(identity, seen_at);
  return *history_.find_client(identity);
}

RoundAttempt RunStore::begin_round(const std::string& run_id, int64_t round, double started_at,
                                   int64_t clients_selected) {
  check(round >= 0 && clients_selected >= 0,
        "begin_round: round {} and clients_selected {} must be >= 0", round, clients_selected);
  // Deferred: the attempt matters once it commits or fails, whose fsync makes this durable too.
  // Should a power loss undo it, recovery simply finds no attempt to abort.
  Transaction transaction(db_, Durability::kDeferred);
  check(history_.find_run(run_id).has_value(), "begin_round: unknown run '{}'", run_id);
  auto running =
      db_.prepare("SELECT round, attempt FROM rounds WHERE run_id = ? AND status = 'running'");
  if (running.bind_all(run_id).step()) {
    throw StorageError(fmt::format(
        "cannot begin round {} of run '{}': round {} attempt {} is still running; commit or fail "
        "it first (after a restart, recover() aborts it)",
        round, run_id, running.column<int64_t>(0), running.column<int64_t>(1)));
  }
  auto attempts = db_.prepare(
      "SELECT coalesce(max(attempt), 0) + 1, coalesce(max(status = 'committed'), 0) FROM rounds "
      "WHERE run_id = ? AND round = ?");
  attempts.bind_all(run_id, round).step();
  check(!attempts.column<bool>(1), "round {} of run '{}' is already committed", round, run_id);
  const RoundAttempt attempt{0, run_id, round, attempts.column<int64_t>(0)};
  db_.prepare(
         "INSERT INTO rounds (run_id, round, attempt, started_at, clients_selected) "
         "VALUES (?, ?, ?, ?, ?)")
      .bind_all(run_id, round, attempt.attempt, started_at, clients_selected)
      .run();
  RoundAttempt started = attempt;
  started.round_id = db_.last_insert_rowid();
  log_event({0, started_at, EventLevel::kInfo, "round_started",
             fmt::format("round {} attempt {} started with {} clients selected", round,
                         attempt.attempt, clients_selected),
             run_id, round, std::nullopt});
  transaction.commit();
  return started;
}

Round RunStore::existing_round(int64_t round_id, std::string_view action) {
  std::optional<Round> round = history_.find_round(round_id);
  check(round.has_value(), "{}: no round attempt with round_id {}", action, round_id);
  return *round;
}

Round RunStore::running_round(int64_t round_id, std::string_view action) {
  Round round = existing_round(round_id, action);
  check(round.status == RoundStatus::kRunning,
        "{}: round {} attempt {} of run '{}' is {}, not running", action, round.round,
        round.attempt, round.run_id, to_string(round.status));
  return round;
}

int64_t RunStore::record_update(const Update& u) {
  check_update(u);
  // An accepted update counts once its round commits, whose fsync makes it durable; a rejection
  // is evidence of hostile or broken input and is fsync'd at once.
  Transaction transaction(db_, u.accepted ? Durability::kDeferred : Durability::kFsync);
  // A rejection may arrive after its attempt ended (a late upload): it is filed under that attempt.
  const Round round = u.accepted ? running_round(u.round_id, "record_update")
                                 : existing_round(u.round_id, "record_update");
  const int64_t client_id = upsert_client(u.client, u.received_at);
  if (u.accepted) {
    auto duplicate =
        db_.prepare("SELECT 1 FROM updates WHERE round_id = ? AND client_id = ? AND accepted = 1");
    check(!duplicate.bind_all(u.round_id, client_id).step(),
          "client '{}' already has an accepted update in round {} attempt {}; record this one as "
          "rejected (DUPLICATE_UPDATE)",
          u.client, round.round, round.attempt);
  }
  db_.prepare(
         "INSERT INTO updates (round_id, client_id, received_at, accepted, reject_reason, "
         "reject_message, num_samples, delta_norm, norm_bound, bytes_received, upload_seconds, "
         "train_seconds, samples_per_second, local_metrics) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(u.round_id, client_id, u.received_at, u.accepted, null_if_empty(u.reject_reason),
                null_if_empty(bounded_text(u.reject_message)), u.num_samples, u.delta_norm,
                u.norm_bound, u.bytes_received, u.upload_seconds, u.train_seconds,
                u.samples_per_second, u.local_metrics_json)
      .run();
  const int64_t update_id = db_.last_insert_rowid();
  add_to_totals(client_id, u);
  transaction.commit();
  return update_id;
}

void RunStore::add_to_totals(int64_t client_id, const Update& u) {
  const int64_t accepted = u.accepted ? 1 : 0;
  const int64_t samples = u.accepted ? u.num_samples.value_or(0) : 0;
  db_.prepare(
         "UPDATE clients SET updates_accepted = updates_accepted + ?, updates_rejected = "
         "updates_rejected + ?, samples_accepted = samples_accepted + ?, bytes_received = "
         "bytes_received + ? WHERE client_id = ?")
      .bind_all(accepted, 1 - accepted, samples, u.bytes_received, client_id)
      .run();
  db_.prepare(
         "UPDATE rounds SET updates_accepted = updates_accepted + ?, updates_rejected = "
         "updates_rejected + ?, samples_accepted = samples_accepted + ? WHERE round_id = ?")
      .bind_all(accepted, 1 - accepted, samples, u.round_id)
      .run();
}

void RunStore::commit_round(int64_t round_id, const RoundCommit& c) {
  check(!c.checkpoint_path.empty(), "commit_round: empty checkpoint path");
  check(is_sha256_hex(c.checkpoint_sha256),
        "commit_round: checkpoint SHA-256 must be 64 lowercase hex digits, got '{}'",
        c.checkpoint_sha256);
  check(std::isfinite(c.aggregate_norm) && c.aggregate_norm >= 0,
        "commit_round: aggregate_norm must be finite and >= 0, got {}", c.aggregate_norm);
  check_evaluation(c.evaluation);
  Transaction transaction(db_);
  const Round round = running_round(round_id, "commit_round");
  const Evaluation& e = c.evaluation;
  db_.prepare(
         "UPDATE rounds SET status = 'committed', finished_at = ?, aggregate_norm = ?, "
         "metrics = ?, eval_fid = ?, eval_classes_covered = ?, eval_modes_captured = ?, "
         "eval_high_quality = ?, eval_kl_uniform = ?, checkpoint_path = ?, checkpoint_sha256 = ?, "
         "sample_grid_path = ? WHERE round_id = ?")
      .bind_all(c.finished_at, c.aggregate_norm, c.metrics_json, e.fid, e.classes_covered,
                e.modes_captured, e.high_quality_fraction, e.kl_to_uniform, c.checkpoint_path,
                c.checkpoint_sha256, c.sample_grid_path, round_id)
      .run();
  for (const UpdateReview& review : c.reviews) record_review(round_id, review);
  log_event({0, c.finished_at, EventLevel::kInfo, "round_committed",
             fmt::format("round {} attempt {} committed: {} updates accepted, {} rejected, {} "
                         "samples; checkpoint {}",
                         round.round, round.attempt, round.updates_accepted, round.updates_rejected,
                         round.samples_accepted, c.checkpoint_path),
             round.run_id, round.round, std::nullopt});
  transaction.commit();
}

void RunStore::record_review(int64_t round_id, const UpdateReview& r) {
  const auto finite_at_least_zero = [](const std::optional<double>& value) {
    return !value || (std::isfinite(*value) && *value >= 0);
  };
  check(finite_at_least_zero(r.aggregate_distance),
        "commit_round: update {}'s aggregate distance must be finite and >= 0, got {}", r.update_id,
        r.aggregate_distance.value_or(0));
  check(!r.aggregate_cosine || (*r.aggregate_cosine >= -1 && *r.aggregate_cosine <= 1),
        "commit_round: update {}'s cosine must be in [-1, 1], got {}", r.update_id,
        r.aggregate_cosine.value_or(0));
  check(std::isfinite(r.norm_z_score), "commit_round: update {}'s norm z-score is {}", r.update_id,
        r.norm_z_score);
  check(!r.rule_weight || (*r.rule_weight >= 0 && *r.rule_weight <= 1),
        "commit_round: update {}'s rule weight must be in [0, 1], got {}", r.update_id,
        r.rule_weight.value_or(0));
  check(!r.norm_bound || (std::isfinite(*r.norm_bound) && *r.norm_bound > 0),
        "commit_round: update {}'s norm bound must be finite and > 0, got {}", r.update_id,
        r.norm_bound.value_or(0));
  std::optional<std::string> effect;
  if (r.rule_effect) effect = std::string(to_string(*r.rule_effect));
  Statement update = db_.prepare(
      "UPDATE updates SET aggregate_distance = ?, aggregate_cosine = ?, norm_z_score = ?, "
      "rule_effect = ?, rule_weight = ?, flagged = ?, norm_bound = coalesce(?, norm_bound) "
      "WHERE update_id = ? AND round_id = ? AND accepted = 1 RETURNING client_id");
  update.bind_all(r.aggregate_distance, r.aggregate_cosine, r.norm_z_score, effect, r.rule_weight,
                  int64_t{r.flagged}, r.norm_bound, r.update_id, round_id);
  check(update.step(), "commit_round: update {} is not an accepted update of round_id {}",
        r.update_id, round_id);
  const auto client_id = update.column<int64_t>(0);
  update.reset();
  if (!r.flagged) return;
  db_.prepare("UPDATE clients SET flagged_rounds = flagged_rounds + 1 WHERE client_id = ?")
      .bind_all(client_id)
      .run();
}

void RunStore::fail_round(int64_t round_id, double finished_at, const std::string& reason) {
  check(!reason.empty(), "fail_round: the reason must not be empty");
  Transaction transaction(db_);
  const Round round = running_round(round_id, "fail_round");
  db_.prepare(
         "UPDATE rounds SET status = 'failed', finished_at = ?, failure_reason = ? "
         "WHERE round_id = ?")
      .bind_all(finished_at, bounded_text(reason), round_id)
      .run();
  log_event({0, finished_at, EventLevel::kWarning, "round_failed",
             fmt::format("round {} attempt {} failed: {}", round.round, round.attempt, reason),
             round.run_id, round.round, std::nullopt});
  transaction.commit();
}

void RunStore::record_evaluation(int64_t round_id, const Evaluation& e,
                                 const std::optional<std::string>& sample_grid_path) {
  check_evaluation(e);
  Transaction transaction(db_);
  std::optional<Round> round = history_.find_round(round_id);
  check(round && round->status == RoundStatus::kCommitted,
        "record_evaluation: round_id {} is not a committed round attempt", round_id);
  // coalesce: a figure not measured now keeps the value stored earlier.
  db_.prepare(
         "UPDATE rounds SET eval_fid = coalesce(?, eval_fid), "
         "eval_classes_covered = coalesce(?, eval_classes_covered), "
         "eval_modes_captured = coalesce(?, eval_modes_captured), "
         "eval_high_quality = coalesce(?, eval_high_quality), "
         "eval_kl_uniform = coalesce(?, eval_kl_uniform), "
         "sample_grid_path = coalesce(?, sample_grid_path) WHERE round_id = ?")
      .bind_all(e.fid, e.classes_covered, e.modes_captured, e.high_quality_fraction,
                e.kl_to_uniform, sample_grid_path, round_id)
      .run();
  transaction.commit();
}

int64_t RunStore::log_event(const Event& event) {
  check(!event.kind.empty(), "log_event: empty event kind");
  db_.prepare(
         "INSERT INTO events (run_id, logged_at, level, kind, round, client, message) "
         "VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind_all(event.run_id, event.logged_at, to_string(event.level), event.kind, event.round,
                event.client, bounded_text(event.message))
      .run();
  return db_.last_insert_rowid();
}

}  // namespace fedgan::storage
