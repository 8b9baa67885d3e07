#pragma once

#include "config/enum_names.h"
#include "protocol/tls_context.h"

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fedgan::coordinator {

/// Everything a coordinator is configured with. Built in one place (config_file.h: a TOML file,
/// then command-line flags over it); every field has the default written here, and
/// validate() refuses inconsistent values with a message naming the field as it is spelled in the
/// TOML file ("rounds.min_clients"). docs/configuration.md lists every field.

/// The settings that take one of a few names are enums; each table below is the one list of
/// their names (config/enum_names.h): the file, the flags, --help and to_json read and write them,
/// and refuse any other name when the file or the flag is read.

/// model.architecture.
enum class Architecture { kDcgan, kMlp };
constexpr std::array<config::EnumName<Architecture>, 2> enum_names(Architecture) {
  return {{{Architecture::kDcgan, "dcgan"}, {Architecture::kMlp, "mlp"}}};
}

/// model.federate.
enum class Federate { kBoth, kGenerator };
constexpr std::array<config::EnumName<Federate>, 2> enum_names(Federate) {
  return {{{Federate::kBoth, "both"}, {Federate::kGenerator, "generator"}}};
}

/// model.codec.
enum class ModelCodec { kFp32, kFp16 };
constexpr std::array<config::EnumName<ModelCodec>, 2> enum_names(ModelCodec) {
  return {{{ModelCodec::kFp32, "fp32"}, {ModelCodec::kFp16, "fp16"}}};
}

/// training.optimizer.
enum class SiteOptimizer { kAdam, kSgd };
constexpr std::array<config::EnumName<SiteOptimizer>, 2> enum_names(SiteOptimizer) {
  return {{{SiteOptimizer::kAdam, "adam"}, {SiteOptimizer::kSgd, "sgd"}}};
}

/// training.loss.
enum class Loss { kNonSaturating, kHinge, kWassersteinGp };
constexpr std::array<config::EnumName<Loss>, 3> enum_names(Loss) {
  return {
      {{Loss::kNonSaturating, "ns"}, {Loss::kHinge, "hinge"}, {Loss::kWassersteinGp, "wgan-gp"}}};
}

/// training.networks.
enum class Networks { kBoth, kAlternate };
constexpr std::array<config::EnumName<Networks>, 2> enum_names(Networks) {
  return {{{Networks::kBoth, "both"}, {Networks::kAlternate, "alternate"}}};
}

/// aggregation.weighting.
enum class UpdateWeighting { kSamples, kUniform };
constexpr std::array<config::EnumName<UpdateWeighting>, 2> enum_names(UpdateWeighting) {
  return {{{UpdateWeighting::kSamples, "samples"}, {UpdateWeighting::kUniform, "uniform"}}};
}

/// aggregation.server_optimizer.
enum class ServerOptimizer { kSgd, kAdam };
constexpr std::array<config::EnumName<ServerOptimizer>, 2> enum_names(ServerOptimizer) {
  return {{{ServerOptimizer::kSgd, "sgd"}, {ServerOptimizer::kAdam, "adam"}}};
}

/// aggregation.server_lr_decay.
enum class LrDecay { kNone, kLinear };
constexpr std::array<config::EnumName<LrDecay>, 2> enum_names(LrDecay) {
  return {{{LrDecay::kNone, "none"}, {LrDecay::kLinear, "linear"}}};
}

/// aggregation.rule.
enum class AggregationRule {
  kFedAvg,
  kMedian,
  kTrimmedMean,
  kMultiKrum,
  kBulyan,
  kGeometricMedian,
  kCenteredClipping,
};
constexpr std::array<config::EnumName<AggregationRule>, 7> enum_names(AggregationRule) {
  return {{{AggregationRule::kFedAvg, "fedavg"},
           {AggregationRule::kMedian, "median"},
           {AggregationRule::kTrimmedMean, "trimmed_mean"},
           {AggregationRule::kMultiKrum, "multi_krum"},
           {AggregationRule::kBulyan, "bulyan"},
           {AggregationRule::kGeometricMedian, "geometric_median"},
           {AggregationRule::kCenteredClipping, "centered_clipping"}}};
}

/// aggregation.norm_bound.
enum class NormBoundKind { kAdaptive, kFixed, kNone, kRoundMedian };
constexpr std::array<config::EnumName<NormBoundKind>, 4> enum_names(NormBoundKind) {
  return {{{NormBoundKind::kAdaptive, "adaptive"},
           {NormBoundKind::kFixed, "fixed"},
           {NormBoundKind::kNone, "none"},
           {NormBoundKind::kRoundMedian, "round_median"}}};
}

/// aggregation.norm_policy.
enum class NormPolicy { kReject, kClip };
constexpr std::array<config::EnumName<NormPolicy>, 2> enum_names(NormPolicy) {
  return {{{NormPolicy::kReject, "reject"}, {NormPolicy::kClip, "clip"}}};
}

/// evaluation.dataset.
enum class EvaluationDataset { kFashionMnist, kGrid, kRing };
constexpr std::array<config::EnumName<EvaluationDataset>, 3> enum_names(EvaluationDataset) {
  return {{{EvaluationDataset::kFashionMnist, "fashion-mnist"},
           {EvaluationDataset::kGrid, "grid"},
           {EvaluationDataset::kRing, "ring"}}};
}

/// [server]: where clients connect and how long they may take.
struct ServerOptions {
  /// Address to listen on ("0.0.0.0" or "::" for every interface).
  std::string bind_address = "127.0.0.1";
  /// TCP port; 0 lets the system choose a free one (tests read it back from Coordinator::port).
  uint16_t port = 7443;
  /// Connections at once (handshaking or open); more are closed right after accept.
  size_t max_connections = 64;
  /// Open connections of one identity at once (0 = no limit); more are refused with BUSY, so one
  /// certificate cannot hold every slot. Two lets a site reconnect while its old connection
  /// is still closing.
  size_t max_connections_per_identity = 2;
  /// Certificate CNs admitted; empty admits every certificate of the federation CA.
  std::vector<std::string> allowed_identities;
  /// A connection must finish its TLS handshake and say Hello within this; until its Hello it may
  /// send nothing else (a heartbeat included) and no frame over 4 KiB.
  double handshake_timeout_seconds = 10;
  /// A connection that sends nothing (not even a heartbeat) for this long is closed.
  double idle_timeout_seconds = 60;
  /// A started frame must arrive (and a sent one be taken) within this.
  double frame_timeout_seconds = 60;
  /// How often each side sends a heartbeat; must be shorter than idle_timeout_seconds.
  double heartbeat_interval_seconds = 15;
};

/// [tls]: this coordinator's credentials and the federation CA (the transport's own options: CA,
/// certificate, key, optional CRL, allow_tls12). The three files are required to serve; validate()
/// checks that they are named, the TLS context that they exist.
using TlsOptions = protocol::TlsOptions;

/// [rounds]: scheduling.
struct RoundOptions {
  /// Connected clients needed before a round starts.
  size_t min_clients = 2;
  /// Clients selected per round: ceil(fraction * connected), then clamped to
  /// [min_per_round, max_per_round] (max 0 = no upper bound) and to the connected count.
  double fraction = 1.0;
  size_t min_per_round = 1;
  size_t max_per_round = 0;
  /// Accepted updates needed to commit; 0 = every selected client. At the deadline a round with
  /// at least `quorum` accepted updates commits, one with fewer fails and is retried.
  size_t quorum = 0;
  /// Seconds from sending the tasks to the deadline.
  double deadline_seconds = 300;
  /// Rounds to commit in this run; the coordinator then finishes the run and stops serving.
  int64_t max_rounds = 10;
  /// Attempts of one round before the run stops with an error (a round that keeps failing).
  int64_t max_attempts = 5;
  /// Seed of client selection and task nonces' order (nonces themselves are random).
  uint64_t seed = 1;
};

/// [model]: the global model.
struct ModelOptions {
  /// "dcgan" (28x28 images) or "mlp" (vectors), as in gan/models/model_factory.h.
  Architecture architecture = Architecture::kDcgan;
  /// mlp only: the width of a data row, which the sites' data must have (CSV columns; 2 for the
  /// 2-D mixtures).
  int64_t data_dim = 2;
  /// "both": generator and discriminator are federated; "generator": only the generator, each
  /// site keeps its own discriminator.
  Federate federate = Federate::kBoth;
  /// Initial weights from this checkpoint (a state dict written by fedgan, or any state dict with
  /// the same names and shapes) instead of a seeded initialisation.
  std::filesystem::path init_checkpoint;
  uint64_t init_seed = 1;
  /// Wire codec for the model and the deltas: "fp32" or "fp16".
  ModelCodec codec = ModelCodec::kFp32;
};

/// [training]: what each client does in a round, sent in the task. Clients check these against
/// their own limits.
struct TrainingOptions {
  /// Generator updates per round.
  int64_t local_steps = 50;
  /// Samples per optimizer step.
  int64_t batch_size = 64;
  /// The sites' optimizer: "adam" (the DCGAN reference) or "sgd" (plain SGD, for a server that
  /// runs Adam: aggregation.server_optimizer = "adam").
  SiteOptimizer optimizer = SiteOptimizer::kAdam;
  /// Learning rates (either optimizer) and Adam's betas.
  double lr_generator = 2e-4;
  double lr_discriminator = 2e-4;
  double beta1 = 0.5;
  double beta2 = 0.999;
  /// "ns" (non-saturating), "hinge" or "wgan-gp".
  Loss loss = Loss::kNonSaturating;
  /// Discriminator updates per generator update.
  int64_t n_critic = 1;
  /// Which networks a round trains. "both": every local step updates D then G, as centralized
  /// training does. "alternate": odd rounds train only the discriminator, even rounds only the
  /// generator (against the discriminator the previous round committed), and each round moves
  /// only its network's weights. With one SGD step per round and aggregation.server_optimizer =
  /// "adam", a pair of rounds is one step of centralized alternating Adam on the union of the
  /// sites' batches. Needs model.federate = "both".
  Networks networks = Networks::kBoth;
};

/// Largest sample count an update may report (2^40): a million updates' counts still sum within
/// the signed 64-bit integers the database stores them in.
inline constexpr uint64_t kMaxSampleCount = uint64_t{1} << 40;

/// [aggregation]: how validated deltas become the next global model.
struct AggregationOptions {
  /// "samples": weight = reported sample count capped at max_samples_per_update (0 = no cap);
  /// "uniform": every accepted update weighs the same.
  UpdateWeighting weighting = UpdateWeighting::kSamples;
  uint64_t max_samples_per_update = 0;
  /// How a round's accepted deltas become one aggregate. "fedavg" (the default): the weighted
  /// mean, streamed (one double per parameter whatever the number of updates). The others are
  /// Byzantine-robust rules that keep every update of the round (in memory up to
  /// robust_memory_mb, beyond it in a spill file in storage.checkpoint_dir) and weigh each alike:
  /// "median" and "trimmed_mean" (coordinate-wise), "multi_krum", "bulyan", "geometric_median"
  /// (smoothed Weiszfeld) and "centered_clipping" (its center starts at the last aggregate of the
  /// same networks). The aggregate then moves the model as server_optimizer says.
  AggregationRule rule = AggregationRule::kFedAvg;
  /// trimmed_mean: the share of values dropped at each end of every coordinate, in [0, 0.5).
  double trim_beta = 0.1;
  /// multi_krum and bulyan: the number of Byzantine updates the rule is sized for (f). Every
  /// round must be able to commit with at least 2f + 3 (Multi-Krum) or 4f + 3 (Bulyan) updates.
  size_t byzantine = 1;
  /// multi_krum: how many best-scored updates are averaged (m); 0 = n - f.
  size_t krum_selected = 0;
  /// geometric_median: the cap on Weiszfeld iterations.
  size_t weiszfeld_iterations = 8;
  /// centered_clipping: the clipping radius (tau, in the units of a delta's L2 norm) and the
  /// number of clipping iterations.
  double clip_radius = 1.0;
  size_t clip_iterations = 3;
  /// Robust rules: average the shuffled updates in buckets of this many before the rule (for
  /// non-IID sites; Karimireddy et al. 2022). 0 or 1: no bucketing.
  size_t bucket_size = 0;
  /// Robust rules: MiB of a round's updates kept in memory; the rest is spilled to disk.
  uint64_t robust_memory_mb = 1024;
  /// Robust rules: a site whose update was flagged (excluded or clipped by the rule, or given
  /// under half an equal share) in at least quarantine_after of the last quarantine_window
  /// committed rounds is quarantined for the rest of the run: its session is closed with
  /// STATUS_QUARANTINED and its Hellos refused, recorded as a `client_quarantined` event.
  /// 0: never.
  size_t quarantine_after = 0;
  size_t quarantine_window = 10;
  /// How the weighted mean of the deltas moves the global model. "sgd": global += server_lr *
  /// mean (with 1, the mean of the local models: FedAvg). "adam": one Adam step per round along
  /// the mean with step size server_lr and the server_beta1/2, server_epsilon below (FedAdam);
  /// BatchNorm running statistics still take the plain mean.
  ServerOptimizer server_optimizer = ServerOptimizer::kSgd;
  double server_lr = 1.0;
  /// "none": every round steps with server_lr. "linear": round r of rounds.max_rounds steps with
  /// server_lr * (1 - (r - 1) / max_rounds), falling to server_lr / max_rounds in the last round;
  /// a function of the round number, so a resumed run continues the schedule.
  LrDecay server_lr_decay = LrDecay::kNone;
  double server_beta1 = 0.9;
  double server_beta2 = 0.99;
  double server_epsilon = 1e-8;
  /// How the L2 norm of each update (over all federated tensors) is bounded, so one site cannot
  /// move the model at will with a finite but enormous delta:
  /// "adaptive" (the default): norm_bound_factor times the median norm, as aggregated, of the
  /// accepted updates of the last committed round that trained the same networks; before there is
  /// one, norm_bound_factor times the norm of the global model. "fixed": max_delta_norm.
  /// "none": no bound. "round_median" (robust rules only, which keep the round's updates):
  /// norm_bound_factor times the median norm of the round's own updates, applied when the round
  /// commits, before the rule; updates above it are clipped (norm_policy does not apply).
  /// Whatever the bound, a round whose new global model would not be finite fails instead of
  /// committing.
  NormBoundKind norm_bound = NormBoundKind::kAdaptive;
  /// The adaptive bound's multiple of the median norm; at least 1.
  double norm_bound_factor = 4.0;
  /// The bound under norm_bound = "fixed"; must be 0 otherwise.
  double max_delta_norm = 0;
  /// What to do with a delta over the bound: "clip" it (scale it down to the bound) or "reject" it.
  NormPolicy norm_policy = NormPolicy::kClip;
  /// Reported sample counts outside [min_samples, max_samples] are rejected (SAMPLE_COUNT).
  /// max_samples is at most 2^40, so a million updates' counts still sum within the database's
  /// signed 64-bit integers.
  uint64_t min_samples = 1;
  uint64_t max_samples = 100'000'000;
};

/// [storage]: where the run's history and checkpoints live (the coordinator's only state).
struct StorageOptions {
  std::filesystem::path database = "fedgan.db";
  std::filesystem::path checkpoint_dir = "checkpoints";
  /// The run to create or resume.
  std::string run_id = "run";
  /// Checkpoints kept: the last `keep_last` plus every `keep_every`-th round (0 = none extra).
  int64_t keep_last = 3;
  int64_t keep_every = 10;
};

/// [evaluation]: figures of the global generator every k committed rounds.
struct EvaluationOptions {
  /// 0 = never.
  int64_t every_rounds = 0;
  /// "fashion-mnist" (classifier-FID, class coverage), "grid" or "ring" (modes, high quality).
  EvaluationDataset dataset = EvaluationDataset::kFashionMnist;
  std::filesystem::path data_dir = "/usr/share/datasets/fashion-mnist";
  /// Where the evaluation classifier is cached (trained on first use).
  std::filesystem::path cache_dir = "build/cache";
  /// Generated samples per evaluation.
  int64_t samples = 2000;
  /// LibTorch intra-op threads of the evaluation.
  int64_t threads = 1;
};

struct CoordinatorOptions {
  ServerOptions server;
  TlsOptions tls;
  RoundOptions rounds;
  ModelOptions model;
  TrainingOptions training;
  AggregationOptions aggregation;
  StorageOptions storage;
  EvaluationOptions evaluation;
};

/// Throws CoordinatorError naming the first invalid field ("rounds.quorum is 5 but
/// rounds.max_per_round is 3: a round could never commit"). Checks values and their consistency,
/// not the file system: files are opened (and their absence reported) by the parts that use them.
/// The TLS files must be named, so the defaults alone do not validate.
void validate(const CoordinatorOptions& options);

/// The part of validate() about [storage]: what the commands that only read the database need.
void validate_storage(const StorageOptions& storage);

}  // namespace fedgan::coordinator
