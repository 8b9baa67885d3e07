#pragma once

#include "storage/state_dict_file.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace fedgan::storage {

/// A checkpoint file as written.
struct CheckpointFile {
  std::filesystem::path path;  // absolute
  std::string sha256_hex;      // of the file's bytes; what `sha256sum` prints
  uint64_t bytes = 0;
};

/// Which checkpoints prune() keeps. The newest checkpoint is always kept.
struct RetentionPolicy {
  /// The newest `keep_last` checkpoints are kept.
  int64_t keep_last = 3;
  /// Checkpoints of rounds divisible by `keep_every` are kept forever (0: none).
  int64_t keep_every = 10;
};

/// The global model's checkpoints, one file per committed round in one directory:
/// `round_000042.pt` holds a PyTorch state_dict (a dict of name -> tensor, written by
/// encode_state_dict), so `torch.load("round_000042.pt", weights_only=True)` in Python returns the
/// tensors, and `round_000042.png` beside it holds the round's sample grid. Round numbers of more
/// than six digits make longer names. Not thread-safe; one coordinator per directory.
class CheckpointStore {
 public:
  /// Creates `directory` (and parents) if missing, and removes temporary files left by a write
  /// that was interrupted by a crash. Paths returned are absolute. Throws StorageError.
  explicit CheckpointStore(const std::filesystem::path& directory);

  const std::filesystem::path& directory() const { return directory_; }
  std::filesystem::path checkpoint_path(int64_t round) const;
  /// Where the round's sample grid belongs; the caller writes the PNG.
  std::filesystem::path sample_grid_path(int64_t round) const;

  /// Writes the checkpoint of `round` durably and atomically (temporary file, fsync, rename,
  /// fsync of the directory), replacing a file of the same round left by an attempt that never
  /// committed. Call it before the round's row commits, and store the returned path and hash with
  /// it. Tensors may live on any device; they are saved as CPU tensors, without autograd history.
  /// Throws StorageError on an empty name, an undefined tensor, a tensor encode_state_dict cannot
  /// store, or any I/O failure.
  CheckpointFile write(int64_t round, const StateDict& tensors) const;

  /// Reads a checkpoint, checking first that its SHA-256 is `expected_sha256` (the hash the round
  /// row recorded) and then that it is a dict of name -> tensor (decode_state_dict: checkpoints of
  /// earlier fedgan versions, written by torch::pickle_save, load too). Entries keep the file's
  /// order.
  /// Throws StorageError naming the file when it is missing, altered or not a state_dict.
  static StateDict load(const std::filesystem::path& path, const std::string& expected_sha256);

  /// Rounds that have a checkpoint file, ascending.
  std::vector<int64_t> rounds() const;

  /// Deletes the checkpoints `policy` does not keep, never the newest one nor any of `referenced`
  /// (the checkpoint the run resumes from, say). Sample grids are small and always kept. Returns
  /// the deleted paths. A round row may thus name a checkpoint that no longer exists.
  std::vector<std::filesystem::path> prune(
      const RetentionPolicy& policy,
      const std::vector<std::filesystem::path>& referenced = {}) const;

  /// Removes `.round_*.pt.tmp` files (left by a write a crash interrupted); returns how many.
  size_t remove_temporaries() const;

 private:
  std::filesystem::path directory_;
};

}  // namespace fedgan::storage
