#pragma once

#include "gan/data/mixtures.h"

#include <torch/types.h>

#include <vector>

namespace fedgan::gan {

/// Mode statistics of generated 2-D samples against a Gaussian mixture, as defined by the PacGAN
/// evaluation: a sample is high-quality when its distance to the nearest mode is below
/// kHighQualityStddevs standard deviations; a mode is captured when at least one high-quality
/// sample falls on it.
struct ModeStats {
  int64_t num_samples = 0;
  int64_t num_modes = 0;
  int64_t modes_captured = 0;
  double high_quality_fraction = 0.0;  // in [0, 1]
  /// KL(q || uniform), q the histogram of high-quality samples over modes. +infinity when no
  /// sample is high-quality (the histogram is undefined).
  double reverse_kl = 0.0;
  std::vector<int64_t> high_quality_per_mode;
};

inline constexpr double kHighQualityStddevs = 3.0;

/// `samples` is N x 2 (any floating dtype, any device). Throws GanError on a wrong shape or a
/// non-finite sample.
ModeStats evaluate_modes(const torch::Tensor& samples, const GaussianMixture2d& mixture);

}  // namespace fedgan::gan
