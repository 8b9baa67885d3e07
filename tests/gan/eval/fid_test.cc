#include "gan/eval/fid.h"

#include "gan/error.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

namespace fedgan::gan {
namespace {

GaussianStats make_stats(const torch::Tensor& mean, const torch::Tensor& covariance) {
  return {mean.to(torch::kFloat64), covariance.to(torch::kFloat64)};
}

// A random D x D covariance (A A^T / D + a small ridge) from a seeded generator.
torch::Tensor random_covariance(int64_t d, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const torch::Tensor a = torch::randn({d, d}, gen, torch::kFloat64);
  return a.matmul(a.t()) / static_cast<double>(d) + 0.01 * torch::eye(d, torch::kFloat64);
}

TEST(FeatureStats, MatchesHandComputedMeanAndUnbiasedCovariance) {
  const torch::Tensor features = torch::tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 0.0}});
  const GaussianStats stats = feature_stats(features);
  EXPECT_EQ(stats.mean.scalar_type(), torch::kFloat64);
  EXPECT_EQ(stats.covariance.scalar_type(), torch::kFloat64);
  // mean (3, 2); centered rows (-2, 0), (0, 2), (2, -2); X^T X / (3 - 1).
  EXPECT_TRUE(torch::allclose(stats.mean, torch::tensor({3.0, 2.0}, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(stats.covariance,
                              torch::tensor({{4.0, -2.0}, {-2.0, 4.0}}, torch::kFloat64)));
}

TEST(FeatureStats, RejectsBadInput) {
  EXPECT_THROW(feature_stats(torch::zeros({1, 4})), GanError);  // N < 2
  EXPECT_THROW(feature_stats(torch::zeros({5})), GanError);
  EXPECT_THROW(feature_stats(torch::Tensor()), GanError);
  torch::Tensor with_nan = torch::zeros({3, 2});
  with_nan[1][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(feature_stats(with_nan), GanError);
}

TEST(FrechetDistance, IdenticalStatsGiveZero) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const GaussianStats stats =
      make_stats(torch::randn({16}, gen, torch::kFloat64), random_covariance(16, /*seed=*/4));
  EXPECT_NEAR(frechet_distance(stats, stats), 0.0, 1e-9);

  // Also from features, including a rank-deficient covariance (fewer samples than dimensions).
  const GaussianStats low_rank = feature_stats(torch::randn({6, 32}, gen, torch::kFloat64));
  EXPECT_NEAR(frechet_distance(low_rank, low_rank), 0.0, 1e-9);
}

TEST(FrechetDistance, DiagonalGaussiansMatchClosedForm) {
  const torch::Tensor a = torch::tensor({1.0, 4.0, 0.25}, torch::kFloat64);
  const torch::Tensor b = torch::tensor({9.0, 1.0, 0.0}, torch::kFloat64);
  const torch::Tensor mu1 = torch::tensor({0.0, 1.0, 2.0}, torch::kFloat64);
  const torch::Tensor mu2 = torch::tensor({1.0, -1.0, 2.0}, torch::kFloat64);
  // |dmu|^2 = 1 + 4 + 0; sum (sqrt a - sqrt b)^2 = (1 - 3)^2 + (2 - 1)^2 + (0.5 - 0)^2.
  const double expected = 5.0 + 4.0 + 1.0 + 0.25;
  EXPECT_NEAR(frechet_distance(make_stats(mu1, torch::diag(a)), make_stats(mu2, torch::diag(b))),
              expected, 1e-9);
}

TEST(FrechetDistance, NonCommutingTwoByTwoMatchesClosedForm) {
  const torch::Tensor s1 = torch::tensor({{2.0, 1.0}, {1.0, 2.0}}, torch::kFloat64);
  const torch::Tensor s2 = torch::tensor({{1.0, 0.0}, {0.0, 3.0}}, torch::kFloat64);
  ASSERT_FALSE(torch::allclose(s1.matmul(s2), s2.matmul(s1)));
  // M = S1^1/2 S2 S1^1/2 is 2 x 2 PSD with tr M = tr(S1 S2) = 2 + 6 = 8 and
  // det M = det S1 det S2 = 3 * 3 = 9, so tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) = sqrt(14).
  const double trace_sqrt = std::sqrt(8.0 + 2.0 * std::sqrt(9.0));
  // |(0, 0) - (1, 2)|^2 = 5; tr S1 = 4; tr S2 = 4.
  const double expected = 5.0 + 4.0 + 4.0 - 2.0 * trace_sqrt;
  const GaussianStats a = make_stats(torch::tensor({0.0, 0.0}), s1);
  const GaussianStats b = make_stats(torch::tensor({1.0, 2.0}), s2);
  EXPECT_NEAR(frechet_distance(a, b), expected, 1e-9);
  EXPECT_NEAR(frechet_distance(b, a), expected, 1e-9);
}

TEST(FrechetDistance, IsSymmetric) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const GaussianStats a =
      make_stats(torch::randn({24}, gen, torch::kFloat64), random_covariance(24, /*seed=*/12));
  const GaussianStats b =
      make_stats(torch::randn({24}, gen, torch::kFloat64), random_covariance(24, /*seed=*/13));
  const double ab = frechet_distance(a, b);
  EXPECT_GT(ab, 0.0);
  EXPECT_NEAR(ab, frechet_distance(b, a), 1e-9 * ab);
}

TEST(FrechetDistance, AcceptsFloat32Stats) {
  const GaussianStats a{torch::zeros({2}), torch::eye(2)};
  const GaussianStats b{torch::ones({2}), torch::eye(2)};
  EXPECT_NEAR(frechet_distance(a, b), 2.0, 1e-9);
}

TEST(FrechetDistance, RejectsMismatchedOrMalformedStats) {
  const GaussianStats two = make_stats(torch::zeros({2}), torch::eye(2));
  const GaussianStats three = make_stats(torch::zeros({3}), torch::eye(3));
  EXPECT_THROW(frechet_distance(two, three), GanError);
  const GaussianStats bad_cov = make_stats(torch::zeros({2}), torch::eye(3));
  EXPECT_THROW(frechet_distance(two, bad_cov), GanError);
  const GaussianStats undefined{};
  EXPECT_THROW(frechet_distance(undefined, two), GanError);
  GaussianStats with_nan = make_stats(torch::zeros({2}), torch::eye(2));
  with_nan.covariance[0][1] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(frechet_distance(two, with_nan), GanError);
}

}  // namespace
}  // namespace fedgan::gan
