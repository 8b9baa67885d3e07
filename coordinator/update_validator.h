#pragma once

#include "coordinator/options.h"
#include "protocol/error.h"

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

/// Applies aggregation.max_delta_norm: no bound, within the bound, clipped ("clip") or refused
/// ("reject": ProtocolError NORM_BOUND with both norms in the message).
NormVerdict check_delta_norm(double norm, const AggregationOptions& options);

}  // namespace fedgan::coordinator
