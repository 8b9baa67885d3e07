#pragma once

#include "coordinator/checkpoint_writer.h"
#include "coordinator/client_session.h"
#include "coordinator/engine_actions.h"
#include "coordinator/global_model.h"
#include "coordinator/options.h"
#include "protocol/error.h"
#include "protocol/transport_error.h"

#include <memory>
#include <string>

namespace fedgan::coordinator {

/// The coordinator's decisions, without I/O: the round state machine, admission and validation of
/// updates, aggregation, the history in SQLite and the checkpoints. It owns no socket, thread or
/// clock. A driver feeds it events (a site said Hello, an update was announced, arrived whole or
/// was refused on the way, a site went away, time passed, a checkpoint write or an evaluation
/// ended), each with the time it happened (unix seconds), and carries out the actions it returns
/// from take_actions() in order (engine_actions.h). The mutual-TLS server (coordinator.h) and
/// the simulator (simulation/) are its two drivers; both run exactly this code.
///
/// Replies that a site waits for on the same message (its update's admission and verdict) are
/// returned by the event call itself; everything else is an action.
///
/// Two ports connect it to the machine: a CheckpointWriter (where checkpoint writes run), and the
/// driver's evaluator, which answers EvaluateRound actions. Writes to SQLite happen inside event
/// calls: they are the history, kept in the order the engine decides.
///
/// Not thread-safe: a driver calls it from one thread at a time (the TLS driver holds its mutex
/// around every call and around carrying out the actions).
class RoundEngine {
 public:
  /// Opens the database and the checkpoint directory, recovers the run (an attempt that was
  /// running when the previous process died is recorded as aborted and is run again), loads the
  /// global model from the last committed checkpoint or initialises it. Throws on configuration
  /// and storage errors. `options` must have passed validate().
  RoundEngine(const CoordinatorOptions& options, std::unique_ptr<CheckpointWriter> writer,
              double now);
  ~RoundEngine();
  RoundEngine(const RoundEngine&) = delete;
  RoundEngine& operator=(const RoundEngine&) = delete;

  /// The driver is ready for sites (`where` says how they reach it, for the log). Stops at once
  /// when the run already has every round.
  void begin(const std::string& where, double now);

  /// A site with a verified identity said Hello on session `session` (from `address`). Throws
  /// ProtocolError when the Hello is refused (recorded as an event); the driver closes the
  /// session with its status. A second session of the same identity replaces the first.
  void site_connected(SessionId session, const std::string& identity, const std::string& address,
                      const wire::Hello& hello, double now);
  /// Admits an upload, or records its refusal and throws it as a ProtocolError.
  Admission update_announced(SessionId session, const std::string& identity,
                             const wire::UpdateHeader& header, double now);
  /// Judges, records and aggregates a complete delta admitted to `attempt`; returns the verdict.
  wire::Status update_received(SessionId session, const std::string& identity, uint64_t attempt,
                               ReceivedUpdate update, double now);
  /// Records an upload admitted to `attempt` and refused on its way (non-finite value, missing
  /// bytes, ...): the site's part in the attempt is over.
  void transfer_refused(SessionId session, const std::string& identity, uint64_t attempt,
                        const wire::UpdateHeader& header, const protocol::ProtocolError& error,
                        uint64_t bytes, double now);
  /// Session `session` ended (`upload_bytes` of an upload in progress had arrived).
  void session_closed(SessionId session, const std::string& identity,
                      const protocol::TransportError& reason, uint64_t upload_bytes, double now);
  /// The driver's clock reached a SetDeadline: a running attempt past its deadline is decided.
  void time_advanced(double now);
  /// Answers ResumeLater: starts the next round when enough sites are connected.
  void resume(double now);
  /// A checkpoint write may have ended: commits the round it belongs to if so.
  void checkpoint_written(double now);
  /// Answers EvaluateRound with the figures, or with why there are none.
  void evaluation_done(const EvaluateRound& request, const storage::Evaluation& figures,
                       double now);
  void evaluation_failed(const EvaluateRound& request, const std::string& why, double now);
  /// Stops: a round aggregated and being written is committed first; the running attempt stays
  /// 'running' in the database (the next start aborts it). Idempotent.
  void stop(const std::string& reason, int exit_code, double now);

  /// Records an event of the driver's own (a connection refused before it became a session).
  void record_event(storage::EventLevel level, const std::string& kind, const std::string& message,
                    double now);

  /// The actions the events since the last call asked for, oldest first.
  EngineActions take_actions();

  bool stopped() const;
  /// The global model (the last committed one between rounds).
  const GlobalModel& model() const;
  /// The next round to run.
  int64_t next_round() const;

 private:
  class State;
  std::unique_ptr<State> state_;
};

}  // namespace fedgan::coordinator
