#include "gan/models/mlp_gan.h"

#include "gan/error.h"
#include "gan/models/init.h"

#include <torch/torch.h>

namespace fedgan::gan {
namespace {

constexpr double kLeakySlope = 0.2;

void check_options(const MlpGanOptions& o) {
  check(o.data_dim > 0 && o.latent_dim > 0, "MLP GAN: data_dim and latent_dim must be positive");
  check(o.generator_width > 0 && o.generator_layers >= 1,
        "MLP GAN: generator needs at least one hidden layer of positive width");
  check(o.discriminator_width > 0 && o.discriminator_layers >= 1,
        "MLP GAN: discriminator needs at least one hidden layer of positive width");
  check(o.maxout_pieces >= 0, "MLP GAN: maxout_pieces must be >= 0, got {}", o.maxout_pieces);
  check(o.pack >= 1, "MLP GAN: pack must be >= 1 (1 = no packing), got {}", o.pack);
}

}  // namespace

MlpGeneratorImpl::MlpGeneratorImpl(const MlpGanOptions& o) : latent_dim_(o.latent_dim) {
  check_options(o);
  torch::nn::Sequential net;
  int64_t in = o.latent_dim;
  for (int i = 0; i < o.generator_layers; ++i) {
    net->push_back(torch::nn::Linear(in, o.generator_width));
    if (o.generator_batchnorm) net->push_back(torch::nn::BatchNorm1d(o.generator_width));
    net->push_back(torch::nn::ReLU());
    in = o.generator_width;
  }
  net->push_back(torch::nn::Linear(in, o.data_dim));
  net_ = register_module("net", net);
}

torch::Tensor MlpGeneratorImpl::forward(const torch::Tensor& latent) {
  return net_->forward(latent);
}

MlpDiscriminatorImpl::MlpDiscriminatorImpl(const MlpGanOptions& o)
    : maxout_pieces_(o.maxout_pieces), pack_(o.pack), data_dim_(o.data_dim) {
  check_options(o);
  const int64_t pieces = std::max<int64_t>(maxout_pieces_, 1);
  int64_t in = o.data_dim * o.pack;
  for (int i = 0; i < o.discriminator_layers; ++i) {
    hidden_.push_back(register_module("hidden" + std::to_string(i),
                                      torch::nn::Linear(in, o.discriminator_width * pieces)));
    in = o.discriminator_width;
  }
  output_ = register_module("output", torch::nn::Linear(in, 1));
}

torch::Tensor MlpDiscriminatorImpl::forward(const torch::Tensor& samples) {
  check(samples.dim() == 2 && samples.size(1) == data_dim_,
        "MLP discriminator: expected samples of shape [N, {}], got {}", data_dim_, samples.sizes());
  check(samples.size(0) % pack_ == 0,
        "MLP discriminator: a batch of {} samples does not divide into packs of {}",
        samples.size(0), pack_);
  torch::Tensor x = samples.reshape({-1, data_dim_ * pack_});
  for (auto& layer : hidden_) {
    x = layer->forward(x);
    if (maxout_pieces_ > 0) {
      // Maxout: each unit is the max over `pieces` linear functions laid out contiguously.
      x = std::get<0>(x.view({x.size(0), -1, maxout_pieces_}).max(2));
    } else {
      x = torch::leaky_relu(x, kLeakySlope);
    }
  }
  return output_->forward(x).view({-1});
}

GanModel make_mlp_gan(const MlpGanOptions& options, uint64_t seed) {
  GanModel model{"mlp", std::make_shared<MlpGeneratorImpl>(options),
                 std::make_shared<MlpDiscriminatorImpl>(options)};
  init_weights(*model.generator, WeightInit::kUniformFanIn, seed);
  init_weights(*model.discriminator, WeightInit::kUniformFanIn, seed + 1);
  return model;
}

}  // namespace fedgan::gan
