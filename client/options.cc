#include "client/options.h"

#include "client/error.h"
#include "config/value_checks.h"

#include <cmath>
#include <string_view>

namespace fedgan::client {
namespace {

// The longest wait between reconnection attempts that validate() accepts.
constexpr double kMaxReconnectSeconds = 3600;

constexpr auto check_positive = config::check_positive<ClientError>;
constexpr auto check_at_least = config::check_at_least<ClientError>;

void check_named(const std::filesystem::path& path, std::string_view name, std::string_view why) {
  check(!path.empty(), "{} is empty: {} (in the config file or with --{})", name, why, name);
}

void validate_coordinator(const ConnectOptions& c) {
  check(!c.host.empty(), "coordinator.host is empty: name the coordinator's host or address");
  check(c.port != 0, "coordinator.port is 0: name the coordinator's port");
  check_positive(c.handshake_timeout_seconds, "coordinator.handshake_timeout_seconds");
  check_positive(c.idle_timeout_seconds, "coordinator.idle_timeout_seconds");
  check_positive(c.frame_timeout_seconds, "coordinator.frame_timeout_seconds");
  check_positive(c.heartbeat_interval_seconds, "coordinator.heartbeat_interval_seconds");
  check(c.heartbeat_interval_seconds < c.idle_timeout_seconds,
        "coordinator.heartbeat_interval_seconds is {} but coordinator.idle_timeout_seconds is {}: "
        "the connection would be closed between heartbeats",
        c.heartbeat_interval_seconds, c.idle_timeout_seconds);
  check_positive(c.reconnect_initial_seconds, "coordinator.reconnect_initial_seconds");
  check_positive(c.reconnect_max_seconds, "coordinator.reconnect_max_seconds");
  check(c.reconnect_max_seconds >= c.reconnect_initial_seconds,
        "coordinator.reconnect_max_seconds is {} but coordinator.reconnect_initial_seconds is {}: "
        "the longest wait must not be shorter than the first",
        c.reconnect_max_seconds, c.reconnect_initial_seconds);
  check(c.reconnect_max_seconds <= kMaxReconnectSeconds,
        "coordinator.reconnect_max_seconds is {}: it must be at most {} (an hour)",
        c.reconnect_max_seconds, kMaxReconnectSeconds);
  check_at_least(c.max_connect_failures, 0, "coordinator.max_connect_failures");
}

void validate_tls(const TlsOptions& t) {
  check_named(t.ca_file, "tls.ca_file", "name the federation CA's certificate");
  check_named(t.certificate_file, "tls.certificate_file", "name this site's certificate");
  check_named(t.private_key_file, "tls.private_key_file", "name this site's private key");
}

void validate_partition(const DataOptions& d) {
  check_at_least(d.clients, 1, "data.clients");
  check(d.client_index >= 0 && d.client_index < d.clients,
        "data.client_index is {} but data.clients is {}: it must be in [0, {})", d.client_index,
        d.clients, d.clients);
  if (d.partition.empty() || d.partition == "iid") return;
  const bool labelled =
      d.format == DataFormat::kMixture || (d.format == DataFormat::kIdx && !d.labels.empty());
  check(labelled,
        "data.partition is \"{}\", which splits by label, but data.format \"{}\" has no labels "
        "(use iid, or idx with data.labels, or mixture)",
        d.partition, config::enum_name(d.format));
}

void validate_data(const DataOptions& d) {
  check(d.format != DataFormat::kUnset,
        "data.format is empty: choose idx, png-dir, csv or mixture (in the config file or with "
        "--data.format)");
  if (d.format == DataFormat::kIdx)
    check_named(d.images, "data.images", "name the IDX images file");
  if (d.format == DataFormat::kPngDir) {
    check_named(d.directory, "data.directory", "name the directory of PNG images");
  }
  if (d.format == DataFormat::kCsv) check_named(d.csv, "data.csv", "name the CSV file");
  if (d.format == DataFormat::kMixture) {
    check_at_least(d.mixture_rows, 1, "data.mixture_rows");
    check(d.mixture_rows <= d.max_samples,
          "data.mixture_rows is {} but data.max_samples is {}: raise data.max_samples",
          d.mixture_rows, d.max_samples);
  }
  check_at_least(d.max_samples, 1, "data.max_samples");
  check_at_least(d.max_columns, 1, "data.max_columns");
  check_at_least(d.max_image_side, 1, "data.max_image_side");
  validate_partition(d);
}

void validate_limits(const LimitsOptions& l) {
  check_at_least(l.max_local_steps, 1, "limits.max_local_steps");
  check_at_least(l.max_batch_size, 1, "limits.max_batch_size");
  check_at_least(l.max_n_critic, 1, "limits.max_n_critic");
  check_positive(l.max_learning_rate, "limits.max_learning_rate");
  check(l.max_model_bytes > 0, "limits.max_model_bytes is 0: it must be at least 1");
}

}  // namespace

void validate(const ClientOptions& options) {
  validate_coordinator(options.coordinator);
  validate_tls(options.tls);
  validate_data(options.data);
  check_at_least(options.training.threads, 0, "training.threads");
  check(!options.training.device.empty(),
        "training.device is empty: use auto, cpu, cuda or cuda:N");
  validate_limits(options.limits);
  check_named(options.state.dir, "state.dir", "name the directory of the local state");
  const AttackOptions& a = options.attack;
  check(std::isfinite(a.scale) && a.scale != 0, "attack.scale is {}: it must be finite and not 0",
        a.scale);
  check_positive(a.noise_std, "attack.noise_std");
}

}  // namespace fedgan::client
