#include "coordinator/round_task.h"

#include "coordinator/error.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace fedgan::coordinator {
namespace {

TEST(RoundTask, TheDefaultOptionsBecomeTypedHyperparameters) {
  const CoordinatorOptions options;
  const auto h = hyperparameters_of_round(options, 1);
  EXPECT_EQ(h.architecture(), "dcgan");
  EXPECT_EQ(h.networks(), wire::TRAINED_NETWORKS_BOTH);
  EXPECT_EQ(h.federate(), wire::FEDERATION_SCOPE_BOTH);
  EXPECT_EQ(h.local_steps(), 50u);
  EXPECT_EQ(h.batch_size(), 64u);
  EXPECT_EQ(h.optimizer(), wire::OPTIMIZER_ADAM);
  EXPECT_EQ(h.lr_generator(), 2e-4);  // exactly: doubles on the wire, not text
  EXPECT_EQ(h.lr_discriminator(), 2e-4);
  EXPECT_EQ(h.beta1(), 0.5);
  EXPECT_EQ(h.beta2(), 0.999);
  EXPECT_EQ(h.loss(), wire::LOSS_NON_SATURATING);
  EXPECT_EQ(h.n_critic(), 1u);
}

TEST(RoundTask, EverySettingMapsToItsWireValue) {
  CoordinatorOptions options;
  options.model.architecture = Architecture::kMlp;
  options.model.federate = Federate::kGenerator;
  options.training.optimizer = SiteOptimizer::kSgd;
  options.training.loss = Loss::kWassersteinGp;
  options.training.n_critic = 5;
  options.training.networks = Networks::kAlternate;
  const auto odd = hyperparameters_of_round(options, 3);
  EXPECT_EQ(odd.architecture(), "mlp");
  EXPECT_EQ(odd.federate(), wire::FEDERATION_SCOPE_GENERATOR);
  EXPECT_EQ(odd.optimizer(), wire::OPTIMIZER_SGD);
  EXPECT_EQ(odd.loss(), wire::LOSS_WGAN_GP);
  EXPECT_EQ(odd.n_critic(), 5u);
  EXPECT_EQ(odd.networks(), wire::TRAINED_NETWORKS_DISCRIMINATOR);
  EXPECT_EQ(hyperparameters_of_round(options, 4).networks(), wire::TRAINED_NETWORKS_GENERATOR);
  options.training.loss = Loss::kHinge;
  EXPECT_EQ(hyperparameters_of_round(options, 1).loss(), wire::LOSS_HINGE);
}

TEST(RoundTask, ATaskCarriesTheRoundItsNonceAndDeadline) {
  CoordinatorOptions options;
  options.storage.run_id = "run-7";
  const auto task = task_of_round(options, 12, "nonce", 1795000000000);
  EXPECT_EQ(task.run_id(), "run-7");
  EXPECT_EQ(task.round(), 12u);
  EXPECT_EQ(task.nonce(), "nonce");
  EXPECT_EQ(task.deadline_unix_ms(), 1795000000000);
  EXPECT_EQ(task.training().SerializeAsString(),
            hyperparameters_of_round(options, 12).SerializeAsString());
  EXPECT_FALSE(task.model_follows());  // the session adds the model it sends
}

TEST(RoundTask, ACountBeyondThirtyTwoBitsIsRefusedNotTruncated) {
  CoordinatorOptions options;
  options.training.local_steps = int64_t{1} << 32;
  EXPECT_THROW(hyperparameters_of_round(options, 1), CoordinatorError);
}

}  // namespace
}  // namespace fedgan::coordinator
