#include "client/local_state.h"

#include "client/error.h"
#include "gan/error.h"
#include "gan/federated_state.h"
#include "storage/durable_file.h"
#include "storage/error.h"

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <torch/serialize.h>
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
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& entry : tensors) {
    at::Tensor cpu = entry.tensor.detach().to(at::kCPU).contiguous().clone();
    if (cpu.is_floating_point() && cpu.numel() > 0) {
      check(torch::isfinite(cpu).all().item<bool>(),
            "{} not saved: tensor '{}' holds a NaN or infinite value", path.string(), entry.name);
    }
    dict.insert(entry.name, cpu);
  }
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  const fs::path directory = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code error;
  fs::create_directories(directory, error);
  check(!error, "cannot create the state directory {}: {}", directory.string(), error.message());
  try {
    // 0600: the site's model is derived from its private data.
    storage::write_file_atomically(path, bytes.data(), bytes.size(), 0600);
  } catch (const storage::StorageError& e) {
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
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const c10::Error& e) {
    throw ClientError(fmt::format("local state {} cannot be read as a PyTorch pickle: {}",
                                  path.string(), e.what_without_backtrace()));
  }
  check(value.isGenericDict(), "local state {} holds a {}, not a state dict", path.string(),
        value.tagKind());
  std::vector<gan::NamedTensor> state;
  for (const auto& entry : value.toGenericDict()) {
    check(entry.key().isString() && entry.value().isTensor(),
          "local state {}: every entry must be a tensor under a name", path.string());
    state.push_back({entry.key().toStringRef(), entry.value().toTensor()});
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
