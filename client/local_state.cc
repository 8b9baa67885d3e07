#include "client/local_state.h"

#include "client/error.h"
#include "files/durable_file.h"
#include "files/error.h"
#include "gan/error.h"
#include "gan/federated_state.h"
#include "storage/error.h"
#include "storage/state_dict_file.h"

#include <torch/torch.h>

#include <fstream>
#include <vector>

namespace fedgan::client {
namespace {

namespace fs = std::filesystem;

// The state of the reference DCGAN is about 6 MB; a file far beyond any model this client trains
// is not read into memory.
constexpr uintmax_t kMaxStateFileBytes = uintmax_t{4} << 30;

std::vector<char> read_bounded(const fs::path& path) {
  std::error_code error;
  const uintmax_t size = fs::file_size(path, error);
  check(!error, "cannot read local state {}: {}", path.string(), error.message());
  check(size <= kMaxStateFileBytes, "local state {} is {} bytes, more than any model's state",
        path.string(), size);
  std::vector<char> bytes(static_cast<size_t>(size));
  std::ifstream in(path, std::ios::binary);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  check(in.gcount() == static_cast<std::streamsize>(bytes.size()), "cannot read local state {}",
        path.string());
  return bytes;
}

}  // namespace

void save_named_tensors(const std::vector<gan::NamedTensor>& tensors, const fs::path& path) {
  storage::StateDict state;
  for (const auto& entry : tensors) {
    if (entry.tensor.is_floating_point() && entry.tensor.numel() > 0) {
      check(torch::isfinite(entry.tensor).all().item<bool>(),
            "{} not saved: tensor '{}' holds a NaN or infinite value", path.string(), entry.name);
    }
    state.insert(entry.name, entry.tensor);
  }
  const fs::path directory = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code error;
  fs::create_directories(directory, error);
  check(!error, "cannot create the state directory {}: {}", directory.string(), error.message());
  try {
    // The checkpoints' format, so that Python loads it with torch.load(path, weights_only=True).
    const std::vector<char> bytes = storage::encode_state_dict(state);
    // 0600: the site's model is derived from its private data.
    files::write_file_atomically(path, bytes.data(), bytes.size(), 0600);
  } catch (const storage::StorageError& e) {
    throw ClientError(fmt::format("cannot save {}: {}", path.string(), e.what()));
  } catch (const files::FileError& e) {
    throw ClientError(fmt::format("cannot save {}: {}", path.string(), e.what()));
  }
}

void save_local_state(const gan::GanModel& model, gan::FederationScope scope,
                      const fs::path& path) {
  save_named_tensors(gan::local_tensors(model, scope), path);
}

bool load_local_state(const gan::GanModel& model, const fs::path& path) {
  std::error_code error;
  if (!fs::exists(path, error)) return false;
  const std::vector<char> bytes = read_bounded(path);
  std::vector<gan::NamedTensor> state;
  try {
    // Files of either format: what encode_state_dict writes, or torch::pickle_save's type-tagged
    // dict that earlier versions wrote.
    for (const auto& entry : storage::decode_state_dict(bytes, "local state " + path.string())) {
      state.push_back({entry.key(), entry.value()});
    }
  } catch (const storage::StorageError& e) {
    throw ClientError(e.what());
  }
  try {
    gan::load_partial_state(model, state);
  } catch (const gan::GanError& e) {
    throw ClientError(fmt::format(
        "local state {} does not fit this site's model: {}; move the file away to start afresh "
        "(a private discriminator in it would be lost)",
        path.string(), e.what()));
  }
  return true;
}

}  // namespace fedgan::client
