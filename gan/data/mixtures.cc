#include "gan/data/mixtures.h"

#include "gan/error.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace fedgan::gan {
namespace {

constexpr double kPi = 3.14159265358979323846;
// The PacGAN 2-D benchmarks: 8 modes on the unit circle and a 5 x 5 grid with spacing 2.
constexpr int kRingModes = 8;
constexpr double kRingStddev = 0.01;
constexpr int kGridSide = 5;
constexpr double kGridSpacing = 2.0;
constexpr double kGridStddev = 0.05;

torch::Tensor centers_tensor(const std::vector<float>& xy) {
  const int64_t k = static_cast<int64_t>(xy.size()) / 2;
  return torch::from_blob(const_cast<float*>(xy.data()), {k, 2}, torch::kFloat32).clone();
}

}  // namespace

GaussianMixture2d ring_mixture() {
  std::vector<float> xy;
  for (int i = 0; i < kRingModes; ++i) {
    const double angle = 2.0 * kPi * i / kRingModes;
    xy.push_back(static_cast<float>(std::cos(angle)));
    xy.push_back(static_cast<float>(std::sin(angle)));
  }
  return {"ring", centers_tensor(xy), kRingStddev};
}

GaussianMixture2d grid_mixture() {
  std::vector<float> xy;
  const double offset = (kGridSide - 1) / 2.0;
  // Mode index = 5 * ix + iy, x-major.
  for (int ix = 0; ix < kGridSide; ++ix) {
    for (int iy = 0; iy < kGridSide; ++iy) {
      xy.push_back(static_cast<float>(kGridSpacing * (ix - offset)));
      xy.push_back(static_cast<float>(kGridSpacing * (iy - offset)));
    }
  }
  return {"grid", centers_tensor(xy), kGridStddev};
}

GaussianMixture2d mixture_by_name(const std::string& name) {
  if (name == "ring") return ring_mixture();
  if (name == "grid") return grid_mixture();
  throw GanError(fmt::format("unknown mixture '{}': expected 'ring' or 'grid'", name));
}

MixtureSamples sample_mixture(const GaussianMixture2d& mixture, int64_t count, uint64_t seed) {
  const torch::Tensor& centers = mixture.centers;
  check(centers.defined() && centers.dim() == 2 && centers.size(0) > 0 && centers.size(1) == 2,
        "mixture '{}': centers must be a non-empty K x 2 tensor", mixture.name);
  check(std::isfinite(mixture.stddev) && mixture.stddev >= 0,
        "mixture '{}': stddev {} must be finite and non-negative", mixture.name, mixture.stddev);
  check(count >= 0, "sample_mixture: count {} must be non-negative", count);

  // A private generator: sampling never touches torch's global RNG, and one seed gives one result.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  MixtureSamples out;
  out.modes = torch::randint(centers.size(0), {count}, gen, torch::kInt64);
  const torch::Tensor noise = torch::randn({count, 2}, gen, torch::kFloat32);
  out.points =
      centers.to(torch::kCPU, torch::kFloat32).index_select(0, out.modes) + noise * mixture.stddev;
  return out;
}

}  // namespace fedgan::gan
