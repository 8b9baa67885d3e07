#include "client/config_file.h"

#include "client/error.h"
#include "config/command_line.h"
#include "config/toml_file.h"

#include <algorithm>
#include <string_view>
#include <vector>

namespace fedgan::client {
namespace {

namespace fs = std::filesystem;

// The one list of configurable fields: the TOML file and the flags are both built from it, so a
// field listed here is configurable everywhere at once. `Options` is ClientOptions or const
// ClientOptions; `visit(section, key, field, help)` is called in this order, which is also the
// order of --help. The help strings are the one-line meanings docs/configuration.md repeats.
template <typename Options, typename Visitor>
void for_each_field(Options& o, Visitor&& visit) {
  auto& c = o.coordinator;
  visit("coordinator", "host", c.host, "Name or IP address of the coordinator");
  visit("coordinator", "port", c.port, "TCP port of the coordinator");
  visit("coordinator", "server_name", c.server_name,
        "Name the coordinator's certificate must carry (empty = host)");
  visit("coordinator", "handshake_timeout_seconds", c.handshake_timeout_seconds,
        "Seconds to connect, finish the TLS handshake and be welcomed");
  visit("coordinator", "idle_timeout_seconds", c.idle_timeout_seconds,
        "Seconds of silence after which the connection is closed");
  visit("coordinator", "frame_timeout_seconds", c.frame_timeout_seconds,
        "Seconds a started frame has to arrive or be taken");
  visit("coordinator", "heartbeat_interval_seconds", c.heartbeat_interval_seconds,
        "Seconds between heartbeats (less than the coordinator's idle timeout)");
  visit("coordinator", "reconnect_initial_seconds", c.reconnect_initial_seconds,
        "First wait before reconnecting; each later wait doubles");
  visit("coordinator", "reconnect_max_seconds", c.reconnect_max_seconds,
        "Longest wait before reconnecting (before the +-50% jitter)");
  visit("coordinator", "max_connect_failures", c.max_connect_failures,
        "Consecutive failed connection attempts before giving up (0 = never give up)");
  auto& t = o.tls;
  visit("tls", "ca_file", t.ca_file, "PEM certificate of the federation CA (required)");
  visit("tls", "certificate_file", t.certificate_file,
        "PEM certificate of this site; its CN is the site's identity (required)");
  visit("tls", "private_key_file", t.private_key_file,
        "PEM private key of the certificate (required)");
  visit("tls", "crl_file", t.crl_file, "PEM revocation list of the CA (empty = none)");
  visit("tls", "allow_tls12", t.allow_tls12, "Accept TLS 1.2 as well as 1.3");
  auto& d = o.data;
  visit("data", "format", d.format, "idx, png-dir, csv or mixture (required)");
  visit("data", "images", d.images, "idx: the images file (3-D uint8 IDX, plain or gzip)");
  visit("data", "labels", d.labels,
        "idx: the labels file (needed only by class-skewed partitions)");
  visit("data", "directory", d.directory, "png-dir: the directory of PNG images of one size");
  visit("data", "csv", d.csv, "csv: the file of numeric rows of equal length");
  visit("data", "csv_header", d.csv_header, "csv: skip the first line");
  visit("data", "mixture", d.mixture, "mixture: grid (25 modes) or ring (8 modes)");
  visit("data", "mixture_rows", d.mixture_rows, "mixture: points to draw");
  visit("data", "seed", d.seed,
        "Seed of the mixture and of the partition (the same at every site of an experiment)");
  visit("data", "partition", d.partition,
        "Keep this site's share: iid, classes:K or dirichlet:ALPHA (empty = all the data)");
  visit("data", "clients", d.clients, "Sites the partition splits the data among");
  visit("data", "client_index", d.client_index, "This site's index in the partition, from 0");
  visit("data", "max_samples", d.max_samples, "Most samples (rows, images) loaded");
  visit("data", "max_columns", d.max_columns, "Most columns of a CSV row");
  visit("data", "max_image_side", d.max_image_side, "Largest PNG width or height");
  visit("model", "architecture", o.model.architecture,
        "auto (dcgan for images, mlp for vectors), dcgan or mlp; other tasks are refused");
  auto& tr = o.training;
  visit("training", "device", tr.device, "auto, cpu, cuda or cuda:N");
  visit("training", "threads", tr.threads, "LibTorch intra-op threads (0 = LibTorch's default)");
  visit("training", "seed", tr.seed, "Seed of the private weights, batch order and latents");
  visit("training", "optimizer_state", tr.optimizer_state,
        "keep (Adam moments carry over between rounds) or reset (fresh every round)");
  auto& l = o.limits;
  visit("limits", "max_local_steps", l.max_local_steps, "Most local steps a task may ask for");
  visit("limits", "max_batch_size", l.max_batch_size, "Largest batch size a task may ask for");
  visit("limits", "max_n_critic", l.max_n_critic,
        "Most discriminator updates per generator update a task may ask for");
  visit("limits", "max_learning_rate", l.max_learning_rate,
        "Largest learning rate a task may ask for");
  visit("limits", "max_model_bytes", l.max_model_bytes,
        "Largest encoded model a task may send, in bytes");
  visit("state", "dir", o.state.dir,
        "Directory of the local state kept between rounds and restarts");
  visit("state", "keep_deltas", o.state.keep_deltas,
        "Also keep every uploaded delta as dir/delta_round_NNNNNN.pt");
  visit("log", "progress", o.log.progress,
        "Progress bar while training: auto (on a terminal), always or never");
  visit("attack", "kind", o.attack.kind,
        "For experiments only: none, sign_flip, scale, noise or zero (what this site does to its "
        "delta before uploading it)");
  visit("attack", "scale", o.attack.scale, "scale: the factor the delta is multiplied by");
  visit("attack", "noise_std", o.attack.noise_std, "noise: standard deviation of the upload");
  visit("attack", "seed", o.attack.seed, "noise: seed of the Gaussian draws");
}

// for_each_field as a value, for the templates of fedgan::config.
constexpr auto kFields = [](auto& options, auto&& visit) { for_each_field(options, visit); };

}  // namespace

ClientOptions load_config_file(const fs::path& file) {
  ClientOptions options;
  try {
    config::read_toml_file(file, options, kFields);
  } catch (const config::ConfigError& error) {
    throw ClientError(error.what());
  }
  return options;
}

void add_option_flags(CLI::App& app, ClientOptions& options) {
  config::add_field_flags(app, options, kFields);
}

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine result;
  const std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  if (!config::asks_for_help(args)) {
    result.config_file = config::find_config_flag(args);
    if (result.config_file) result.options = load_config_file(*result.config_file);
  }

  CLI::App app{
      "fedgan-client: trains a GAN on this site's data in the rounds of a federation and uploads "
      "only model deltas to the coordinator, over mutual TLS",
      "fedgan-client"};
  app.footer(
      "Every setting comes from the defaults, then the --config file, then the flags, each "
      "overriding the one before. The defaults shown are the built-in ones. "
      "docs/configuration.md describes every key.");
  std::string config_flag;  // already read above; declared so that CLI11 accepts it
  app.add_option("--config", config_flag,
                 "TOML configuration file; relative paths in it are relative to its directory");
  add_option_flags(app, result.options);

  if (!config::parse_or_explain(app, argc, argv, result.exit_code, result.message)) return result;
  validate(result.options);
  return result;
}

}  // namespace fedgan::client
