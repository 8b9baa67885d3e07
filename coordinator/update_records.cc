#include "coordinator/update_records.h"

#include "coordinator/options.h"

#include <nlohmann/json.hpp>

namespace fedgan::coordinator {
namespace {

storage::Update base_record(const UploadFacts& facts) {
  storage::Update update;
  update.round_id = facts.round_id;
  update.client = facts.identity;
  update.received_at = facts.received_at;
  update.bytes_received = static_cast<int64_t>(std::min<uint64_t>(facts.bytes, INT64_MAX));
  update.upload_seconds = facts.upload_seconds;
  update.delta_norm = facts.delta_norm;
  update.norm_bound = facts.norm_bound;
  if (facts.header && facts.header->num_samples() <= kMaxSampleCount) {
    update.num_samples = static_cast<int64_t>(facts.header->num_samples());
  }
  return update;
}

}  // namespace

std::optional<double> reported_metric(const wire::UpdateHeader& header, const std::string& key) {
  const auto found = header.metrics().find(key);
  if (found == header.metrics().end()) return std::nullopt;
  return found->second;
}

std::string reason_name(wire::StatusCode code) {
  std::string name = wire::StatusCode_Name(code);
  if (name.empty()) return "INTERNAL";  // not a code of this build: nothing a peer sent
  return name.rfind("STATUS_", 0) == 0 ? name.substr(7) : name;
}

std::string metrics_json(const google::protobuf::Map<std::string, double>& metrics) {
  const std::map<std::string, double> sorted(metrics.begin(), metrics.end());
  return nlohmann::json(sorted).dump();
}

std::string round_metrics_json(size_t updates, double total_weight, double seconds,
                               const std::string& networks, double server_lr,
                               const std::map<std::string, double>& mean_losses) {
  nlohmann::ordered_json json;
  json["updates"] = updates;
  json["total_weight"] = total_weight;
  json["seconds"] = seconds;
  json["networks"] = networks;
  json["server_lr"] = server_lr;
  for (const auto& [key, value] : mean_losses) json[key] = value;
  return json.dump();
}

storage::Update accepted_update(const UploadFacts& facts) {
  storage::Update update = base_record(facts);
  update.accepted = true;
  update.train_seconds = reported_metric(*facts.header, protocol::metric::kTrainSeconds);
  update.samples_per_second = reported_metric(*facts.header, protocol::metric::kSamplesPerSecond);
  update.local_metrics_json = metrics_json(facts.header->metrics());
  return update;
}

storage::Update refused_update(const UploadFacts& facts, const protocol::ProtocolError& error) {
  storage::Update update = base_record(facts);
  update.accepted = false;
  update.reject_reason = reason_name(error.code());
  update.reject_message = error.what();
  return update;
}

}  // namespace fedgan::coordinator
