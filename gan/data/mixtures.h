#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

namespace fedgan::gan {

/// A mixture of isotropic 2-D Gaussians with equal weights, as used by the PacGAN experiments.
struct GaussianMixture2d {
  std::string name;
  torch::Tensor centers;  // float32, K x 2
  double stddev = 0.0;

  int64_t num_modes() const { return centers.size(0); }
};

/// 8 modes at (cos 2*pi*i/8, sin 2*pi*i/8), i = 0..7, stddev 0.01. The angles are i/8 of a turn
/// (an exclusive range): an inclusive linspace over [0, 2*pi] would put modes 0 and 8 together.
GaussianMixture2d ring_mixture();

/// 25 modes at {-4, -2, 0, 2, 4}^2, stddev 0.05.
GaussianMixture2d grid_mixture();

/// "ring" or "grid"; throws GanError for any other name.
GaussianMixture2d mixture_by_name(const std::string& name);

/// Draws `count` samples: a uniformly chosen mode plus N(0, stddev^2 I) noise. Also returns the
/// mode index of each sample (int64), which partitioners use as a label.
struct MixtureSamples {
  torch::Tensor points;  // float32, count x 2
  torch::Tensor modes;   // int64, count
};
MixtureSamples sample_mixture(const GaussianMixture2d& mixture, int64_t count, uint64_t seed);

}  // namespace fedgan::gan
