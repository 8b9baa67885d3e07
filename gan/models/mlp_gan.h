#pragma once

#include "gan/models/gan_model.h"

#include <torch/nn/modules/container/sequential.h>

namespace fedgan::gan {

/// Widths of the MLP GAN for low-dimensional data. The defaults are the PacGAN 2-D mixture
/// architecture: a generator of 4 hidden layers of 400 units with BatchNorm and ReLU, and a
/// discriminator of 3 hidden layers of 200 maxout units (5 pieces each).
struct MlpGanOptions {
  int64_t data_dim = 2;
  int64_t latent_dim = 2;
  int64_t generator_width = 400;
  int generator_layers = 4;
  bool generator_batchnorm = true;
  int64_t discriminator_width = 200;
  int discriminator_layers = 3;
  /// Pieces per maxout unit; 0 uses LeakyReLU(0.2) instead.
  int64_t maxout_pieces = 5;
  /// Samples the discriminator judges jointly (PacGAN packing): it reads `pack` consecutive
  /// samples of a batch as one input of pack * data_dim values and gives one logit per pack. A
  /// discriminator that sees several samples at once penalises a generator that covers few modes.
  /// 1 = no packing; batches must divide into packs.
  int64_t pack = 1;
};

class MlpGeneratorImpl : public GeneratorImpl {
 public:
  explicit MlpGeneratorImpl(const MlpGanOptions& options);
  torch::Tensor forward(const torch::Tensor& latent) override;
  int64_t latent_dim() const override { return latent_dim_; }

 private:
  int64_t latent_dim_;
  torch::nn::Sequential net_{nullptr};
};

class MlpDiscriminatorImpl : public DiscriminatorImpl {
 public:
  explicit MlpDiscriminatorImpl(const MlpGanOptions& options);
  torch::Tensor forward(const torch::Tensor& samples) override;

 private:
  int64_t maxout_pieces_;
  int64_t pack_;
  int64_t data_dim_;
  std::vector<torch::nn::Linear> hidden_;
  torch::nn::Linear output_{nullptr};
};

/// Builds the pair and initialises it (fan-in uniform) from `seed`.
GanModel make_mlp_gan(const MlpGanOptions& options, uint64_t seed);

}  // namespace fedgan::gan
