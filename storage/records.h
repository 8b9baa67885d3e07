#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fedgan::storage {

// Plain records, one per table row (docs/storage.md describes every column). Times are unix
// seconds (UTC, fractional) as the tables store them; the caller supplies them, so tests and
// replays are deterministic.

/// Now, in unix seconds.
double unix_seconds_now();

/// Longest text a free-text column (reject_message, failure_reason, events.message) stores, in
/// bytes: much of that text quotes what a peer sent, and a peer must not be able to grow the
/// database at will. Longer text is cut by bounded_text.
inline constexpr size_t kMaxStoredTextBytes = 2048;

/// `text` cut to at most `max_bytes` bytes at a UTF-8 character boundary, ending in
/// "... (N bytes)" with the original length when it was cut; unchanged when it fits.
std::string bounded_text(std::string_view text, size_t max_bytes = kMaxStoredTextBytes);

/// A federated run: one experiment, resumable after a restart.
struct Run {
  std::string run_id;  // chosen by the operator, 1..200 characters; sent to clients in Task
  double created_at = 0;
  std::optional<double> finished_at;  // set by RunStore::finish_run
  /// Stored as SQLite's signed INTEGER with the same bits: seeds of 2^63 or more read back exactly
  /// here, but show as negative numbers in sqlite3.
  uint64_t seed = 0;
  std::string model;               // architecture name, e.g. "mlp" or "dcgan"
  std::string config_json = "{}";  // the resolved configuration; must be valid JSON
};

/// A client identity (its certificate's subject CN) and its totals over all runs.
struct Client {
  int64_t client_id = 0;
  std::string identity;
  double first_seen = 0;
  double last_seen = 0;
  int64_t updates_accepted = 0;
  int64_t updates_rejected = 0;
  int64_t samples_accepted = 0;  // sum of num_samples over accepted updates
  int64_t bytes_received = 0;    // over all recorded updates, rejected ones included
  int64_t flagged_rounds = 0;    // committed rounds in which one of its updates was flagged
};

enum class RoundStatus { kRunning, kCommitted, kFailed, kAborted };

/// "running", "committed", "failed", "aborted": the values of rounds.status.
std::string_view to_string(RoundStatus status);
/// Inverse of to_string; throws StorageError for any other text.
RoundStatus parse_round_status(std::string_view text);

/// Identifies one attempt at a round; returned by RunStore::begin_round.
struct RoundAttempt {
  int64_t round_id = 0;  // rounds.round_id: the handle for record_update and commit/fail
  std::string run_id;
  int64_t round = 0;
  int64_t attempt = 0;  // 1 for the first attempt, +1 for each retry
};

/// Figures of the periodic evaluation of the global generator; empty when not measured.
struct Evaluation {
  std::optional<double> fid;                    // classifier-FID (images)
  std::optional<int64_t> classes_covered;       // classes with >= 1% of predictions (images)
  std::optional<int64_t> modes_captured;        // of the mixture's modes (2-D)
  std::optional<double> high_quality_fraction;  // in [0, 1] (2-D)
  /// KL(histogram || uniform) of predicted classes (images) or of high-quality samples over modes
  /// (2-D). May be +infinity.
  std::optional<double> kl_to_uniform;

  bool empty() const {
    return !fid && !classes_covered && !modes_captured && !high_quality_fraction && !kl_to_uniform;
  }
};

/// What a robust rule did to an accepted update (updates.rule_effect).
enum class RuleEffect { kKept, kDownWeighted, kClipped, kExcluded };

/// "kept", "down_weighted", "clipped", "excluded".
std::string_view to_string(RuleEffect effect);

/// How one accepted update of a committing round compared with the round, written by
/// commit_round into its `updates` row.
struct UpdateReview {
  int64_t update_id = 0;  // an accepted update of the committing attempt
  /// L2 distance and cosine similarity to the round's aggregate, as the rule saw the update (after
  /// norm clipping); empty under FedAvg, which keeps no update. The cosine is empty when either
  /// vector is zero.
  std::optional<double> aggregate_distance;
  std::optional<double> aggregate_cosine;
  /// (norm - mean) / standard deviation of the round's accepted norms; 0 when they are all equal.
  double norm_z_score = 0;
  std::optional<RuleEffect> rule_effect;  // robust rules only
  std::optional<double> rule_weight;      // its share of the aggregate, in [0, 1]
  bool flagged = false;                   // counted in clients.flagged_rounds
  /// A bound known only at commit (aggregation.norm_bound = "round_median"): stored in
  /// updates.norm_bound. Finite and positive.
  std::optional<double> norm_bound;
};

/// What commit_round stores with a committed attempt.
struct RoundCommit {
  double finished_at = 0;
  double aggregate_norm = 0;        // L2 norm of the update applied to the global model
  std::string metrics_json = "{}";  // round-level figures (see docs/storage.md); valid JSON
  std::string checkpoint_path;      // the file CheckpointStore::write returned
  std::string checkpoint_sha256;    // 64 lowercase hex digits
  Evaluation evaluation;
  std::optional<std::string> sample_grid_path;
  /// One per accepted update of the attempt (or none): stored with the commit.
  std::vector<UpdateReview> reviews;
};

/// One row of `rounds`: one attempt at a round.
struct Round {
  int64_t round_id = 0;
  std::string run_id;
  int64_t round = 0;
  int64_t attempt = 0;
  RoundStatus status = RoundStatus::kRunning;
  double started_at = 0;
  std::optional<double> finished_at;
  int64_t clients_selected = 0;
  int64_t updates_accepted = 0;
  int64_t updates_rejected = 0;
  int64_t samples_accepted = 0;
  std::optional<double> aggregate_norm;
  std::optional<std::string> metrics_json;
  Evaluation evaluation;
  std::optional<std::string> checkpoint_path;
  std::optional<std::string> checkpoint_sha256;
  std::optional<std::string> sample_grid_path;
  std::optional<std::string> failure_reason;
};

/// One upload, accepted or rejected.
struct Update {
  int64_t update_id = 0;  // assigned by record_update
  int64_t round_id = 0;   // RoundAttempt::round_id
  std::string client;     // identity (certificate CN); the client row is created if missing
  double received_at = 0;
  bool accepted = false;
  /// Empty when accepted; otherwise the status name without prefix, e.g. "NON_FINITE" (capital
  /// letters, digits and '_').
  std::string reject_reason;
  std::string reject_message;          // human-readable detail; stored cut by bounded_text
  std::optional<int64_t> num_samples;  // required when accepted
  /// L2 norm of the delta; required (finite) when accepted. NaN, what the norm of a non-finite
  /// delta comes to, is stored as NULL; infinity is stored as is.
  std::optional<double> delta_norm;
  /// The bound delta_norm was judged against (aggregation.norm_bound); empty when none applied
  /// or the update was refused before its norm was measured. Finite and positive.
  std::optional<double> norm_bound;
  int64_t bytes_received = 0;
  std::optional<double> upload_seconds;
  std::optional<double> train_seconds;
  std::optional<double> samples_per_second;
  std::optional<std::string> local_metrics_json;  // valid JSON, e.g. {"generator_loss": 0.7}
};

enum class EventLevel { kDebug, kInfo, kWarning, kError };

/// "debug", "info", "warning", "error": the values of events.level.
std::string_view to_string(EventLevel level);
/// Inverse of to_string; throws StorageError for any other text.
EventLevel parse_event_level(std::string_view text);

/// One line of the run's log.
struct Event {
  int64_t event_id = 0;  // assigned by log_event
  double logged_at = 0;
  EventLevel level = EventLevel::kInfo;
  std::string kind;  // short machine-readable tag, e.g. "client_connected", "round_committed"
  std::string message;
  std::optional<std::string> run_id;
  std::optional<int64_t> round;
  std::optional<std::string> client;  // identity; need not be a known client
};

/// Where a restarted coordinator continues; returned by RunStore::recover.
struct ResumePoint {
  std::optional<Round> last_committed;  // empty when no round was ever committed
  std::vector<RoundAttempt> aborted;    // the attempts recover() found running and aborted
};

}  // namespace fedgan::storage
