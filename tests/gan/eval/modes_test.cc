#include "gan/eval/modes.h"

#include "gan/data/mixtures.h"
#include "gan/error.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

namespace fedgan::gan {
namespace {

torch::Tensor centers64(const GaussianMixture2d& mixture) {
  return mixture.centers.to(torch::kFloat64);
}

TEST(EvaluateModes, OneSampleOnEachGridCenterCapturesAllModes) {
  const GaussianMixture2d grid = grid_mixture();
  const ModeStats stats = evaluate_modes(centers64(grid), grid);
  EXPECT_EQ(stats.num_samples, 25);
  EXPECT_EQ(stats.num_modes, 25);
  EXPECT_EQ(stats.modes_captured, 25);
  EXPECT_EQ(stats.high_quality_fraction, 1.0);
  EXPECT_EQ(stats.reverse_kl, 0.0);
  ASSERT_EQ(stats.high_quality_per_mode.size(), 25u);
  for (int64_t count : stats.high_quality_per_mode) EXPECT_EQ(count, 1);
}

TEST(EvaluateModes, AllSamplesOnOneModeGiveLogK) {
  const GaussianMixture2d grid = grid_mixture();
  const torch::Tensor samples = grid.centers[7].unsqueeze(0).repeat({100, 1});
  const ModeStats stats = evaluate_modes(samples, grid);
  EXPECT_EQ(stats.modes_captured, 1);
  EXPECT_EQ(stats.high_quality_fraction, 1.0);
  EXPECT_DOUBLE_EQ(stats.reverse_kl, std::log(25.0));
  EXPECT_EQ(stats.high_quality_per_mode[7], 100);
}

TEST(EvaluateModes, HighQualityThresholdIsThreeStddevs) {
  const GaussianMixture2d grid = grid_mixture();
  const torch::Tensor center = centers64(grid)[12];  // (0, 0)
  const double sd = grid.stddev;
  const torch::Tensor inside =
      torch::stack({center + torch::tensor({2.9 * sd, 0.0}, torch::kFloat64),
                    center + torch::tensor({0.0, -2.9 * sd}, torch::kFloat64)});
  const torch::Tensor outside =
      torch::stack({center + torch::tensor({3.1 * sd, 0.0}, torch::kFloat64),
                    center + torch::tensor({-3.1 * sd / std::sqrt(2.0), 3.1 * sd / std::sqrt(2.0)},
                                           torch::kFloat64)});
  const ModeStats in = evaluate_modes(inside, grid);
  EXPECT_EQ(in.high_quality_fraction, 1.0);
  EXPECT_EQ(in.modes_captured, 1);
  EXPECT_EQ(in.high_quality_per_mode[12], 2);
  const ModeStats out = evaluate_modes(outside, grid);
  EXPECT_EQ(out.high_quality_fraction, 0.0);
  EXPECT_EQ(out.modes_captured, 0);
}

TEST(EvaluateModes, FarSamplesCaptureNothingAndKlIsInfinite) {
  const GaussianMixture2d grid = grid_mixture();
  // Midway between modes (odd coordinates) and far outside the grid.
  const torch::Tensor samples = torch::tensor({{1.0, 1.0}, {-3.0, 1.0}, {100.0, -50.0}});
  const ModeStats stats = evaluate_modes(samples, grid);
  EXPECT_EQ(stats.modes_captured, 0);
  EXPECT_EQ(stats.high_quality_fraction, 0.0);
  EXPECT_EQ(stats.reverse_kl, std::numeric_limits<double>::infinity());
}

TEST(EvaluateModes, HalfOnModeHalfOffGivesHalfHighQuality) {
  const GaussianMixture2d grid = grid_mixture();
  const torch::Tensor on = centers64(grid).slice(0, 0, 10);
  const torch::Tensor off = on + 1.0;  // midway between modes
  const ModeStats stats = evaluate_modes(torch::cat({on, off}), grid);
  EXPECT_EQ(stats.num_samples, 20);
  EXPECT_EQ(stats.high_quality_fraction, 0.5);
  EXPECT_EQ(stats.modes_captured, 10);
  // Ten modes with equal mass: KL = log(25 / 10).
  EXPECT_NEAR(stats.reverse_kl, std::log(2.5), 1e-12);
}

TEST(EvaluateModes, RingHasEightModes) {
  const GaussianMixture2d ring = ring_mixture();
  const ModeStats exact = evaluate_modes(ring.centers, ring);
  EXPECT_EQ(exact.num_modes, 8);
  EXPECT_EQ(exact.modes_captured, 8);
  EXPECT_EQ(exact.reverse_kl, 0.0);

  // Real samples: P(|noise| < 3 sd) for a 2-D Gaussian is 1 - exp(-4.5) = 0.9889.
  const MixtureSamples samples = sample_mixture(ring, 2500, /*seed=*/7);
  const ModeStats sampled = evaluate_modes(samples.points, ring);
  EXPECT_EQ(sampled.modes_captured, 8);
  EXPECT_NEAR(sampled.high_quality_fraction, 1.0 - std::exp(-4.5), 0.01);
  EXPECT_LT(sampled.reverse_kl, 0.01);
}

TEST(EvaluateModes, AcceptsFloat32AndEmptyInput) {
  const GaussianMixture2d grid = grid_mixture();
  EXPECT_EQ(evaluate_modes(grid.centers.to(torch::kFloat32), grid).modes_captured, 25);
  const ModeStats empty = evaluate_modes(torch::zeros({0, 2}), grid);
  EXPECT_EQ(empty.num_samples, 0);
  EXPECT_EQ(empty.modes_captured, 0);
  EXPECT_EQ(empty.reverse_kl, std::numeric_limits<double>::infinity());
}

TEST(EvaluateModes, RejectsBadShapeAndNonFiniteSamples) {
  const GaussianMixture2d grid = grid_mixture();
  EXPECT_THROW(evaluate_modes(torch::zeros({10, 3}), grid), GanError);
  EXPECT_THROW(evaluate_modes(torch::zeros({10}), grid), GanError);
  EXPECT_THROW(evaluate_modes(torch::zeros({2, 2, 2}), grid), GanError);
  EXPECT_THROW(evaluate_modes(torch::zeros({4, 2}, torch::kLong), grid), GanError);
  EXPECT_THROW(evaluate_modes(torch::Tensor(), grid), GanError);
  torch::Tensor with_nan = torch::zeros({4, 2});
  with_nan[2][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(evaluate_modes(with_nan, grid), GanError);
  torch::Tensor with_inf = torch::zeros({4, 2});
  with_inf[0][0] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(evaluate_modes(with_inf, grid), GanError);
}

}  // namespace
}  // namespace fedgan::gan
