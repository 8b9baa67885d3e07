#include "coordinator/options.h"

#include "config/value_checks.h"
#include "coordinator/error.h"
#include "coordinator/rule_options.h"
#include "pki/identity.h"
#include "text/printable.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

namespace fedgan::coordinator {
namespace {

// Storage keeps run ids of 1 to 200 characters.
constexpr size_t kMaxRunIdLength = 200;

constexpr auto check_positive = config::check_positive<CoordinatorError>;
constexpr auto check_at_least = config::check_at_least<CoordinatorError>;

void check_not_empty(const std::filesystem::path& path, std::string_view name) {
  check(!path.empty(), "{} is empty: name the file in the config file or with --{}", name, name);
}

bool printable_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

void validate_server(const ServerOptions& s, const RoundOptions& r) {
  check(!s.bind_address.empty(), "server.bind_address is empty: use an address such as 0.0.0.0");
  const size_t needed = std::max({r.min_clients, r.quorum, r.min_per_round});
  check(s.max_connections >= needed,
        "server.max_connections is {}: a round needs {} connected clients (rounds.min_clients, "
        "rounds.quorum), so it could never start",
        s.max_connections, needed);
  // The rule certificates' CNs follow (pki::is_valid_identity): any other entry could never match
  // a certificate, and is a mistake to report now rather than a site refused later.
  for (const std::string& identity : s.allowed_identities) {
    check(pki::is_valid_identity(identity),
          "server.allowed_identities holds \"{}\", which no certificate can carry as its "
          "identity: an identity is a certificate CN of 1 to {} bytes of UTF-8 without control, "
          "text-reordering or line-separator characters and without leading or trailing spaces",
          text::Printable{identity, 4 * pki::kMaxIdentityBytes}, pki::kMaxIdentityBytes);
  }
  check_positive(s.handshake_timeout_seconds, "server.handshake_timeout_seconds");
  check_positive(s.idle_timeout_seconds, "server.idle_timeout_seconds");
  check_positive(s.frame_timeout_seconds, "server.frame_timeout_seconds");
  check_positive(s.heartbeat_interval_seconds, "server.heartbeat_interval_seconds");
  check(s.heartbeat_interval_seconds < s.idle_timeout_seconds,
        "server.heartbeat_interval_seconds is {} but server.idle_timeout_seconds is {}: idle "
        "connections would be closed between heartbeats",
        s.heartbeat_interval_seconds, s.idle_timeout_seconds);
}

void validate_tls(const TlsOptions& t) {
  check_not_empty(t.ca_file, "tls.ca_file");
  check_not_empty(t.certificate_file, "tls.certificate_file");
  check_not_empty(t.private_key_file, "tls.private_key_file");
}

// Clients a round selects when it starts with as few connected clients as it waits for (the
// formula of RoundOptions::fraction).
size_t smallest_selection(const RoundOptions& r) {
  const size_t connected = std::max({r.min_clients, r.quorum, r.min_per_round});
  auto selected = static_cast<size_t>(std::ceil(r.fraction * static_cast<double>(connected)));
  selected = std::max(selected, r.min_per_round);
  if (r.max_per_round > 0) selected = std::min(selected, r.max_per_round);
  return std::min(selected, connected);
}

void validate_rounds(const RoundOptions& r) {
  check(r.min_clients >= 1, "rounds.min_clients is 0: it must be at least 1");
  check(std::isfinite(r.fraction) && r.fraction > 0 && r.fraction <= 1,
        "rounds.fraction is {}: it must be in (0, 1]", r.fraction);
  check(r.min_per_round >= 1, "rounds.min_per_round is 0: it must be at least 1");
  check(r.min_per_round <= r.min_clients,
        "rounds.min_per_round is {} but rounds.min_clients is {}: a round may start with fewer "
        "clients than it must select",
        r.min_per_round, r.min_clients);
  check(r.max_per_round == 0 || r.max_per_round >= r.min_per_round,
        "rounds.max_per_round is {} but rounds.min_per_round is {}", r.max_per_round,
        r.min_per_round);
  check(r.max_per_round == 0 || r.quorum <= r.max_per_round,
        "rounds.quorum is {} but rounds.max_per_round is {}: a round could never commit", r.quorum,
        r.max_per_round);
  const size_t selected = smallest_selection(r);
  check(r.quorum <= selected,
        "rounds.quorum is {} but a round that starts with the clients it waits for selects only "
        "{} (rounds.min_clients {}, rounds.fraction {}): it could not commit",
        r.quorum, selected, r.min_clients, r.fraction);
  check_positive(r.deadline_seconds, "rounds.deadline_seconds");
  check_at_least(r.max_rounds, 1, "rounds.max_rounds");
  check_at_least(r.max_attempts, 1, "rounds.max_attempts");
}

void validate_model(const ModelOptions& m) {
  // The sites' CSV reader takes at most 4096 columns by default; the bound keeps the model small.
  check_at_least(m.data_dim, 1, "model.data_dim");
  check(m.data_dim <= 4096, "model.data_dim is {}: it must be at most 4096", m.data_dim);
}

// A task carries its counts as 32-bit integers (wire::TrainingHyperparameters).
void check_task_count(int64_t value, std::string_view name) {
  check_at_least(value, 1, name);
  constexpr int64_t kMax = std::numeric_limits<uint32_t>::max();
  check(value <= kMax, "{} is {}: it must be at most {}", name, value, kMax);
}

void validate_training(const TrainingOptions& t) {
  check_task_count(t.local_steps, "training.local_steps");
  check_task_count(t.batch_size, "training.batch_size");
  check_positive(t.lr_generator, "training.lr_generator");
  check_positive(t.lr_discriminator, "training.lr_discriminator");
  check(t.beta1 >= 0 && t.beta1 < 1, "training.beta1 is {}: it must be in [0, 1)", t.beta1);
  check(t.beta2 >= 0 && t.beta2 < 1, "training.beta2 is {}: it must be in [0, 1)", t.beta2);
  check_task_count(t.n_critic, "training.n_critic");
}

void validate_aggregation(const AggregationOptions& a) {
  check_positive(a.server_lr, "aggregation.server_lr");
  check(a.server_beta1 >= 0 && a.server_beta1 < 1,
        "aggregation.server_beta1 is {}: it must be in [0, 1)", a.server_beta1);
  check(a.server_beta2 >= 0 && a.server_beta2 < 1,
        "aggregation.server_beta2 is {}: it must be in [0, 1)", a.server_beta2);
  check_positive(a.server_epsilon, "aggregation.server_epsilon");
  check(std::isfinite(a.norm_bound_factor) && a.norm_bound_factor >= 1,
        "aggregation.norm_bound_factor is {}: it must be a finite number >= 1 (a smaller factor "
        "would clip the median update)",
        a.norm_bound_factor);
  check(std::isfinite(a.max_delta_norm) && a.max_delta_norm >= 0,
        "aggregation.max_delta_norm is {}: it must be a finite number >= 0", a.max_delta_norm);
  check(a.norm_bound != NormBoundKind::kFixed || a.max_delta_norm > 0,
        "aggregation.norm_bound is \"fixed\" but aggregation.max_delta_norm is 0: set the bound");
  check(a.norm_bound == NormBoundKind::kFixed || a.max_delta_norm == 0,
        "aggregation.max_delta_norm is {} but aggregation.norm_bound is \"{}\": set norm_bound "
        "= \"fixed\" to use a fixed bound",
        a.max_delta_norm, config::enum_name(a.norm_bound));
  check(a.min_samples >= 1, "aggregation.min_samples is 0: it must be at least 1");
  check(a.max_samples <= kMaxSampleCount, "aggregation.max_samples is {}: it must be at most {}",
        a.max_samples, kMaxSampleCount);
  check(a.min_samples <= a.max_samples,
        "aggregation.min_samples is {} but aggregation.max_samples is {}: every update would be "
        "rejected",
        a.min_samples, a.max_samples);
}

void validate_evaluation(const EvaluationOptions& e, const ModelOptions& m) {
  check_at_least(e.every_rounds, 0, "evaluation.every_rounds");
  check_at_least(e.samples, 1, "evaluation.samples");
  check_at_least(e.threads, 1, "evaluation.threads");
  if (e.every_rounds == 0) return;
  const bool images = e.dataset == EvaluationDataset::kFashionMnist;
  check(images == (m.architecture == Architecture::kDcgan),
        "evaluation.dataset is \"{}\" but model.architecture is \"{}\": images are evaluated with "
        "dcgan, 2-D mixtures (grid, ring) with mlp",
        config::enum_name(e.dataset), config::enum_name(m.architecture));
  check(images || m.data_dim == 2,
        "evaluation.dataset is \"{}\", a 2-D mixture, but model.data_dim is {}: evaluate only "
        "2-D models (or set evaluation.every_rounds = 0)",
        config::enum_name(e.dataset), m.data_dim);
  if (images) {
    check(!e.data_dir.empty(),
          "evaluation.data_dir is empty: it must name the Fashion-MNIST "
          "directory");
    check(!e.cache_dir.empty(), "evaluation.cache_dir is empty: it must name a directory");
  }
}

}  // namespace

void validate_storage(const StorageOptions& s) {
  check(!s.database.empty(), "storage.database is empty: it must name the database file");
  check(!s.checkpoint_dir.empty(), "storage.checkpoint_dir is empty: it must name a directory");
  check(!s.run_id.empty() && s.run_id.size() <= kMaxRunIdLength && printable_ascii(s.run_id),
        "storage.run_id is \"{}\": it must be 1 to {} printable ASCII characters", s.run_id,
        kMaxRunIdLength);
  check_at_least(s.keep_last, 1, "storage.keep_last");
  check_at_least(s.keep_every, 0, "storage.keep_every");
}

void validate(const CoordinatorOptions& options) {
  validate_server(options.server, options.rounds);
  validate_tls(options.tls);
  validate_rounds(options.rounds);
  validate_model(options.model);
  validate_training(options.training);
  check(options.training.networks == Networks::kBoth || options.model.federate == Federate::kBoth,
        "training.networks = \"alternate\" needs model.federate = \"both\": with a private "
        "discriminator the discriminator rounds would move nothing the federation shares");
  validate_aggregation(options.aggregation);
  validate_rule(options.aggregation, options.rounds);
  validate_storage(options.storage);
  validate_evaluation(options.evaluation, options.model);
}

}  // namespace fedgan::coordinator
