#include "coordinator/update_validator.h"

#include "protocol/tensor_records.h"

#include <cmath>

namespace fedgan::coordinator {

using protocol::check;

RoundRoster::RoundRoster(int64_t round, std::map<std::string, std::string> nonces,
                         wire::Manifest manifest, const AggregationOptions& options)
    : round_(round),
      nonces_(std::move(nonces)),
      manifest_(std::move(manifest)),
      accepted_codecs_(1u << manifest_.codec()),
      options_(options) {
  for (const auto& entry : nonces_) clients_[entry.first] = State::kWaiting;
}

const std::string& RoundRoster::nonce(const std::string& identity) const {
  return nonces_.at(identity);
}

void RoundRoster::admit(const std::string& identity, const wire::UpdateHeader& header) {
  check(header.round() == static_cast<uint64_t>(round_), wire::STATUS_WRONG_ROUND,
        "update for round {} refused: round {} is running", header.round(), round_);
  const auto client = clients_.find(identity);
  check(client != clients_.end(), wire::STATUS_NOT_SELECTED, "'{}' is not selected for round {}",
        identity, round_);
  check(header.nonce() == nonces_.at(identity), wire::STATUS_STALE_NONCE,
        "update of '{}' does not carry the nonce of its round {} task (replayed or stale)",
        identity, round_);
  check(client->second == State::kWaiting, wire::STATUS_DUPLICATE_UPDATE,
        "'{}' already uploaded an update for round {}", identity, round_);
  check(
      header.num_samples() >= options_.min_samples && header.num_samples() <= options_.max_samples,
      wire::STATUS_SAMPLE_COUNT, "reported sample count {} is outside [{}, {}]",
      header.num_samples(), options_.min_samples, options_.max_samples);
  protocol::validate_manifest(header.delta(), manifest_, accepted_codecs_);
  client->second = State::kUploading;
}

void RoundRoster::finish(const std::string& identity, bool accepted) {
  auto client = clients_.find(identity);
  if (client != clients_.end() && client->second == State::kUploading) {
    client->second = accepted ? State::kAccepted : State::kRefused;
  }
}

void RoundRoster::drop(const std::string& identity) {
  auto client = clients_.find(identity);
  if (client != clients_.end() &&
      (client->second == State::kWaiting || client->second == State::kUploading)) {
    client->second = State::kGone;
  }
}

size_t RoundRoster::accepted() const {
  size_t count = 0;
  for (const auto& entry : clients_) count += entry.second == State::kAccepted;
  return count;
}

size_t RoundRoster::outstanding() const {
  size_t count = 0;
  for (const auto& entry : clients_) {
    count += entry.second == State::kWaiting || entry.second == State::kUploading;
  }
  return count;
}

std::vector<std::string> RoundRoster::identities() const {
  std::vector<std::string> names;
  for (const auto& entry : clients_) names.push_back(entry.first);
  return names;
}

NormVerdict check_delta_norm(double norm, const AggregationOptions& options) {
  check(std::isfinite(norm), wire::STATUS_NON_FINITE, "delta norm is not finite");
  if (options.max_delta_norm <= 0 || norm <= options.max_delta_norm) return {};
  check(options.norm_policy == "clip", wire::STATUS_NORM_BOUND,
        "delta L2 norm {:.6g} exceeds the bound {:.6g}", norm, options.max_delta_norm);
  return {true, options.max_delta_norm / norm};
}

}  // namespace fedgan::coordinator
