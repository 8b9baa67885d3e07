#include "coordinator/coordinator.h"

#include "aggregation/delta.h"
#include "aggregation/fedavg.h"
#include "aggregation/server_adam.h"
#include "coordinator/checkpoint_gate.h"
#include "coordinator/client_session.h"
#include "coordinator/config_file.h"
#include "coordinator/error.h"
#include "coordinator/evaluator.h"
#include "coordinator/global_model.h"
#include "coordinator/round_phases.h"
#include "coordinator/round_plan.h"
#include "coordinator/update_validator.h"
#include "protocol/server.h"
#include "protocol/tls_context.h"
#include "storage/checkpoint_store.h"
#include "storage/run_store.h"
#include "storage/schema.h"

#include <fmt/format.h>
#include <openssl/rand.h>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cmath>
#include <future>
#include <map>
#include <mutex>
#include <optional>

namespace fedgan::coordinator {

namespace asio = boost::asio;
using protocol::ProtocolError;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kNonceBytes = 16;
// Longest a round's checkpoint waits for the next round's model to go out (CheckpointGate): how
// long one client that stalls its download can delay the commit.
constexpr std::chrono::milliseconds kCheckpointHoldLimit{1000};

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

std::string random_nonce() {
  std::string nonce(kNonceBytes, '\0');
  check(RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes) == 1,
        "the system random generator failed");
  return nonce;
}

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000.0)));
}

protocol::ConnectionOptions connection_options(const ServerOptions& server) {
  return protocol::connection_options_from_seconds(
      server.handshake_timeout_seconds, server.idle_timeout_seconds, server.frame_timeout_seconds,
      server.heartbeat_interval_seconds);
}

// "STATUS_NON_FINITE" -> "NON_FINITE", as rejections are stored.
std::string reason_name(wire::StatusCode code) {
  std::string name = wire::StatusCode_Name(code);
  return name.rfind("STATUS_", 0) == 0 ? name.substr(7) : name;
}

// The client's reported figures as a JSON object; only finite values (validated on admission).
std::string metrics_json(const google::protobuf::Map<std::string, double>& metrics) {
  std::map<std::string, double> sorted(metrics.begin(), metrics.end());
  std::string json = "{";
  for (const auto& [key, value] : sorted) {
    if (json.size() > 1) json += ", ";
    json += fmt::format("\"{}\": {:.9g}", key, value);
  }
  return json + "}";
}

std::optional<double> metric(const wire::UpdateHeader& header, const std::string& key) {
  const auto found = header.metrics().find(key);
  if (found == header.metrics().end()) return std::nullopt;
  return found->second;
}

std::map<std::string, std::string> hyperparameters(const CoordinatorOptions& options,
                                                   int64_t round) {
  const auto& t = options.training;
  return {{"architecture", options.model.architecture},
          {"networks", gan::trained_networks_name(networks_of_round(t, round))},
          {"federate", options.model.federate},
          {"local_steps", std::to_string(t.local_steps)},
          {"batch_size", std::to_string(t.batch_size)},
          {"optimizer", t.optimizer},
          {"lr_generator", fmt::format("{}", t.lr_generator)},
          {"lr_discriminator", fmt::format("{}", t.lr_discriminator)},
          {"beta1", fmt::format("{}", t.beta1)},
          {"beta2", fmt::format("{}", t.beta2)},
          {"loss", t.loss},
          {"n_critic", std::to_string(t.n_critic)}};
}

}  // namespace

// --- the running round ------------------------------------------------------------------------

struct RunningRound {
  // attempt.round_id is 0 until the attempt is in the database (recorded): a round that starts
  // while the previous round's checkpoint is still being written is recorded once that round's
  // commit is (settle_pending_commit).
  storage::RoundAttempt attempt;
  uint64_t generation;  // tells a stale deadline from this attempt's
  double started_at;    // unix seconds, for the database
  int64_t clients_selected;
  bool recorded;
  RoundRoster roster;
  aggregation::StreamingFedAvg fedavg;
  size_t quorum;
  Clock::time_point started;
  std::map<std::string, double> loss_sums;  // of accepted updates' reported losses
  std::map<std::string, size_t> loss_counts;
  RoundPhases phases;
  double slowest_training = 0;  // the longest train_seconds an accepted update reported
  uint64_t bytes_received = 0;  // encoded deltas of the accepted updates
  uint64_t bytes_sent = 0;      // encoded models queued to the selected clients
};

// A checkpoint being written on its own thread.
struct CheckpointWrite {
  storage::CheckpointFile file;
  double seconds = 0;
};

// An aggregated round whose checkpoint is being written while the next round already runs. It
// becomes a committed round in the database once the checkpoint is durable.
struct PendingCommit {
  int64_t round = 0;
  int64_t round_id = 0;
  Clock::time_point started;
  RoundPhases phases;
  storage::RoundCommit commit;  // all but the checkpoint's path and digest
  std::string summary;          // ", 4 updates, G loss ..., aggregate norm ..., 1.2 s"
  double slowest_training = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  std::shared_ptr<CheckpointGate> gate;  // the write starts when it opens
  std::future<CheckpointWrite> checkpoint;
};

class Coordinator::Impl : public Federation, public std::enable_shared_from_this<Impl> {
 public:
  Impl(const CoordinatorOptions& options, asio::io_context& io);

  void start();
  void stop(const std::string& reason, int exit_code);
  void request_stop(const std::string& reason) {
    std::lock_guard lock(mutex_);
    stop(reason, 0);
  }
  uint16_t port() const { return server_ ? server_->port() : 0; }
  std::function<void(int)> stopped_callback;

  void on_hello(const std::shared_ptr<ClientSession>& session, const wire::Hello& hello) override;
  std::unique_ptr<DeltaBuffer> on_update_header(ClientSession& session,
                                                const wire::UpdateHeader& header) override;
  wire::Status on_update_received(ClientSession& session, ReceivedUpdate update) override;
  void on_update_refused(ClientSession& session, const wire::UpdateHeader& header,
                         const ProtocolError& error, bool admitted, uint64_t bytes) override;
  void on_session_closed(ClientSession& session, const protocol::TransportError& reason) override;

 private:
  void maybe_start_round();
  void post_round_start();
  void start_round();
  void evaluate_round(bool deadline_passed);
  void on_deadline(uint64_t generation);
  void commit_round();
  void settle_pending_commit();
  void record_round_start();
  void fail_round(const std::string& reason);
  void record_refusal(const std::string& identity, const wire::UpdateHeader* header,
                      const ProtocolError& error, uint64_t bytes);
  void log(storage::EventLevel level, const std::string& kind, const std::string& message,
           std::optional<std::string> client = std::nullopt);

  CoordinatorOptions options_;
  asio::io_context& io_;  // owned by the caller, outlives this
  std::mutex mutex_;      // guards everything below
  storage::Database db_;
  storage::RunStore store_;
  storage::CheckpointStore checkpoints_;
  GlobalModel model_;
  // Set with aggregation.server_optimizer = "adam". Its moments live in memory only: a restarted
  // coordinator starts them afresh (docs/configuration.md).
  std::optional<aggregation::ServerAdam> server_adam_;
  Evaluator evaluator_;
  protocol::TlsContext tls_;
  std::shared_ptr<protocol::Server> server_;
  asio::steady_timer deadline_timer_;
  std::map<std::string, std::shared_ptr<ClientSession>> sessions_;  // greeted, by identity
  std::optional<RunningRound> round_;
  // What the last round sent: it reads model_ until finish(), which comes before model_ changes.
  std::shared_ptr<ModelSnapshot> sent_model_;
  int64_t next_round_ = 1;
  int64_t failed_attempts_ = 0;
  std::optional<std::filesystem::path> last_checkpoint_;
  uint64_t generations_ = 0;
  bool stopped_ = false;
  // Declared last, so it is destroyed first: its future waits for a checkpoint write that still
  // uses checkpoints_.
  std::optional<PendingCommit> pending_;
};

Coordinator::Impl::Impl(const CoordinatorOptions& options, asio::io_context& io)
    : options_(options),
      io_(io),
      db_(open_run_database(options.storage.database)),
      store_(db_),
      checkpoints_(options.storage.checkpoint_dir),
      model_(options.model),
      evaluator_(options.evaluation, options.model.architecture),
      tls_(protocol::TlsContext::server(options.tls)),
      deadline_timer_(io) {
  const double now = storage::unix_seconds_now();
  storage::Run run;
  run.run_id = options.storage.run_id;
  run.created_at = now;
  run.seed = options.model.init_seed;
  run.model = options.model.architecture;
  run.config_json = to_json(options);
  if (options.aggregation.server_optimizer == "adam") {
    const auto& a = options.aggregation;
    server_adam_.emplace(model_.layout(), model_.parameter_mask(),
                         aggregation::ServerAdamOptions{a.server_lr, a.server_beta1, a.server_beta2,
                                                        a.server_epsilon});
  }
  const auto opened = store_.create_or_resume_run(run);
  const auto resume = store_.recover(run.run_id, now);
  for (const auto& aborted : resume.aborted) {
    fmt::print(
        "round {} attempt {} was running when the coordinator stopped: aborted, will rerun\n",
        aborted.round, aborted.attempt);
  }
  if (resume.last_committed) {
    const auto& last = *resume.last_committed;
    model_.load_checkpoint(*last.checkpoint_path, *last.checkpoint_sha256);
    next_round_ = last.round + 1;
    last_checkpoint_ = *last.checkpoint_path;
    fmt::print("run '{}' resumed after round {} ({}){}\n", run.run_id, last.round,
               *last.checkpoint_path, server_adam_ ? "; the server Adam moments start afresh" : "");
  } else {
    fmt::print("run '{}' {}: starting from round 1\n", run.run_id,
               opened.resumed ? "resumed with no committed round" : "created");
  }
}

void Coordinator::Impl::start() {
  protocol::ServerOptions server_options;
  server_options.bind_address = options_.server.bind_address;
  server_options.port = options_.server.port;
  server_options.max_connections = options_.server.max_connections;
  server_options.allowed_identities = options_.server.allowed_identities;
  server_options.connection = connection_options(options_.server);
  std::weak_ptr<Impl> weak = shared_from_this();
  server_ = protocol::Server::create(
      io_, tls_, server_options,
      [weak](std::shared_ptr<protocol::Connection> connection) {
        auto self = weak.lock();
        if (!self) return connection->close(wire::STATUS_BUSY, "coordinator is stopping");
        std::make_shared<ClientSession>(std::move(connection), self)->start();
      },
      [weak](const std::string& address, const protocol::TransportError& reason) {
        if (auto self = weak.lock()) {
          std::lock_guard lock(self->mutex_);
          self->log(storage::EventLevel::kWarning, "connection_refused",
                    fmt::format("{}: {}", address, reason.what()));
        }
      });
  server_->start();
  std::lock_guard lock(mutex_);
  if (next_round_ > options_.rounds.max_rounds) {
    return stop("the run has already committed rounds.max_rounds rounds", 0);
  }
  log(storage::EventLevel::kInfo, "coordinator_started",
      fmt::format("listening on {}:{}", options_.server.bind_address, server_->port()));
  fmt::print("listening on {}:{}; waiting for {} clients\n", options_.server.bind_address,
             server_->port(), clients_needed_to_start(options_.rounds));
  std::fflush(stdout);
}

// Called with mutex_ held.
void Coordinator::Impl::stop(const std::string& reason, int exit_code) {
  if (stopped_) return;
  stopped_ = true;
  // A round whose checkpoint is being written is aggregated: commit it rather than lose it.
  settle_pending_commit();
  deadline_timer_.cancel();
  if (server_) server_->stop();
  // Closed after the current handler: an Ack it is about to send (to the upload that completed
  // the last round, say) goes out before the Goodbye.
  asio::post(io_, [sessions = std::move(sessions_), reason] {
    for (const auto& [identity, session] : sessions) session->close(wire::STATUS_OK, reason);
  });
  sessions_.clear();
  log(storage::EventLevel::kInfo, "coordinator_stopped", reason);
  fmt::print("coordinator stopped: {}\n", reason);
  std::fflush(stdout);
  if (stopped_callback) {
    asio::post(io_, [callback = stopped_callback, exit_code] { callback(exit_code); });
  }
}

void Coordinator::Impl::log(storage::EventLevel level, const std::string& kind,
                            const std::string& message, std::optional<std::string> client) {
  storage::Event event;
  event.logged_at = storage::unix_seconds_now();
  event.level = level;
  event.kind = kind;
  event.message = message;
  event.run_id = options_.storage.run_id;
  if (round_) event.round = round_->attempt.round;
  event.client = std::move(client);
  store_.log_event(event);
}

// --- sessions ---------------------------------------------------------------------------------

void Coordinator::Impl::on_hello(const std::shared_ptr<ClientSession>& session,
                                 const wire::Hello& hello) {
  std::lock_guard lock(mutex_);
  if (stopped_) return session->close(wire::STATUS_BUSY, "coordinator is stopping");
  const auto codec = parse_wire_codec(options_.model.codec);
  bool speaks_codec = false;
  for (const int c : hello.codecs()) speaks_codec |= c == codec;
  protocol::check(speaks_codec, wire::STATUS_MALFORMED,
                  "this federation sends models as {}, which the client does not list",
                  options_.model.codec);
  const std::string& identity = session->identity();
  if (auto previous = sessions_.find(identity); previous != sessions_.end()) {
    // A reconnecting client: the newer connection wins; the older one is closed and, if it was
    // in the running round, counted as gone.
    previous->second->close(wire::STATUS_OK, "replaced by a newer connection of the same identity");
    if (round_) round_->roster.drop(identity);
  }
  sessions_[identity] = session;
  store_.touch_client(identity, storage::unix_seconds_now());
  log(storage::EventLevel::kInfo, "client_connected",
      fmt::format("{} from {} with {} samples on {}", identity, session->address(),
                  hello.num_samples(),
                  hello.device().empty() ? "an unnamed device" : hello.device()),
      identity);
  session->send_ack(make_status(wire::STATUS_OK, fmt::format("welcome, {}", identity)));
  if (round_) evaluate_round(false);
  maybe_start_round();
}

void Coordinator::Impl::on_session_closed(ClientSession& session,
                                          const protocol::TransportError& reason) {
  std::lock_guard lock(mutex_);
  const auto found = sessions_.find(session.identity());
  if (found == sessions_.end() || found->second.get() != &session) return;  // replaced or ungreeted
  sessions_.erase(found);
  if (stopped_) return;
  log(storage::EventLevel::kInfo, "client_disconnected", reason.what(), session.identity());
  if (round_) {
    round_->roster.drop(session.identity());
    evaluate_round(false);
  }
}

std::unique_ptr<DeltaBuffer> Coordinator::Impl::on_update_header(ClientSession& session,
                                                                 const wire::UpdateHeader& header) {
  std::lock_guard lock(mutex_);
  protocol::check(round_.has_value(), wire::STATUS_WRONG_ROUND,
                  "update for round {} refused: no round is running", header.round());
  PhaseTimer timer(round_->phases.validation);
  protocol::check(header.metrics_size() <= 32, wire::STATUS_MALFORMED,
                  "an update reports at most 32 metrics, this one {}", header.metrics_size());
  for (const auto& [key, value] : header.metrics()) {
    bool plain = !key.empty() && key.size() <= 64;
    for (const char c : key) plain &= std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    protocol::check(plain, wire::STATUS_MALFORMED, "metric names are 1-64 letters, digits or '_'");
    protocol::check(std::isfinite(value), wire::STATUS_NON_FINITE, "metric '{}' is not finite",
                    key);
  }
  round_->roster.admit(session.identity(), header);
  return std::make_unique<DeltaBuffer>(model_);
}

void Coordinator::Impl::record_refusal(const std::string& identity,
                                       const wire::UpdateHeader* header, const ProtocolError& error,
                                       uint64_t bytes) {
  if (!round_) {
    // No attempt to attach it to: the round it was meant for is over.
    return log(storage::EventLevel::kWarning, "update_rejected",
               fmt::format("{}: {}", reason_name(error.code()), error.what()), identity);
  }
  settle_pending_commit();
  storage::Update update;
  update.round_id = round_->attempt.round_id;
  update.client = identity;
  update.received_at = storage::unix_seconds_now();
  update.accepted = false;
  update.reject_reason = reason_name(error.code());
  update.reject_message = error.what();
  update.bytes_received = static_cast<int64_t>(bytes);
  if (header) update.num_samples = static_cast<int64_t>(header->num_samples());
  {
    PhaseTimer timer(round_->phases.database);
    store_.record_update(update);
  }
  fmt::print("round {}: update of {} rejected: {} ({})\n", round_->attempt.round, identity,
             update.reject_reason, error.what());
  std::fflush(stdout);
}

void Coordinator::Impl::on_update_refused(ClientSession& session, const wire::UpdateHeader& header,
                                          const ProtocolError& error, bool admitted,
                                          uint64_t bytes) {
  std::lock_guard lock(mutex_);
  record_refusal(session.identity(), &header, error, bytes);
  // A refusal during the transfer ends this client's part in the round (it may not upload again).
  if (admitted && round_ && header.round() == static_cast<uint64_t>(round_->attempt.round)) {
    round_->roster.finish(session.identity(), false);
    evaluate_round(false);
  }
}

wire::Status Coordinator::Impl::on_update_received(ClientSession& session, ReceivedUpdate update) {
  std::lock_guard lock(mutex_);
  const std::string& identity = session.identity();
  const auto refuse = [&](const ProtocolError& error) {
    record_refusal(identity, &update.header, error, update.bytes);
    if (round_) {
      round_->roster.finish(identity, false);
      evaluate_round(false);
    }
    return make_status(error.code(), error.what());
  };
  // The round may have committed (quorum) while this upload was in flight: it is stale now.
  if (!round_ || update.header.round() != static_cast<uint64_t>(round_->attempt.round)) {
    return refuse(ProtocolError(
        wire::STATUS_WRONG_ROUND,
        fmt::format("round {} ended while the update was being uploaded", update.header.round())));
  }
  const auto& layout = model_.layout();
  auto& phases = round_->phases;
  std::optional<PhaseTimer> validation(phases.validation);
  const double norm = aggregation::l2_norm(layout, update.delta->views());
  NormVerdict verdict;
  try {
    verdict = check_delta_norm(norm, options_.aggregation);
  } catch (const ProtocolError& error) {
    validation.reset();
    return refuse(error);
  }
  if (verdict.scale != 1.0) {
    aggregation::clip_to_norm(layout, update.delta->mutable_views(),
                              options_.aggregation.max_delta_norm);
  }
  validation.reset();
  {
    PhaseTimer timer(phases.aggregation);
    round_->fedavg.add(update.delta->views(), update.header.num_samples());
  }
  round_->slowest_training =
      std::max(round_->slowest_training, metric(update.header, "train_seconds").value_or(0.0));
  round_->bytes_received += update.bytes;
  round_->roster.finish(identity, true);
  for (const char* key : {"generator_loss", "discriminator_loss"}) {
    if (const auto value = metric(update.header, key)) {
      round_->loss_sums[key] += *value;
      ++round_->loss_counts[key];
    }
  }
  settle_pending_commit();
  storage::Update record;
  record.round_id = round_->attempt.round_id;
  record.client = identity;
  record.received_at = storage::unix_seconds_now();
  record.accepted = true;
  record.num_samples = static_cast<int64_t>(update.header.num_samples());
  record.delta_norm = norm;
  record.bytes_received = static_cast<int64_t>(update.bytes);
  record.upload_seconds = update.upload_seconds;
  record.train_seconds = metric(update.header, "train_seconds");
  record.samples_per_second = metric(update.header, "samples_per_second");
  record.local_metrics_json = metrics_json(update.header.metrics());
  {
    PhaseTimer timer(phases.database);
    store_.record_update(record);
  }
  const std::string message = verdict.scale != 1.0
                                  ? fmt::format("accepted, clipped from norm {:.6g} to {:.6g}",
                                                norm, options_.aggregation.max_delta_norm)
                                  : "accepted";
  evaluate_round(false);
  return make_status(wire::STATUS_OK, message);
}

// --- rounds -----------------------------------------------------------------------------------

// Called with mutex_ held.
void Coordinator::Impl::maybe_start_round() {
  if (stopped_ || round_) return;
  if (sessions_.size() < clients_needed_to_start(options_.rounds)) {
    // No model goes out for a waiting checkpoint to make way for.
    if (pending_) pending_->gate->open();
    return;
  }
  start_round();
}

void Coordinator::Impl::start_round() {
  const auto started = Clock::now();
  std::vector<std::string> connected;
  for (const auto& entry : sessions_) connected.push_back(entry.first);
  const int64_t round = next_round_;
  const int64_t attempt_number = failed_attempts_ + 1;
  const auto selected = select_clients(connected, options_.rounds, round, attempt_number);
  const double now = storage::unix_seconds_now();
  RoundPhases phases;
  const wire::Codec codec = parse_wire_codec(options_.model.codec);
  std::shared_ptr<ModelSnapshot> snapshot;
  try {
    PhaseTimer timer(phases.dispatch);
    snapshot = std::make_shared<ModelSnapshot>(model_, codec);
  } catch (const ProtocolError& error) {
    // Every later round would fail the same way: nothing a client can do about it.
    return stop(fmt::format("the global model cannot be sent: {}", error.what()), 1);
  }
  // The previous snapshot (complete by now, unless a client never finished its download) is
  // encoded in full before it is forgotten, since only sent_model_ is finished before model_
  // changes.
  if (sent_model_) sent_model_->finish();
  sent_model_ = snapshot;
  storage::RoundAttempt attempt;
  attempt.run_id = options_.storage.run_id;
  attempt.round = round;
  attempt.attempt = attempt_number;
  std::map<std::string, std::string> nonces;
  for (const auto& identity : selected) nonces[identity] = random_nonce();
  aggregation::FedAvgOptions fedavg_options;
  fedavg_options.weighting = options_.aggregation.weighting == "uniform"
                                 ? aggregation::Weighting::kUniform
                                 : aggregation::Weighting::kSampleCount;
  fedavg_options.max_samples_per_update = options_.aggregation.max_samples_per_update;
  fedavg_options.server_lr = server_lr_of_round(options_.aggregation, options_.rounds, round);
  round_.emplace(RunningRound{attempt,
                              ++generations_,
                              now,
                              static_cast<int64_t>(selected.size()),
                              false,
                              RoundRoster(round, nonces, model_.manifest(), options_.aggregation),
                              aggregation::StreamingFedAvg(model_.layout(), fedavg_options),
                              required_quorum(options_.rounds, selected.size()),
                              started,
                              {},
                              {},
                              phases});
  // Recorded now, or once the previous round's commit is (its checkpoint is being written).
  if (!pending_) record_round_start();
  const auto networks = networks_of_round(options_.training, round);
  fmt::print("round {} attempt {}: {} of {} connected clients selected, quorum {}{}\n", round,
             attempt_number, selected.size(), connected.size(), round_->quorum,
             networks == gan::TrainedNetworks::kBoth
                 ? ""
                 : fmt::format(", trains the {} only", gan::trained_networks_name(networks)));
  std::fflush(stdout);

  std::optional<PhaseTimer> dispatch(round_->phases.dispatch);
  // The previous round's checkpoint waits until every selected client has its model queued.
  std::shared_ptr<CheckpointGate> gate = pending_ ? pending_->gate : nullptr;
  if (gate) gate->await_sends(selected.size());
  const auto on_model_queued = [gate] {
    if (gate) gate->send_done();
  };
  const uint64_t model_bytes = snapshot->total_bytes();
  const int64_t deadline_ms =
      static_cast<int64_t>(std::llround(now * 1000.0)) +
      static_cast<int64_t>(std::llround(options_.rounds.deadline_seconds * 1000.0));
  for (const auto& identity : selected) {
    wire::Task task;
    task.set_run_id(options_.storage.run_id);
    task.set_round(static_cast<uint64_t>(round));
    task.set_nonce(nonces[identity]);
    task.set_deadline_unix_ms(deadline_ms);
    for (const auto& [key, value] : hyperparameters(options_, round)) {
      (*task.mutable_hyperparameters())[key] = value;
    }
    try {
      sessions_.at(identity)->send_task(task, snapshot, on_model_queued);
      round_->bytes_sent += model_bytes;
    } catch (const protocol::TransportError& gone) {
      round_->roster.drop(identity);
      on_model_queued();
    }
  }
  dispatch.reset();
  deadline_timer_.expires_after(millis(options_.rounds.deadline_seconds));
  deadline_timer_.async_wait(
      [weak = std::weak_ptr<Impl>(shared_from_this()),
       generation = round_->generation](const boost::system::error_code& ec) {
        if (auto self = weak.lock(); self && !ec) self->on_deadline(generation);
      });
  evaluate_round(false);
}

void Coordinator::Impl::on_deadline(uint64_t generation) {
  std::lock_guard lock(mutex_);
  if (!round_ || round_->generation != generation || stopped_) return;
  evaluate_round(true);
}

// Called with mutex_ held whenever a count of the round changed.
void Coordinator::Impl::evaluate_round(bool deadline_passed) {
  if (!round_ || stopped_) return;
  const auto decision = decide(round_->roster.accepted(), round_->roster.outstanding(),
                               round_->quorum, deadline_passed);
  if (decision == RoundDecision::kCommit) return commit_round();
  if (decision == RoundDecision::kFail) {
    fail_round(deadline_passed
                   ? fmt::format("deadline passed with {} of {} required updates accepted",
                                 round_->roster.accepted(), round_->quorum)
                   : fmt::format("quorum of {} unreachable: {} accepted, {} still outstanding",
                                 round_->quorum, round_->roster.accepted(),
                                 round_->roster.outstanding()));
  }
}

void Coordinator::Impl::commit_round() {
  deadline_timer_.cancel();
  // The previous round's checkpoint must be durable before the model changes again, and this
  // round must be in the database before it can be committed there.
  settle_pending_commit();
  auto& round = *round_;
  auto& phases = round.phases;
  std::optional<PhaseTimer> aggregation_timer(phases.aggregation);
  // A client still downloading the model this round sent gets it whole, not half the new one.
  if (sent_model_) sent_model_->finish();
  const auto networks = networks_of_round(options_.training, round.attempt.round);
  const std::vector<bool> moving = model_.moving_mask(networks);
  const double server_lr =
      server_lr_of_round(options_.aggregation, options_.rounds, round.attempt.round);
  double aggregate_norm = 0;
  if (server_adam_) {
    DeltaBuffer mean(model_);
    round.fedavg.aggregate_into(mean.mutable_views());
    server_adam_->set_lr(server_lr);
    aggregate_norm = server_adam_->step(mean.views(), model_.mutable_views(), moving);
  } else {
    aggregate_norm = round.fedavg.apply_to(model_.mutable_views(), moving);
  }
  aggregation_timer.reset();

  const double seconds = std::chrono::duration<double>(Clock::now() - round.started).count();
  std::string metrics = fmt::format(
      "{{\"updates\": {}, \"total_weight\": {:.9g}, \"seconds\": {:.6g}, \"networks\": \"{}\", "
      "\"server_lr\": {:.9g}",
      round.fedavg.num_updates(), round.fedavg.total_weight(), seconds,
      gan::trained_networks_name(networks), server_lr);
  std::string losses;
  for (const auto& [key, sum] : round.loss_sums) {
    const double mean_loss = sum / static_cast<double>(round.loss_counts[key]);
    metrics += fmt::format(", \"{}\": {:.9g}", key, mean_loss);
    losses += fmt::format(", {} {:.4f}", key == "generator_loss" ? "G loss" : "D loss", mean_loss);
  }
  metrics += "}";
  PendingCommit pending;
  pending.round = round.attempt.round;
  pending.round_id = round.attempt.round_id;
  pending.started = round.started;
  pending.phases = phases;
  pending.commit.aggregate_norm = aggregate_norm;
  pending.commit.metrics_json = metrics;
  pending.summary = fmt::format("{} updates{}, aggregate norm {:.6g}, {:.1f} s",
                                round.fedavg.num_updates(), losses, aggregate_norm, seconds);
  pending.slowest_training = round.slowest_training;
  pending.bytes_sent = round.bytes_sent;
  pending.bytes_received = round.bytes_received;
  // The checkpoint is written on its own thread once the next round's model is out (see
  // CheckpointGate). The global model does not change until it is durable: the next
  // commit_round settles this one first. The thread posts the settling itself, so the commit
  // follows the write without polling.
  pending.gate = std::make_shared<CheckpointGate>();
  pending.checkpoint =
      std::async(std::launch::async,
                 [this, weak = std::weak_ptr<Impl>(shared_from_this()), round = pending.round,
                  state = model_.state_dict(), gate = pending.gate] {
                   gate->wait(kCheckpointHoldLimit);
                   const auto start = Clock::now();
                   CheckpointWrite written{checkpoints_.write(round, state), 0};
                   written.seconds = std::chrono::duration<double>(Clock::now() - start).count();
                   asio::post(io_, [weak] {
                     if (auto self = weak.lock()) {
                       std::lock_guard lock(self->mutex_);
                       self->settle_pending_commit();
                     }
                   });
                   return written;
                 });
  pending_ = std::move(pending);

  const int64_t committed = round.attempt.round;
  round_.reset();
  failed_attempts_ = 0;
  next_round_ = committed + 1;
  // An evaluation reads the committed model and the last round ends the run: both wait for the
  // commit. Every other round overlaps it with the next round's dispatch.
  if (evaluator_.due(committed) || committed >= options_.rounds.max_rounds) {
    settle_pending_commit();
  }
  post_round_start();
}

// Called with mutex_ held. Makes the aggregated round durable: waits for its checkpoint (rethrowing
// a failed write), commits it in the database, evaluates it when due, ends the run after the last
// round, and records the round that started meanwhile. Anything that records against the running
// round calls it first, so the database sees rounds strictly in order.
void Coordinator::Impl::settle_pending_commit() {
  if (!pending_) return;
  PendingCommit pending = std::move(*pending_);
  pending_.reset();
  pending.gate->open();
  const CheckpointWrite written = pending.checkpoint.get();
  auto& phases = pending.phases;
  phases.checkpoint += written.seconds;
  pending.commit.finished_at = storage::unix_seconds_now();
  pending.commit.checkpoint_path = written.file.path.string();
  pending.commit.checkpoint_sha256 = written.file.sha256_hex;
  {
    PhaseTimer timer(phases.database);
    store_.commit_round(pending.round_id, pending.commit);
  }
  fmt::print("round {} committed: {}, checkpoint {}\n", pending.round, pending.summary,
             written.file.path.string());
  std::fflush(stdout);
  last_checkpoint_ = written.file.path;
  {
    PhaseTimer timer(phases.checkpoint);
    checkpoints_.prune({options_.storage.keep_last, options_.storage.keep_every},
                       {written.file.path});
  }
  // The round's cost beside training, for bench/overhead.sh and for anyone tuning a deployment.
  // Its wall time ends where the next round started when that overlapped the commit (the
  // federation's cadence), else here.
  const auto ended = round_ ? round_->started : Clock::now();
  const double wall = std::chrono::duration<double>(ended - pending.started).count();
  fmt::print(
      "round {} timing: wall {:.4f} s, slowest training {:.4f} s, overhead {:.4f} s; dispatch "
      "{:.4f}, validation {:.4f}, aggregation {:.4f}, checkpoint {:.4f}, database {:.4f} s; "
      "bytes sent {}, received {}\n",
      pending.round, wall, pending.slowest_training, wall - pending.slowest_training,
      phases.dispatch, phases.validation, phases.aggregation, phases.checkpoint, phases.database,
      pending.bytes_sent, pending.bytes_received);
  std::fflush(stdout);

  // After the commit: a crash while evaluating loses only the figures, never the round.
  if (evaluator_.due(pending.round)) {
    const auto grid = checkpoints_.sample_grid_path(pending.round);
    const auto figures =
        evaluator_.evaluate(model_.model(), grid, static_cast<uint64_t>(pending.round));
    store_.record_evaluation(pending.round_id, figures, grid.string());
    fmt::print("round {} evaluation: {}; samples {}\n", pending.round, describe(figures),
               grid.string());
    std::fflush(stdout);
  }
  if (pending.round >= options_.rounds.max_rounds) {
    store_.finish_run(options_.storage.run_id, storage::unix_seconds_now());
    return stop(fmt::format("run finished after {} rounds", pending.round), 0);
  }
  if (round_ && !round_->recorded) record_round_start();
}

// Called with mutex_ held: the running round's attempt goes into the database.
void Coordinator::Impl::record_round_start() {
  auto& round = *round_;
  PhaseTimer timer(round.phases.database);
  round.attempt = store_.begin_round(options_.storage.run_id, round.attempt.round, round.started_at,
                                     round.clients_selected);
  round.recorded = true;
}

// The next round starts after the current handler, so the Ack of the upload that completed this
// round reaches its client before the next Task.
void Coordinator::Impl::post_round_start() {
  asio::post(io_, [weak = std::weak_ptr<Impl>(shared_from_this())] {
    if (auto self = weak.lock()) {
      std::lock_guard lock(self->mutex_);
      self->maybe_start_round();
    }
  });
}

void Coordinator::Impl::fail_round(const std::string& reason) {
  deadline_timer_.cancel();
  settle_pending_commit();
  store_.fail_round(round_->attempt.round_id, storage::unix_seconds_now(), reason);
  fmt::print("round {} attempt {} failed: {}\n", round_->attempt.round, round_->attempt.attempt,
             reason);
  std::fflush(stdout);
  round_.reset();
  if (++failed_attempts_ >= options_.rounds.max_attempts) {
    return stop(fmt::format("round {} failed {} times; stopping", next_round_, failed_attempts_),
                3);
  }
  // The retry waits for the next event (a client joining) if too few clients remain.
  post_round_start();
}

// --- public face ------------------------------------------------------------------------------

Coordinator::Coordinator(const CoordinatorOptions& options, asio::io_context& io) {
  validate(options);
  impl_ = std::make_shared<Impl>(options, io);
}

Coordinator::~Coordinator() {
  stop("coordinator destroyed");
}

void Coordinator::start() {
  impl_->start();
}

void Coordinator::stop(const std::string& reason) {
  impl_->request_stop(reason);
}

uint16_t Coordinator::port() const {
  return impl_->port();
}

void Coordinator::on_stopped(std::function<void(int)> callback) {
  impl_->stopped_callback = std::move(callback);
}

int serve(const CoordinatorOptions& options) {
  asio::io_context io;
  Coordinator coordinator(options, io);
  int exit_code = 0;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (!ec) coordinator.stop(fmt::format("signal {}", signal));
  });
  coordinator.on_stopped([&](int code) {
    exit_code = code;
    signals.cancel();
  });
  coordinator.start();
  io.run();
  return exit_code;
}

}  // namespace fedgan::coordinator
