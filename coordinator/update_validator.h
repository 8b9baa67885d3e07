#pragma once

#include "coordinator/options.h"
#include "protocol/error.h"
#include "protocol/fedgan.pb.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fedgan::coordinator {

namespace wire = protocol::wire;

/// The admission rules of one round attempt, checked on every UpdateHeader before a byte of its
/// delta is accepted: the sender is selected for this attempt, names this round, carries the nonce
/// of the task it was sent (an update replayed from an earlier task carries another), uploads for
/// the first time, reports a sample count within bounds, and describes a delta whose manifest is
/// exactly the global one. Each refusal is a ProtocolError with its own status. Not thread-safe:
/// the coordinator owns one per running attempt.
class RoundRoster {
 public:
  /// `nonces` maps each selected identity to the nonce of its task.
  RoundRoster(int64_t round, std::map<std::string, std::string> nonces, wire::Manifest manifest,
              const AggregationOptions& options);

  int64_t round() const { return round_; }
  bool selected(const std::string& identity) const { return clients_.count(identity) != 0; }
  const std::string& nonce(const std::string& identity) const;

  /// Admits `header` from `identity` or throws ProtocolError: NOT_SELECTED, WRONG_ROUND,
  /// STALE_NONCE, DUPLICATE_UPDATE, SAMPLE_COUNT, or the manifest statuses of validate_manifest.
  /// An admitted client cannot upload again in this attempt.
  void admit(const std::string& identity, const wire::UpdateHeader& header);

  /// Marks an admitted upload as finished (accepted or refused after its transfer).
  void finish(const std::string& identity, bool accepted);
  /// Marks a selected client gone (disconnected) before it finished.
  void drop(const std::string& identity);
  /// Whether `identity` was sent a task of this attempt with `nonce`: a late upload carrying it
  /// belongs to this attempt.
  bool issued(const std::string& identity, const std::string& nonce) const;
  /// Clients whose admitted upload has not finished.
  std::vector<std::string> uploading() const;
  /// Whether `identity`'s upload is admitted and not finished.
  bool is_uploading(const std::string& identity) const;

  size_t accepted() const;
  /// Selected clients that are still connected and have not finished an upload.
  size_t outstanding() const;
  std::vector<std::string> identities() const;

 private:
  enum class State { kWaiting, kUploading, kAccepted, kRefused, kGone };

  int64_t round_;
  std::map<std::string, std::string> nonces_;
  std::map<std::string, State> clients_;
  wire::Manifest manifest_;
  uint32_t accepted_codecs_;
  AggregationOptions options_;
};

/// What the norm rule makes of a received delta.
struct NormVerdict {
  bool accept = true;
  /// Factor the delta must be scaled by (clip_to_norm) before aggregation; 1 when unchanged.
  double scale = 1.0;
};

/// Judges a delta of L2 norm `norm` against the round's `bound` (nullopt: none) under
/// aggregation.norm_policy: within the bound, clipped ("clip") or refused ("reject": ProtocolError
/// NORM_BOUND with both norms in the message). A non-finite norm is NON_FINITE.
NormVerdict check_delta_norm(double norm, std::optional<double> bound,
                             const AggregationOptions& options);

/// Largest magnitude of any metric a site reports. Metrics are summed over a round's updates and
/// stored as JSON; with this bound no sum of them can overflow a double.
inline constexpr double kMaxMetricMagnitude = 1e12;
/// Most metrics one update may report, and the longest name.
inline constexpr int kMaxMetrics = 32;
inline constexpr size_t kMaxMetricNameBytes = 64;

/// The documented range of a metric the coordinator reads.
struct MetricRange {
  const char* name;
  double min;
  double max;
};
/// The metrics the coordinator reads, with their ranges (docs/architecture.md lists them):
/// losses within +-1e9, durations in [0, 1e7] seconds, throughput in [0, 1e12] samples/s.
const std::vector<MetricRange>& known_metrics();

/// Longest nonce an UpdateHeader may carry (the coordinator issues 16 bytes); Acks echo it.
inline constexpr size_t kMaxNonceBytes = 64;

/// The admission rule of an update's own fields, checked where they enter, before the roster's:
/// a nonce of at most kMaxNonceBytes (MALFORMED); at most kMaxMetrics metrics, named with 1-64
/// letters, digits or '_' (MALFORMED), finite (NON_FINITE), every value within
/// +-kMaxMetricMagnitude and a known metric within its range (OUT_OF_RANGE).
void check_update_fields(const wire::UpdateHeader& header);

/// The admission rule of a Hello: a minor version of at least protocol::kMinPeerMinorVersion
/// (UNSUPPORTED_VERSION, the message naming the version needed), a sample count of at most
/// `max_samples` (SAMPLE_COUNT), at most 16 codecs, one of them the federation's `codec`
/// (MALFORMED).
void check_hello(const wire::Hello& hello, uint64_t max_samples, wire::Codec codec);

}  // namespace fedgan::coordinator
