#pragma once

#include "coordinator/options.h"
#include "gan/trained_networks.h"
#include "protocol/error.h"  // wire, the generated messages

#include <cstdint>
#include <string>

namespace fedgan::coordinator {

namespace wire = protocol::wire;

/// What a round asks of its sites, as the Task carries it: built from the options alone (and the
/// round number, for training.networks = "alternate"), so every selected site of a round, and a
/// rerun of the same configuration, gets the same hyperparameters.

/// The hyperparameters of round `round` (1-based): the model's architecture and federation scope,
/// the networks networks_of_round() trains, and the training settings. Throws CoordinatorError
/// for options that validate() refuses (a count beyond the 32 bits a task carries).
wire::TrainingHyperparameters hyperparameters_of_round(const CoordinatorOptions& options,
                                                       int64_t round);

/// The Task of round `round` for the site given `nonce`, without its model (ClientSession adds the
/// manifest of the snapshot it sends): run id, round, nonce, deadline (unix milliseconds) and
/// hyperparameters_of_round().
wire::Task task_of_round(const CoordinatorOptions& options, int64_t round, const std::string& nonce,
                         int64_t deadline_unix_ms);

/// The wire values of the training settings, one function per setting; never UNSPECIFIED.
wire::TrainedNetworks wire_networks(gan::TrainedNetworks networks);
wire::FederationScope wire_federation_scope(Federate federate);
wire::Optimizer wire_optimizer(SiteOptimizer optimizer);
wire::Loss wire_loss(Loss loss);

}  // namespace fedgan::coordinator
