#include "gan/trained_networks.h"

#include "gan/error.h"

#include <fmt/format.h>

namespace fedgan::gan {

TrainedNetworks parse_trained_networks(const std::string& name) {
  if (name == "both") return TrainedNetworks::kBoth;
  if (name == "discriminator") return TrainedNetworks::kDiscriminator;
  if (name == "generator") return TrainedNetworks::kGenerator;
  throw GanError(
      fmt::format("unknown networks '{}': expected 'both', 'discriminator' or 'generator'", name));
}

std::string trained_networks_name(TrainedNetworks networks) {
  switch (networks) {
    case TrainedNetworks::kDiscriminator:
      return "discriminator";
    case TrainedNetworks::kGenerator:
      return "generator";
    case TrainedNetworks::kBoth:
      break;
  }
  return "both";
}

}  // namespace fedgan::gan
