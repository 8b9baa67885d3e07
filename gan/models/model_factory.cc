#include "gan/models/model_factory.h"

#include "gan/error.h"

namespace fedgan::gan {

GanModel make_model(const ModelSpec& spec, uint64_t seed) {
  if (spec.architecture == "dcgan") return make_dcgan(spec.dcgan, seed);
  if (spec.architecture == "mlp") return make_mlp_gan(spec.mlp, seed);
  throw GanError(
      fmt::format("unknown architecture '{}': expected dcgan or mlp", spec.architecture));
}

void move_model(GanModel& model, const torch::Device& device) {
  model.generator->to(device);
  model.discriminator->to(device);
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) {
    if (p.requires_grad()) total += p.numel();
  }
  return total;
}

}  // namespace fedgan::gan
