#pragma once

#include "coordinator/engine_actions.h"
#include "coordinator/options.h"
#include "protocol/connection.h"

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>

namespace fedgan::coordinator {

/// Runs the coordinator until the run has committed rounds.max_rounds rounds, or SIGINT/SIGTERM:
/// opens (or resumes) the run in the database, loads the global model from the last committed
/// checkpoint (or initialises it), listens for clients over mutual TLS and runs rounds. Returns the
/// process exit code. Throws CoordinatorError (and the storage, transport and gan errors) for
/// failures it cannot continue after.
int serve(const CoordinatorOptions& options);

/// The coordinator on a caller's io_context (serve() runs one; tests run several in one process):
/// the mutual-TLS driver of the RoundEngine (round_engine.h). Sessions, timers and the console are
/// served in handlers of that io_context; the engine is guarded by one mutex, so the io_context
/// may be run by any number of threads. Checkpoints are written and rounds evaluated on threads of
/// their own, never on the io_context's.
class Coordinator {
 public:
  /// Opens the database and the checkpoint directory, recovers the run (a round that was running
  /// when the previous process died is recorded as aborted and will be run again) and loads the
  /// global model. Throws on configuration and storage errors.
  Coordinator(const CoordinatorOptions& options, boost::asio::io_context& io);
  /// The same with another evaluation than the configured one ([evaluation]): `evaluate` is
  /// called on the evaluation thread for each committed round the configuration evaluates.
  Coordinator(const CoordinatorOptions& options, boost::asio::io_context& io,
              std::function<storage::Evaluation(const EvaluateRound&)> evaluate);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  /// Reads the TLS credentials, binds the listening socket (throws TransportError if it cannot)
  /// and starts serving.
  void start();
  /// Serves one authenticated connection, as if the server had accepted it: the TLS server hands
  /// each of its connections here, and tests and fuzzers hand in their own Connection
  /// implementations (their peer_identity() is the site's identity). Works without start().
  void adopt(std::shared_ptr<protocol::Connection> connection);
  /// Stops serving: closes every session with a Goodbye, stops accepting, cancels timers. The
  /// running round, if any, stays 'running' in the database and is aborted by the next start.
  /// Thread-safe; idempotent.
  void stop(const std::string& reason);

  /// The bound port (after start()).
  uint16_t port() const;
  /// Called once (on an io_context thread) when the coordinator has stopped.
  void on_stopped(std::function<void(int exit_code)> callback);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace fedgan::coordinator
