#include "gan/trainer.h"
#include "gan/error.h"
#include "gan/models/model_factory.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace fedgan::gan {
namespace {

// A narrow DCGAN keeps trainer tests fast while exercising every layer type of the real one.
DcganOptions small_dcgan() {
  DcganOptions o;
  o.latent_dim = 8;
  o.generator_width = 16;
  o.generator_width2 = 8;
  o.discriminator_width = 8;
  o.discriminator_width2 = 16;
  return o;
}

torch::Tensor random_images(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::rand({n, 1, 28, 28}, gen) * 2 - 1;
}

std::vector<torch::Tensor> state_of(GanModel& model) {
  std::vector<torch::Tensor> state;
  for (auto* net : {static_cast<torch::nn::Module*>(model.generator.get()),
                    static_cast<torch::nn::Module*>(model.discriminator.get())}) {
    for (const auto& p : net->parameters()) state.push_back(p.detach().clone());
    for (const auto& b : net->buffers()) state.push_back(b.clone());
  }
  return state;
}

std::vector<torch::Tensor> train_dcgan(const TrainerOptions& options, uint64_t model_seed,
                                       int steps) {
  LocalTrainer trainer(make_dcgan(small_dcgan(), model_seed), options, torch::kCPU);
  BatchSource data(random_images(96, 1), torch::kCPU, options.seed);
  for (int i = 0; i < steps; ++i) trainer.step(data);
  return state_of(trainer.model());
}

std::vector<torch::Tensor> params(torch::nn::Module& net) {
  std::vector<torch::Tensor> out;
  for (const auto& p : net.parameters()) out.push_back(p.detach().clone());
  return out;
}

bool all_equal(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i], b[i])) return false;
  }
  return true;
}

TEST(LocalTrainer, SameSeedGivesBitIdenticalWeights) {
  TrainerOptions options;
  options.batch_size = 16;
  options.augment = true;
  options.seed = 42;
  const auto a = train_dcgan(options, 7, 3);
  const auto b = train_dcgan(options, 7, 3);
  EXPECT_TRUE(all_equal(a, b));
  options.seed = 43;
  EXPECT_FALSE(all_equal(a, train_dcgan(options, 7, 3)));
}

TEST(LocalTrainer, SameSeedGivesBitIdenticalWeightsOnTwoThreads) {
  // Intra-op parallelism (oneDNN convolutions, OpenMP loops) must not make results depend on
  // scheduling. ctest runs each test in its own process, so the thread count stays local.
  at::set_num_threads(2);
  TrainerOptions options;
  options.batch_size = 32;
  options.seed = 4;
  EXPECT_TRUE(all_equal(train_dcgan(options, 3, 3), train_dcgan(options, 3, 3)));
}

TEST(LocalTrainer, StepChangesBothNetworksAndReportsFiniteLossesAndThroughput) {
  TrainerOptions options;
  options.batch_size = 16;
  LocalTrainer trainer(make_dcgan(small_dcgan(), 1), options, torch::kCPU);
  BatchSource data(random_images(64, 2), torch::kCPU, 3);
  const auto before = state_of(trainer.model());
  const auto stats = trainer.step(data);
  const auto after = state_of(trainer.model());
  EXPECT_FALSE(torch::equal(before.front(), after.front()));  // a generator weight
  EXPECT_FALSE(torch::equal(trainer.model().discriminator->parameters().front(),
                            before[trainer.model().generator->parameters().size() +
                                   trainer.model().generator->buffers().size()]));
  EXPECT_EQ(stats.step, 1);
  EXPECT_TRUE(std::isfinite(stats.discriminator_loss) && std::isfinite(stats.generator_loss));
  EXPECT_GT(stats.samples_per_second, 0);
  // D's parameters are trainable again after the generator update froze them.
  for (const auto& p : trainer.model().discriminator->parameters()) EXPECT_TRUE(p.requires_grad());
}

TEST(LocalTrainer, AOneNetworkStepLeavesTheOtherNetworksWeightsExactlyAsTheyWere) {
  TrainerOptions options;
  options.batch_size = 16;
  options.n_critic = 2;
  LocalTrainer trainer(make_dcgan(small_dcgan(), 1), options, torch::kCPU);
  // Two batches per epoch.
  BatchSource data(random_images(32, 2), torch::kCPU, 3);
  auto& generator = *trainer.model().generator;
  auto& discriminator = *trainer.model().discriminator;

  auto g_before = params(generator);
  auto d_before = params(discriminator);
  const auto d_step = trainer.step(data, TrainedNetworks::kDiscriminator);
  EXPECT_TRUE(all_equal(params(generator), g_before));
  EXPECT_FALSE(all_equal(params(discriminator), d_before));
  EXPECT_EQ(data.epochs_started(), 1);  // n_critic real batches
  EXPECT_TRUE(std::isfinite(d_step.discriminator_loss));
  EXPECT_GT(d_step.generator_loss, 0);  // non-saturating loss of D's fake logits

  g_before = params(generator);
  d_before = params(discriminator);
  const auto g_step = trainer.step(data, TrainedNetworks::kGenerator);
  EXPECT_FALSE(all_equal(params(generator), g_before));
  EXPECT_TRUE(all_equal(params(discriminator), d_before));
  EXPECT_GT(g_step.generator_loss, 0);
  EXPECT_GT(g_step.discriminator_loss, 0);  // measured on one real batch, without a step
  EXPECT_EQ(g_step.step, 2);
  for (const auto& p : discriminator.parameters()) EXPECT_TRUE(p.requires_grad());

  EXPECT_EQ(parse_trained_networks("generator"), TrainedNetworks::kGenerator);
  EXPECT_EQ(trained_networks_name(parse_trained_networks("discriminator")), "discriminator");
  EXPECT_EQ(trained_networks_name(TrainedNetworks::kBoth), "both");
  EXPECT_THROW(parse_trained_networks("critic"), GanError);
}

TEST(LocalTrainer, EachStepRunsNCriticDiscriminatorUpdates) {
  TrainerOptions options;
  options.batch_size = 8;
  options.n_critic = 3;
  LocalTrainer trainer(make_dcgan(small_dcgan(), 1), options, torch::kCPU);
  // Exactly three batches per epoch: each step must consume one whole epoch.
  BatchSource data(random_images(24, 2), torch::kCPU, 3);
  trainer.step(data);
  EXPECT_EQ(data.epochs_started(), 1);
  trainer.step(data);
  EXPECT_EQ(data.epochs_started(), 2);
}

TEST(LocalTrainer, GradientAccumulationMatchesOneFullBatch) {
  // Without BatchNorm, k micro-batches of n/k give the same gradient as one batch of n.
  MlpGanOptions mlp;
  mlp.generator_batchnorm = false;
  mlp.generator_width = 32;
  mlp.discriminator_width = 16;
  auto points = torch::randn({64, 2}, at::make_generator<at::CPUGeneratorImpl>(5));
  auto run = [&](int k) {
    TrainerOptions options;
    options.batch_size = 32;
    options.accumulation_steps = k;
    options.seed = 9;
    LocalTrainer trainer(make_mlp_gan(mlp, 4), options, torch::kCPU);
    BatchSource data(points, torch::kCPU, 6);
    trainer.step(data);
    trainer.step(data);
    return state_of(trainer.model());
  };
  const auto whole = run(1), accumulated = run(4);
  ASSERT_EQ(whole.size(), accumulated.size());
  for (size_t i = 0; i < whole.size(); ++i) {
    EXPECT_TRUE(torch::allclose(whole[i], accumulated[i], 1e-4, 1e-5)) << "tensor " << i;
  }
}

TEST(LocalTrainer, GradientClippingBoundsTheUpdate) {
  auto max_change = [](double clip) {
    MlpGanOptions mlp;
    mlp.generator_width = 32;
    mlp.discriminator_width = 16;
    TrainerOptions options;
    options.batch_size = 32;
    options.grad_clip_norm = clip;
    LocalTrainer trainer(make_mlp_gan(mlp, 1), options, torch::kCPU);
    BatchSource data(torch::randn({64, 2}) * 10, torch::kCPU, 2);
    const auto before = state_of(trainer.model());
    trainer.step(data);
    const auto after = state_of(trainer.model());
    return (after.front() - before.front()).abs().max().item<double>();
  };
  // Adam normalises gradients, so only a norm far below its epsilon (1e-8) shows: the update
  // then shrinks by orders of magnitude.
  EXPECT_LT(max_change(1e-12), 0.01 * max_change(0.0));
}

TEST(LocalTrainer, SgdStepsAreTheLearningRateTimesTheClippedGradient) {
  MlpGanOptions mlp;
  mlp.generator_width = 32;
  mlp.discriminator_width = 16;
  TrainerOptions options;
  options.optimizer = OptimizerKind::kSgd;
  options.batch_size = 32;
  options.generator_lr = 0.1;
  options.discriminator_lr = 0.05;
  // Far below the gradients' norms, so both are clipped to exactly this norm.
  options.grad_clip_norm = 1e-3;
  LocalTrainer trainer(make_mlp_gan(mlp, 1), options, torch::kCPU);
  BatchSource data(torch::randn({64, 2}) * 10, torch::kCPU, 2);
  auto change_norm = [](torch::nn::Module& net, const std::vector<torch::Tensor>& before) {
    double squared = 0;
    const auto after = net.parameters();
    for (size_t i = 0; i < after.size(); ++i) {
      squared += (after[i].detach() - before[i]).pow(2).sum().item<double>();
    }
    return std::sqrt(squared);
  };
  const auto generator_before = params(*trainer.model().generator);
  const auto discriminator_before = params(*trainer.model().discriminator);
  trainer.step(data);
  // Plain SGD moves by lr * gradient; Adam would move each weight by about lr.
  EXPECT_NEAR(change_norm(*trainer.model().discriminator, discriminator_before), 0.05 * 1e-3, 1e-8);
  EXPECT_NEAR(change_norm(*trainer.model().generator, generator_before), 0.1 * 1e-3, 1e-8);
  // A schedule's new rates apply from the next step on.
  trainer.set_learning_rates(0.02, 0.01);
  const auto generator_mid = params(*trainer.model().generator);
  const auto discriminator_mid = params(*trainer.model().discriminator);
  trainer.step(data);
  EXPECT_NEAR(change_norm(*trainer.model().discriminator, discriminator_mid), 0.01 * 1e-3, 1e-8);
  EXPECT_NEAR(change_norm(*trainer.model().generator, generator_mid), 0.02 * 1e-3, 1e-8);
  EXPECT_THROW(trainer.set_learning_rates(0.0, 0.01), GanError);
  EXPECT_EQ(parse_optimizer_kind("sgd"), OptimizerKind::kSgd);
  EXPECT_EQ(optimizer_kind_name(parse_optimizer_kind("adam")), "adam");
  EXPECT_THROW(parse_optimizer_kind("rmsprop"), GanError);
}

TEST(LocalTrainer, WganGpAndHingeTrainWithFiniteLosses) {
  for (auto loss : {LossKind::kWassersteinGp, LossKind::kHinge}) {
    TrainerOptions options;
    options.batch_size = 8;
    options.loss = loss;
    options.n_critic = 2;
    options.accumulation_steps = 2;
    LocalTrainer trainer(make_dcgan(small_dcgan(), 1), options, torch::kCPU);
    BatchSource data(random_images(32, 2), torch::kCPU, 3);
    const auto stats = trainer.step(data);
    EXPECT_TRUE(std::isfinite(stats.discriminator_loss)) << loss_kind_name(loss);
    EXPECT_TRUE(std::isfinite(stats.generator_loss)) << loss_kind_name(loss);
    if (loss == LossKind::kWassersteinGp) {
      EXPECT_GT(stats.gradient_penalty, 0.0);
    } else {
      EXPECT_EQ(stats.gradient_penalty, 0.0);
    }
  }
}

TEST(LocalTrainer, GeneratorLearnsToMoveTowardsTheData) {
  MlpGanOptions mlp;
  mlp.generator_width = 64;
  mlp.generator_layers = 2;
  mlp.discriminator_width = 32;
  mlp.discriminator_layers = 2;
  TrainerOptions options;
  options.batch_size = 64;
  options.generator_lr = options.discriminator_lr = 1e-3;
  LocalTrainer trainer(make_mlp_gan(mlp, 3), options, torch::kCPU);
  const auto target = torch::tensor({3.0f, -2.0f});
  BatchSource data(torch::randn({512, 2}) * 0.1 + target, torch::kCPU, 4);
  const auto distance = [&] {
    return (trainer.generate(500, 1).mean(0) - target).norm().item<double>();
  };
  const double before = distance();
  for (int i = 0; i < 300; ++i) trainer.step(data);
  EXPECT_GT(before, 3.0);
  EXPECT_LT(distance(), 0.5);
}

TEST(LocalTrainer, GenerateIsSeededChunkedAndRestoresTrainingMode) {
  LocalTrainer trainer(make_dcgan(small_dcgan(), 1), TrainerOptions{}, torch::kCPU);
  const auto a = trainer.generate(25, 5, /*chunk=*/10);
  EXPECT_EQ(a.sizes(), torch::IntArrayRef({25, 1, 28, 28}));
  EXPECT_TRUE(torch::equal(a, trainer.generate(25, 5, 25)));
  EXPECT_FALSE(torch::equal(a, trainer.generate(25, 6)));
  EXPECT_TRUE(trainer.model().generator->is_training());
}

TEST(LocalTrainer, RejectsInconsistentOptions) {
  TrainerOptions options;
  options.batch_size = 10;
  options.accumulation_steps = 3;
  EXPECT_THROW(LocalTrainer(make_dcgan(small_dcgan(), 1), options, torch::kCPU), GanError);
  options.accumulation_steps = 1;
  options.beta1 = 1.0;
  EXPECT_THROW(LocalTrainer(make_dcgan(small_dcgan(), 1), options, torch::kCPU), GanError);
}

TEST(BatchSource, VisitsEveryRowOncePerEpochAndRejectsOversizedBatches) {
  BatchSource data(torch::arange(10).view({10, 1}), torch::kCPU, 1);
  std::vector<int64_t> seen;
  for (int i = 0; i < 5; ++i) {
    const auto batch = data.next(2);
    for (int64_t j = 0; j < 2; ++j) seen.push_back(batch[j][0].item<int64_t>());
  }
  std::sort(seen.begin(), seen.end());
  for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(seen[i], i);
  EXPECT_EQ(data.epochs_started(), 1);
  EXPECT_THROW(data.next(11), GanError);
}

}  // namespace
}  // namespace fedgan::gan
