#pragma once

#include "client/backoff.h"
#include "client/console.h"
#include "client/event_queue.h"
#include "client/local_round.h"
#include "client/options.h"
#include "protocol/connection.h"
#include "protocol/tls_context.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace fedgan::client {

/// Counters of one client's life, for tests and the final log line.
struct ClientStats {
  int64_t connections = 0;     // welcomed by the coordinator
  int64_t tasks = 0;           // tasks received
  int64_t tasks_refused = 0;   // refused: limits, manifest, a download that failed its checks
  int64_t rounds_trained = 0;  // completed local rounds
  int64_t updates_accepted = 0;
  int64_t updates_rejected = 0;  // refused at the header or after the transfer
};

/// The site's side of a federation: connects to the coordinator over mutual TLS, says Hello, and
/// for every Task it is sent: checks it (LocalRound::plan_task), receives the global model,
/// trains, uploads the delta and reads the verdict. The conversation is the one
/// coordinator/client_session.h describes:
///
///   Hello -> Ack;  Task, TensorChunk..., TransferEnd  (the global model)
///   UpdateHeader -> Ack (admitted?) -> TensorChunk..., TransferEnd -> Ack (accepted?)
///
/// A refused task is logged and not trained; there is no refusal message, so the site simply does
/// not upload. A rejected update is logged with its status and reason.
///
/// Threads: one io_context thread runs the connection (TLS, heartbeats, deadlines, the chunk
/// stream of an upload); the thread that calls run() waits for events from it and trains. So a
/// long local round never stops heartbeats, and the coordinator never cuts the site off as idle.
/// A new Task, the connection's end or stop() interrupts training between two steps; such a round
/// is not uploaded.
///
/// Resilience: when the connection cannot be made or ends (a coordinator restart, a network
/// failure, a Goodbye), the client waits (Backoff: 0.5 s doubling to 30 s by default, +-50%
/// jitter) and connects again; the coordinator reruns a round it lost. It stops for good only
/// when the coordinator says the run finished (Goodbye with STATUS_RUN_FINISHED) or that it
/// quarantined this site (STATUS_QUARANTINED, as a Goodbye or the answer to its Hello), after
/// stop(), or after coordinator.max_connect_failures consecutive failed attempts.
class FederatedClient {
 public:
  /// Builds the TLS context from options.tls (throws TransportError(kConfiguration) naming a
  /// missing or mismatched file). `round` and `console` are owned by the caller and must outlive
  /// the client.
  FederatedClient(const ClientOptions& options, LocalRound& round, Console& console);
  ~FederatedClient();
  FederatedClient(const FederatedClient&) = delete;
  FederatedClient& operator=(const FederatedClient&) = delete;

  /// Runs the conversation until it ends; returns the process exit code: 0 when the run finished
  /// or stop() was called, 1 after max_connect_failures consecutive failed attempts, 4 when the
  /// coordinator quarantined this site (STATUS_QUARANTINED: it is not welcome again this run).
  /// Call once.
  int run();

  /// Ends run() soon: an interrupted training round is saved locally but not uploaded, the
  /// connection is closed with a Goodbye. Thread-safe.
  void stop();

  /// Makes run() call stop() on SIGINT or SIGTERM. Call before run().
  void stop_on_signals();

  ClientStats stats() const;

 private:
  enum class SessionEnd { kConnectFailed, kLost, kRunFinished, kQuarantined, kStopped };
  // What handling one step of the conversation decided.
  enum class Next { kContinue, kEnd };

  SessionEnd session();
  std::shared_ptr<protocol::Connection> connect();
  bool greet(protocol::Connection& connection);
  Next handle_task(const std::shared_ptr<protocol::Connection>& connection, const wire::Task& task);
  Next download(const wire::Task& task, std::unique_ptr<protocol::TensorStreamReader> reader,
                std::string& refusal);
  void save_state(uint64_t round);
  Next upload(const std::shared_ptr<protocol::Connection>& connection, const TaskPlan& plan,
              const RoundReport& report);
  Next await_ack(const TaskPlan& plan, wire::AckStage stage, std::optional<wire::Status>& status);
  std::optional<Event> next_event(std::optional<std::chrono::steady_clock::time_point> deadline);
  Next end_by(const Event& event);
  bool interrupted();
  void wait_before_reconnect();
  void close_gracefully(protocol::Connection& connection);
  template <typename F>
  void count(F&& change);

  ClientOptions options_;
  LocalRound& round_;  // owned by the caller, outlives the client
  Console& console_;   // owned by the caller, outlives the client
  protocol::TlsContext tls_;
  protocol::ConnectionOptions connection_options_;
  Backoff backoff_;

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<boost::asio::signal_set> signals_;
  std::thread io_thread_;

  // Events from the io thread; shared with the connection's handlers, which may outlive a session.
  std::shared_ptr<EventQueue> events_;
  // Connection number; events of an earlier connection are dropped.
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
  std::optional<SessionEnd> session_end_;   // set by end_by()
  std::optional<wire::Task> pending_task_;  // a Task that arrived while another step waited
  int64_t connect_failures_ = 0;
  bool refused_for_the_run_ = false;    // the last Hello was answered with STATUS_QUARANTINED
  const char* interruption_ = nullptr;  // why the last round stopped early (a string literal)

  mutable std::mutex stats_mutex_;
  ClientStats stats_;
};

}  // namespace fedgan::client
