#pragma once

// Internal to the coordinator library: the state behind Coordinator and the Federation its
// sessions call. Its methods are split by what they do: coordinator.cc (construction, serving,
// sessions), upload_path.cc (admission, verdicts and the rows they leave) and round_lifecycle.cc
// (starting, committing and failing rounds). Everything runs under `mutex_`.

#include "aggregation/fedavg.h"
#include "aggregation/server_adam.h"
#include "coordinator/checkpoint_gate.h"
#include "coordinator/client_session.h"
#include "coordinator/coordinator.h"
#include "coordinator/evaluator.h"
#include "coordinator/global_model.h"
#include "coordinator/norm_bound.h"
#include "coordinator/round_phases.h"
#include "coordinator/update_records.h"
#include "coordinator/update_validator.h"
#include "protocol/server.h"
#include "protocol/tls_context.h"
#include "storage/checkpoint_store.h"
#include "storage/run_store.h"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>

namespace fedgan::coordinator {

using Clock = std::chrono::steady_clock;

struct RunningRound {
  // attempt.round_id is 0 until the attempt is in the database (recorded): a round that starts
  // while the previous round's checkpoint is still being written is recorded once that round's
  // commit is (settle_pending_commit).
  storage::RoundAttempt attempt;
  uint64_t generation;  // tells this attempt's deadline and uploads from any other attempt's
  double started_at;    // unix seconds, for the database
  int64_t clients_selected;
  bool recorded;
  RoundRoster roster;
  aggregation::StreamingFedAvg fedavg;
  size_t quorum;
  Clock::time_point started;
  std::optional<double> norm_bound;         // what each update's norm is judged against
  std::map<std::string, double> loss_sums;  // of accepted updates' reported losses
  std::map<std::string, size_t> loss_counts;
  std::vector<double> aggregated_norms;  // of the accepted updates, after clipping
  RoundPhases phases;
  double slowest_training = 0;  // the longest train_seconds an accepted update reported
  uint64_t bytes_received = 0;  // encoded deltas of the accepted updates
  uint64_t bytes_sent = 0;      // encoded models queued to the selected clients
};

// An attempt that ended, kept so that a late upload carrying one of its nonces is filed under it.
struct EndedAttempt {
  int64_t round_id;
  RoundRoster roster;
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
  Impl(const CoordinatorOptions& options, boost::asio::io_context& io);

  void start();
  void adopt(std::shared_ptr<protocol::Connection> connection);
  void begin_serving(const std::string& where);
  void stop(const std::string& reason, int exit_code, wire::StatusCode goodbye = wire::STATUS_OK);
  void request_stop(const std::string& reason) {
    std::lock_guard lock(mutex_);
    stop(reason, 0);
  }
  uint16_t port() const { return server_ ? server_->port() : 0; }
  std::function<void(int)> stopped_callback;

  // Federation (upload_path.cc, and on_hello in coordinator.cc).
  void on_hello(const std::shared_ptr<ClientSession>& session, const wire::Hello& hello) override;
  Admission on_update_header(ClientSession& session, const wire::UpdateHeader& header) override;
  wire::Status on_update_received(ClientSession& session, uint64_t attempt,
                                  ReceivedUpdate update) override;
  void on_transfer_refused(ClientSession& session, uint64_t attempt,
                           const wire::UpdateHeader& header, const protocol::ProtocolError& error,
                           uint64_t bytes) override;
  void on_session_closed(ClientSession& session, const protocol::TransportError& reason) override;

 private:
  // round_lifecycle.cc
  void maybe_start_round();
  void post_round_start();
  void start_round();
  void evaluate_round(bool deadline_passed);
  void on_deadline(uint64_t generation);
  void commit_round();
  void settle_pending_commit();
  void record_round_start();
  void fail_round(const std::string& reason);
  void end_attempt();
  void restore_norm_history();

  // upload_path.cc
  wire::Status refuse_received(const UploadFacts& facts, const protocol::ProtocolError& error);
  void record_header_refusal(const std::string& identity, const wire::UpdateHeader& header,
                             const protocol::ProtocolError& error);
  void record_refusal(const UploadFacts& facts, const protocol::ProtocolError& error);
  void end_uploads_in_flight(wire::StatusCode code, const std::string& why);
  std::optional<int64_t> attempt_that_issued(const std::string& identity, const std::string& nonce);
  int64_t running_attempt_id();

  void log(storage::EventLevel level, const std::string& kind, const std::string& message,
           std::optional<std::string> client = std::nullopt);

  CoordinatorOptions options_;
  boost::asio::io_context& io_;  // owned by the caller, outlives this
  std::mutex mutex_;             // guards everything below
  storage::Database db_;
  storage::RunStore store_;
  storage::CheckpointStore checkpoints_;
  GlobalModel model_;
  // Set with aggregation.server_optimizer = "adam". Its moments live in memory only: a restarted
  // coordinator starts them afresh (docs/configuration.md).
  std::optional<aggregation::ServerAdam> server_adam_;
  NormBound norm_bound_;
  Evaluator evaluator_;
  std::optional<protocol::TlsContext> tls_;  // built by start(); adopted connections need none
  std::shared_ptr<protocol::Server> server_;
  boost::asio::steady_timer deadline_timer_;
  std::map<std::string, std::shared_ptr<ClientSession>> sessions_;  // greeted, by identity
  std::optional<RunningRound> round_;
  std::deque<EndedAttempt> ended_;  // the last few attempts, newest last
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

}  // namespace fedgan::coordinator
