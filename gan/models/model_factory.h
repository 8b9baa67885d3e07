#pragma once

#include "gan/models/dcgan.h"
#include "gan/models/gan_model.h"
#include "gan/models/mlp_gan.h"

#include <string>

namespace fedgan::gan {

/// Which architecture to build and its widths; the one place a configuration names a model.
struct ModelSpec {
  std::string architecture = "dcgan";  // "dcgan" or "mlp"
  DcganOptions dcgan;
  MlpGanOptions mlp;
};

/// Builds and seeds the model `spec` names. Throws GanError for an unknown architecture.
GanModel make_model(const ModelSpec& spec, uint64_t seed);

/// Moves both networks to `device`.
void move_model(GanModel& model, const torch::Device& device);

}  // namespace fedgan::gan
