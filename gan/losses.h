#pragma once

#include <torch/types.h>

#include <functional>
#include <string>

namespace fedgan::gan {

enum class LossKind {
  kNonSaturating,  // BCE with logits; the generator maximises log D(G(z))
  kHinge,          // D: relu(1 - D(x)) + relu(1 + D(G(z))); G: -D(G(z))
  kWassersteinGp,  // D: D(G(z)) - D(x) + lambda * gradient penalty; G: -D(G(z))
};

/// "ns", "hinge" or "wgan-gp"; throws GanError otherwise.
LossKind parse_loss_kind(const std::string& name);
std::string loss_kind_name(LossKind kind);

/// Discriminator loss from logits on a real and a fake batch (each 1-D, mean over the batch).
/// For kWassersteinGp this is the critic term only; the trainer adds the gradient penalty.
torch::Tensor discriminator_loss(LossKind kind, const torch::Tensor& real_logits,
                                 const torch::Tensor& fake_logits);

/// Generator loss from the discriminator's logits on a fake batch.
torch::Tensor generator_loss(LossKind kind, const torch::Tensor& fake_logits);

/// WGAN-GP penalty mean((||grad_x critic(x_hat)||_2 - 1)^2) at x_hat = e * real + (1 - e) * fake,
/// with `epsilon` holding one e in [0, 1] per sample (shape N). The gradient is taken through
/// autograd with create_graph, so the penalty can itself be backpropagated into the critic.
torch::Tensor gradient_penalty(const std::function<torch::Tensor(const torch::Tensor&)>& critic,
                               const torch::Tensor& real, const torch::Tensor& fake,
                               const torch::Tensor& epsilon);

}  // namespace fedgan::gan
