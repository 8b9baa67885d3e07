#include "client/local_state.h"

#include "client/error.h"
#include "gan/error.h"
#include "gan/federated_state.h"

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <torch/serialize.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

namespace fedgan::client {
namespace {

namespace fs = std::filesystem;

// The state of the reference DCGAN is about 6 MB; a file far beyond any model this client trains
// is not read into memory.
constexpr uintmax_t kMaxStateFileBytes = uintmax_t{4} << 30;

// A file descriptor closed on every path out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

[[noreturn]] void fail(std::string_view operation, const fs::path& path) {
  throw ClientError(fmt::format("{} {}: {}", operation, path.string(), std::strerror(errno)));
}

void write_synced(const fs::path& path, const std::vector<char>& bytes) {
  FileDescriptor fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) fail("cannot create", path);
  const char* data = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t written = ::write(fd.get(), data, left);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) fail("cannot write", path);
    data += written;
    left -= static_cast<size_t>(written);
  }
  if (::fsync(fd.get()) != 0) fail("cannot fsync", path);
  if (fd.close() != 0) fail("cannot close", path);
}

void fsync_directory(const fs::path& directory) {
  FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) fail("cannot open directory", directory);
  if (::fsync(fd.get()) != 0) fail("cannot fsync directory", directory);
}

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
  const fs::path temporary = directory / ("." + path.filename().string() + ".tmp");
  try {
    write_synced(temporary, bytes);
    if (std::rename(temporary.c_str(), path.c_str()) != 0) fail("cannot rename over", path);
  } catch (...) {
    fs::remove(temporary, error);
    throw;
  }
  // The rename is durable only once the directory entry is on disk.
  fsync_directory(directory);
}

void save_local_state(const gan::GanModel& model, const fs::path& path) {
  save_named_tensors(gan::full_state(model), path);
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
    gan::load_full_state(model, state);
  } catch (const gan::GanError& e) {
    throw ClientError(fmt::format(
        "local state {} does not fit this site's model: {}; move the file away to start afresh "
        "(a private discriminator in it would be lost)",
        path.string(), e.what()));
  }
  return true;
}

}  // namespace fedgan::client
