#include "gan/eval/modes.h"

#include "gan/error.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

namespace fedgan::gan {

namespace {

// KL(q || uniform over K) = sum_i q_i log(q_i K), over the modes with q_i > 0.
double reverse_kl_to_uniform(const std::vector<int64_t>& counts, int64_t total) {
  if (total == 0) return std::numeric_limits<double>::infinity();
  const auto k = static_cast<int64_t>(counts.size());
  double kl = 0.0;
  for (int64_t count : counts) {
    if (count == 0) continue;
    const double q = static_cast<double>(count) / static_cast<double>(total);
    // q K formed from integers so that a perfectly balanced histogram gives exactly log(1) = 0.
    kl += q * std::log(static_cast<double>(count * k) / static_cast<double>(total));
  }
  return kl;
}

}  // namespace

ModeStats evaluate_modes(const torch::Tensor& samples, const GaussianMixture2d& mixture) {
  check(samples.defined() && samples.dim() == 2 && samples.size(1) == 2,
        "evaluate_modes: samples must be an N x 2 tensor, got shape {}",
        samples.defined() ? fmt::format("[{}]", fmt::join(samples.sizes(), ", "))
                          : std::string("(undefined)"));
  check(samples.is_floating_point(), "evaluate_modes: samples must be floating point, got {}",
        std::string(c10::toString(samples.scalar_type())));
  check(mixture.centers.defined() && mixture.centers.dim() == 2 && mixture.centers.size(1) == 2 &&
            mixture.centers.size(0) > 0,
        "evaluate_modes: mixture '{}' has no K x 2 centers", mixture.name);
  check(mixture.stddev > 0.0, "evaluate_modes: mixture '{}' has stddev {}, must be positive",
        mixture.name, mixture.stddev);

  // float64 on the CPU: the 3-sigma threshold must not wobble with the caller's dtype or device.
  const torch::Tensor x = samples.detach().to(torch::kCPU, torch::kFloat64);
  check(torch::isfinite(x).all().item<bool>(),
        "evaluate_modes: samples contain NaN or infinite values (a diverged generator?)");
  const torch::Tensor centers = mixture.centers.detach().to(torch::kCPU, torch::kFloat64);

  ModeStats stats;
  stats.num_samples = x.size(0);
  stats.num_modes = centers.size(0);
  stats.high_quality_per_mode.assign(static_cast<size_t>(stats.num_modes), 0);

  int64_t high_quality = 0;
  if (stats.num_samples > 0) {
    // Direct differences rather than the matmul expansion (compute mode 2): exact for samples
    // sitting on a center, and N x K is small.
    const auto [distance, nearest] =
        torch::cdist(x, centers, /*p=*/2.0, /*compute_mode=*/2).min(/*dim=*/1);
    const torch::Tensor is_high_quality = distance / mixture.stddev < kHighQualityStddevs;
    const torch::Tensor counts = torch::bincount(nearest.masked_select(is_high_quality),
                                                 /*weights=*/{}, /*minlength=*/stats.num_modes);
    const auto accessor = counts.accessor<int64_t, 1>();
    for (int64_t k = 0; k < stats.num_modes; ++k) {
      stats.high_quality_per_mode[static_cast<size_t>(k)] = accessor[k];
      high_quality += accessor[k];
      if (accessor[k] > 0) ++stats.modes_captured;
    }
    stats.high_quality_fraction =
        static_cast<double>(high_quality) / static_cast<double>(stats.num_samples);
  }
  stats.reverse_kl = reverse_kl_to_uniform(stats.high_quality_per_mode, high_quality);
  return stats;
}

}  // namespace fedgan::gan
