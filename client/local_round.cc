#include "client/local_round.h"

#include "aggregation/delta.h"
#include "client/attack.h"
#include "client/error.h"
#include "client/local_state.h"
#include "client/site_identity.h"
#include "gan/device.h"
#include "gan/error.h"
#include "gan/losses.h"
#include "gan/models/model_factory.h"
#include "protocol/tensor_records.h"

#include <google/protobuf/unknown_field_set.h>

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <tuple>
#include <utility>

namespace fedgan::client {
namespace {

constexpr uint32_t kAcceptedCodecs = (1u << wire::CODEC_FP32) | (1u << wire::CODEC_FP16);

// An enum hyperparameter as the site acts on it: UNSPECIFIED (never set) and values of a newer
// protocol are refused, naming the field, rather than read as some default.
template <typename Enum>
Enum known(int value, bool (*is_valid)(int), const char* key) {
  check(value != 0, "the task has no hyperparameter '{}'", key);
  check(is_valid(value), "hyperparameter {} is {}, a value this client does not know", key, value);
  return static_cast<Enum>(value);
}

int64_t count(uint32_t value, const char* key, int64_t maximum, const char* limit) {
  check(value >= 1, "hyperparameter {} is {}: it must be at least 1", key, value);
  check(value <= maximum, "hyperparameter {} is {}, beyond this site's {} = {}", key, value, limit,
        maximum);
  return value;
}

gan::FederationScope scope_of(const wire::TrainingHyperparameters& h) {
  switch (known<wire::FederationScope>(h.federate(), wire::FederationScope_IsValid, "federate")) {
    case wire::FEDERATION_SCOPE_GENERATOR:
      return gan::FederationScope::kGeneratorOnly;
    default:
      return gan::FederationScope::kGeneratorAndDiscriminator;
  }
}

gan::TrainedNetworks networks_of(const wire::TrainingHyperparameters& h) {
  switch (known<wire::TrainedNetworks>(h.networks(), wire::TrainedNetworks_IsValid, "networks")) {
    case wire::TRAINED_NETWORKS_DISCRIMINATOR:
      return gan::TrainedNetworks::kDiscriminator;
    case wire::TRAINED_NETWORKS_GENERATOR:
      return gan::TrainedNetworks::kGenerator;
    default:
      return gan::TrainedNetworks::kBoth;
  }
}

gan::OptimizerKind optimizer_of(const wire::TrainingHyperparameters& h) {
  const auto optimizer =
      known<wire::Optimizer>(h.optimizer(), wire::Optimizer_IsValid, "optimizer");
  return optimizer == wire::OPTIMIZER_SGD ? gan::OptimizerKind::kSgd : gan::OptimizerKind::kAdam;
}

gan::LossKind loss_of(const wire::TrainingHyperparameters& h) {
  switch (known<wire::Loss>(h.loss(), wire::Loss_IsValid, "loss")) {
    case wire::LOSS_HINGE:
      return gan::LossKind::kHinge;
    case wire::LOSS_WGAN_GP:
      return gan::LossKind::kWassersteinGp;
    default:
      return gan::LossKind::kNonSaturating;
  }
}

// The task's hyperparameters as this site will train them, or a refusal naming the field. A field
// this client does not know (a newer coordinator's) is refused rather than ignored: training while
// ignoring what it asks for would be a different round from the one the coordinator planned.
const wire::TrainingHyperparameters& hyperparameters(const wire::Task& task) {
  check(task.has_training(),
        "the task carries no hyperparameters (Task.training, protocol 1.3): the coordinator "
        "speaks an older protocol and must be upgraded");
  const auto& h = task.training();
  const auto& unknown = h.GetReflection()->GetUnknownFields(h);
  check(unknown.empty(),
        "the task sets hyperparameter field {}, which this client does not know (upgrade it)",
        unknown.empty() ? 0 : unknown.field(0).number());
  check(!h.architecture().empty(), "the task has no hyperparameter 'architecture'");
  return h;
}

// The training a task's hyperparameters ask for, within `limits` and the site's sample count.
TaskPlan plan_training(const wire::TrainingHyperparameters& h, const LimitsOptions& limits,
                       int64_t num_samples) {
  TaskPlan plan;
  plan.scope = scope_of(h);
  plan.networks = networks_of(h);
  plan.trainer.optimizer = optimizer_of(h);
  plan.trainer.loss = loss_of(h);
  plan.local_steps =
      count(h.local_steps(), "local_steps", limits.max_local_steps, "limits.max_local_steps");
  auto& t = plan.trainer;
  t.batch_size =
      count(h.batch_size(), "batch_size", limits.max_batch_size, "limits.max_batch_size");
  check(t.batch_size <= num_samples,
        "hyperparameter batch_size is {}, but this site holds only {} samples", t.batch_size,
        num_samples);
  t.n_critic =
      static_cast<int>(count(h.n_critic(), "n_critic", limits.max_n_critic, "limits.max_n_critic"));
  for (const auto& [key, value, rate] :
       {std::tuple{"lr_generator", h.lr_generator(), &t.generator_lr},
        std::tuple{"lr_discriminator", h.lr_discriminator(), &t.discriminator_lr}}) {
    check(std::isfinite(value), "hyperparameter {} is {}, not a finite number", key, value);
    check(value > 0 && value <= limits.max_learning_rate,
          "hyperparameter {} is {}: it must be in (0, limits.max_learning_rate = {}]", key, value,
          limits.max_learning_rate);
    *rate = value;
  }
  for (const auto& [key, value, beta] :
       {std::tuple{"beta1", h.beta1(), &t.beta1}, std::tuple{"beta2", h.beta2(), &t.beta2}}) {
    check(value >= 0 && value < 1, "hyperparameter {} is {}: it must be in [0, 1)", key, value);
    *beta = value;
  }
  return plan;
}

gan::ModelSpec model_spec(const ClientOptions& options, const LoadedData& data) {
  gan::ModelSpec spec;
  Architecture architecture = options.model.architecture;
  if (architecture == Architecture::kAuto) {
    architecture = data.images ? Architecture::kDcgan : Architecture::kMlp;
  }
  spec.architecture = std::string(config::enum_name(architecture));
  const auto& rows = data.rows;
  if (architecture == Architecture::kDcgan) {
    const auto& d = spec.dcgan;
    check(rows.dim() == 4 && rows.size(1) == d.image_channels && rows.size(2) == d.image_size &&
              rows.size(3) == d.image_size,
          "the dcgan architecture trains on {}x{} grayscale images, but the data is {} ({})",
          d.image_size, d.image_size, fmt::join(rows.sizes(), " x "), data.description);
  } else {
    check(rows.dim() == 2,
          "the mlp architecture trains on vectors (CSV rows or mixture points), but the data is "
          "{} ({})",
          fmt::join(rows.sizes(), " x "), data.description);
    spec.mlp.data_dim = rows.size(1);
  }
  return spec;
}

std::vector<int64_t> shape_of(const torch::Tensor& tensor) {
  return std::vector<int64_t>(tensor.sizes().begin(), tensor.sizes().end());
}

torch::Device resolve(const std::string& device) {
  try {
    return gan::resolve_device(device);
  } catch (const gan::GanError& error) {
    throw ClientError(fmt::format("training.device: {}", error.what()));
  }
}

}  // namespace

LocalRound::LocalRound(const ClientOptions& options, const LoadedData& data,
                       const std::string& identity)
    : options_(options),
      spec_(model_spec(options, data)),
      model_(gan::make_model(spec_, options.training.seed)),
      device_(resolve(options.training.device)),
      num_samples_(data.rows.size(0)),
      site_seed_(site_seed(options.training.seed, identity)),
      identity_(identity) {
  check(num_samples_ >= 1, "the training data is empty ({})", data.description);
  state_path_ = options.state.dir / fmt::format("local_state_{}.pt", model_.architecture);
  // Loaded on the CPU, before the move: the file holds CPU tensors.
  state_loaded_ = load_local_state(model_, state_path_);
  gan::move_model(model_, device_);
  batches_ = std::make_unique<gan::BatchSource>(data.rows, device_, site_seed_);
}

wire::Manifest LocalRound::manifest(gan::FederationScope scope, wire::Codec codec) {
  prepare_buffers(scope);
  std::vector<protocol::ConstTensorView> views;
  for (size_t i = 0; i < specs_.size(); ++i) views.push_back({specs_[i], global_[i].data_ptr()});
  return protocol::make_manifest(views, codec);
}

void LocalRound::prepare_buffers(gan::FederationScope scope) {
  if (prepared_ && scope_ == scope) return;
  specs_.clear();
  global_.clear();
  delta_.clear();
  layout_.tensors.clear();
  delta_ready_ = false;
  for (const auto& entry : gan::federated_tensors(model_, scope)) {
    const auto shape = shape_of(entry.tensor);
    specs_.push_back(protocol::tensor_spec(entry.name, wire::DTYPE_FLOAT32, shape));
    layout_.tensors.push_back({entry.name, static_cast<size_t>(entry.tensor.numel())});
    global_.push_back(torch::zeros(shape, torch::kFloat32));
    delta_.push_back(torch::zeros(shape, torch::kFloat32));
  }
  scope_ = scope;
  prepared_ = true;
}

TaskPlan LocalRound::plan_task(const wire::Task& task) {
  const auto& limits = options_.limits;
  check(task.model_follows(),
        "the task does not send the model, and this client keeps no copy to reuse");
  const auto& h = hyperparameters(task);
  check(h.architecture() == model_.architecture,
        "the task trains the {} architecture, but this site trains {} (model.architecture)",
        printable(h.architecture()), model_.architecture);
  TaskPlan plan = plan_training(h, options_.limits, num_samples_);
  plan.round = task.round();
  plan.nonce = task.nonce();
  plan.deadline_unix_ms = task.deadline_unix_ms();
  const auto& model = task.model();
  plan.codec = model.codec();
  check(plan.codec == wire::CODEC_FP32 || plan.codec == wire::CODEC_FP16,
        "the task's model uses codec {}, which this client does not decode",
        static_cast<int>(plan.codec));
  check(model.total_bytes() <= limits.max_model_bytes,
        "the task's model is {} bytes, beyond this site's limits.max_model_bytes = {}",
        model.total_bytes(), limits.max_model_bytes);
  try {
    protocol::validate_manifest(model, manifest(plan.scope, plan.codec), kAcceptedCodecs);
  } catch (const protocol::ProtocolError& error) {
    throw ClientError(fmt::format("the task's model does not match this site's {} model: {} ({})",
                                  model_.architecture, error.what(),
                                  wire::StatusCode_Name(error.code())));
  }
  delta_ready_ = false;
  return plan;
}

std::vector<protocol::MutableTensorView> LocalRound::global_destinations() {
  check(prepared_, "no task has been planned");
  std::vector<protocol::MutableTensorView> views;
  for (size_t i = 0; i < specs_.size(); ++i) views.push_back({specs_[i], global_[i].data_ptr()});
  return views;
}

RoundReport LocalRound::train(const TaskPlan& plan, const TrainHooks& hooks) {
  begin_training(plan);
  train_steps(plan.local_steps, hooks);
  return finish_training();
}

void LocalRound::begin_training(const TaskPlan& plan) {
  check(prepared_ && plan.scope == scope_, "train() needs the plan of the last planned task");
  delta_ready_ = false;
  {
    torch::NoGradGuard no_grad;
    const auto federated = gan::federated_tensors(model_, plan.scope);
    for (size_t i = 0; i < federated.size(); ++i) federated[i].tensor.copy_(global_[i]);
  }
  gan::TrainerOptions trainer_options = plan.trainer;
  trainer_options.seed = round_seed(site_seed_, plan.round);
  trainer_for(trainer_options);
  running_ = RoundInProgress{};
  running_->plan = plan;
}

int64_t LocalRound::train_steps(int64_t steps, const TrainHooks& hooks) {
  check(running_.has_value(), "no round has begun");
  auto& round = *running_;
  RoundReport& report = round.report;
  const auto start = std::chrono::steady_clock::now();
  int64_t run = 0;
  while (run < steps && report.steps < round.plan.local_steps && !report.diverged) {
    if (hooks.interrupted && hooks.interrupted()) break;
    const gan::StepStats stats = trainer_->step(*batches_, round.plan.networks);
    if (!std::isfinite(stats.generator_loss) || !std::isfinite(stats.discriminator_loss)) {
      report.diverged = true;
      break;
    }
    round.generator_sum += stats.generator_loss;
    round.discriminator_sum += stats.discriminator_loss;
    ++report.steps;
    ++run;
    if (hooks.on_step) hooks.on_step(stats, round.plan.local_steps);
  }
  report.train_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

int64_t LocalRound::steps_done() const {
  return running_ ? running_->report.steps : 0;
}

RoundReport LocalRound::finish_training() {
  check(running_.has_value(), "no round has begun");
  const RoundInProgress round = std::move(*running_);
  running_.reset();
  const TaskPlan& plan = round.plan;
  RoundReport report = round.report;
  const auto federated = gan::federated_tensors(model_, plan.scope);
  if (report.steps > 0) {
    report.generator_loss = round.generator_sum / static_cast<double>(report.steps);
    report.discriminator_loss = round.discriminator_sum / static_cast<double>(report.steps);
    report.samples_per_second = static_cast<double>(report.steps) * plan.trainer.n_critic *
                                plan.trainer.batch_size / std::max(report.train_seconds, 1e-9);
  }
  const auto steps_done = std::chrono::steady_clock::now();
  if (!report.diverged) {
    torch::NoGradGuard no_grad;
    // On the CPU these are the parameters themselves; from a GPU, copies that live until the
    // subtraction is done.
    std::vector<torch::Tensor> local;
    aggregation::ConstViews local_views, global_views;
    aggregation::MutableViews delta_views;
    for (size_t i = 0; i < federated.size(); ++i) {
      local.push_back(federated[i].tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous());
      local_views.push_back(local.back().data_ptr<float>());
      global_views.push_back(global_[i].data_ptr<float>());
      delta_views.push_back(delta_[i].data_ptr<float>());
    }
    // A weight may overflow while the losses stay finite; a private one would poison every
    // later round, and the saved state could not be loaded again. A federated weight is checked
    // through its delta, in the same pass that computes it: local - global is not finite when
    // local is not (the download checked global), so only the local tensors need a pass of
    // their own.
    const bool delta_finite =
        !aggregation::subtract_screened(layout_, local_views, global_views, delta_views);
    std::vector<torch::Tensor> weights;
    for (const auto& entry : gan::local_tensors(model_, plan.scope)) {
      if (entry.tensor.is_floating_point()) weights.push_back(entry.tensor.detach());
    }
    report.diverged = !delta_finite || !gan::all_finite(weights);
  }
  if (report.diverged) {
    restore_last_good();
    return report;
  }
  state_unsaved_ = report.steps > 0;
  report.delta_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - steps_done).count();
  report.completed = report.steps == plan.local_steps;
  delta_ready_ = report.completed;
  // An attacking site (experiments only) changes what it uploads, never what it trained.
  if (delta_ready_) apply_attack(options_.attack, identity_, plan.round, delta_);
  return report;
}

void LocalRound::save_state() {
  if (!state_unsaved_) return;
  save_local_state(model_, scope_, state_path_);
  state_unsaved_ = false;
}

gan::LocalTrainer& LocalRound::trainer_for(const gan::TrainerOptions& options) {
  const auto settings = [](const gan::TrainerOptions& o) {
    return std::tie(o.batch_size, o.accumulation_steps, o.n_critic, o.loss, o.gp_weight,
                    o.optimizer, o.generator_lr, o.discriminator_lr, o.beta1, o.beta2,
                    o.grad_clip_norm, o.augment, o.augment_options.flip,
                    o.augment_options.translation);
  };
  const bool reusable = trainer_ && options_.training.optimizer_state == OptimizerState::kKeep &&
                        settings(trainer_->options()) == settings(options);
  if (reusable) {
    trainer_->reseed(options.seed);
  } else {
    trainer_ = std::make_unique<gan::LocalTrainer>(model_, options, device_);
  }
  return *trainer_;
}

void LocalRound::restore_last_good() {
  trainer_.reset();  // its moments come from the diverged steps
  state_unsaved_ = false;
  if (!load_local_state(model_, state_path_)) {
    // No saved state yet: back to this site's initial weights.
    const gan::GanModel fresh = gan::make_model(spec_, options_.training.seed);
    gan::load_full_state(model_, gan::full_state(fresh));
  }
  // The federated tensors are not in the saved state: back to this round's global values.
  torch::NoGradGuard no_grad;
  const auto federated = gan::federated_tensors(model_, scope_);
  for (size_t i = 0; i < federated.size(); ++i) federated[i].tensor.copy_(global_[i]);
}

std::vector<protocol::ConstTensorView> LocalRound::delta_views() const {
  check(delta_ready_, "no completed round: there is no delta to upload");
  std::vector<protocol::ConstTensorView> views;
  for (size_t i = 0; i < specs_.size(); ++i) views.push_back({specs_[i], delta_[i].data_ptr()});
  return views;
}

void LocalRound::save_delta(const std::filesystem::path& path) const {
  check(delta_ready_, "no completed round: there is no delta to save");
  std::vector<gan::NamedTensor> named;
  for (size_t i = 0; i < specs_.size(); ++i) {
    named.push_back({specs_[i].name(), delta_[i].view(std::vector<int64_t>(
                                           specs_[i].shape().begin(), specs_[i].shape().end()))});
  }
  save_named_tensors(named, path);
}

std::vector<torch::Tensor> LocalRound::resident_tensors() const {
  std::vector<torch::Tensor> tensors;
  for (const torch::nn::Module* net :
       {static_cast<const torch::nn::Module*>(model_.generator.get()),
        static_cast<const torch::nn::Module*>(model_.discriminator.get())}) {
    for (const auto& parameter : net->parameters()) {
      tensors.push_back(parameter);
      if (parameter.grad().defined()) tensors.push_back(parameter.grad());
    }
    for (const auto& buffer : net->buffers()) tensors.push_back(buffer);
  }
  if (trainer_) {
    for (const auto& state : trainer_->optimizer_state_tensors()) tensors.push_back(state);
  }
  tensors.insert(tensors.end(), global_.begin(), global_.end());
  tensors.insert(tensors.end(), delta_.begin(), delta_.end());
  return tensors;
}

}  // namespace fedgan::client
