#pragma once

#include "storage/database.h"
#include "storage/history.h"
#include "storage/records.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fedgan::storage {

/// Everything the coordinator writes about a run: the run itself, clients, round attempts, the
/// updates of each attempt and the event log. Each call is one transaction (or, inside a caller's
/// Transaction, a savepoint of it): it happens entirely or not at all. Records are checked before
/// SQL runs, so a bad value gets a message naming the field; the schema's constraints stand
/// behind the checks. Round lifecycle calls also log an event (kinds "round_started",
/// "round_committed", "round_failed", "round_aborted") in the same transaction.
/// Every method throws StorageError. Not thread-safe, like the Database it writes.
class RunStore {
 public:
  /// `db` must be migrated (open_database does it), is owned by the caller and must outlive this.
  explicit RunStore(Database& db);

  struct OpenedRun {
    Run run;       // as stored: on resume, the original creation time and configuration
    bool resumed;  // false when the run was created by this call
  };
  /// Creates `run`, or returns the stored run with the same run_id. Resuming with another seed or
  /// model is refused: that would be a different experiment under the same name. Logs
  /// "run_created" or "run_resumed" at `run.created_at` (pass the current time).
  OpenedRun create_or_resume_run(const Run& run);
  void finish_run(const std::string& run_id, double finished_at);

  /// Call once on start, after create_or_resume_run: every attempt of `run_id` still 'running'
  /// (the coordinator died during it) becomes 'aborted' with `reason`, in one transaction; returns
  /// those attempts and the last committed round to resume from. The aborted round is then begun
  /// again with begin_round, which gives it the next attempt number.
  ResumePoint recover(const std::string& run_id, double now,
                      const std::string& reason = "coordinator stopped during the round");

  /// Creates the client `identity` or moves its first/last-seen window to include `seen_at`.
  Client touch_client(const std::string& identity, double seen_at);

  /// Starts attempt 1 + (attempts so far) of round `round`. Refused while another attempt of the
  /// run is running, and for a round that is already committed.
  RoundAttempt begin_round(const std::string& run_id, int64_t round, double started_at,
                           int64_t clients_selected);

  /// Records one upload, creates or touches its client, and adds it to the client's and the
  /// attempt's totals. Returns the update_id. An accepted update needs a running attempt; a
  /// rejected one may be filed under an attempt that already ended (an upload that arrived late,
  /// recorded under the round it was for). A second accepted update of the same client to the
  /// same attempt is refused (record it as rejected, e.g. DUPLICATE_UPDATE). reject_message is
  /// stored cut to kMaxStoredTextBytes; local metrics JSON over 64 KiB is refused.
  int64_t record_update(const Update& update);

  /// Marks a running attempt committed with everything in `commit`. The checkpoint file must
  /// already be durable (CheckpointStore::write): once this returns, a restart resumes from it.
  void commit_round(int64_t round_id, const RoundCommit& commit);

  /// Marks a running attempt failed (deadline without quorum, say) with `reason` (stored cut to
  /// kMaxStoredTextBytes).
  void fail_round(int64_t round_id, double finished_at, const std::string& reason);

  /// Stores evaluation figures (and the sample grid) measured after a round committed.
  void record_evaluation(int64_t round_id, const Evaluation& evaluation,
                         const std::optional<std::string>& sample_grid_path);

  /// Appends `event` to the log (its message cut to kMaxStoredTextBytes); returns its event_id.
  int64_t log_event(const Event& event);

  /// The read side, for convenience.
  History& history() { return history_; }

 private:
  // The attempt `round_id`; throws, naming `action`, when there is none.
  Round existing_round(int64_t round_id, std::string_view action);
  // The attempt `round_id`; throws, naming `action` and the attempt's status, unless it runs.
  Round running_round(int64_t round_id, std::string_view action);
  // Creates the client or widens its seen window; returns its client_id.
  int64_t upsert_client(const std::string& identity, double seen_at);
  // Stores one accepted update's comparison with its committing round (commit_round's
  // transaction) and counts a flagged one in its client's flagged_rounds.
  void record_review(int64_t round_id, const UpdateReview& review);
  // Adds a recorded update to its client's and its round attempt's totals.
  void add_to_totals(int64_t client_id, const Update& update);

  Database& db_;  // owned by the caller
  History history_;
};

}  // namespace fedgan::storage
