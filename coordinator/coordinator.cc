// The mutual-TLS driver of the round engine: sessions over protocol::Server connections, a
// deadline timer, a thread per checkpoint write, a thread for evaluations, and the console.

#include "coordinator/coordinator.h"

#include "coordinator/client_session.h"
#include "coordinator/evaluation_worker.h"
#include "coordinator/round_engine.h"
#include "protocol/server.h"
#include "protocol/tls_context.h"
#include "storage/records.h"

#include <fmt/format.h>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cmath>
#include <map>
#include <mutex>

namespace fedgan::coordinator {

namespace asio = boost::asio;
using protocol::ProtocolError;

namespace {

protocol::ConnectionOptions connection_options(const ServerOptions& server) {
  return protocol::connection_options_from_seconds(
      server.handshake_timeout_seconds, server.idle_timeout_seconds, server.frame_timeout_seconds,
      server.heartbeat_interval_seconds);
}

double now() {
  return storage::unix_seconds_now();
}

}  // namespace

/// Lock contract: `mutex_` guards the engine and the session table. Every engine call and the
/// carrying out of the actions it returned happen under it, in one critical section, so that
/// actions reach connections in the order the engine decided them. Carrying out an action never
/// blocks: sends are queued on the connection's strand, checkpoint writes and evaluations run on
/// their own threads and come back as posted handlers that take the mutex like any other event.
class Coordinator::Impl : public Federation, public std::enable_shared_from_this<Impl> {
 public:
  Impl(const CoordinatorOptions& options, asio::io_context& io)
      : options_(options), io_(io), deadline_timer_(io) {}

  // Called once, right after construction: the ports need a weak pointer to this.
  void init(EvaluationWorker::Evaluate evaluate) {
    std::weak_ptr<Impl> weak = shared_from_this();
    auto writer = threaded_checkpoint_writer([weak, &io = io_] {
      asio::post(io, [weak] {
        if (auto self = weak.lock())
          self->handle([&](RoundEngine& e) { e.checkpoint_written(now()); });
      });
    });
    std::lock_guard lock(mutex_);
    engine_.emplace(options_, std::move(writer), now());
    if (!evaluate) evaluate = configured_evaluation(options_);
    evaluations_.emplace(std::move(evaluate),
                         [weak, &io = io_](const EvaluateRound& request, const auto& figures,
                                           const std::string& failure) {
                           asio::post(io, [weak, request, figures, failure] {
                             auto self = weak.lock();
                             if (!self) return;
                             self->handle([&](RoundEngine& e) {
                               figures ? e.evaluation_done(request, *figures, now())
                                       : e.evaluation_failed(request, failure, now());
                             });
                           });
                         });
    carry_out();
  }

  void start() {
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
          if (auto self = weak.lock()) self->connection_refused(address, reason);
        });
    server_->start();
    const std::string where =
        fmt::format("listening on {}:{}", options_.server.bind_address, server_->port());
    handle([&](RoundEngine& e) { e.begin(where, now()); });
  }

  void adopt(std::shared_ptr<protocol::Connection> connection) {
    std::make_shared<ClientSession>(std::move(connection), shared_from_this(), ++last_session_)
        ->start();
  }

  void request_stop(const std::string& reason) {
    handle([&](RoundEngine& e) { e.stop(reason, 0, now()); });
  }

  uint16_t port() const { return server_ ? server_->port() : 0; }
  std::function<void(int)> stopped_callback;

  // --- Federation: the sessions' events, handed to the engine ---------------------------------

  void on_hello(const std::shared_ptr<ClientSession>& session, const wire::Hello& hello) override {
    std::lock_guard lock(mutex_);
    try {
      engine_->site_connected(session->id(), session->identity(), session->address(), hello, now());
    } catch (const ProtocolError&) {
      carry_out();
      throw;
    }
    sessions_[session->id()] = session;
    carry_out();
  }

  Admission on_update_header(ClientSession& session, const wire::UpdateHeader& header) override {
    std::lock_guard lock(mutex_);
    Admission admission;
    try {
      admission = engine_->update_announced(session.id(), session.identity(), header, now());
    } catch (const ProtocolError&) {
      carry_out();
      throw;
    }
    carry_out();
    return admission;
  }

  wire::Status on_update_received(ClientSession& session, uint64_t attempt,
                                  ReceivedUpdate update) override {
    std::lock_guard lock(mutex_);
    const auto verdict = engine_->update_received(session.id(), session.identity(), attempt,
                                                  std::move(update), now());
    carry_out();
    return verdict;
  }

  void on_transfer_refused(ClientSession& session, uint64_t attempt,
                           const wire::UpdateHeader& header, const ProtocolError& error,
                           uint64_t bytes) override {
    std::lock_guard lock(mutex_);
    engine_->transfer_refused(session.id(), session.identity(), attempt, header, error, bytes,
                              now());
    carry_out();
  }

  void on_session_closed(ClientSession& session, const protocol::TransportError& reason) override {
    std::lock_guard lock(mutex_);
    sessions_.erase(session.id());
    engine_->session_closed(session.id(), session.identity(), reason, session.upload_bytes(),
                            now());
    carry_out();
  }

 private:
  // One event: the engine call, then its actions, under the mutex.
  template <typename Event>
  void handle(Event&& event) {
    std::lock_guard lock(mutex_);
    event(*engine_);
    carry_out();
  }

  void connection_refused(const std::string& address, const protocol::TransportError& reason);
  void carry_out();
  void carry_out(SendTask& send);
  void stop_serving(const StopServing& stop);
  void arm_deadline(double at);

  CoordinatorOptions options_;
  asio::io_context& io_;  // owned by the caller, outlives this
  std::mutex mutex_;      // see the class comment
  std::optional<RoundEngine> engine_;
  std::map<SessionId, std::shared_ptr<ClientSession>> sessions_;  // greeted
  std::atomic<SessionId> last_session_{0};
  std::optional<protocol::TlsContext> tls_;  // built by start(); adopted connections need none
  std::shared_ptr<protocol::Server> server_;
  asio::steady_timer deadline_timer_;
  // Destroyed first: it waits for an evaluation in progress, which reads nothing of the above.
  std::optional<EvaluationWorker> evaluations_;
};

void Coordinator::Impl::connection_refused(const std::string& address,
                                           const protocol::TransportError& reason) {
  // Not an engine event: the handshake refused a peer that never became a site.
  std::lock_guard lock(mutex_);
  if (engine_->stopped()) return;
  engine_->record_event(storage::EventLevel::kWarning, "connection_refused",
                        fmt::format("{}: {}", address, reason.what()), now());
}

// With mutex_ held.
void Coordinator::Impl::carry_out() {
  for (auto& action : engine_->take_actions()) {
    if (auto* send = std::get_if<SendTask>(&action)) {
      carry_out(*send);
    } else if (auto* welcome = std::get_if<SendWelcome>(&action)) {
      if (auto found = sessions_.find(welcome->session); found != sessions_.end()) {
        found->second->send_welcome(welcome->message);
      }
    } else if (auto* abandon = std::get_if<AbandonUpload>(&action)) {
      if (auto found = sessions_.find(abandon->session); found != sessions_.end()) {
        found->second->abandon_upload(abandon->attempt, abandon->verdict);
      }
    } else if (auto* close = std::get_if<CloseSession>(&action)) {
      if (auto found = sessions_.find(close->session); found != sessions_.end()) {
        // After the current handler, as StopServing's: a reply it is about to send (the verdict
        // on the upload whose round quarantined this site, say) goes out before the Goodbye.
        asio::post(io_, [session = found->second, code = close->code, message = close->message] {
          session->close(code, message);
        });
        sessions_.erase(found);
      }
    } else if (auto* deadline = std::get_if<SetDeadline>(&action)) {
      arm_deadline(deadline->at);
    } else if (auto* evaluate = std::get_if<EvaluateRound>(&action)) {
      evaluations_->submit(std::move(*evaluate));
    } else if (auto* line = std::get_if<ConsoleLine>(&action)) {
      fmt::print(line->error ? stderr : stdout, "{}\n", line->text);
      std::fflush(line->error ? stderr : stdout);
    } else if (auto* stop = std::get_if<StopServing>(&action)) {
      stop_serving(*stop);
    } else if (std::holds_alternative<ResumeLater>(action)) {
      // After the current handler: the Ack of the upload that completed a round goes out before
      // the next round's Task.
      asio::post(io_, [weak = std::weak_ptr<Impl>(shared_from_this())] {
        if (auto self = weak.lock()) self->handle([](RoundEngine& e) { e.resume(now()); });
      });
    }
    // RoundCommitted needs nothing of a server.
  }
}

void Coordinator::Impl::carry_out(SendTask& send) {
  const auto found = sessions_.find(send.session);
  try {
    if (found == sessions_.end()) {
      throw protocol::TransportError(protocol::TransportErrorKind::kClosedLocally, "gone");
    }
    found->second->send_task(send.task, send.model, send.on_model_queued);
  } catch (const protocol::TransportError&) {
    // The session's end reaches the engine as its own event; the checkpoint need not wait.
    if (send.on_model_queued) send.on_model_queued();
  }
}

void Coordinator::Impl::stop_serving(const StopServing& stop) {
  deadline_timer_.cancel();
  if (server_) server_->stop();
  // Closed after the current handler: an Ack it is about to send (to the upload that completed the
  // last round, say) goes out before the Goodbye.
  asio::post(io_, [sessions = std::move(sessions_), stop] {
    for (const auto& [id, session] : sessions) session->close(stop.code, stop.message);
  });
  sessions_.clear();
  if (stopped_callback) {
    asio::post(io_, [callback = stopped_callback, code = stop.exit_code] { callback(code); });
  }
}

void Coordinator::Impl::arm_deadline(double at) {
  const auto in = std::chrono::milliseconds(std::llround(std::max(0.0, at - now()) * 1000.0));
  deadline_timer_.expires_after(in);
  deadline_timer_.async_wait(
      [weak = std::weak_ptr<Impl>(shared_from_this())](const boost::system::error_code& ec) {
        if (auto self = weak.lock(); self && !ec) {
          self->handle([](RoundEngine& e) { e.time_advanced(now()); });
        }
      });
}

// --- public face ------------------------------------------------------------------------------

Coordinator::Coordinator(const CoordinatorOptions& options, asio::io_context& io)
    : Coordinator(options, io, {}) {}

Coordinator::Coordinator(const CoordinatorOptions& options, asio::io_context& io,
                         std::function<storage::Evaluation(const EvaluateRound&)> evaluate) {
  validate(options);
  impl_ = std::make_shared<Impl>(options, io);
  impl_->init(std::move(evaluate));
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
