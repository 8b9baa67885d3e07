#pragma once

#include "protocol/error.h"
#include "protocol/fedgan.pb.h"
#include "protocol/metric_names.h"  // the keys reported_metric() is asked for
#include "storage/records.h"

#include <map>
#include <optional>
#include <string>

namespace fedgan::coordinator {

namespace wire = protocol::wire;

/// "STATUS_NON_FINITE" -> "NON_FINITE": a status as `updates.reject_reason` stores it.
std::string reason_name(wire::StatusCode code);

/// A site's reported metrics as a JSON object, keys sorted. The metrics passed
/// check_update_metrics, so every value is finite and bounded.
std::string metrics_json(const google::protobuf::Map<std::string, double>& metrics);

/// What a round's commit stores in `rounds.metrics` (docs/storage.md): the number of updates, their
/// total weight, the round's seconds, the networks it trained, its server learning rate and the
/// mean of each reported loss.
std::string round_metrics_json(size_t updates, double total_weight, double seconds,
                               const std::string& networks, double server_lr,
                               const std::map<std::string, double>& mean_losses);

/// The value an UpdateHeader reports for metric `key` (one of protocol::metric's names), if it
/// reports one.
std::optional<double> reported_metric(const wire::UpdateHeader& header, const std::string& key);

/// The measurements of one upload that go into its row beside the verdict.
struct UploadFacts {
  int64_t round_id = 0;  // the attempt the upload belongs to
  std::string identity;
  double received_at = 0;                      // unix seconds
  const wire::UpdateHeader* header = nullptr;  // null when none arrived
  uint64_t bytes = 0;
  std::optional<double> upload_seconds;
  std::optional<double> delta_norm;  // when it was measured
  std::optional<double> norm_bound;  // the bound the norm was judged against
};

/// The row of an accepted update: its sample count, norm and bound, bytes, and the metrics the
/// history keeps (train_seconds, samples_per_second, all of them as JSON).
storage::Update accepted_update(const UploadFacts& facts);

/// The row of a refused upload: the status as its reason, the message (cut by the storage layer),
/// the sample count when it is one the database can hold (at most kMaxSampleCount; the message
/// names any other), and the norm and bound when they were measured.
storage::Update refused_update(const UploadFacts& facts, const protocol::ProtocolError& error);

}  // namespace fedgan::coordinator
