#pragma once

#include <string>

namespace fedgan::gan {

/// Which networks one training step updates.
enum class TrainedNetworks {
  /// n_critic discriminator updates, then one generator update: centralized training.
  kBoth,
  /// Only the n_critic discriminator updates; the generator's weights stay as they are.
  kDiscriminator,
  /// Only the generator update, against the discriminator as it is; D's weights stay.
  kGenerator,
};

/// "both", "discriminator", "generator" -> the enum; throws GanError naming the accepted values.
TrainedNetworks parse_trained_networks(const std::string& name);
/// The inverse of parse_trained_networks.
std::string trained_networks_name(TrainedNetworks networks);

}  // namespace fedgan::gan
