#pragma once

#include <torch/types.h>

namespace fedgan::gan {

/// Mean and covariance of a set of feature vectors, in float64.
struct GaussianStats {
  torch::Tensor mean;        // D
  torch::Tensor covariance;  // D x D, unbiased (divides by N - 1)
};

/// Statistics of `features` (N x D, N >= 2). Throws GanError on a wrong shape or non-finite values.
GaussianStats feature_stats(const torch::Tensor& features);

/// Fréchet distance between two Gaussians:
///   |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2),
/// computed in float64: matrix square roots through symmetric eigendecompositions (tiny negative
/// eigenvalues from rounding clamped to zero), the trace term as the sum of the singular values of
/// S2^1/2 S1^1/2. Never negative. Throws GanError when the dimensions differ or a value is not
/// finite.
double frechet_distance(const GaussianStats& a, const GaussianStats& b);

}  // namespace fedgan::gan
