#include "gan/weight_average.h"

#include "gan/error.h"

#include <torch/torch.h>

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

AveragedWeightsGuard::AveragedWeightsGuard(torch::nn::Module& module, const WeightAverage& average)
    : module_(module) {
  torch::NoGradGuard no_grad;
  const auto weights = matching_weights(module, average.names(), average.values());
  for (size_t i = 0; i < weights.size(); ++i) {
    saved_.push_back(weights[i].tensor.detach().clone());
    weights[i].tensor.copy_(average.values()[i]);
  }
}

AveragedWeightsGuard::~AveragedWeightsGuard() {
  torch::NoGradGuard no_grad;
  const auto weights = weights_of(module_);
  for (size_t i = 0; i < weights.size() && i < saved_.size(); ++i) {
    weights[i].tensor.copy_(saved_[i]);
  }
}

}  // namespace fedgan::gan
