#pragma once

#include "gan/federated_state.h"
#include "gan/models/gan_model.h"

#include <filesystem>
#include <vector>

namespace fedgan::client {

// A site's local state is its whole model (gan::full_state: both networks' parameters and
// buffers), saved after every round so that what never travels (a private discriminator when only
// the generator is federated, BatchNorm step counters) survives a restart. The file is a PyTorch
// state dict (torch::pickle_save of a dict of tensors), readable with torch.load in Python.

/// Writes `model`'s full state to `path` so that, whenever the process or the machine stops,
/// `path` holds either the previous state or all of the new one: a temporary file in the same
/// directory is written, fsynced and renamed over `path`, then the directory is fsynced. Creates
/// missing directories. Refuses (ClientError, nothing written) a model holding a NaN or infinite
/// value: such a state could not be loaded again. Throws ClientError on I/O failure.
void save_local_state(const gan::GanModel& model, const std::filesystem::path& path);

/// Writes `tensors` as a state dict to `path` the same way (atomically, refusing non-finite
/// values). save_local_state is this over gan::full_state; kept deltas use it directly.
void save_named_tensors(const std::vector<gan::NamedTensor>& tensors,
                        const std::filesystem::path& path);

/// Loads the state at `path` into `model` in place when the file exists; returns whether it did.
/// Throws ClientError naming the file when it cannot be read, is not a state dict, or does not
/// fit the model (another architecture or width: the message says to move the file away); the
/// model is then unchanged.
bool load_local_state(const gan::GanModel& model, const std::filesystem::path& path);

}  // namespace fedgan::client
