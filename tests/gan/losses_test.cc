#include "gan/losses.h"
#include "gan/error.h"
#include "gan/models/init.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace fedgan::gan {
namespace {

double softplus(double x) {
  return std::log1p(std::exp(x));
}

torch::Tensor real_logits() {
  return torch::tensor({0.0, 2.0}, torch::kFloat64);
}
torch::Tensor fake_logits() {
  return torch::tensor({-1.0, 1.5}, torch::kFloat64);
}

TEST(Losses, NonSaturatingIsBinaryCrossEntropyWithLogits) {
  const double d = (softplus(-0.0) + softplus(-2.0)) / 2 + (softplus(-1.0) + softplus(1.5)) / 2;
  const double g = (softplus(1.0) + softplus(-1.5)) / 2;
  EXPECT_NEAR(
      discriminator_loss(LossKind::kNonSaturating, real_logits(), fake_logits()).item<double>(), d,
      1e-12);
  EXPECT_NEAR(generator_loss(LossKind::kNonSaturating, fake_logits()).item<double>(), g, 1e-12);
}

TEST(Losses, HingeAndWassersteinMatchHandComputation) {
  // hinge D: mean(relu(1 - [0, 2])) + mean(relu(1 + [-1, 1.5])) = 0.5 + 1.25
  EXPECT_DOUBLE_EQ(
      discriminator_loss(LossKind::kHinge, real_logits(), fake_logits()).item<double>(), 1.75);
  EXPECT_DOUBLE_EQ(generator_loss(LossKind::kHinge, fake_logits()).item<double>(), -0.25);
  // WGAN critic: mean(fake) - mean(real) = 0.25 - 1
  EXPECT_DOUBLE_EQ(
      discriminator_loss(LossKind::kWassersteinGp, real_logits(), fake_logits()).item<double>(),
      -0.75);
  EXPECT_DOUBLE_EQ(generator_loss(LossKind::kWassersteinGp, fake_logits()).item<double>(), -0.25);
}

TEST(Losses, NamesRoundTripAndUnknownNamesAreRejected) {
  for (auto kind : {LossKind::kNonSaturating, LossKind::kHinge, LossKind::kWassersteinGp}) {
    EXPECT_EQ(parse_loss_kind(loss_kind_name(kind)), kind);
  }
  EXPECT_THROW(parse_loss_kind("lsgan"), GanError);
}

// A small smooth critic in float64 so central differences are accurate.
struct Critic {
  torch::nn::Sequential net{torch::nn::Linear(3, 8), torch::nn::Tanh(), torch::nn::Linear(8, 1)};
  explicit Critic(uint64_t seed) {
    init_weights(*net, WeightInit::kUniformFanIn, seed);
    net->to(torch::kFloat64);
  }
  torch::Tensor operator()(const torch::Tensor& x) { return net->forward(x).view({-1}); }
};

// The penalty computed by finite differences of the critic's output with respect to its input.
double penalty_by_finite_differences(Critic& critic, const torch::Tensor& mixed) {
  torch::NoGradGuard no_grad;
  const double h = 1e-6;
  double total = 0;
  for (int64_t i = 0; i < mixed.size(0); ++i) {
    double squared_norm = 0;
    for (int64_t j = 0; j < mixed.size(1); ++j) {
      auto plus = mixed[i].clone().unsqueeze(0), minus = mixed[i].clone().unsqueeze(0);
      plus[0][j] += h;
      minus[0][j] -= h;
      const double g = (critic(plus).item<double>() - critic(minus).item<double>()) / (2 * h);
      squared_norm += g * g;
    }
    total += std::pow(std::sqrt(squared_norm) - 1.0, 2);
  }
  return total / mixed.size(0);
}

TEST(GradientPenalty, MatchesFiniteDifferenceEstimate) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  Critic critic(5);
  const auto real = torch::randn({6, 3}, gen, torch::kFloat64);
  const auto fake = torch::randn({6, 3}, gen, torch::kFloat64);
  const auto eps = torch::rand({6}, gen, torch::kFloat64);
  const auto penalty = gradient_penalty(critic, real, fake, eps);
  const auto mixed = eps.view({6, 1}) * real + (1 - eps.view({6, 1})) * fake;
  EXPECT_NEAR(penalty.item<double>(), penalty_by_finite_differences(critic, mixed), 1e-7);
}

TEST(GradientPenalty, IsDifferentiableWithRespectToTheCriticParameters) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(6);
  Critic critic(6);
  const auto real = torch::randn({4, 3}, gen, torch::kFloat64);
  const auto fake = torch::randn({4, 3}, gen, torch::kFloat64);
  const auto eps = torch::rand({4}, gen, torch::kFloat64);
  auto weight = critic.net->parameters()[0];
  gradient_penalty(critic, real, fake, eps).backward();
  const double analytic = weight.grad()[2][1].item<double>();

  torch::NoGradGuard no_grad;
  const double h = 1e-6;
  weight[2][1] += h;
  double up = 0, down = 0;
  {
    torch::AutoGradMode enable(true);
    up = gradient_penalty(critic, real, fake, eps).item<double>();
  }
  weight[2][1] -= 2 * h;
  {
    torch::AutoGradMode enable(true);
    down = gradient_penalty(critic, real, fake, eps).item<double>();
  }
  EXPECT_NEAR(analytic, (up - down) / (2 * h), 1e-6);
}

TEST(GradientPenalty, RejectsMismatchedShapes) {
  Critic critic(7);
  EXPECT_THROW(
      gradient_penalty(critic, torch::zeros({2, 3}, torch::kFloat64),
                       torch::zeros({3, 3}, torch::kFloat64), torch::zeros({2}, torch::kFloat64)),
      GanError);
}

}  // namespace
}  // namespace fedgan::gan
