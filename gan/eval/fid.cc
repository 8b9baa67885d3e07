#include "gan/eval/fid.h"

#include "gan/error.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <string>

namespace fedgan::gan {

namespace {

std::string shape_of(const torch::Tensor& t) {
  return t.defined() ? fmt::format("[{}]", fmt::join(t.sizes(), ", ")) : std::string("(undefined)");
}

void check_stats(const GaussianStats& s, const char* name) {
  check(s.mean.defined() && s.mean.dim() == 1, "frechet_distance: {}.mean must be 1-D, got {}",
        name, shape_of(s.mean));
  const int64_t d = s.mean.size(0);
  check(s.covariance.defined() && s.covariance.dim() == 2 && s.covariance.size(0) == d &&
            s.covariance.size(1) == d,
        "frechet_distance: {}.covariance must be {} x {} to match its mean, got {}", name, d, d,
        shape_of(s.covariance));
  check(torch::isfinite(s.mean).all().item<bool>() &&
            torch::isfinite(s.covariance).all().item<bool>(),
        "frechet_distance: {} contains NaN or infinite values", name);
}

// Square root of a (numerically) symmetric PSD matrix through its symmetric eigendecomposition;
// negative eigenvalues, which can only come from rounding, are clamped to zero.
torch::Tensor psd_sqrt(const torch::Tensor& m) {
  const torch::Tensor symmetric = (m + m.transpose(0, 1)) / 2;
  const auto [values, vectors] = torch::linalg_eigh(symmetric);
  return vectors.matmul(torch::diag(values.clamp_min(0.0).sqrt())).matmul(vectors.transpose(0, 1));
}

}  // namespace

GaussianStats feature_stats(const torch::Tensor& features) {
  check(features.defined() && features.dim() == 2 && features.size(0) >= 2 && features.size(1) >= 1,
        "feature_stats: features must be N x D with N >= 2 and D >= 1, got {}", shape_of(features));
  const torch::Tensor x = features.detach().to(torch::kCPU, torch::kFloat64);
  check(torch::isfinite(x).all().item<bool>(),
        "feature_stats: features contain NaN or infinite values");
  GaussianStats stats;
  stats.mean = x.mean(/*dim=*/0);
  const torch::Tensor centered = x - stats.mean;
  stats.covariance = centered.transpose(0, 1).matmul(centered) / static_cast<double>(x.size(0) - 1);
  return stats;
}

double frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  check_stats(a, "a");
  check_stats(b, "b");
  check(a.mean.size(0) == b.mean.size(0),
        "frechet_distance: dimensions differ ({} vs {}); were the features computed by the same "
        "model?",
        a.mean.size(0), b.mean.size(0));
  const auto to64 = [](const torch::Tensor& t) {
    return t.detach().to(torch::kCPU, torch::kFloat64);
  };
  const torch::Tensor mu1 = to64(a.mean), mu2 = to64(b.mean);
  const torch::Tensor s1 = to64(a.covariance), s2 = to64(b.covariance);

  // tr((S1^1/2 S2 S1^1/2)^1/2) is the sum of the singular values of A = S2^1/2 S1^1/2, since
  // A^T A = S1^1/2 S2 S1^1/2. Taking singular values of A rather than square roots of the
  // eigenvalues of A^T A keeps rounding at the level of machine epsilon instead of its square
  // root: with rank-deficient covariances (dead ReLU features) the latter leaves errors near 1e-7
  // even between identical statistics.
  const torch::Tensor a_matrix = psd_sqrt(s2).matmul(psd_sqrt(s1));
  const torch::Tensor trace_sqrt_m = torch::linalg_svdvals(a_matrix).sum();

  const double mean_term = (mu1 - mu2).square().sum().item<double>();
  const double trace_term = (s1.trace() + s2.trace() - 2.0 * trace_sqrt_m).item<double>();
  // Rounding can push a distance of zero slightly below it; a distance is never negative.
  return std::max(0.0, mean_term + trace_term);
}

}  // namespace fedgan::gan
