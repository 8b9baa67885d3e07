#include "coordinator/round_task.h"

#include "coordinator/error.h"
#include "coordinator/round_plan.h"

#include <limits>

namespace fedgan::coordinator {
namespace {

// A task carries counts as uint32: validate() bounds them, this keeps a caller that skipped it
// from sending a truncated count.
uint32_t count32(int64_t value, const char* name) {
  check(value >= 1 && value <= std::numeric_limits<uint32_t>::max(),
        "training.{} is {}: a task carries it as a count from 1 to {}", name, value,
        std::numeric_limits<uint32_t>::max());
  return static_cast<uint32_t>(value);
}

}  // namespace

wire::TrainedNetworks wire_networks(gan::TrainedNetworks networks) {
  switch (networks) {
    case gan::TrainedNetworks::kBoth:
      return wire::TRAINED_NETWORKS_BOTH;
    case gan::TrainedNetworks::kDiscriminator:
      return wire::TRAINED_NETWORKS_DISCRIMINATOR;
    case gan::TrainedNetworks::kGenerator:
      return wire::TRAINED_NETWORKS_GENERATOR;
  }
  throw CoordinatorError("unknown trained networks value");
}

wire::FederationScope wire_federation_scope(Federate federate) {
  switch (federate) {
    case Federate::kBoth:
      return wire::FEDERATION_SCOPE_BOTH;
    case Federate::kGenerator:
      return wire::FEDERATION_SCOPE_GENERATOR;
  }
  throw CoordinatorError("unknown federation scope value");
}

wire::Optimizer wire_optimizer(SiteOptimizer optimizer) {
  switch (optimizer) {
    case SiteOptimizer::kAdam:
      return wire::OPTIMIZER_ADAM;
    case SiteOptimizer::kSgd:
      return wire::OPTIMIZER_SGD;
  }
  throw CoordinatorError("unknown optimizer value");
}

wire::Loss wire_loss(Loss loss) {
  switch (loss) {
    case Loss::kNonSaturating:
      return wire::LOSS_NON_SATURATING;
    case Loss::kHinge:
      return wire::LOSS_HINGE;
    case Loss::kWassersteinGp:
      return wire::LOSS_WGAN_GP;
  }
  throw CoordinatorError("unknown loss value");
}

wire::TrainingHyperparameters hyperparameters_of_round(const CoordinatorOptions& options,
                                                       int64_t round) {
  const auto& t = options.training;
  wire::TrainingHyperparameters h;
  h.set_architecture(std::string(config::enum_name(options.model.architecture)));
  h.set_networks(wire_networks(networks_of_round(t, round)));
  h.set_federate(wire_federation_scope(options.model.federate));
  h.set_local_steps(count32(t.local_steps, "local_steps"));
  h.set_batch_size(count32(t.batch_size, "batch_size"));
  h.set_optimizer(wire_optimizer(t.optimizer));
  h.set_lr_generator(t.lr_generator);
  h.set_lr_discriminator(t.lr_discriminator);
  h.set_beta1(t.beta1);
  h.set_beta2(t.beta2);
  h.set_loss(wire_loss(t.loss));
  h.set_n_critic(count32(t.n_critic, "n_critic"));
  return h;
}

wire::Task task_of_round(const CoordinatorOptions& options, int64_t round, const std::string& nonce,
                         int64_t deadline_unix_ms) {
  wire::Task task;
  task.set_run_id(options.storage.run_id);
  task.set_round(static_cast<uint64_t>(round));
  task.set_nonce(nonce);
  task.set_deadline_unix_ms(deadline_unix_ms);
  *task.mutable_training() = hyperparameters_of_round(options, round);
  return task;
}

}  // namespace fedgan::coordinator
