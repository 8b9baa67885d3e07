#include "client/federated_client.h"

#include "client/attack.h"
#include "client/delta_upload.h"
#include "client/error.h"
#include "protocol/frame.h"
#include "protocol/tensor_stream.h"
#include "protocol/wire_text.h"

#include <chrono>
#include <csignal>
#include <random>

#ifndef FEDGAN_VERSION
#define FEDGAN_VERSION "unknown"
#endif

namespace fedgan::client {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using protocol::TransportError;
using protocol::TransportErrorKind;

namespace {

// Refusal and rejection reasons as the coordinator's history shows them: "NORM_BOUND".
std::string status_name(wire::StatusCode code) {
  std::string name = wire::StatusCode_Name(code);
  if (name.empty()) return std::to_string(static_cast<int>(code));
  return name.rfind("STATUS_", 0) == 0 ? name.substr(7) : name;
}

std::chrono::milliseconds millis(double seconds) {
  // validate() bounds the durations; the clamp keeps a huge value from overflowing.
  const double ms = std::min(seconds * 1000.0, 1e12);
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ms)));
}

protocol::ConnectionOptions connection_options(const ConnectOptions& c) {
  return protocol::connection_options_from_seconds(c.handshake_timeout_seconds,
                                                   c.idle_timeout_seconds, c.frame_timeout_seconds,
                                                   c.heartbeat_interval_seconds);
}

// Whether `ack` answers the upload of `plan` at `stage`. A coordinator of protocol 1.1 or older
// names nothing (ACK_STAGE_UNSPECIFIED): its Acks are taken in order, as they always were.
bool answers(const wire::Ack& ack, const TaskPlan& plan, wire::AckStage stage) {
  if (ack.stage() == wire::ACK_STAGE_UNSPECIFIED) return true;
  return ack.stage() == stage && ack.round() == plan.round && ack.nonce() == plan.nonce;
}

// Since protocol 1.3 the Goodbye that ends a run says so by its code. A coordinator of 1.2 or older
// said it in text beside STATUS_OK; that is a plain close here (the site reconnects), since such a
// coordinator's tasks carry no typed hyperparameters and this site refuses them anyway.
bool run_finished(const TransportError& error) {
  return error.kind() == TransportErrorKind::kClosedByPeer &&
         error.status() == wire::STATUS_RUN_FINISHED;
}

// The coordinator closed this site out of the run (a Goodbye, or the answer to its Hello).
bool quarantined(const TransportError& error) {
  return error.kind() == TransportErrorKind::kClosedByPeer &&
         error.status() == wire::STATUS_QUARANTINED;
}

}  // namespace

FederatedClient::FederatedClient(const ClientOptions& options, LocalRound& round, Console& console)
    : options_(options),
      round_(round),
      console_(console),
      tls_(protocol::TlsContext::client(options.tls)),
      connection_options_(connection_options(options.coordinator)),
      backoff_(millis(options.coordinator.reconnect_initial_seconds),
               millis(options.coordinator.reconnect_max_seconds), 0.5, std::random_device{}()),
      work_(asio::make_work_guard(io_)),
      events_(std::make_shared<EventQueue>()) {}

FederatedClient::~FederatedClient() {
  work_.reset();
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
}

void FederatedClient::stop() {
  stopping_ = true;
  events_->push(Event::stop());
}

void FederatedClient::stop_on_signals() {
  signals_ = std::make_unique<asio::signal_set>(io_, SIGINT, SIGTERM);
  signals_->async_wait([this](const boost::system::error_code& error, int signal) {
    if (error) return;
    console_.print("received {}: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
    stop();
  });
}

ClientStats FederatedClient::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

template <typename F>
void FederatedClient::count(F&& change) {
  std::lock_guard lock(stats_mutex_);
  change(stats_);
}

int FederatedClient::run() {
  io_thread_ = std::thread([this] { io_.run(); });
  const auto& c = options_.coordinator;
  console_.print("fedgan-client {}: {} samples, {} model on {}; coordinator {}:{}", FEDGAN_VERSION,
                 round_.num_samples(), round_.architecture(), round_.device().str(), c.host,
                 c.port);
  if (options_.attack.kind != AttackKind::kNone) {
    console_.print(
        "WARNING: this site ATTACKS the federation: it {} ([attack] in its "
        "configuration; for experiments on robust aggregation only)",
        describe(options_.attack));
  }
  int exit_code = 0;
  while (!stopping_) {
    const SessionEnd end = session();
    if (end == SessionEnd::kRunFinished || end == SessionEnd::kStopped) break;
    if (end == SessionEnd::kQuarantined) {
      exit_code = 4;
      break;
    }
    if (end == SessionEnd::kConnectFailed) ++connect_failures_;
    if (c.max_connect_failures > 0 && connect_failures_ >= c.max_connect_failures) {
      console_.print("giving up after {} failed connection attempts in a row", connect_failures_);
      exit_code = 1;
      break;
    }
    wait_before_reconnect();
  }
  const ClientStats s = stats();
  console_.print(
      "client stopped: {} tasks ({} refused), {} rounds trained, {} updates accepted, {} rejected",
      s.tasks, s.tasks_refused, s.rounds_trained, s.updates_accepted, s.updates_rejected);
  if (signals_) signals_->cancel();
  return exit_code;
}

void FederatedClient::wait_before_reconnect() {
  const auto wait = backoff_.next();
  console_.print("reconnecting in {:.1f} s", static_cast<double>(wait.count()) / 1000.0);
  const auto deadline = Clock::now() + wait;
  // Events of the old connection are dropped; a stop ends the wait.
  while (!stopping_ && next_event(deadline)) {
  }
}

std::optional<Event> FederatedClient::next_event(std::optional<Clock::time_point> deadline) {
  while (auto event = events_->pop(deadline)) {
    if (event->kind == Event::Kind::kStop || event->generation == generation_) return event;
  }
  return std::nullopt;
}

bool FederatedClient::interrupted() {
  interruption_ = events_->interruption(generation_);
  return interruption_ != nullptr;
}

// --- one connection -----------------------------------------------------------------------------

std::shared_ptr<protocol::Connection> FederatedClient::connect() {
  const uint64_t generation = ++generation_;
  const auto& c = options_.coordinator;
  protocol::async_connect(
      io_, tls_, {c.host, c.port, c.server_name}, connection_options_,
      [events = events_, generation](std::shared_ptr<protocol::Connection> connection,
                                     std::optional<TransportError> error) {
        if (connection) {
          connection->start(
              [events, generation](wire::Envelope& message) {
                events->push(Event{Event::Kind::kMessage, generation, nullptr, std::move(message),
                                   std::nullopt});
              },
              [events, generation](const TransportError& reason) {
                events->push(Event{Event::Kind::kClosed, generation, nullptr, {}, reason});
              });
        }
        events->push(Event{Event::Kind::kConnected, generation, connection, {}, error});
      });
  // async_connect reports within the handshake timeout; a stop is noticed once it has.
  while (auto event = next_event(std::nullopt)) {
    if (event->kind == Event::Kind::kStop) {
      stopping_ = true;
      continue;
    }
    if (event->kind != Event::Kind::kConnected) continue;
    if (stopping_ && event->connection)
      event->connection->close(wire::STATUS_OK, "client stopping");
    if (stopping_) return nullptr;
    if (!event->connection) {
      console_.print("connection to {}:{} failed: {}", c.host, c.port,
                     event->error ? event->error->what() : "unknown error");
    }
    return event->connection;
  }
  return nullptr;
}

bool FederatedClient::greet(protocol::Connection& connection) {
  wire::Envelope hello;
  auto* h = hello.mutable_hello();
  h->set_minor_version(protocol::kProtocolMinorVersion);
  h->set_num_samples(static_cast<uint64_t>(round_.num_samples()));
  h->set_device(round_.device().str());
  h->add_codecs(wire::CODEC_FP32);
  h->add_codecs(wire::CODEC_FP16);
  h->set_software_version(std::string("fedgan-client ") + FEDGAN_VERSION);
  try {
    connection.send(hello);
  } catch (const std::exception& error) {
    console_.print("cannot greet the coordinator: {}", error.what());
    return false;
  }
  const auto deadline = Clock::now() + connection_options_.handshake_timeout;
  while (auto event = next_event(deadline)) {
    if (event->kind == Event::Kind::kMessage && event->message.has_ack() &&
        (event->message.ack().stage() == wire::ACK_STAGE_WELCOME ||
         event->message.ack().stage() == wire::ACK_STAGE_UNSPECIFIED)) {
      const auto& status = event->message.ack().status();
      if (status.code() == wire::STATUS_OK) return true;
      console_.print("the coordinator refused this site: {} ({})", status_name(status.code()),
                     status.message());
      refused_for_the_run_ = status.code() == wire::STATUS_QUARANTINED;
      return false;
    }
    if (event->kind == Event::Kind::kMessage) continue;  // nothing else comes before the welcome
    if (event->kind == Event::Kind::kStop) stopping_ = true;
    if (event->kind == Event::Kind::kClosed) {
      console_.print("the coordinator closed the connection before welcoming this site: {}",
                     event->error->what());
      refused_for_the_run_ = quarantined(*event->error);
    }
    return false;
  }
  console_.print("the coordinator did not answer Hello within {:.0f} s",
                 options_.coordinator.handshake_timeout_seconds);
  return false;
}

FederatedClient::SessionEnd FederatedClient::session() {
  const auto connection = connect();
  if (!connection) return stopping_ ? SessionEnd::kStopped : SessionEnd::kConnectFailed;
  if (!greet(*connection)) {
    close_gracefully(*connection);
    if (refused_for_the_run_) return SessionEnd::kQuarantined;
    return stopping_ ? SessionEnd::kStopped : SessionEnd::kConnectFailed;
  }
  connect_failures_ = 0;
  backoff_.reset();
  count([](ClientStats& s) { ++s.connections; });
  console_.print("connected to {} ({}, {}); waiting for tasks", connection->remote_address(),
                 connection->tls_version(), connection->tls_cipher());
  session_end_.reset();
  pending_task_.reset();
  while (true) {
    if (pending_task_) {
      const wire::Task task = std::move(*pending_task_);
      pending_task_.reset();
      if (handle_task(connection, task) == Next::kEnd) break;
      continue;
    }
    const auto event = next_event(std::nullopt);
    if (event->kind == Event::Kind::kMessage) {
      if (event->message.has_task()) {
        if (handle_task(connection, event->message.task()) == Next::kEnd) break;
      }
      continue;  // chunks of a download already abandoned, a late Ack: nothing to do
    }
    if (event->kind == Event::Kind::kConnected) continue;
    end_by(*event);
    break;
  }
  if (*session_end_ == SessionEnd::kStopped) close_gracefully(*connection);
  return *session_end_;
}

// The connection ended (kClosed) or a stop was asked for (kStop): records how the session ends.
FederatedClient::Next FederatedClient::end_by(const Event& event) {
  if (event.kind == Event::Kind::kStop) {
    stopping_ = true;
    session_end_ = SessionEnd::kStopped;
    return Next::kEnd;
  }
  const TransportError& error = *event.error;
  if (run_finished(error)) {
    console_.print("the coordinator finished the run: {}", error.what());
    session_end_ = SessionEnd::kRunFinished;
  } else if (quarantined(error)) {
    console_.print("the coordinator quarantined this site for the rest of the run: {}",
                   error.what());
    session_end_ = SessionEnd::kQuarantined;
  } else {
    console_.print("connection lost: {}", error.what());
    session_end_ = SessionEnd::kLost;
  }
  return Next::kEnd;
}

void FederatedClient::close_gracefully(protocol::Connection& connection) {
  if (connection.error()) return;
  connection.close(wire::STATUS_OK, stopping_ ? "client stopping" : "client leaving");
  // The Goodbye goes out, then the transport closes the socket when the coordinator closes its
  // side or after two seconds.
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  while (auto event = next_event(deadline)) {
    if (event->kind == Event::Kind::kClosed) return;
  }
}

// --- one task -----------------------------------------------------------------------------------

FederatedClient::Next FederatedClient::handle_task(
    const std::shared_ptr<protocol::Connection>& connection, const wire::Task& task) {
  count([](ClientStats& s) { ++s.tasks; });
  const uint64_t round = task.round();
  std::optional<TaskPlan> plan;
  std::string refusal;
  std::unique_ptr<protocol::TensorStreamReader> reader;
  try {
    plan = round_.plan_task(task);
    reader =
        std::make_unique<protocol::TensorStreamReader>(task.model(), round_.global_destinations());
  } catch (const std::exception& error) {
    refusal = error.what();
  }
  const auto download_started = std::chrono::steady_clock::now();
  if (download(task, std::move(reader), refusal) == Next::kEnd) return Next::kEnd;
  const double download_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - download_started).count();
  if (!refusal.empty()) {
    count([](ClientStats& s) { ++s.tasks_refused; });
    console_.print("round {}: task refused: {}", round, refusal);
    return Next::kContinue;
  }
  RoundReport report;
  interruption_ = nullptr;
  try {
    TrainHooks hooks;
    hooks.interrupted = [this] { return interrupted(); };
    hooks.on_step = [this, round](const gan::StepStats& stats, int64_t steps) {
      console_.progress(round, stats.step, steps, stats.discriminator_loss, stats.generator_loss,
                        stats.samples_per_second);
    };
    report = round_.train(*plan, hooks);
    report.download_seconds = download_seconds;
  } catch (const std::exception& error) {
    console_.print("round {}: local training failed: {}", round, error.what());
    return Next::kContinue;
  }
  console_.clear_progress();
  if (!report.completed) {
    save_state(round);
    console_.print("round {}: stopped after {} of {} steps ({}); nothing uploaded", round,
                   report.steps, plan->local_steps,
                   report.diverged ? "training diverged; the local model was restored"
                   : interruption_ ? interruption_
                                   : "interrupted");
    return Next::kContinue;
  }
  count([](ClientStats& s) { ++s.rounds_trained; });
  const Next next = upload(connection, *plan, report);
  save_state(round);  // when nothing was uploaded; a no-op after an upload, which saved already
  return next;
}

void FederatedClient::save_state(uint64_t round) {
  try {
    round_.save_state();
  } catch (const ClientError& error) {
    console_.print("round {}: the local state could not be saved: {}", round, error.what());
  }
}

// Receives the model that follows a task into the reader's destinations, or, for a refused task
// (no reader), reads past it. A download that fails its checks refuses the task.
FederatedClient::Next FederatedClient::download(
    const wire::Task& task, std::unique_ptr<protocol::TensorStreamReader> reader,
    std::string& refusal) {
  if (!task.model_follows()) return Next::kContinue;
  while (true) {
    const auto event = next_event(std::nullopt);
    if (event->kind == Event::Kind::kConnected) continue;
    if (event->kind != Event::Kind::kMessage) return end_by(*event);
    const wire::Envelope& message = event->message;
    if (message.has_task()) {
      // The coordinator moved on before the model ended: this task is void.
      if (refusal.empty()) refusal = "a new task arrived before the model download ended";
      pending_task_ = message.task();
      return Next::kContinue;
    }
    if (!message.has_chunk() && !message.has_transfer_end()) continue;
    try {
      if (reader && message.has_chunk()) reader->add(message.chunk());
      if (reader && message.has_transfer_end()) reader->finish(message.transfer_end());
    } catch (const protocol::ProtocolError& error) {
      refusal = fmt::format("the model download failed its checks: {} ({})", error.what(),
                            status_name(error.code()));
      reader.reset();
    }
    if (message.has_transfer_end()) return Next::kContinue;
  }
}

FederatedClient::Next FederatedClient::await_ack(const TaskPlan& plan, wire::AckStage stage,
                                                 std::optional<wire::Status>& status) {
  const uint64_t round = plan.round;
  const char* what = stage == wire::ACK_STAGE_ADMISSION ? "admission" : "upload";
  status.reset();
  while (true) {
    const auto event = next_event(std::nullopt);
    if (event->kind == Event::Kind::kConnected) continue;
    if (event->kind != Event::Kind::kMessage) {
      console_.print("round {}: the connection ended while waiting for the {} verdict", round,
                     what);
      return end_by(*event);
    }
    if (event->message.has_task()) {
      console_.print("round {}: upload abandoned: a new task arrived", round);
      pending_task_ = event->message.task();
      return Next::kContinue;
    }
    if (event->message.has_ack()) {
      if (!answers(event->message.ack(), plan, stage)) continue;  // late, for an earlier upload
      status = event->message.ack().status();
      return Next::kContinue;
    }
  }
}

FederatedClient::Next FederatedClient::upload(
    const std::shared_ptr<protocol::Connection>& connection, const TaskPlan& plan,
    const RoundReport& report) {
  const uint64_t round = plan.round;
  const std::string summary = fmt::format(
      "round {}: {} steps in {:.2f} s ({:.0f} samples/s), D {:.4f} G {:.4f}{}", round, report.steps,
      report.train_seconds, report.samples_per_second, report.discriminator_loss,
      report.generator_loss, options_.attack.kind == AttackKind::kNone ? "" : ", ATTACKED DELTA");
  std::optional<DeltaUpload> upload;
  try {
    upload.emplace(round_.delta_views(), plan.codec);
  } catch (const ClientError& error) {
    console_.print("{}; not uploaded: {}", summary, error.what());
    return Next::kContinue;
  }
  if (options_.state.keep_deltas) {
    round_.save_delta(options_.state.dir / fmt::format("delta_round_{:06d}.pt", round));
  }
  std::optional<wire::Status> status;
  try {
    connection->send(upload->header(plan, report, round_.num_samples()));
  } catch (const TransportError&) {
    return Next::kContinue;  // the connection has ended; its close event ends the session
  }
  Next next = await_ack(plan, wire::ACK_STAGE_ADMISSION, status);
  if (next == Next::kEnd || !status) return next;
  const bool admitted = status->code() == wire::STATUS_OK;
  if (admitted) {
    if (!upload->send(connection)) return Next::kContinue;
    // The io thread streams the delta: the state is written meanwhile and while the coordinator
    // aggregates, rather than between its verdict and the next task's model.
    save_state(round);
    next = await_ack(plan, wire::ACK_STAGE_VERDICT, status);
    if (next == Next::kEnd || !status) return next;
  }
  // The code decides (await_ack took only the verdict's Ack, or the admission's refusal); the
  // message is the coordinator's explanation, shown as it is ("accepted, clipped from norm ...").
  const bool accepted = admitted && status->code() == wire::STATUS_OK;
  count([accepted](ClientStats& s) { ++(accepted ? s.updates_accepted : s.updates_rejected); });
  if (accepted) {
    console_.print("{}; update accepted{}", summary,
                   status->message().empty()
                       ? ""
                       : fmt::format(" ({})", protocol::printable(status->message(), 256)));
  } else {
    // Refused at its header (nothing was sent) or after its transfer.
    console_.print("{}; update {}: {} ({})", summary, admitted ? "rejected" : "refused",
                   status_name(status->code()), status->message());
  }
  return Next::kContinue;
}

}  // namespace fedgan::client
