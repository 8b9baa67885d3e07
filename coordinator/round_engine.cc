// RoundEngine's public face, and the State's construction, sessions and stopping (engine_state.h).

#include "coordinator/round_engine.h"

#include "coordinator/config_file.h"
#include "coordinator/engine_state.h"
#include "coordinator/error.h"
#include "coordinator/round_plan.h"
#include "protocol/wire_text.h"
#include "storage/schema.h"

#include <fmt/format.h>

namespace fedgan::coordinator {

using protocol::ProtocolError;

namespace {

// Longest device and software names from a Hello that go into the log.
constexpr size_t kMaxHelloTextBytes = 64;

// The server owns its database: a missing directory is created, as for checkpoints.
storage::Database open_run_database(const std::filesystem::path& path) {
  const auto directory = std::filesystem::absolute(path).parent_path();
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  check(!error && std::filesystem::is_directory(directory),
        "cannot create the directory {} of storage.database: {}", directory.string(),
        error.message());
  return storage::open_database(path.string());
}

}  // namespace

RoundEngine::State::State(const CoordinatorOptions& options,
                          std::unique_ptr<CheckpointWriter> writer, double now)
    : now(now),
      model(options.model),
      options_(options),
      db_(open_run_database(options.storage.database)),
      store_(db_),
      checkpoints_(options.storage.checkpoint_dir),
      writer_(std::move(writer)),
      aggregation_(make_round_aggregation(options, model)),
      norm_bound_(options.aggregation),
      quarantine_(options.aggregation.quarantine_after, options.aggregation.quarantine_window),
      evaluates_(options.evaluation.every_rounds > 0) {
  storage::Run run;
  run.run_id = options.storage.run_id;
  run.created_at = now;
  run.seed = options.model.init_seed;
  run.model = config::enum_name(options.model.architecture);
  run.config_json = to_json(options);
  const auto opened = store_.create_or_resume_run(run);
  const auto resume = store_.recover(run.run_id, now);
  for (const auto& aborted : resume.aborted) {
    print(fmt::format(
        "round {} attempt {} was running when the coordinator stopped: aborted, will rerun",
        aborted.round, aborted.attempt));
  }
  restore_norm_history();
  restore_quarantine();
  if (resume.last_committed) {
    const auto& last = *resume.last_committed;
    model.load_checkpoint(*last.checkpoint_path, *last.checkpoint_sha256);
    next_round = last.round + 1;
    print(fmt::format("run '{}' resumed after round {} ({}){}", run.run_id, last.round,
                      *last.checkpoint_path,
                      options.aggregation.server_optimizer == ServerOptimizer::kAdam
                          ? "; the server Adam moments start afresh"
                          : ""));
  } else {
    print(fmt::format("run '{}' {}: starting from round 1", run.run_id,
                      opened.resumed ? "resumed with no committed round" : "created"));
  }
}

void RoundEngine::State::begin(const std::string& where) {
  if (next_round > options_.rounds.max_rounds) {
    return stop("the run has already committed rounds.max_rounds rounds", 0,
                wire::STATUS_RUN_FINISHED);
  }
  log(storage::EventLevel::kInfo, "coordinator_started", where);
  print(fmt::format("{}; waiting for {} clients", where, clients_needed_to_start(options_.rounds)));
}

void RoundEngine::State::stop(const std::string& reason, int exit_code, wire::StatusCode goodbye) {
  if (stopped) return;
  stopped = true;
  // A round whose checkpoint is being written is aggregated: commit it rather than lose it.
  settle_pending_commit();
  sessions_.clear();
  log(storage::EventLevel::kInfo, "coordinator_stopped", reason);
  print(fmt::format("coordinator stopped: {}", reason));
  actions.push_back(StopServing{exit_code, goodbye, reason});
}

void RoundEngine::State::log(storage::EventLevel level, const std::string& kind,
                             const std::string& message, std::optional<std::string> client) {
  storage::Event event;
  event.logged_at = now;
  event.level = level;
  event.kind = kind;
  event.message = message;
  event.run_id = options_.storage.run_id;
  if (round_) event.round = round_->attempt.round;
  event.client = std::move(client);
  store_.log_event(event);
}

void RoundEngine::State::print(std::string line, bool error) {
  actions.push_back(ConsoleLine{std::move(line), error});
}

void RoundEngine::State::site_connected(SessionId session, const std::string& identity,
                                        const std::string& address, const wire::Hello& hello) {
  if (stopped) throw ProtocolError(wire::STATUS_BUSY, "coordinator is stopping");
  try {
    check_hello(hello, options_.aggregation.max_samples, wire_codec(options_.model.codec));
  } catch (const ProtocolError& refused) {
    log(storage::EventLevel::kWarning, "client_refused",
        fmt::format("{}: {}", reason_name(refused.code()), refused.what()), identity);
    throw;
  }
  if (quarantine_.holds(identity)) {
    const std::string why = fmt::format(
        "{} is quarantined for the rest of run '{}' (flagged in {} of {} committed rounds)",
        identity, options_.storage.run_id, quarantine_.after(), quarantine_.window());
    log(storage::EventLevel::kWarning, "client_refused", "QUARANTINED: " + why, identity);
    throw ProtocolError(wire::STATUS_QUARANTINED, why);
  }
  if (auto previous = sessions_.find(identity); previous != sessions_.end()) {
    // A reconnecting site: the newer session wins; the older one is closed and, if it was in the
    // running round, counted as gone (an upload it had in flight is recorded as such).
    actions.push_back(CloseSession{previous->second, wire::STATUS_OK,
                                   "replaced by a newer connection of the same identity"});
    if (round_ && round_->roster.is_uploading(identity)) {
      record_refusal(facts_of(identity, running_attempt_id()),
                     ProtocolError(wire::STATUS_INCOMPLETE,
                                   "a newer connection of the same identity replaced the one that "
                                   "was uploading"));
      round_->roster.finish(identity, false);
    }
    if (round_) round_->roster.drop(identity);
  }
  sessions_[identity] = session;
  store_.touch_client(identity, now);
  // Every string of a Hello is the peer's: bounded and made printable before it is logged.
  const std::string device = hello.device().empty()
                                 ? "an unnamed device"
                                 : protocol::printable(hello.device(), kMaxHelloTextBytes);
  const std::string software =
      hello.software_version().empty()
          ? "unnamed software"
          : protocol::printable(hello.software_version(), kMaxHelloTextBytes);
  log(storage::EventLevel::kInfo, "client_connected",
      fmt::format("{} from {} with {} samples on {}, {}, protocol 1.{}", identity, address,
                  hello.num_samples(), device, software, hello.minor_version()),
      identity);
  actions.push_back(SendWelcome{session, fmt::format("welcome, {}", identity)});
  if (round_) evaluate_round(false);
  maybe_start_round();
}

void RoundEngine::State::session_closed(SessionId session, const std::string& identity,
                                        const protocol::TransportError& reason,
                                        uint64_t upload_bytes) {
  const auto found = sessions_.find(identity);
  if (found == sessions_.end() || found->second != session) return;  // replaced or ungreeted
  sessions_.erase(found);
  if (stopped) return;
  log(storage::EventLevel::kInfo, "client_disconnected", reason.what(), identity);
  if (!round_) return;
  if (round_->roster.is_uploading(identity)) {
    // The transport's own verdicts (a broken frame, a deadline) name the cause; anything else (the
    // peer went away, said Goodbye) is an upload left incomplete.
    const bool ours = reason.kind() == protocol::TransportErrorKind::kProtocol ||
                      reason.kind() == protocol::TransportErrorKind::kTimeout;
    const auto code =
        ours && reason.status() != wire::STATUS_OK ? reason.status() : wire::STATUS_INCOMPLETE;
    UploadFacts facts = facts_of(identity, running_attempt_id());
    facts.bytes = upload_bytes;
    record_refusal(facts, ProtocolError(code, fmt::format("the connection ended during the upload: "
                                                          "{}",
                                                          reason.what())));
  }
  round_->roster.drop(identity);
  evaluate_round(false);
}

// --- the public face: each event notes its time and hands over to the state ------------------

RoundEngine::RoundEngine(const CoordinatorOptions& options,
                         std::unique_ptr<CheckpointWriter> writer, double now)
    : state_(std::make_unique<State>(options, std::move(writer), now)) {}

RoundEngine::~RoundEngine() = default;

void RoundEngine::begin(const std::string& where, double now) {
  state_->now = now;
  state_->begin(where);
}

void RoundEngine::site_connected(SessionId session, const std::string& identity,
                                 const std::string& address, const wire::Hello& hello, double now) {
  state_->now = now;
  state_->site_connected(session, identity, address, hello);
}

Admission RoundEngine::update_announced(SessionId, const std::string& identity,
                                        const wire::UpdateHeader& header, double now) {
  state_->now = now;
  return state_->update_announced(identity, header);
}

wire::Status RoundEngine::update_received(SessionId, const std::string& identity, uint64_t attempt,
                                          ReceivedUpdate update, double now) {
  state_->now = now;
  return state_->update_received(identity, attempt, std::move(update));
}

void RoundEngine::transfer_refused(SessionId, const std::string& identity, uint64_t attempt,
                                   const wire::UpdateHeader& header, const ProtocolError& error,
                                   uint64_t bytes, double now) {
  state_->now = now;
  state_->transfer_refused(identity, attempt, header, error, bytes);
}

void RoundEngine::session_closed(SessionId session, const std::string& identity,
                                 const protocol::TransportError& reason, uint64_t upload_bytes,
                                 double now) {
  state_->now = now;
  state_->session_closed(session, identity, reason, upload_bytes);
}

void RoundEngine::time_advanced(double now) {
  state_->now = now;
  state_->time_advanced();
}

void RoundEngine::resume(double now) {
  state_->now = now;
  state_->resume();
}

void RoundEngine::checkpoint_written(double now) {
  state_->now = now;
  state_->checkpoint_written();
}

void RoundEngine::evaluation_done(const EvaluateRound& request, const storage::Evaluation& figures,
                                  double now) {
  state_->now = now;
  state_->evaluation_done(request, &figures, "");
}

void RoundEngine::evaluation_failed(const EvaluateRound& request, const std::string& why,
                                    double now) {
  state_->now = now;
  state_->evaluation_done(request, nullptr, why);
}

void RoundEngine::stop(const std::string& reason, int exit_code, double now) {
  state_->now = now;
  state_->stop(reason, exit_code);
}

void RoundEngine::record_event(storage::EventLevel level, const std::string& kind,
                               const std::string& message, double now) {
  state_->now = now;
  state_->log(level, kind, message);
}

EngineActions RoundEngine::take_actions() {
  return std::exchange(state_->actions, {});
}

bool RoundEngine::stopped() const {
  return state_->stopped;
}

const GlobalModel& RoundEngine::model() const {
  return state_->model;
}

int64_t RoundEngine::next_round() const {
  return state_->next_round;
}

}  // namespace fedgan::coordinator
