#pragma once

#include <torch/torch.h>

#include <cstddef>
#include <filesystem>
#include <vector>

namespace fedgan::simulation {

/// Moves the memory of a set of CPU tensors to a file and back, in place: every tensor (and every
/// other handle of the same storage: an optimizer's reference to a parameter, say) keeps its
/// identity, shape and dtype, and gets its bytes back verbatim. While paged out the tensors have
/// no memory and must not be touched. The file is scratch space (written without fsync, removed
/// by page_in and by the destructor). Not thread-safe.
class SitePager {
 public:
  explicit SitePager(std::filesystem::path file) : file_(std::move(file)) {}
  ~SitePager();
  SitePager(const SitePager&) = delete;
  SitePager& operator=(const SitePager&) = delete;

  /// Writes the storages behind `tensors` (each once) to the file and frees them. Throws
  /// std::runtime_error when the file cannot be written (nothing is freed then) or a tensor is
  /// not on the CPU.
  void page_out(const std::vector<torch::Tensor>& tensors);
  /// Gives the storages paged out their memory and bytes back. Throws std::runtime_error when the
  /// file cannot be read.
  void page_in();
  bool paged_out() const { return !storages_.empty(); }

  /// Bytes of the distinct storages behind `tensors`.
  static size_t bytes_of(const std::vector<torch::Tensor>& tensors);

 private:
  std::filesystem::path file_;
  std::vector<c10::intrusive_ptr<c10::StorageImpl>> storages_;  // paged out, in file order
};

}  // namespace fedgan::simulation
