#pragma once

#include "client/options.h"

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fedgan::client {

/// What `attack` does, in words, for the site's console ("uploads -delta (sign flip)"); empty for
/// AttackKind::kNone.
std::string describe(const AttackOptions& attack);

/// Replaces `delta` (the federated tensors of an honestly trained round, CPU float32, in place) by
/// what the attack uploads. The noise is drawn from attack.seed, the site's identity and the round,
/// so a rerun uploads the same vector. Does nothing for AttackKind::kNone.
void apply_attack(const AttackOptions& attack, const std::string& identity, uint64_t round,
                  std::vector<torch::Tensor>& delta);

}  // namespace fedgan::client
