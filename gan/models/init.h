#pragma once

#include <torch/nn/module.h>

#include <cstdint>

namespace fedgan::gan {

/// How the weights of convolutions and linear layers are drawn.
enum class WeightInit {
  /// PyTorch's defaults: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
  kUniformFanIn,
  /// The DCGAN paper's: conv and transposed-conv weights N(0, 0.02), BatchNorm scale N(1, 0.02);
  /// linear layers keep the fan-in uniform.
  kDcgan,
};

/// Initialises every Linear, Conv2d, ConvTranspose2d and BatchNorm parameter of `module` (walked
/// in registration order) from a generator seeded with `seed`, without touching LibTorch's global
/// random state, so the same seed gives bit-identical weights. BatchNorm biases start at 0 and
/// running statistics at mean 0, variance 1.
void init_weights(torch::nn::Module& module, WeightInit scheme, uint64_t seed);

}  // namespace fedgan::gan
