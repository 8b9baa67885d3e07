#include "storage/checkpoint_store.h"

#include "files/durable_file.h"
#include "files/error.h"
#include "storage/error.h"
#include "storage/sha256.h"
#include "storage/state_dict_file.h"

#include <algorithm>
#include <set>

namespace fedgan::storage {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kPrefix = "round_";
constexpr std::string_view kCheckpointSuffix = ".pt";

std::string file_stem(int64_t round) {
  return fmt::format("{}{:06d}", kPrefix, round);
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// The round of a checkpoint's file name `round_<digits>.pt`, or -1 for any other name.
int64_t parse_round(std::string_view name) {
  if (!starts_with(name, kPrefix) || !ends_with(name, kCheckpointSuffix)) return -1;
  const std::string_view digits =
      name.substr(kPrefix.size(), name.size() - kPrefix.size() - kCheckpointSuffix.size());
  if (digits.empty() || digits.size() > 18) return -1;
  int64_t round = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    round = round * 10 + (c - '0');
  }
  return round;
}

fs::path normalised(const fs::path& path) {
  std::error_code ignored;
  const fs::path canonical = fs::weakly_canonical(path, ignored);
  return canonical.empty() ? fs::absolute(path).lexically_normal() : canonical;
}

}  // namespace

CheckpointStore::CheckpointStore(const fs::path& directory)
    : directory_(fs::absolute(directory).lexically_normal()) {
  std::error_code error;
  fs::create_directories(directory_, error);
  check(!error && fs::is_directory(directory_), "cannot create checkpoint directory {}: {}",
        directory_.string(), error.message());
  remove_temporaries();
}

fs::path CheckpointStore::checkpoint_path(int64_t round) const {
  check(round >= 0, "checkpoint round must be >= 0, got {}", round);
  return directory_ / (file_stem(round) + std::string(kCheckpointSuffix));
}

fs::path CheckpointStore::sample_grid_path(int64_t round) const {
  check(round >= 0, "sample grid round must be >= 0, got {}", round);
  return directory_ / (file_stem(round) + ".png");
}

CheckpointFile CheckpointStore::write(int64_t round, const StateDict& tensors) const {
  const fs::path path = checkpoint_path(round);
  std::vector<char> bytes;
  try {
    bytes = encode_state_dict(tensors);
  } catch (const StorageError& error) {
    throw StorageError(fmt::format("cannot write checkpoint {}: {}", path.string(), error.what()));
  }
  try {
    files::write_file_atomically(path, bytes.data(), bytes.size());
  } catch (const files::FileError& error) {
    throw StorageError(error.what());  // callers of the storage library catch StorageError
  }
  return {path, sha256_hex(bytes.data(), bytes.size()), bytes.size()};
}

StateDict CheckpointStore::load(const fs::path& path, const std::string& expected_sha256) {
  std::vector<char> bytes;
  try {
    bytes = files::read_file(path);
  } catch (const files::FileError& error) {
    throw StorageError(error.what());
  }
  const std::string actual = sha256_hex(bytes.data(), bytes.size());
  check(actual == expected_sha256,
        "checkpoint {} has SHA-256 {} but {} was recorded: the file was changed or damaged; "
        "restore it from a backup or resume from an earlier round",
        path.string(), actual, expected_sha256);
  return decode_state_dict(bytes, "checkpoint " + path.string());
}

std::vector<int64_t> CheckpointStore::rounds() const {
  std::vector<int64_t> found;
  for (const auto& entry : fs::directory_iterator(directory_)) {
    const int64_t round = parse_round(entry.path().filename().string());
    if (round >= 0 && entry.is_regular_file()) found.push_back(round);
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::vector<fs::path> CheckpointStore::prune(const RetentionPolicy& policy,
                                             const std::vector<fs::path>& referenced) const {
  check(policy.keep_last >= 0 && policy.keep_every >= 0,
        "retention: keep_last {} and keep_every {} must be >= 0", policy.keep_last,
        policy.keep_every);
  const std::vector<int64_t> present = rounds();
  std::set<fs::path> protect;
  for (const fs::path& path : referenced) protect.insert(normalised(path));
  const auto newest_kept =
      static_cast<int64_t>(present.size()) - std::max<int64_t>(policy.keep_last, 1);
  std::vector<fs::path> deleted;
  for (size_t i = 0; i < present.size(); ++i) {
    const int64_t round = present[i];
    const fs::path path = checkpoint_path(round);
    const bool recent = static_cast<int64_t>(i) >= newest_kept;
    const bool milestone = policy.keep_every > 0 && round % policy.keep_every == 0;
    if (recent || milestone || protect.count(normalised(path)) > 0) continue;
    std::error_code error;
    fs::remove(path, error);
    check(!error, "cannot delete old checkpoint {}: {}", path.string(), error.message());
    deleted.push_back(path);
  }
  return deleted;
}

size_t CheckpointStore::remove_temporaries() const {
  size_t removed = 0;
  for (const auto& entry : fs::directory_iterator(directory_)) {
    const std::string name = entry.path().filename().string();
    if (!starts_with(name, ".") || !ends_with(name, ".tmp")) continue;
    // ".round_000042.pt.tmp" is the temporary of "round_000042.pt".
    if (parse_round(std::string_view(name).substr(1, name.size() - 5)) < 0) continue;
    std::error_code error;
    fs::remove(entry.path(), error);
    check(!error, "cannot remove leftover temporary file {}: {}", entry.path().string(),
          error.message());
    ++removed;
  }
  return removed;
}

}  // namespace fedgan::storage
