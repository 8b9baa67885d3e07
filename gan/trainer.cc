#include "gan/trainer.h"

#include "gan/error.h"
#include "gan/eval_mode_guard.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>

namespace fedgan::gan {
namespace {

void check_options(const TrainerOptions& o) {
  check(o.batch_size > 0, "batch_size must be positive, got {}", o.batch_size);
  check(o.accumulation_steps >= 1 && o.batch_size % o.accumulation_steps == 0,
        "accumulation_steps ({}) must be >= 1 and divide batch_size ({})", o.accumulation_steps,
        o.batch_size);
  check(o.n_critic >= 1, "n_critic must be >= 1, got {}", o.n_critic);
  check(o.generator_lr > 0 && o.discriminator_lr > 0, "learning rates must be positive");
  check(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1,
        "Adam betas must lie in [0, 1), got ({}, {})", o.beta1, o.beta2);
  check(o.grad_clip_norm >= 0, "grad_clip_norm must be >= 0 (0 disables), got {}",
        o.grad_clip_norm);
  check(o.gp_weight >= 0, "gp_weight must be >= 0, got {}", o.gp_weight);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& net, double lr,
                                                        const TrainerOptions& o) {
  if (o.optimizer == OptimizerKind::kSgd) {
    return std::make_unique<torch::optim::SGD>(net.parameters(), torch::optim::SGDOptions(lr));
  }
  return std::make_unique<torch::optim::Adam>(
      net.parameters(), torch::optim::AdamOptions(lr).betas({o.beta1, o.beta2}));
}

// Drops gradients instead of zeroing them: the next backward pass then writes fresh gradient
// tensors rather than adding into zeroed ones, which saves a memset and an add per parameter.
// Adam and SGD skip parameters without a gradient, so semantics are those of zero_grad().
void clear_gradients(torch::nn::Module& net) {
  for (auto& p : net.parameters()) p.mutable_grad().reset();
}

void clip_gradients(torch::nn::Module& net, double max_norm) {
  if (max_norm > 0) torch::nn::utils::clip_grad_norm_(net.parameters(), max_norm);
}

// Freezes a module's parameters (no gradient is computed for them) for the guard's lifetime.
class FreezeGuard {
 public:
  explicit FreezeGuard(torch::nn::Module& module) : module_(module) { set(false); }
  ~FreezeGuard() { set(true); }
  FreezeGuard(const FreezeGuard&) = delete;
  FreezeGuard& operator=(const FreezeGuard&) = delete;

 private:
  void set(bool trainable) {
    for (auto& p : module_.parameters()) p.requires_grad_(trainable);
  }
  torch::nn::Module& module_;  // owned by the caller, outlives the guard
};

}  // namespace

OptimizerKind parse_optimizer_kind(const std::string& name) {
  if (name == "adam") return OptimizerKind::kAdam;
  if (name == "sgd") return OptimizerKind::kSgd;
  throw GanError(fmt::format("unknown optimizer '{}': expected 'adam' or 'sgd'", name));
}

std::string optimizer_kind_name(OptimizerKind kind) {
  return kind == OptimizerKind::kSgd ? "sgd" : "adam";
}

LocalTrainer::LocalTrainer(GanModel model, const TrainerOptions& options,
                           const torch::Device& device)
    : model_(std::move(model)),
      options_(options),
      device_(device),
      gen_(at::make_generator<at::CPUGeneratorImpl>(options.seed)) {
  check_options(options_);
  check(model_.generator && model_.discriminator, "trainer needs a generator and a discriminator");
  model_.generator->to(device_);
  model_.discriminator->to(device_);
  model_.generator->train();
  model_.discriminator->train();
  generator_opt_ = make_optimizer(*model_.generator, options_.generator_lr, options_);
  discriminator_opt_ = make_optimizer(*model_.discriminator, options_.discriminator_lr, options_);
}

void LocalTrainer::reseed(uint64_t seed) {
  options_.seed = seed;
  gen_ = at::make_generator<at::CPUGeneratorImpl>(seed);
}

void LocalTrainer::set_learning_rates(double generator_lr, double discriminator_lr) {
  check(generator_lr > 0 && discriminator_lr > 0,
        "learning rates must be positive, got {} (generator) and {} (discriminator)", generator_lr,
        discriminator_lr);
  for (auto& group : generator_opt_->param_groups()) group.options().set_lr(generator_lr);
  for (auto& group : discriminator_opt_->param_groups()) group.options().set_lr(discriminator_lr);
  options_.generator_lr = generator_lr;
  options_.discriminator_lr = discriminator_lr;
}

torch::Tensor LocalTrainer::draw_latent(int64_t count) {
  return torch::randn({count, model_.generator->latent_dim()}, gen_, torch::kFloat32).to(device_);
}

torch::Tensor LocalTrainer::draw_uniform(int64_t count) {
  return torch::rand({count}, gen_, torch::kFloat32).to(device_);
}

torch::Tensor LocalTrainer::maybe_augment(const torch::Tensor& images) {
  if (!options_.augment) return images;
  return diff_augment(images, options_.augment_options, gen_);
}

LocalTrainer::CriticResult LocalTrainer::critic_update(BatchSource& data, bool keep_fakes,
                                                       bool measure_generator) {
  const int k = options_.accumulation_steps;
  const int64_t micro = options_.batch_size / k;
  const auto real = data.next(options_.batch_size);
  const auto latent = draw_latent(options_.batch_size);
  clear_gradients(*model_.discriminator);
  fakes_.clear();
  CriticResult result;
  for (int i = 0; i < k; ++i) {
    torch::Tensor fake;
    if (keep_fakes) {
      fake = model_.generator->forward(latent.narrow(0, i * micro, micro));
      fakes_.push_back(fake);
    } else {
      torch::NoGradGuard no_grad;
      fake = model_.generator->forward(latent.narrow(0, i * micro, micro));
    }
    const auto real_in = maybe_augment(real.narrow(0, i * micro, micro));
    const auto fake_in = maybe_augment(fake.detach());
    const auto fake_logits = model_.discriminator->forward(fake_in);
    auto loss =
        discriminator_loss(options_.loss, model_.discriminator->forward(real_in), fake_logits);
    if (measure_generator) {
      result.generator_loss +=
          generator_loss(options_.loss, fake_logits.detach()).item<double>() / k;
    }
    if (options_.loss == LossKind::kWassersteinGp) {
      const auto penalty = gradient_penalty(
          [this](const torch::Tensor& x) { return model_.discriminator->forward(x); }, real_in,
          fake_in, draw_uniform(micro));
      result.penalty += penalty.item<double>() / k;
      loss = loss + options_.gp_weight * penalty;
    }
    (loss / k).backward();
    result.loss += loss.item<double>() / k;
  }
  clip_gradients(*model_.discriminator, options_.grad_clip_norm);
  discriminator_opt_->step();
  return result;
}

// Without a preceding critic update (a generator-only step) the fakes are generated here; with
// `measure_discriminator_on`, D's loss on a real batch and these fakes is measured, without a
// gradient, for the step's report.
LocalTrainer::GeneratorResult LocalTrainer::generator_update(
    BatchSource* measure_discriminator_on) {
  const int k = options_.accumulation_steps;
  const int64_t micro = options_.batch_size / k;
  if (fakes_.empty()) {
    const auto latent = draw_latent(options_.batch_size);
    for (int i = 0; i < k; ++i) {
      fakes_.push_back(model_.generator->forward(latent.narrow(0, i * micro, micro)));
    }
  }
  check(static_cast<int>(fakes_.size()) == k, "generator update without a critic update's fakes");
  const std::vector<torch::Tensor> fakes = std::move(fakes_);
  fakes_.clear();
  const torch::Tensor real = measure_discriminator_on
                                 ? measure_discriminator_on->next(options_.batch_size)
                                 : torch::Tensor();
  clear_gradients(*model_.generator);
  GeneratorResult result;
  {
    const FreezeGuard frozen(*model_.discriminator);
    for (int i = 0; i < k; ++i) {
      const auto logits = model_.discriminator->forward(maybe_augment(fakes[i]));
      auto loss = generator_loss(options_.loss, logits);
      (loss / k).backward();
      result.loss += loss.item<double>() / k;
      if (real.defined()) {
        const torch::NoGradGuard no_grad;
        const auto real_logits =
            model_.discriminator->forward(maybe_augment(real.narrow(0, i * micro, micro)));
        result.discriminator_loss +=
            discriminator_loss(options_.loss, real_logits, logits.detach()).item<double>() / k;
      }
    }
  }
  clip_gradients(*model_.generator, options_.grad_clip_norm);
  generator_opt_->step();
  return result;
}

StepStats LocalTrainer::step(BatchSource& data, TrainedNetworks networks) {
  const auto start = std::chrono::steady_clock::now();
  StepStats stats;
  fakes_.clear();
  const int critic_updates = networks == TrainedNetworks::kGenerator ? 0 : options_.n_critic;
  for (int c = 0; c < critic_updates; ++c) {
    const bool last = c + 1 == critic_updates;
    const bool discriminator_only = networks == TrainedNetworks::kDiscriminator;
    const auto critic = critic_update(data, /*keep_fakes=*/last && !discriminator_only,
                                      /*measure_generator=*/last && discriminator_only);
    stats.discriminator_loss += critic.loss / critic_updates;
    stats.gradient_penalty += critic.penalty / critic_updates;
    if (last) stats.generator_loss = critic.generator_loss;
  }
  if (networks != TrainedNetworks::kDiscriminator) {
    const bool generator_only = networks == TrainedNetworks::kGenerator;
    const auto generator = generator_update(generator_only ? &data : nullptr);
    stats.generator_loss = generator.loss;
    if (generator_only) stats.discriminator_loss = generator.discriminator_loss;
  }
  stats.step = ++steps_;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double samples = static_cast<double>(std::max(critic_updates, 1)) * options_.batch_size;
  stats.samples_per_second = stats.seconds > 0 ? samples / stats.seconds : 0.0;
  return stats;
}

torch::Tensor LocalTrainer::generate(int64_t count, uint64_t seed, int64_t chunk) {
  check(count > 0 && chunk > 0, "generate needs positive count and chunk, got {} and {}", count,
        chunk);
  torch::NoGradGuard no_grad;
  EvalModeGuard eval_mode(*model_.generator);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<torch::Tensor> parts;
  for (int64_t done = 0; done < count; done += chunk) {
    const int64_t n = std::min(chunk, count - done);
    auto z = torch::randn({n, model_.generator->latent_dim()}, gen, torch::kFloat32).to(device_);
    parts.push_back(model_.generator->forward(z).to(torch::kCPU));
  }
  return torch::cat(parts);
}

std::vector<torch::Tensor> LocalTrainer::optimizer_state_tensors() const {
  std::vector<torch::Tensor> tensors;
  for (const auto* optimizer : {generator_opt_.get(), discriminator_opt_.get()}) {
    for (const auto& [key, state] : optimizer->state()) {
      if (const auto* adam = dynamic_cast<const torch::optim::AdamParamState*>(state.get())) {
        for (const auto& t : {adam->exp_avg(), adam->exp_avg_sq(), adam->max_exp_avg_sq()}) {
          if (t.defined()) tensors.push_back(t);
        }
      } else if (const auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(state.get())) {
        if (sgd->momentum_buffer().defined()) tensors.push_back(sgd->momentum_buffer());
      }
    }
  }
  return tensors;
}

}  // namespace fedgan::gan
