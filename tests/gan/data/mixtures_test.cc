#include "gan/data/mixtures.h"

#include "gan/error.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>
#include <utility>

namespace fedgan::gan {
namespace {

constexpr double kPi = 3.14159265358979323846;

TEST(Mixtures, RingHasEightExactCenters) {
  const GaussianMixture2d ring = ring_mixture();
  EXPECT_EQ(ring.name, "ring");
  EXPECT_EQ(ring.stddev, 0.01);
  ASSERT_EQ(ring.num_modes(), 8);
  ASSERT_EQ(ring.centers.sizes(), (std::vector<int64_t>{8, 2}));
  EXPECT_EQ(ring.centers.scalar_type(), torch::kFloat32);
  for (int i = 0; i < 8; ++i) {
    const double angle = 2 * kPi * i / 8;
    EXPECT_EQ(ring.centers[i][0].item<float>(), static_cast<float>(std::cos(angle))) << i;
    EXPECT_EQ(ring.centers[i][1].item<float>(), static_cast<float>(std::sin(angle))) << i;
  }
  // Distinct: neighbours on the unit circle are 2 sin(pi/8) ~ 0.765 apart.
  const torch::Tensor dist = torch::cdist(ring.centers, ring.centers) + torch::eye(8) * 10;
  EXPECT_GT(dist.min().item<float>(), 0.76f);
}

TEST(Mixtures, GridHasTwentyFiveExactCenters) {
  const GaussianMixture2d grid = grid_mixture();
  EXPECT_EQ(grid.name, "grid");
  EXPECT_EQ(grid.stddev, 0.05);
  ASSERT_EQ(grid.num_modes(), 25);
  std::set<std::pair<float, float>> got;
  for (int i = 0; i < 25; ++i) {
    got.insert({grid.centers[i][0].item<float>(), grid.centers[i][1].item<float>()});
  }
  std::set<std::pair<float, float>> expected;
  for (float x : {-4.f, -2.f, 0.f, 2.f, 4.f}) {
    for (float y : {-4.f, -2.f, 0.f, 2.f, 4.f}) expected.insert({x, y});
  }
  EXPECT_EQ(got, expected);
}

TEST(Mixtures, ByName) {
  EXPECT_TRUE(torch::equal(mixture_by_name("ring").centers, ring_mixture().centers));
  EXPECT_TRUE(torch::equal(mixture_by_name("grid").centers, grid_mixture().centers));
  try {
    mixture_by_name("spiral");
    ADD_FAILURE() << "expected GanError";
  } catch (const GanError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown mixture 'spiral'"), std::string::npos);
  }
}

TEST(Mixtures, SamplingIsDeterministicBySeed) {
  const GaussianMixture2d grid = grid_mixture();
  const MixtureSamples a = sample_mixture(grid, 1000, 42);
  const MixtureSamples b = sample_mixture(grid, 1000, 42);
  const MixtureSamples c = sample_mixture(grid, 1000, 43);
  ASSERT_EQ(a.points.sizes(), (std::vector<int64_t>{1000, 2}));
  EXPECT_EQ(a.points.scalar_type(), torch::kFloat32);
  ASSERT_EQ(a.modes.sizes(), (std::vector<int64_t>{1000}));
  EXPECT_EQ(a.modes.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(a.points, b.points));
  EXPECT_TRUE(torch::equal(a.modes, b.modes));
  EXPECT_FALSE(torch::equal(a.points, c.points));
  EXPECT_FALSE(torch::equal(a.modes, c.modes));
}

TEST(Mixtures, SamplingLeavesTheGlobalGeneratorAlone) {
  auto global = at::detail::getDefaultCPUGenerator();
  const torch::Tensor before = global.get_state();
  sample_mixture(ring_mixture(), 100, 1);
  EXPECT_TRUE(torch::equal(global.get_state(), before));
}

TEST(Mixtures, SamplesFollowTheirModes) {
  for (const GaussianMixture2d& mixture : {ring_mixture(), grid_mixture()}) {
    SCOPED_TRACE(mixture.name);
    const int64_t count = 100000;
    const MixtureSamples s = sample_mixture(mixture, count, 7);
    EXPECT_GE(s.modes.min().item<int64_t>(), 0);
    EXPECT_LT(s.modes.max().item<int64_t>(), mixture.num_modes());
    // Modes are chosen uniformly.
    const torch::Tensor counts = torch::bincount(s.modes, {}, mixture.num_modes());
    const double expected = static_cast<double>(count) / mixture.num_modes();
    EXPECT_GT(counts.min().item<int64_t>(), 0.9 * expected);
    EXPECT_LT(counts.max().item<int64_t>(), 1.1 * expected);
    // Residuals from the chosen mode have the mixture's stddev on each axis, and none is far out.
    const torch::Tensor residual = s.points - mixture.centers.index_select(0, s.modes);
    const torch::Tensor sd = residual.std(0);
    for (int axis = 0; axis < 2; ++axis) {
      EXPECT_NEAR(sd[axis].item<double>(), mixture.stddev, 0.02 * mixture.stddev) << axis;
    }
    EXPECT_NEAR(residual.mean().item<double>(), 0.0, 0.02 * mixture.stddev);
    EXPECT_LT(residual.abs().max().item<double>(), 6 * mixture.stddev);
  }
}

TEST(Mixtures, SampleCountEdgeCases) {
  const MixtureSamples empty = sample_mixture(ring_mixture(), 0, 1);
  EXPECT_EQ(empty.points.sizes(), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(empty.modes.numel(), 0);
  EXPECT_THROW(sample_mixture(ring_mixture(), -1, 1), GanError);
  GaussianMixture2d bad = ring_mixture();
  bad.centers = torch::zeros({3, 3});
  EXPECT_THROW(sample_mixture(bad, 10, 1), GanError);
}

}  // namespace
}  // namespace fedgan::gan
