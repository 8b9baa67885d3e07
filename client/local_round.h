#pragma once

#include "aggregation/layout.h"
#include "client/data_source.h"
#include "client/options.h"
#include "gan/batch_source.h"
#include "gan/federated_state.h"
#include "gan/models/gan_model.h"
#include "gan/models/model_factory.h"
#include "gan/trainer.h"
#include "protocol/tensor_stream.h"

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fedgan::client {

namespace wire = protocol::wire;

/// A task this site agreed to train: the Task's fields and hyperparameters, parsed and checked.
struct TaskPlan {
  uint64_t round = 0;
  std::string nonce;
  int64_t deadline_unix_ms = 0;
  gan::FederationScope scope = gan::FederationScope::kGeneratorAndDiscriminator;
  /// Codec of the model download, and of the delta upload.
  wire::Codec codec = wire::CODEC_FP32;
  int64_t local_steps = 0;
  /// Which networks each local step updates (the task's "networks").
  gan::TrainedNetworks networks = gan::TrainedNetworks::kBoth;
  gan::TrainerOptions trainer;
};

/// What one round of local training did.
struct RoundReport {
  /// Steps done: local_steps unless interrupted or diverged.
  int64_t steps = 0;
  /// Every step ran, the losses and the new weights are finite: the delta is ready to upload.
  bool completed = false;
  /// A loss or a weight became NaN or infinite; the model was restored to its last saved state.
  bool diverged = false;
  /// Means over the steps done.
  double generator_loss = 0;
  double discriminator_loss = 0;
  double train_seconds = 0;
  /// Real samples consumed by the discriminator per second (steps * n_critic * batch_size / s).
  double samples_per_second = 0;
  /// After the steps: computing the delta and checking it and the weights for finiteness.
  double delta_seconds = 0;
  /// Receiving and checking the task's model (set by the caller that downloads it).
  double download_seconds = 0;
};

/// How the caller follows and interrupts training. Both may be empty.
struct TrainHooks {
  /// Asked before every step; true ends the round early (it is then not completed).
  std::function<bool()> interrupted;
  /// Called after every step with its figures and the round's step count.
  std::function<void(const gan::StepStats& stats, int64_t local_steps)> on_step;
};

/// The torch side of a site: its model, its data, and one federated round at a time.
///
/// For each task: plan_task() checks the task against the limits and the site's own model (the
/// manifest of its federated tensors under the task's codec); the download is decoded into
/// global_destinations(), CPU float32 buffers that keep the global values; train() copies them
/// into the model, runs `local_steps` steps of gan::LocalTrainer, computes delta = local - global
/// (float32, element by element) into buffers that delta_views() exposes; save_state() then
/// writes the tensors the task did not federate to the state directory (local_state.h), so they
/// survive a restart (the federated ones come with every task). The caller saves while its upload
/// is on the wire, which keeps the save (an fsync'd file) off the round's critical path; a crash
/// before it costs the private tensors one round. A new object built on the same state directory
/// starts from the saved tensors. A diverged round restores the saved tensors and this round's
/// global values.
///
/// Optimizer state (training.optimizer_state): with "keep" the Adam moments carry over from
/// round to round while the task's optimizer settings stay the same, as in centralized training;
/// fresh moments would make every round start with Adam's sign-like first steps of size lr on
/// every weight, which costs federated GANs much of their quality (docs/benchmarks.md). They
/// live in memory only: a restarted client, a diverged round or changed settings start afresh.
/// With "reset" every round is a function of the global model, the data and the seed alone.
///
/// Not thread-safe: one thread plans, trains and reads the buffers.
class LocalRound {
 public:
  /// Builds the model options.model.architecture names ("auto": dcgan for images, mlp for
  /// vectors, whose data_dim is the data's width), seeded with options.training.seed, on the
  /// device options.training.device names, then loads the saved state from options.state.dir
  /// when there is one. Throws ClientError when the data does not fit the architecture (dcgan
  /// trains on N x 1 x 28 x 28 images), the device is unknown or unavailable, or the saved state
  /// does not fit the model. `identity` is the site's name (its certificate's CN): mixed into
  /// options.training.seed for the batch order and each round's latents (site_seed), so sites
  /// configured with one seed still draw different ones.
  LocalRound(const ClientOptions& options, const LoadedData& data, const std::string& identity);

  /// Checks `task` and returns its plan, or throws ClientError saying why this site refuses it:
  /// the model does not follow the task, its hyperparameters (Task.training) are missing, one is
  /// unset (an UNSPECIFIED enum, an empty architecture), of a newer protocol (a field or enum value
  /// this client does not know) or beyond options.limits (local steps, batch size, n_critic,
  /// learning rates; the refusal names the field), the batch is
  /// larger than the data, the architecture is not this site's, or the model's manifest does
  /// not match this site's model or is larger than limits.max_model_bytes.
  TaskPlan plan_task(const wire::Task& task);

  /// Where the download of the last planned task is decoded: one float32 CPU buffer per
  /// federated tensor, in manifest order. Valid until the next plan_task().
  std::vector<protocol::MutableTensorView> global_destinations();

  /// Trains `plan` (the last one planned) on the global values received into
  /// global_destinations(); see the class comment. On divergence the local tensors are restored
  /// from the saved state (or, with none, re-initialised from the seed), the federated ones get
  /// this round's global values, and nothing is saved. Throws ClientError when the saved state
  /// cannot be read, and what LibTorch throws.
  RoundReport train(const TaskPlan& plan, const TrainHooks& hooks = {});

  /// train() in three parts, for a caller that advances many sites' rounds a few steps at a time
  /// on its own clock (fedgan-simulate): begin_training(plan), train_steps() as often as needed,
  /// then finish_training(). train() is exactly these three with all the plan's steps at once, and
  /// a round split into several train_steps() calls computes the same values.
  void begin_training(const TaskPlan& plan);
  /// Runs up to `steps` more steps of the round begun, fewer where the plan's local_steps are
  /// reached, a step diverges or hooks.interrupted() says so; returns the steps run.
  int64_t train_steps(int64_t steps, const TrainHooks& hooks = {});
  /// Steps the round begun has run (0 with none begun).
  int64_t steps_done() const;
  /// Ends the round begun, as train() ends it after its steps (delta, finiteness, divergence).
  RoundReport finish_training();

  /// Writes the local tensors (those the last task did not federate) of the last train() that did
  /// not diverge to the state directory, once (later calls before the next train() do nothing).
  /// Throws ClientError when it cannot.
  void save_state();

  /// The delta of the last completed train(), in manifest order, as TensorStreamWriter takes it.
  std::vector<protocol::ConstTensorView> delta_views() const;
  /// Writes the delta of the completed round to `path` (a state dict; see save_named_tensors).
  void save_delta(const std::filesystem::path& path) const;

  /// Manifest of this site's federated tensors under `scope` and `codec`: what a task's model
  /// must match.
  wire::Manifest manifest(gan::FederationScope scope, wire::Codec codec);

  const std::string& architecture() const { return model_.architecture; }
  int64_t num_samples() const { return num_samples_; }
  const torch::Device& device() const { return device_; }
  /// Whether the constructor found and loaded a saved state.
  bool state_loaded() const { return state_loaded_; }
  const std::filesystem::path& state_path() const { return state_path_; }
  gan::GanModel& model() { return model_; }
  /// Every tensor this object keeps between rounds, apart from the data: both networks'
  /// parameters, buffers and gradients, the optimizers' state, and the global and delta buffers.
  /// For a simulator that moves an idle site's memory to disk and back (simulation/site_pager.h).
  std::vector<torch::Tensor> resident_tensors() const;

 private:
  void prepare_buffers(gan::FederationScope scope);
  void restore_last_good();
  gan::LocalTrainer& trainer_for(const gan::TrainerOptions& options);

  ClientOptions options_;
  gan::ModelSpec spec_;
  gan::GanModel model_;
  torch::Device device_;
  int64_t num_samples_ = 0;
  uint64_t site_seed_ = 0;
  std::string identity_;  // the certificate's, for the attack's draws
  std::unique_ptr<gan::BatchSource> batches_;
  std::filesystem::path state_path_;
  bool state_loaded_ = false;
  bool state_unsaved_ = false;  // train() changed the model since the last save
  // The trainer of the previous round, kept for its optimizer state (see the class comment).
  std::unique_ptr<gan::LocalTrainer> trainer_;

  // The round between begin_training() and finish_training().
  struct RoundInProgress {
    TaskPlan plan;
    RoundReport report;  // steps, divergence and seconds so far
    double generator_sum = 0;
    double discriminator_sum = 0;
  };
  std::optional<RoundInProgress> running_;

  // Buffers of the federated tensors of `scope_`, built by prepare_buffers().
  bool prepared_ = false;
  gan::FederationScope scope_ = gan::FederationScope::kGeneratorAndDiscriminator;
  std::vector<wire::TensorSpec> specs_;
  std::vector<torch::Tensor> global_;  // float32 CPU: the values the task sent
  std::vector<torch::Tensor> delta_;   // float32 CPU: local - global after train()
  aggregation::ModelLayout layout_;    // of specs_, for the delta's one-pass computation
  bool delta_ready_ = false;
};

}  // namespace fedgan::client
