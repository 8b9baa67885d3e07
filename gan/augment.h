#pragma once

#include <torch/types.h>

namespace fedgan::gan {

/// Differentiable augmentation (DiffAugment) applied to real and fake images alike before the
/// discriminator, so that a discriminator trained on little data cannot memorise it.
struct AugmentOptions {
  bool flip = true;            // horizontal flip with probability 1/2 per image
  double translation = 0.125;  // shift by up to this fraction of the side, zero-filled
};

/// Augments an N x C x H x W batch. Gradients flow to `images` (flip and shift only move pixels).
/// Random choices come from `gen` (a CPU generator) and are made per image.
torch::Tensor diff_augment(const torch::Tensor& images, const AugmentOptions& options,
                           at::Generator& gen);

}  // namespace fedgan::gan
