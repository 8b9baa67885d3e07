#include "gan/losses.h"

#include "gan/error.h"

#include <torch/torch.h>

namespace fedgan::gan {

LossKind parse_loss_kind(const std::string& name) {
  if (name == "ns") return LossKind::kNonSaturating;
  if (name == "hinge") return LossKind::kHinge;
  if (name == "wgan-gp") return LossKind::kWassersteinGp;
  throw GanError(fmt::format("unknown loss '{}': expected ns, hinge or wgan-gp", name));
}

std::string loss_kind_name(LossKind kind) {
  switch (kind) {
    case LossKind::kNonSaturating:
      return "ns";
    case LossKind::kHinge:
      return "hinge";
    case LossKind::kWassersteinGp:
      return "wgan-gp";
  }
  throw GanError("invalid LossKind value");
}

torch::Tensor discriminator_loss(LossKind kind, const torch::Tensor& real_logits,
                                 const torch::Tensor& fake_logits) {
  switch (kind) {
    // BCE-with-logits against 1 is softplus(-x), against 0 is softplus(x).
    case LossKind::kNonSaturating:
      return torch::softplus(-real_logits).mean() + torch::softplus(fake_logits).mean();
    case LossKind::kHinge:
      return torch::relu(1.0 - real_logits).mean() + torch::relu(1.0 + fake_logits).mean();
    case LossKind::kWassersteinGp:
      return fake_logits.mean() - real_logits.mean();
  }
  throw GanError("invalid LossKind value");
}

torch::Tensor generator_loss(LossKind kind, const torch::Tensor& fake_logits) {
  switch (kind) {
    case LossKind::kNonSaturating:
      return torch::softplus(-fake_logits).mean();
    case LossKind::kHinge:
    case LossKind::kWassersteinGp:
      return -fake_logits.mean();
  }
  throw GanError("invalid LossKind value");
}

torch::Tensor gradient_penalty(const std::function<torch::Tensor(const torch::Tensor&)>& critic,
                               const torch::Tensor& real, const torch::Tensor& fake,
                               const torch::Tensor& epsilon) {
  check(real.sizes() == fake.sizes(), "gradient penalty: real {} and fake {} shapes differ",
        real.sizes(), fake.sizes());
  check(epsilon.dim() == 1 && epsilon.size(0) == real.size(0),
        "gradient penalty: epsilon must hold one value per sample ({}), got shape {}", real.size(0),
        epsilon.sizes());
  std::vector<int64_t> broadcast(real.dim(), 1);
  broadcast[0] = real.size(0);
  const auto e = epsilon.view(broadcast);
  auto mixed = (e * real.detach() + (1.0 - e) * fake.detach()).requires_grad_(true);
  const auto scores = critic(mixed);
  const auto grads = torch::autograd::grad({scores.sum()}, {mixed}, /*grad_outputs=*/{},
                                           /*retain_graph=*/true, /*create_graph=*/true)[0];
  const auto norms = grads.flatten(1).norm(2, /*dim=*/1);
  return (norms - 1.0).pow(2).mean();
}

}  // namespace fedgan::gan
