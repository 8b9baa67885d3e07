#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <string>

namespace fedgan::gan {

/// A generator maps latent vectors (N x latent_dim) to samples. Every architecture derives from
/// this so the trainer, the evaluation and the federated code handle all of them alike.
class GeneratorImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& latent) = 0;
  virtual int64_t latent_dim() const = 0;
};

/// A discriminator (or critic) maps samples to one logit per sample (a 1-D tensor of length N).
class DiscriminatorImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& samples) = 0;
};

/// The pair that is trained together; its parameters and buffers (BatchNorm running statistics
/// included) are the model state that federated rounds exchange.
struct GanModel {
  std::string architecture;  // "mlp" or "dcgan"
  std::shared_ptr<GeneratorImpl> generator;
  std::shared_ptr<DiscriminatorImpl> discriminator;
};

/// Trainable parameter count of a module (what the architecture tables quote).
int64_t count_parameters(const torch::nn::Module& module);

}  // namespace fedgan::gan
