#pragma once

// Internal to the coordinator library: the state behind RoundEngine. Its methods are split by what
// they do: round_engine.cc (construction, sessions, the public face), engine_uploads.cc
// (admission, verdicts and the rows they leave), engine_rounds.cc (starting, deciding and failing
// rounds) and engine_commits.cc (committing aggregated rounds, evaluations, the end of the run).
// No locks: the engine is called from one thread at a time.

#include "coordinator/checkpoint_gate.h"
#include "coordinator/checkpoint_writer.h"
#include "coordinator/client_session.h"
#include "coordinator/global_model.h"
#include "coordinator/norm_bound.h"
#include "coordinator/quarantine.h"
#include "coordinator/round_aggregation.h"
#include "coordinator/round_engine.h"
#include "coordinator/round_phases.h"
#include "coordinator/update_records.h"
#include "coordinator/update_validator.h"
#include "storage/checkpoint_store.h"
#include "storage/run_store.h"

#include <chrono>
#include <deque>
#include <map>
#include <optional>

namespace fedgan::coordinator {

struct RunningRound {
  // attempt.round_id is 0 until the attempt is in the database (recorded): a round that starts
  // while the previous round's checkpoint is still being written is recorded once that round's
  // commit is (settle_pending_commit).
  storage::RoundAttempt attempt;
  uint64_t generation;  // tells this attempt's deadline and uploads from any other attempt's
  double started_at;    // unix seconds
  int64_t clients_selected;
  bool recorded;
  RoundRoster roster;
  std::unique_ptr<aggregation::Aggregator> aggregator;
  size_t quorum;
  double deadline;                          // unix seconds
  std::optional<double> norm_bound;         // what each update's norm is judged against
  std::map<std::string, double> loss_sums;  // of accepted updates' reported losses
  std::map<std::string, size_t> loss_counts;
  std::vector<double> aggregated_norms;  // of the accepted updates, after clipping
  RoundPhases phases;
  double slowest_training = 0;  // the longest train_seconds an accepted update reported
  uint64_t bytes_received = 0;  // encoded deltas of the accepted updates
  uint64_t bytes_sent = 0;      // encoded models queued to the selected clients
  std::vector<int64_t> accepted_update_ids;  // their rows, in the order aggregated
  std::vector<std::string> accepted_identities;  // who sent them, in the same order
};

// An attempt that ended, kept so that a late upload carrying one of its nonces is filed under it.
struct EndedAttempt {
  int64_t round_id;
  RoundRoster roster;
};

// An aggregated round whose checkpoint is being written while the next round already runs. It
// becomes a committed round in the database once the checkpoint is durable.
struct PendingCommit {
  int64_t round = 0;
  int64_t round_id = 0;
  double started = 0;  // unix seconds: when its attempt started
  RoundPhases phases;
  storage::RoundCommit commit;  // all but the checkpoint's path and digest
  std::vector<std::string> flagged;  // the sites whose updates the reviews flag
  std::string summary;          // ", 4 updates, G loss ..., aggregate norm ..., 1.2 s"
  double slowest_training = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  std::shared_ptr<CheckpointGate> gate;  // the write starts when it opens
  std::unique_ptr<CheckpointJob> checkpoint;
};

class RoundEngine::State {
 public:
  State(const CoordinatorOptions& options, std::unique_ptr<CheckpointWriter> writer, double now);

  // round_engine.cc
  void begin(const std::string& where);
  void site_connected(SessionId session, const std::string& identity, const std::string& address,
                      const wire::Hello& hello);
  void session_closed(SessionId session, const std::string& identity,
                      const protocol::TransportError& reason, uint64_t upload_bytes);
  void stop(const std::string& reason, int exit_code, wire::StatusCode goodbye = wire::STATUS_OK);
  void log(storage::EventLevel level, const std::string& kind, const std::string& message,
           std::optional<std::string> client = std::nullopt);
  void print(std::string line, bool error = false);

  // engine_uploads.cc
  Admission update_announced(const std::string& identity, const wire::UpdateHeader& header);
  wire::Status update_received(const std::string& identity, uint64_t attempt,
                               ReceivedUpdate update);
  void transfer_refused(const std::string& identity, uint64_t attempt,
                        const wire::UpdateHeader& header, const protocol::ProtocolError& error,
                        uint64_t bytes);

  // engine_rounds.cc
  void maybe_start_round();
  // ResumeLater's answer: the running round is judged again (a site left it), or the next starts.
  void resume();
  void evaluate_round(bool deadline_passed);
  void time_advanced();

  // engine_commits.cc
  void checkpoint_written();
  void settle_pending_commit();
  void evaluation_done(const EvaluateRound& request, const storage::Evaluation* figures,
                       const std::string& failure);

  EngineActions actions;
  double now = 0;  // of the event being handled
  bool stopped = false;
  GlobalModel model;
  int64_t next_round = 1;

 private:
  // engine_rounds.cc
  void start_round();
  void dispatch(const std::vector<std::string>& selected,
                const std::map<std::string, std::string>& nonces,
                const std::shared_ptr<ModelSnapshot>& snapshot);
  void record_round_start();
  void fail_round(const std::string& reason);
  std::vector<storage::UpdateReview> review_updates(const RunningRound& round) const;
  void end_attempt();
  void restore_norm_history();
  void restore_quarantine();

  // quarantine (engine_commits.cc)
  void quarantine_flagged(int64_t round, const std::vector<std::string>& flagged);

  // engine_commits.cc
  void commit_round();
  void finish_if_last(int64_t round);

  // engine_uploads.cc
  wire::Status refuse_received(const UploadFacts& facts, const protocol::ProtocolError& error);
  void record_header_refusal(const std::string& identity, const wire::UpdateHeader& header,
                             const protocol::ProtocolError& error);
  void record_refusal(const UploadFacts& facts, const protocol::ProtocolError& error);
  void end_uploads_in_flight(wire::StatusCode code, const std::string& why);
  std::optional<int64_t> attempt_that_issued(const std::string& identity, const std::string& nonce);
  int64_t running_attempt_id();
  UploadFacts facts_of(const std::string& identity, int64_t round_id);

  CoordinatorOptions options_;
  storage::Database db_;
  storage::RunStore store_;
  storage::CheckpointStore checkpoints_;
  std::unique_ptr<CheckpointWriter> writer_;
  std::unique_ptr<RoundAggregation> aggregation_;
  NormBound norm_bound_;
  Quarantine quarantine_;
  bool evaluates_ = false;                     // evaluation.every_rounds > 0
  std::map<std::string, SessionId> sessions_;  // greeted, by identity
  std::optional<RunningRound> round_;
  std::deque<EndedAttempt> ended_;  // the last few attempts, newest last
  // What the last round sent: it reads model until finish(), which comes before model changes.
  std::shared_ptr<ModelSnapshot> sent_model_;
  int64_t failed_attempts_ = 0;
  uint64_t generations_ = 0;
  bool awaiting_last_evaluation_ = false;  // the run ends when it is recorded
  // Declared last, so it is destroyed first: its job waits for a checkpoint write that still
  // uses checkpoints_ and the model.
  std::optional<PendingCommit> pending_;
};

}  // namespace fedgan::coordinator
