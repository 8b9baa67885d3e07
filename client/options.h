#pragma once

#include "config/enum_names.h"
#include "protocol/tls_context.h"

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

namespace fedgan::client {

/// Everything a client (one site of a federation) is configured with. Built in one place
/// (config_file.h: a TOML file, then command-line flags over it); every field has the default
/// written here, and validate() refuses inconsistent values with a message naming the field as it
/// is spelled in the TOML file ("limits.max_local_steps"). docs/configuration.md lists every field.

/// The settings that take one of a few names are enums; each table below is the one list of
/// their names (config/enum_names.h): the file, the flags and --help read and write them, and
/// refuse any other name when the file or the flag is read.

/// data.format. kUnset (the default) has no name: a site must choose its format.
enum class DataFormat { kUnset, kIdx, kPngDir, kCsv, kMixture };
constexpr std::array<config::EnumName<DataFormat>, 4> enum_names(DataFormat) {
  return {{{DataFormat::kIdx, "idx"},
           {DataFormat::kPngDir, "png-dir"},
           {DataFormat::kCsv, "csv"},
           {DataFormat::kMixture, "mixture"}}};
}

/// data.mixture.
enum class Mixture { kGrid, kRing };
constexpr std::array<config::EnumName<Mixture>, 2> enum_names(Mixture) {
  return {{{Mixture::kGrid, "grid"}, {Mixture::kRing, "ring"}}};
}

/// model.architecture.
enum class Architecture { kAuto, kDcgan, kMlp };
constexpr std::array<config::EnumName<Architecture>, 3> enum_names(Architecture) {
  return {{{Architecture::kAuto, "auto"},
           {Architecture::kDcgan, "dcgan"},
           {Architecture::kMlp, "mlp"}}};
}

/// training.optimizer_state.
enum class OptimizerState { kKeep, kReset };
constexpr std::array<config::EnumName<OptimizerState>, 2> enum_names(OptimizerState) {
  return {{{OptimizerState::kKeep, "keep"}, {OptimizerState::kReset, "reset"}}};
}

/// log.progress.
enum class Progress { kAuto, kAlways, kNever };
constexpr std::array<config::EnumName<Progress>, 3> enum_names(Progress) {
  return {{{Progress::kAuto, "auto"}, {Progress::kAlways, "always"}, {Progress::kNever, "never"}}};
}

/// attack.kind.
enum class AttackKind { kNone, kSignFlip, kScale, kNoise, kZero };
constexpr std::array<config::EnumName<AttackKind>, 5> enum_names(AttackKind) {
  return {{{AttackKind::kNone, "none"},
           {AttackKind::kSignFlip, "sign_flip"},
           {AttackKind::kScale, "scale"},
           {AttackKind::kNoise, "noise"},
           {AttackKind::kZero, "zero"}}};
}

/// [coordinator]: where the coordinator is, and how this client keeps in touch with it.
struct ConnectOptions {
  /// Name or IP address of the coordinator.
  std::string host = "127.0.0.1";
  uint16_t port = 7443;
  /// Name the coordinator's certificate must carry (a DNS or IP subjectAltName); empty = host.
  std::string server_name;
  /// TCP connect plus the TLS handshake, and then the coordinator's welcome, within this.
  double handshake_timeout_seconds = 10;
  /// A connection on which nothing arrives (not even a heartbeat) for this long is closed.
  double idle_timeout_seconds = 60;
  /// A started frame must arrive (and a sent one be taken) within this.
  double frame_timeout_seconds = 60;
  /// A heartbeat goes out after this long without writing; must be shorter than the
  /// coordinator's idle timeout (60 s by default) and than idle_timeout_seconds.
  double heartbeat_interval_seconds = 15;
  /// Reconnection delays: the first wait is reconnect_initial_seconds, each later one doubles up
  /// to reconnect_max_seconds (at most 3600); every wait is then scaled by a random factor in
  /// [0.5, 1.5].
  double reconnect_initial_seconds = 0.5;
  double reconnect_max_seconds = 30;
  /// Consecutive failed connection attempts (connect, handshake or welcome) after which the
  /// client exits with an error; 0 = keep trying forever.
  int64_t max_connect_failures = 0;
};

/// [tls]: this site's credentials and the federation CA (the transport's own options: CA,
/// certificate (its CN is the site's identity), key, optional CRL, allow_tls12). The three files
/// are required.
using TlsOptions = protocol::TlsOptions;

/// [data]: the site's training data. One source, chosen by `format`.
struct DataOptions {
  /// "idx" (an MNIST-format image file, labels optional), "png-dir" (a directory of PNG images of
  /// one size), "csv" (numeric rows of equal length) or "mixture" (2-D Gaussian mixture samples
  /// drawn from `seed`: for examples and experiments). Required.
  DataFormat format = DataFormat::kUnset;
  /// idx: the images file (3-D uint8 IDX, plain or gzip) and the labels file (1-D uint8 IDX, one
  /// label per image; needed only by class-skewed partitions).
  std::filesystem::path images;
  std::filesystem::path labels;
  /// png-dir: every *.png file directly in this directory (sorted by name).
  std::filesystem::path directory;
  /// csv: the file, and whether its first line is a header to skip.
  std::filesystem::path csv;
  bool csv_header = false;
  /// mixture: "grid" (25 modes) or "ring" (8 modes), and how many points to draw.
  Mixture mixture = Mixture::kGrid;
  int64_t mixture_rows = 10000;
  /// Seed of the mixture samples and of the partition: every site of an experiment must use the
  /// same seed, so that the partition gives each site its own share of the same rows.
  uint64_t seed = 1;
  /// For experiments: keep only this site's share of the data under a partition of it among
  /// `clients` sites ("" = all of it; "iid", "classes:K", "dirichlet:ALPHA" as in
  /// gan/data/partition.h; the class-skewed ones need labels: idx with a labels file, or mixture,
  /// whose labels are the modes).
  std::string partition;
  int64_t clients = 1;
  int64_t client_index = 0;
  /// Bounds on what the data files can make the client load: samples (rows, images), CSV columns,
  /// and PNG width and height.
  int64_t max_samples = 1'000'000;
  int64_t max_columns = 4096;
  int64_t max_image_side = 1024;
};

/// [model]: which architecture this site trains.
struct ModelOptions {
  /// "auto" (dcgan for images, mlp for vectors), "dcgan" (28x28 grayscale images) or "mlp"
  /// (vectors: its data_dim is the data's width). A task for another architecture is refused.
  Architecture architecture = Architecture::kAuto;
};

/// [training]: where and how local training runs.
struct TrainingOptions {
  /// "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
  std::string device = "auto";
  /// LibTorch intra-op threads; 0 = LibTorch's default.
  int64_t threads = 0;
  /// Seed of this site's initial private weights, batch order and latents. The batch order and
  /// latents mix in the site's identity (client/site_identity.h), so sites may share one seed.
  uint64_t seed = 1;
  /// "keep": the Adam moments carry over from one round to the next (in memory; a restarted
  /// client starts with fresh ones). "reset": every round starts with fresh optimizers, so a
  /// round is a function of the global model, the data and the seed alone.
  OptimizerState optimizer_state = OptimizerState::kKeep;
};

/// [limits]: the most a task may ask of this site. A task beyond any of them is refused (logged,
/// not trained, nothing uploaded).
struct LimitsOptions {
  int64_t max_local_steps = 10000;
  int64_t max_batch_size = 1024;
  int64_t max_n_critic = 10;
  /// Bound on both learning rates.
  double max_learning_rate = 0.01;
  /// Bound on the encoded size of the model a task sends.
  uint64_t max_model_bytes = uint64_t{256} << 20;
};

/// [state]: what survives a restart.
struct StateOptions {
  /// Directory of the local state: the tensors of the site's model that the last task did not
  /// federate, after each round (with federate = "generator", its private discriminator; always
  /// the BatchNorm step counters). Created when missing.
  std::filesystem::path dir = "client-state";
  /// Also keep every delta this site uploads, as `dir/delta_round_NNNNNN.pt` (a state dict of
  /// the federated tensors, readable with torch.load(path, weights_only=True)): for audits of what
  /// left the site.
  bool keep_deltas = false;
};

/// [log]: what the client prints.
struct LogOptions {
  /// Progress bar while training: "auto" (when standard error is a terminal), "always" or "never".
  Progress progress = Progress::kAuto;
};

/// [attack]: what a malicious site does to the delta it trained honestly before uploading it, for
/// experiments on robust aggregation (docs/security.md, "Attacking sites"). Off by default; a site
/// with an attack says so at start and with every upload.
struct AttackOptions {
  /// "none"; "sign_flip": uploads -delta; "scale": uploads scale * delta; "noise": uploads a
  /// Gaussian vector N(0, noise_std^2) of the delta's shape instead of it (drawn from `seed`, the
  /// site's identity and the round); "zero": uploads zeros (a free rider).
  AttackKind kind = AttackKind::kNone;
  /// "scale": the factor lambda, finite and not 0.
  double scale = 10.0;
  /// "noise": the standard deviation, finite and > 0.
  double noise_std = 0.01;
  uint64_t seed = 1;
};

struct ClientOptions {
  ConnectOptions coordinator;
  TlsOptions tls;
  DataOptions data;
  ModelOptions model;
  TrainingOptions training;
  LimitsOptions limits;
  StateOptions state;
  LogOptions log;
  AttackOptions attack;
};

/// Throws ClientError naming the first invalid field ("data.client_index is 3 but data.clients is
/// 3: it must be below"). Checks values and their consistency, not the file system: files are
/// opened (and their absence reported) by the parts that use them. The TLS files and the data
/// format must be named, so the defaults alone do not validate.
void validate(const ClientOptions& options);

}  // namespace fedgan::client
