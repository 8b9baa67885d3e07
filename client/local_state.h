#pragma once

#include "gan/federated_state.h"
#include "gan/models/gan_model.h"

#include <filesystem>
#include <vector>

namespace fedgan::client {

// A site's local state is what the coordinator cannot give back: the tensors of its model that a
// task does not federate (gan::local_tensors: a private discriminator when only the generator is
// federated; the integer BatchNorm step counters always). Saved after every round so that they
// survive a restart. The federated tensors are not saved: every task brings the global values,
// which overwrite them before training (for a large model, rewriting them every round would cost
// a write of the whole model per round and site). The file is a PyTorch state dict in the format of
// the coordinator's checkpoints (storage::encode_state_dict), so Python reads it with
// torch.load(path, weights_only=True).

/// Writes the tensors of `model` that `scope` does not federate to `path` so that, whenever the
/// process or the machine stops, `path` holds either the previous state or all of the new one: a
/// temporary file in the same directory is written, fsynced and renamed over `path`, then the
/// directory is fsynced. Creates missing directories. Refuses (ClientError, nothing written) a
/// tensor holding a NaN or infinite value: such a state could not be loaded again. Throws
/// ClientError on I/O failure.
void save_local_state(const gan::GanModel& model, gan::FederationScope scope,
                      const std::filesystem::path& path);

/// Writes `tensors` as a state dict to `path` the same way (atomically, refusing non-finite
/// values). save_local_state is this over gan::local_tensors; kept deltas use it directly.
void save_named_tensors(const std::vector<gan::NamedTensor>& tensors,
                        const std::filesystem::path& path);

/// Loads the state at `path` into `model` in place when the file exists; returns whether it did.
/// The file may hold any of the model's tensors (gan::load_partial_state): those of a save under
/// either scope, or a whole model; a file written by torch::pickle_save (as earlier versions did)
/// loads too. Throws ClientError naming the file when it cannot be read, is not a state dict, or
/// does not fit the model (a tensor the model lacks or of another shape: another architecture or
/// width; the message says to move the file away); the model is then unchanged.
bool load_local_state(const gan::GanModel& model, const std::filesystem::path& path);

}  // namespace fedgan::client
