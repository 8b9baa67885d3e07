#include "coordinator/config_file.h"

#include "config/command_line.h"
#include "config/toml_file.h"
#include "coordinator/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

namespace fedgan::coordinator {
namespace {

namespace fs = std::filesystem;

// The one list of configurable fields: the TOML file, the flags and to_json are all built from it,
// so a field listed here is configurable everywhere at once. `Options` is CoordinatorOptions or
// const CoordinatorOptions; `visit(section, key, field, help)` is called in this order, which is
// also the order of --help and of to_json. The help strings are the one-line meanings that
// docs/configuration.md repeats.
template <typename Options, typename Visitor>
void for_each_field(Options& o, Visitor&& visit) {
  auto& s = o.server;
  visit("server", "bind_address", s.bind_address,
        "Address to listen on (0.0.0.0 or :: for every interface)");
  visit("server", "port", s.port, "TCP port to listen on (0 = any free port)");
  visit("server", "max_connections", s.max_connections,
        "Connections at once; more are closed right after accept");
  visit("server", "max_connections_per_identity", s.max_connections_per_identity,
        "Open connections of one identity at once (0 = no limit); more are refused");
  visit("server", "allowed_identities", s.allowed_identities,
        "Client certificate CNs admitted (none = every certificate of the federation CA)");
  visit("server", "handshake_timeout_seconds", s.handshake_timeout_seconds,
        "Seconds a connection has to finish its TLS handshake and Hello");
  visit("server", "idle_timeout_seconds", s.idle_timeout_seconds,
        "Seconds of silence after which a connection is closed");
  visit("server", "frame_timeout_seconds", s.frame_timeout_seconds,
        "Seconds a started frame has to arrive or be taken");
  visit("server", "heartbeat_interval_seconds", s.heartbeat_interval_seconds,
        "Seconds between heartbeats (less than idle_timeout_seconds)");
  auto& t = o.tls;
  visit("tls", "ca_file", t.ca_file, "PEM certificate of the federation CA (required)");
  visit("tls", "certificate_file", t.certificate_file,
        "PEM certificate of this coordinator (required)");
  visit("tls", "private_key_file", t.private_key_file,
        "PEM private key of the certificate (required)");
  visit("tls", "crl_file", t.crl_file, "PEM revocation list of the CA (empty = none)");
  visit("tls", "allow_tls12", t.allow_tls12, "Accept TLS 1.2 as well as 1.3");
  auto& r = o.rounds;
  visit("rounds", "min_clients", r.min_clients, "Connected clients needed before a round starts");
  visit("rounds", "fraction", r.fraction,
        "Fraction of the connected clients selected per round, in (0, 1]");
  visit("rounds", "min_per_round", r.min_per_round, "Fewest clients selected per round");
  visit("rounds", "max_per_round", r.max_per_round,
        "Most clients selected per round (0 = no limit)");
  visit("rounds", "quorum", r.quorum,
        "Accepted updates needed to commit a round (0 = every selected client)");
  visit("rounds", "deadline_seconds", r.deadline_seconds,
        "Seconds from sending the tasks to the round's deadline");
  visit("rounds", "max_rounds", r.max_rounds, "Rounds to commit before the run finishes");
  visit("rounds", "max_attempts", r.max_attempts,
        "Attempts of one round before the run stops with an error");
  visit("rounds", "seed", r.seed, "Seed of client selection");
  auto& m = o.model;
  visit("model", "architecture", m.architecture, "dcgan (28x28 images) or mlp (vectors)");
  visit("model", "federate", m.federate,
        "both (generator and discriminator) or generator (sites keep their discriminators)");
  visit("model", "data_dim", m.data_dim,
        "mlp: width of a data row (the sites' CSV columns; 2 for the 2-D mixtures)");
  visit("model", "init_checkpoint", m.init_checkpoint,
        "Initial weights from this state dict (empty = seeded initialisation)");
  visit("model", "init_seed", m.init_seed, "Seed of the initial weights");
  visit("model", "codec", m.codec, "Wire codec of the model and the deltas: fp32 or fp16");
  auto& tr = o.training;
  visit("training", "local_steps", tr.local_steps, "Generator updates per client per round");
  visit("training", "batch_size", tr.batch_size, "Samples per optimizer step");
  visit("training", "optimizer", tr.optimizer,
        "Sites' optimizer: adam, or sgd (with aggregation.server_optimizer = adam)");
  visit("training", "lr_generator", tr.lr_generator, "Generator learning rate");
  visit("training", "lr_discriminator", tr.lr_discriminator, "Discriminator learning rate");
  visit("training", "beta1", tr.beta1, "Adam beta1, in [0, 1)");
  visit("training", "beta2", tr.beta2, "Adam beta2, in [0, 1)");
  visit("training", "loss", tr.loss, "GAN loss: ns (non-saturating), hinge or wgan-gp");
  visit("training", "n_critic", tr.n_critic, "Discriminator updates per generator update");
  visit("training", "networks", tr.networks,
        "Networks a round trains: both, or alternate (odd rounds D only, even rounds G only)");
  auto& a = o.aggregation;
  visit("aggregation", "weighting", a.weighting,
        "Update weights: samples (reported sample count) or uniform");
  visit("aggregation", "max_samples_per_update", a.max_samples_per_update,
        "Cap on an update's sample-count weight (0 = no cap)");
  visit("aggregation", "rule", a.rule,
        "How a round's deltas become one aggregate: fedavg (weighted mean) or a robust rule");
  visit("aggregation", "trim_beta", a.trim_beta,
        "trimmed_mean: share dropped at each end of every coordinate, in [0, 0.5)");
  visit("aggregation", "byzantine", a.byzantine, "multi_krum, bulyan: Byzantine updates (f)");
  visit("aggregation", "krum_selected", a.krum_selected,
        "multi_krum: best-scored updates averaged (m); 0 = n - f");
  visit("aggregation", "weiszfeld_iterations", a.weiszfeld_iterations,
        "geometric_median: cap on Weiszfeld iterations");
  visit("aggregation", "clip_radius", a.clip_radius,
        "centered_clipping: clipping radius (tau, a delta norm)");
  visit("aggregation", "clip_iterations", a.clip_iterations,
        "centered_clipping: clipping iterations");
  visit("aggregation", "bucket_size", a.bucket_size,
        "Robust rules: average shuffled updates in buckets of this many first (0, 1: off)");
  visit("aggregation", "robust_memory_mb", a.robust_memory_mb,
        "Robust rules: MiB of a round's updates kept in memory; the rest is spilled to disk");
  visit("aggregation", "quarantine_after", a.quarantine_after,
        "Robust rules: quarantine a site flagged in this many of the last quarantine_window "
        "committed rounds (0 = never)");
  visit("aggregation", "quarantine_window", a.quarantine_window,
        "Robust rules: the committed rounds quarantine_after counts flags in");
  visit("aggregation", "server_optimizer", a.server_optimizer,
        "sgd (global += server_lr * mean delta) or adam (one Adam step along the mean delta)");
  visit("aggregation", "server_lr", a.server_lr, "Step size of the server optimizer");
  visit("aggregation", "server_lr_decay", a.server_lr_decay,
        "none, or linear (server_lr falls linearly to server_lr / max_rounds in the last round)");
  visit("aggregation", "server_beta1", a.server_beta1, "Server Adam beta1, in [0, 1)");
  visit("aggregation", "server_beta2", a.server_beta2, "Server Adam beta2, in [0, 1)");
  visit("aggregation", "server_epsilon", a.server_epsilon,
        "Server Adam epsilon (added to the root of the second moment)");
  visit("aggregation", "norm_bound", a.norm_bound,
        "Bound on each delta's L2 norm: adaptive (norm_bound_factor x the median of the last "
        "such round), fixed (max_delta_norm) or none");
  visit("aggregation", "norm_bound_factor", a.norm_bound_factor,
        "The adaptive bound's multiple of the median norm (>= 1)");
  visit("aggregation", "max_delta_norm", a.max_delta_norm,
        "The bound under norm_bound = fixed (0 otherwise)");
  visit("aggregation", "norm_policy", a.norm_policy,
        "A delta over the bound: clip it to the bound, or reject it");
  visit("aggregation", "min_samples", a.min_samples,
        "Updates reporting fewer samples are rejected");
  visit("aggregation", "max_samples", a.max_samples, "Updates reporting more samples are rejected");
  auto& st = o.storage;
  visit("storage", "database", st.database, "SQLite database of the run's history");
  visit("storage", "checkpoint_dir", st.checkpoint_dir, "Directory of the round checkpoints");
  visit("storage", "run_id", st.run_id,
        "Run to create or resume (1 to 200 printable ASCII characters)");
  visit("storage", "keep_last", st.keep_last, "Newest checkpoints kept");
  visit("storage", "keep_every", st.keep_every,
        "Also keep the checkpoint of every keep_every-th round (0 = none)");
  auto& e = o.evaluation;
  visit("evaluation", "every_rounds", e.every_rounds,
        "Evaluate the global generator every this many committed rounds (0 = never)");
  visit("evaluation", "dataset", e.dataset,
        "fashion-mnist (classifier-FID, classes), grid or ring (modes, high quality)");
  visit("evaluation", "data_dir", e.data_dir, "Directory of the Fashion-MNIST IDX files");
  visit("evaluation", "cache_dir", e.cache_dir, "Cache of the evaluation classifier");
  visit("evaluation", "samples", e.samples, "Generated samples per evaluation");
  visit("evaluation", "threads", e.threads, "LibTorch intra-op threads of the evaluation");
}

// for_each_field as a value, for the templates of fedgan::config.
constexpr auto kFields = [](auto& options, auto&& visit) { for_each_field(options, visit); };

// ---------------------------------------------------------------------------------------------
// JSON, with nlohmann-json; sections and keys keep the order of for_each_field.

using Json = nlohmann::ordered_json;

// Text that is not UTF-8 (a path) is written with U+FFFD in its place, so the result is always
// valid JSON.
std::string dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

template <typename T>
Json json_value(const T& value) {
  if constexpr (std::is_same_v<T, double>) {
    return std::isfinite(value) ? Json(value) : Json(nullptr);  // JSON has no infinities
  } else if constexpr (std::is_same_v<T, fs::path>) {
    return value.string();
  } else if constexpr (config::kIsNamedEnum<T>) {
    return std::string(config::enum_name(value));  // the name the file takes
  } else {
    return value;  // bool, integers, strings, lists of strings
  }
}

// ---------------------------------------------------------------------------------------------
// The command line.

constexpr std::string_view kProgram = "fedgan-coordinator";

struct Subcommand {
  const char* name;
  const char* description;
};

constexpr Subcommand kSubcommands[] = {
    {"serve", "Run rounds with clients over mutual TLS until rounds.max_rounds are committed"},
    {"status", "Show the run: last committed round, any running attempt, recent clients"},
    {"history", "Print the run's round table from the database"},
};

// The subcommands, each with --config and every option flag, bound to `result`.
void add_subcommands(CLI::App& app, CommandLine& result, std::string& config_flag, int64_t& last) {
  app.require_subcommand(1);
  app.footer(
      "Every setting comes from the defaults, then the --config file, then the flags, each "
      "overriding the one before. SUBCOMMAND --help lists the flags with their defaults.");
  for (const Subcommand& command : kSubcommands) {
    CLI::App* sub = app.add_subcommand(command.name, command.description);
    const std::string name = command.name;
    sub->add_option("--config", config_flag,
                    "TOML configuration file; relative paths in it are relative to its directory");
    if (name != "serve") sub->add_flag("--json", result.json, "Print JSON instead of text");
    if (name == "history") {
      sub->add_option("--last", last, "Only the last N round attempts")
          ->transform(config::decimal_integer<int64_t>(1));
      sub->add_flag("--clients", result.clients,
                    "Every client with its totals and how often the robust rule flagged it");
    }
    add_option_flags(*sub, result.options);
  }
}

}  // namespace

CoordinatorOptions load_config_file(const fs::path& file) {
  CoordinatorOptions options;
  try {
    config::read_toml_file(file, options, kFields);
  } catch (const config::ConfigError& error) {
    throw CoordinatorError(error.what());
  }
  return options;
}

void add_option_flags(CLI::App& app, CoordinatorOptions& options) {
  config::add_field_flags(app, options, kFields);
}

std::string to_json(const CoordinatorOptions& options) {
  Json json = Json::object();
  for_each_field(options,
                 [&](std::string_view section, std::string_view key, const auto& field, auto) {
                   json[std::string(section)][std::string(key)] = json_value(field);
                 });
  return dump(json);
}

std::string json_quote(std::string_view text) {
  return dump(Json(std::string(text)));
}

std::string json_number(double value) {
  return dump(json_value(value));
}

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine result;
  const std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  if (!config::asks_for_help(args)) {
    result.config_file = config::find_config_flag(args);
    if (result.config_file) result.options = load_config_file(*result.config_file);
  }

  CLI::App app{
      "fedgan-coordinator: runs federated GAN training rounds with clients over mutual "
      "TLS and keeps the run's history in SQLite",
      std::string(kProgram)};
  std::string config_flag;  // already read above; declared so that CLI11 accepts it
  int64_t last = 0;
  add_subcommands(app, result, config_flag, last);

  if (!config::parse_or_explain(app, argc, argv, result.exit_code, result.message)) return result;
  const CLI::App* chosen = app.get_subcommands().front();
  result.command = chosen->get_name();
  if (result.command == "history" && chosen->count("--last") > 0) result.limit = last;
  if (result.command == "serve") {
    validate(result.options);
  } else {
    validate_storage(result.options.storage);
  }
  return result;
}

}  // namespace fedgan::coordinator
