#include "client/attack.h"

#include "client/site_identity.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

namespace fedgan::client {

std::string describe(const AttackOptions& attack) {
  switch (attack.kind) {
    case AttackKind::kNone:
      return "";
    case AttackKind::kSignFlip:
      return "uploads -delta (sign flip)";
    case AttackKind::kScale:
      return fmt::format("uploads {} * delta (scaling)", attack.scale);
    case AttackKind::kNoise:
      return fmt::format("uploads Gaussian noise of standard deviation {} instead of its delta",
                         attack.noise_std);
    case AttackKind::kZero:
      return "uploads a zero delta (a free rider)";
  }
  return "";
}

void apply_attack(const AttackOptions& attack, const std::string& identity, uint64_t round,
                  std::vector<torch::Tensor>& delta) {
  torch::NoGradGuard no_grad;
  switch (attack.kind) {
    case AttackKind::kNone:
      return;
    case AttackKind::kSignFlip:
      for (auto& tensor : delta) tensor.neg_();
      return;
    case AttackKind::kScale:
      for (auto& tensor : delta) tensor.mul_(attack.scale);
      return;
    case AttackKind::kZero:
      for (auto& tensor : delta) tensor.zero_();
      return;
    case AttackKind::kNoise:
      break;
  }
  // One stream per site and round: the site's seed rules mix in its identity.
  auto generator =
      at::make_generator<at::CPUGeneratorImpl>(round_seed(site_seed(attack.seed, identity), round));
  for (auto& tensor : delta) tensor.normal_(0.0, attack.noise_std, generator);
}

}  // namespace fedgan::client
