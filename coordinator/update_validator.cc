#include "coordinator/update_validator.h"

#include "protocol/frame.h"
#include "protocol/metric_names.h"
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

bool RoundRoster::issued(const std::string& identity, const std::string& nonce) const {
  const auto found = nonces_.find(identity);
  return found != nonces_.end() && found->second == nonce;
}

std::vector<std::string> RoundRoster::uploading() const {
  std::vector<std::string> names;
  for (const auto& [identity, state] : clients_) {
    if (state == State::kUploading) names.push_back(identity);
  }
  return names;
}

bool RoundRoster::is_uploading(const std::string& identity) const {
  const auto found = clients_.find(identity);
  return found != clients_.end() && found->second == State::kUploading;
}

NormVerdict check_delta_norm(double norm, std::optional<double> bound,
                             const AggregationOptions& options) {
  check(std::isfinite(norm), wire::STATUS_NON_FINITE, "delta norm is not finite");
  if (!bound || norm <= *bound) return {};
  check(options.norm_policy == NormPolicy::kClip, wire::STATUS_NORM_BOUND,
        "delta L2 norm {:.6g} exceeds the bound {:.6g}", norm, *bound);
  return {true, *bound / norm};
}

const std::vector<MetricRange>& known_metrics() {
  namespace metric = protocol::metric;
  static const std::vector<MetricRange> ranges = {
      {metric::kGeneratorLoss, -1e9, 1e9}, {metric::kDiscriminatorLoss, -1e9, 1e9},
      {metric::kTrainSeconds, 0, 1e7},     {metric::kDownloadSeconds, 0, 1e7},
      {metric::kDeltaSeconds, 0, 1e7},     {metric::kSamplesPerSecond, 0, 1e12},
  };
  return ranges;
}

void check_update_fields(const wire::UpdateHeader& header) {
  check(header.nonce().size() <= kMaxNonceBytes, wire::STATUS_MALFORMED,
        "an update's nonce is at most {} bytes, this one {}", kMaxNonceBytes,
        header.nonce().size());
  const auto& metrics = header.metrics();
  check(metrics.size() <= static_cast<size_t>(kMaxMetrics), wire::STATUS_MALFORMED,
        "an update reports at most {} metrics, this one {}", kMaxMetrics, metrics.size());
  for (const auto& [key, value] : metrics) {
    bool plain = !key.empty() && key.size() <= kMaxMetricNameBytes;
    for (const char c : key) plain &= std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    check(plain, wire::STATUS_MALFORMED, "metric names are 1-{} letters, digits or '_'",
          kMaxMetricNameBytes);
    check(std::isfinite(value), wire::STATUS_NON_FINITE, "metric '{}' is not finite", key);
    double min = -kMaxMetricMagnitude;
    double max = kMaxMetricMagnitude;
    for (const MetricRange& range : known_metrics()) {
      if (key == range.name) {
        min = range.min;
        max = range.max;
      }
    }
    check(value >= min && value <= max, wire::STATUS_OUT_OF_RANGE,
          "metric '{}' is {:.9g}, outside [{:g}, {:g}]", key, value, min, max);
  }
}

void check_hello(const wire::Hello& hello, uint64_t max_samples, wire::Codec codec) {
  // First: an older site's other fields need not mean what this version reads in them.
  check(hello.minor_version() >= protocol::kMinPeerMinorVersion, wire::STATUS_UNSUPPORTED_VERSION,
        "the site speaks protocol {}.{}; this coordinator speaks {}.{} and admits sites of {}.{} "
        "or later, whose tasks they can read: upgrade the site",
        protocol::kProtocolMajorVersion, hello.minor_version(), protocol::kProtocolMajorVersion,
        protocol::kProtocolMinorVersion, protocol::kProtocolMajorVersion,
        protocol::kMinPeerMinorVersion);
  check(hello.num_samples() <= max_samples, wire::STATUS_SAMPLE_COUNT,
        "Hello reports {} samples; this federation admits at most {} per site", hello.num_samples(),
        max_samples);
  check(hello.codecs_size() <= 16, wire::STATUS_MALFORMED, "Hello lists {} codecs, at most 16",
        hello.codecs_size());
  bool speaks_codec = false;
  for (const int c : hello.codecs()) speaks_codec |= c == codec;
  check(speaks_codec, wire::STATUS_MALFORMED,
        "this federation sends models as {}, which the client does not list",
        wire::Codec_Name(codec));
}

}  // namespace fedgan::coordinator
