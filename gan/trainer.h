#pragma once

#include "gan/augment.h"
#include "gan/batch_source.h"
#include "gan/losses.h"
#include "gan/models/gan_model.h"
#include "gan/trained_networks.h"

#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

namespace fedgan::gan {

/// The local optimizer of both networks.
enum class OptimizerKind {
  /// Adam with TrainerOptions' betas: the DCGAN reference.
  kAdam,
  /// Plain SGD, no momentum, with the same learning rates. Sites of a federation whose server
  /// runs Adam over the mean delta (FedAdam) take SGD steps: with one local step, the mean delta
  /// is then the gradient on the union of the sites' batches.
  kSgd,
};

/// "adam" -> kAdam, "sgd" -> kSgd; throws GanError naming the accepted values otherwise.
OptimizerKind parse_optimizer_kind(const std::string& name);
/// The inverse of parse_optimizer_kind.
std::string optimizer_kind_name(OptimizerKind kind);

/// Hyperparameters of local GAN training. Defaults are the DCGAN reference settings.
struct TrainerOptions {
  /// Samples per optimizer step (for D and for G). Split into `accumulation_steps` micro-batches.
  int64_t batch_size = 64;
  /// Micro-batches whose gradients are summed before one optimizer step; must divide batch_size.
  int accumulation_steps = 1;
  /// Discriminator updates per generator update.
  int n_critic = 1;
  LossKind loss = LossKind::kNonSaturating;
  /// Weight of the WGAN-GP gradient penalty (used only with LossKind::kWassersteinGp).
  double gp_weight = 10.0;
  OptimizerKind optimizer = OptimizerKind::kAdam;
  double generator_lr = 2e-4;
  double discriminator_lr = 2e-4;
  /// Adam only.
  double beta1 = 0.5;
  double beta2 = 0.999;
  /// Clip each network's total gradient L2 norm to this before its step; 0 disables clipping.
  double grad_clip_norm = 0.0;
  /// Differentiable augmentation of real and fake images before D (images only).
  bool augment = false;
  AugmentOptions augment_options;
  /// Seeds latent draws, augmentation and penalty interpolation.
  uint64_t seed = 0;
};

/// What one training step did.
struct StepStats {
  int64_t step = 0;               // 1-based count of generator updates so far
  double discriminator_loss = 0;  // mean over the step's critic updates, penalty included
  double generator_loss = 0;
  double gradient_penalty = 0;    // unweighted, mean over critic updates; 0 unless WGAN-GP
  double seconds = 0;             // wall time of the step
  double samples_per_second = 0;  // real samples consumed by D per second
};

/// Trains a GanModel locally: each step() runs n_critic discriminator updates then one generator
/// update (or only one of the two, see TrainedNetworks), with the configured optimizer (Adam or
/// SGD) for both. The fake batch of the last critic update is reused (through its autograd graph)
/// for the generator update, as the reference DCGAN training loop does, and D's parameters are
/// frozen during the generator's backward pass so no gradient is computed for them. With the same
/// seeds on the CPU two trainers produce bit-identical weights. Not thread-safe; the model must not
/// be used elsewhere while a step runs.
class LocalTrainer {
 public:
  LocalTrainer(GanModel model, const TrainerOptions& options, const torch::Device& device);

  /// One training step. With kDiscriminator the reported generator loss is the generator's loss
  /// against the discriminator before its last update, from that update's fake logits; with
  /// kGenerator the reported discriminator loss is measured without a step on a real batch and
  /// the generator update's fakes (penalty excluded). Both come from forward passes the step runs
  /// anyway, except the real batch of a kGenerator step.
  StepStats step(BatchSource& data, TrainedNetworks networks = TrainedNetworks::kBoth);

  /// Restarts the random draws (latents, augmentation, penalty interpolation) from `seed`,
  /// keeping the optimizers' state: a federated site calls it at the start of each round.
  void reseed(uint64_t seed);

  /// Sets the two optimizers' learning rates for the following steps, keeping their state: a
  /// learning-rate schedule calls it between steps. Throws GanError unless both are positive.
  void set_learning_rates(double generator_lr, double discriminator_lr);

  /// `count` generator samples from latents drawn with `seed`, in eval mode (BatchNorm running
  /// statistics), without gradients, returned on the CPU. Restores training mode afterwards.
  torch::Tensor generate(int64_t count, uint64_t seed, int64_t chunk = 1000);

  GanModel& model() { return model_; }
  const TrainerOptions& options() const { return options_; }
  const torch::Device& device() const { return device_; }
  int64_t steps_done() const { return steps_; }
  /// Every tensor of the optimizers' state (Adam's moments, SGD's momentum buffers): with the
  /// model's own tensors, what a trainer keeps from one round to the next.
  std::vector<torch::Tensor> optimizer_state_tensors() const;

 private:
  struct CriticResult {
    double loss = 0;
    double penalty = 0;
    double generator_loss = 0;  // of the fake logits before D's step, when asked for
  };
  struct GeneratorResult {
    double loss = 0;
    double discriminator_loss = 0;  // measured only by a generator-only step
  };
  CriticResult critic_update(BatchSource& data, bool keep_fakes, bool measure_generator);
  GeneratorResult generator_update(BatchSource* measure_discriminator_on);
  torch::Tensor draw_latent(int64_t count);
  torch::Tensor draw_uniform(int64_t count);
  torch::Tensor maybe_augment(const torch::Tensor& images);

  GanModel model_;
  TrainerOptions options_;
  torch::Device device_;
  std::unique_ptr<torch::optim::Optimizer> generator_opt_;
  std::unique_ptr<torch::optim::Optimizer> discriminator_opt_;
  at::Generator gen_;                 // CPU generator: draws are device-independent
  std::vector<torch::Tensor> fakes_;  // last critic update's fakes, graphs kept for the G update
  int64_t steps_ = 0;
};

}  // namespace fedgan::gan
