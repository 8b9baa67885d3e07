#include "gan/models/init.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>

namespace fedgan::gan {
namespace {

constexpr double kDcganStddev = 0.02;

// Draws on the CPU and copies, so a model on a GPU gets the same weights as on the CPU.
void fill_uniform(torch::Tensor& t, double bound, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  t.copy_(torch::empty(t.sizes(), torch::kFloat32).uniform_(-bound, bound, gen));
}

void fill_normal(torch::Tensor& t, double mean, double stddev, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  t.copy_(torch::empty(t.sizes(), torch::kFloat32).normal_(mean, stddev, gen));
}

double fan_in_bound(const torch::Tensor& weight) {
  // Conv weights are out x in x k x k, transposed-conv weights in x out x k x k; PyTorch's
  // default init uses dimension 1 times the kernel area for both, and so does this.
  const int64_t receptive = weight.dim() > 2 ? weight[0][0].numel() : 1;
  return 1.0 / std::sqrt(static_cast<double>(weight.size(1) * receptive));
}

template <typename LayerImpl>
bool init_layer(torch::nn::Module& m, WeightInit scheme, at::Generator& gen) {
  auto* layer = dynamic_cast<LayerImpl*>(&m);
  if (layer == nullptr) return false;
  const double bound = fan_in_bound(layer->weight);
  if (scheme == WeightInit::kDcgan && layer->weight.dim() > 2) {
    fill_normal(layer->weight, 0.0, kDcganStddev, gen);
  } else {
    fill_uniform(layer->weight, bound, gen);
  }
  if (layer->bias.defined()) fill_uniform(layer->bias, bound, gen);
  return true;
}

template <typename NormImpl>
bool init_norm(torch::nn::Module& m, WeightInit scheme, at::Generator& gen) {
  auto* norm = dynamic_cast<NormImpl*>(&m);
  if (norm == nullptr) return false;
  torch::NoGradGuard no_grad;
  if (norm->weight.defined()) {
    if (scheme == WeightInit::kDcgan) {
      fill_normal(norm->weight, 1.0, kDcganStddev, gen);
    } else {
      norm->weight.fill_(1.0);
    }
  }
  if (norm->bias.defined()) norm->bias.zero_();
  if (norm->running_mean.defined()) norm->running_mean.zero_();
  if (norm->running_var.defined()) norm->running_var.fill_(1.0);
  if (norm->num_batches_tracked.defined()) norm->num_batches_tracked.zero_();
  return true;
}

}  // namespace

void init_weights(torch::nn::Module& module, WeightInit scheme, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const auto& child : module.modules(/*include_self=*/true)) {
    torch::nn::Module& m = *child;
    init_layer<torch::nn::LinearImpl>(m, scheme, gen) ||
        init_layer<torch::nn::Conv2dImpl>(m, scheme, gen) ||
        init_layer<torch::nn::ConvTranspose2dImpl>(m, scheme, gen) ||
        init_norm<torch::nn::BatchNorm1dImpl>(m, scheme, gen) ||
        init_norm<torch::nn::BatchNorm2dImpl>(m, scheme, gen);
  }
}

}  // namespace fedgan::gan
