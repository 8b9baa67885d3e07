#include "gan/augment.h"

#include "gan/error.h"

#include <torch/torch.h>

#include <cmath>

namespace fedgan::gan {
namespace {

torch::Tensor random_flip(const torch::Tensor& x, at::Generator& gen) {
  const auto flip = torch::empty({x.size(0), 1, 1, 1}, torch::kFloat32).bernoulli_(0.5, gen);
  return torch::where(flip.to(x.device()).to(torch::kBool), x.flip({3}), x);
}

// Shifts every image by its own (dy, dx) in [-max_shift, max_shift] with zero fill: pad by
// max_shift, then gather each output pixel from its shifted source position.
torch::Tensor random_translate(const torch::Tensor& x, int64_t max_shift, at::Generator& gen) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const auto opts = torch::TensorOptions().dtype(torch::kLong);
  const auto dy = torch::randint(-max_shift, max_shift + 1, {n, 1, 1}, gen, opts);
  const auto dx = torch::randint(-max_shift, max_shift + 1, {n, 1, 1}, gen, opts);
  const auto rows = (torch::arange(h, opts).view({1, h, 1}) + dy + max_shift).to(x.device());
  const auto cols = (torch::arange(w, opts).view({1, 1, w}) + dx + max_shift).to(x.device());
  const auto batch = torch::arange(n, opts).view({n, 1, 1}).to(x.device());
  namespace F = torch::nn::functional;
  const auto padded = F::pad(x, F::PadFuncOptions({max_shift, max_shift, max_shift, max_shift}))
                          .permute({0, 2, 3, 1});
  return padded.index({batch, rows, cols}).permute({0, 3, 1, 2});
}

}  // namespace

torch::Tensor diff_augment(const torch::Tensor& images, const AugmentOptions& options,
                           at::Generator& gen) {
  check(images.dim() == 4, "augmentation needs N x C x H x W images, got shape {}", images.sizes());
  check(options.translation >= 0.0 && options.translation < 0.5,
        "augmentation translation must be in [0, 0.5), got {}", options.translation);
  auto x = images;
  if (options.flip) x = random_flip(x, gen);
  const auto max_shift =
      static_cast<int64_t>(std::lround(options.translation * std::min(x.size(2), x.size(3))));
  if (max_shift > 0) x = random_translate(x, max_shift, gen);
  return x;
}

}  // namespace fedgan::gan
