#include "coordinator/coordinator.h"

#include "coordinator/config_file.h"
#include "coordinator/coordinator_impl.h"
#include "coordinator/error.h"
#include "coordinator/round_plan.h"
#include "protocol/wire_text.h"
#include "storage/schema.h"

#include <fmt/format.h>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

namespace fedgan::coordinator {

namespace asio = boost::asio;
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

protocol::ConnectionOptions connection_options(const ServerOptions& server) {
  return protocol::connection_options_from_seconds(
      server.handshake_timeout_seconds, server.idle_timeout_seconds, server.frame_timeout_seconds,
      server.heartbeat_interval_seconds);
}

}  // namespace

Coordinator::Impl::Impl(const CoordinatorOptions& options, asio::io_context& io)
    : options_(options),
      io_(io),
      db_(open_run_database(options.storage.database)),
      store_(db_),
      checkpoints_(options.storage.checkpoint_dir),
      model_(options.model),
      norm_bound_(options.aggregation),
      evaluator_(options.evaluation, options.model.architecture),
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
  restore_norm_history();
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
  tls_.emplace(protocol::TlsContext::server(options_.tls));
  protocol::ServerOptions server_options;
  server_options.bind_address = options_.server.bind_address;
  server_options.port = options_.server.port;
  server_options.max_connections = options_.server.max_connections;
  server_options.max_connections_per_identity = options_.server.max_connections_per_identity;
  server_options.allowed_identities = options_.server.allowed_identities;
  server_options.connection = connection_options(options_.server);
  std::weak_ptr<Impl> weak = shared_from_this();
  server_ = protocol::Server::create(
      io_, *tls_, server_options,
      [weak](std::shared_ptr<protocol::Connection> connection) {
        auto self = weak.lock();
        if (!self) return connection->close(wire::STATUS_BUSY, "coordinator is stopping");
        self->adopt(std::move(connection));
      },
      [weak](const std::string& address, const protocol::TransportError& reason) {
        if (auto self = weak.lock()) {
          std::lock_guard lock(self->mutex_);
          self->log(storage::EventLevel::kWarning, "connection_refused",
                    fmt::format("{}: {}", address, reason.what()));
        }
      });
  server_->start();
  begin_serving(fmt::format("listening on {}:{}", options_.server.bind_address, server_->port()));
}

void Coordinator::Impl::adopt(std::shared_ptr<protocol::Connection> connection) {
  std::make_shared<ClientSession>(std::move(connection), shared_from_this())->start();
}

void Coordinator::Impl::begin_serving(const std::string& where) {
  std::lock_guard lock(mutex_);
  if (next_round_ > options_.rounds.max_rounds) {
    return stop("the run has already committed rounds.max_rounds rounds", 0,
                wire::STATUS_RUN_FINISHED);
  }
  log(storage::EventLevel::kInfo, "coordinator_started", where);
  fmt::print("{}; waiting for {} clients\n", where, clients_needed_to_start(options_.rounds));
  std::fflush(stdout);
}

// Called with mutex_ held.
void Coordinator::Impl::stop(const std::string& reason, int exit_code, wire::StatusCode goodbye) {
  if (stopped_) return;
  stopped_ = true;
  // A round whose checkpoint is being written is aggregated: commit it rather than lose it.
  settle_pending_commit();
  deadline_timer_.cancel();
  if (server_) server_->stop();
  // Closed after the current handler: an Ack it is about to send (to the upload that completed
  // the last round, say) goes out before the Goodbye.
  asio::post(io_, [sessions = std::move(sessions_), reason, goodbye] {
    for (const auto& [identity, session] : sessions) session->close(goodbye, reason);
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
  const std::string& identity = session->identity();
  try {
    check_hello(hello, options_.aggregation.max_samples, parse_wire_codec(options_.model.codec));
  } catch (const ProtocolError& refused) {
    log(storage::EventLevel::kWarning, "client_refused",
        fmt::format("{}: {}", reason_name(refused.code()), refused.what()), identity);
    throw;
  }
  if (auto previous = sessions_.find(identity); previous != sessions_.end()) {
    // A reconnecting client: the newer connection wins; the older one is closed and, if it was
    // in the running round, counted as gone (an upload it had in flight is recorded as such).
    previous->second->close(wire::STATUS_OK, "replaced by a newer connection of the same identity");
    if (round_ && round_->roster.is_uploading(identity)) {
      UploadFacts facts;
      facts.round_id = running_attempt_id();
      facts.identity = identity;
      record_refusal(facts, ProtocolError(wire::STATUS_INCOMPLETE,
                                          "a newer connection of the same identity replaced the "
                                          "one that was uploading"));
      round_->roster.finish(identity, false);
    }
    if (round_) round_->roster.drop(identity);
  }
  sessions_[identity] = session;
  store_.touch_client(identity, storage::unix_seconds_now());
  // Every string of a Hello is the peer's: bounded and made printable before it is logged.
  const std::string device = hello.device().empty()
                                 ? "an unnamed device"
                                 : protocol::printable(hello.device(), kMaxHelloTextBytes);
  const std::string software =
      hello.software_version().empty()
          ? "unnamed software"
          : protocol::printable(hello.software_version(), kMaxHelloTextBytes);
  log(storage::EventLevel::kInfo, "client_connected",
      fmt::format("{} from {} with {} samples on {}, {}, protocol 1.{}", identity,
                  session->address(), hello.num_samples(), device, software, hello.minor_version()),
      identity);
  session->send_welcome(fmt::format("welcome, {}", identity));
  if (round_) evaluate_round(false);
  maybe_start_round();
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

void Coordinator::adopt(std::shared_ptr<protocol::Connection> connection) {
  impl_->adopt(std::move(connection));
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
