#pragma once

#include "gan/models/gan_model.h"

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

namespace fedgan::gan {

/// Widths of the DCGAN for small square images (side divisible by 4). The defaults are the
/// reference architecture every comparison uses (966,978 trainable parameters for 28x28x1):
///   G: Linear(64 -> 192*7*7) + BatchNorm1d + ReLU, ConvTranspose2d(192 -> 64, 4, 2, 1) +
///      BatchNorm2d + ReLU, ConvTranspose2d(64 -> 1, 4, 2, 1) + Tanh
///   D: Conv2d(1 -> 64, 4, 2, 1) + LeakyReLU(0.2), Conv2d(64 -> 128, 4, 2, 1) + BatchNorm2d +
///      LeakyReLU(0.2), Flatten, Linear(128*7*7 -> 1)
struct DcganOptions {
  int64_t latent_dim = 64;
  int64_t image_size = 28;
  int64_t image_channels = 1;
  int64_t generator_width = 192;  // channels of the 7x7 feature map
  int64_t generator_width2 = 64;  // channels of the 14x14 feature map
  int64_t discriminator_width = 64;
  int64_t discriminator_width2 = 128;
};

class DcganGeneratorImpl : public GeneratorImpl {
 public:
  explicit DcganGeneratorImpl(const DcganOptions& options);
  torch::Tensor forward(const torch::Tensor& latent) override;
  int64_t latent_dim() const override { return options_.latent_dim; }

 private:
  DcganOptions options_;
  torch::nn::Linear project_{nullptr};
  torch::nn::BatchNorm1d project_norm_{nullptr};
  torch::nn::ConvTranspose2d up1_{nullptr};
  torch::nn::BatchNorm2d up1_norm_{nullptr};
  torch::nn::ConvTranspose2d up2_{nullptr};
};

class DcganDiscriminatorImpl : public DiscriminatorImpl {
 public:
  explicit DcganDiscriminatorImpl(const DcganOptions& options);
  torch::Tensor forward(const torch::Tensor& images) override;

 private:
  torch::nn::Conv2d down1_{nullptr};
  torch::nn::Conv2d down2_{nullptr};
  torch::nn::BatchNorm2d down2_norm_{nullptr};
  torch::nn::Linear classify_{nullptr};
};

/// Builds the pair and initialises it (DCGAN scheme) from `seed`.
GanModel make_dcgan(const DcganOptions& options, uint64_t seed);

}  // namespace fedgan::gan
