#include "gan/weight_average.h"

#include "gan/error.h"

#include <torch/torch.h>

#include <utility>

namespace fedgan::gan {
namespace {

struct NamedWeight {
  std::string name;
  torch::Tensor tensor;
};

// Parameters then buffers, each in the module's registration order: a fixed order for a fixed
// architecture.
std::vector<NamedWeight> weights_of(const torch::nn::Module& module) {
  std::vector<NamedWeight> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    out.push_back({item.key(), item.value()});
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    out.push_back({item.key(), item.value()});
  }
  return out;
}

std::vector<NamedWeight> matching_weights(const torch::nn::Module& module,
                                          const std::vector<std::string>& names,
                                          const std::vector<torch::Tensor>& values) {
  auto weights = weights_of(module);
  check(weights.size() == names.size(),
        "weight average: the module has {} parameters and buffers, the average {}", weights.size(),
        names.size());
  for (size_t i = 0; i < weights.size(); ++i) {
    check(weights[i].name == names[i], "weight average: expected tensor '{}', the module has '{}'",
          names[i], weights[i].name);
    check(weights[i].tensor.sizes() == values[i].sizes() &&
              weights[i].tensor.scalar_type() == values[i].scalar_type(),
          "weight average: tensor '{}' is {} {} in the module, {} {} in the average", names[i],
          c10::toString(weights[i].tensor.scalar_type()), weights[i].tensor.sizes(),
          c10::toString(values[i].scalar_type()), values[i].sizes());
  }
  return weights;
}

}  // namespace

WeightAverage::WeightAverage(const torch::nn::Module& module, double decay) : decay_(decay) {
  check(decay >= 0.0 && decay < 1.0, "weight average: decay must be in [0, 1), got {}", decay);
  torch::NoGradGuard no_grad;
  for (auto& weight : weights_of(module)) {
    names_.push_back(weight.name);
    values_.push_back(weight.tensor.detach().clone());
  }
}

void WeightAverage::update(const torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  const auto weights = matching_weights(module, names_, values_);
  for (size_t i = 0; i < weights.size(); ++i) {
    const auto& current = weights[i].tensor;
    if (current.is_floating_point()) {
      // average += (1 - decay) * (current - average): one pass, no temporary of the model's size
      values_[i].lerp_(current.detach(), 1.0 - decay_);
    } else {
      values_[i].copy_(current);
    }
  }
  ++updates_;
}

void WeightAverage::copy_to(torch::nn::Module& module) const {
  torch::NoGradGuard no_grad;
  const auto weights = matching_weights(module, names_, values_);
  for (size_t i = 0; i < weights.size(); ++i) weights[i].tensor.copy_(values_[i]);
}

void WeightAverage::load(const std::vector<torch::Tensor>& values) {
  check(values.size() == values_.size(), "weight average: {} tensors given, the average has {}",
        values.size(), values_.size());
  for (size_t i = 0; i < values.size(); ++i) {
    check(values[i].defined() && values[i].sizes() == values_[i].sizes() &&
              values[i].scalar_type() == values_[i].scalar_type(),
          "weight average: tensor '{}' must be {} {}", names_[i],
          c10::toString(values_[i].scalar_type()), values_[i].sizes());
    check(!values[i].is_floating_point() || torch::isfinite(values[i]).all().item<bool>(),
          "weight average: tensor '{}' has non-finite values", names_[i]);
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < values.size(); ++i) values_[i].copy_(values[i]);
}

AveragedWeightsGuard::AveragedWeightsGuard(torch::nn::Module& module, const WeightAverage& average)
    : module_(module) {
  torch::NoGradGuard no_grad;
  const auto weights = matching_weights(module, average.names(), average.values());
  for (const auto& weight : weights) saved_.push_back(weight.tensor.detach().clone());
  average.copy_to(module);
}

AveragedWeightsGuard::~AveragedWeightsGuard() {
  torch::NoGradGuard no_grad;
  const auto weights = weights_of(module_);
  for (size_t i = 0; i < weights.size() && i < saved_.size(); ++i) {
    weights[i].tensor.copy_(saved_[i]);
  }
}

}  // namespace fedgan::gan
