#include "aggregation/update_store.h"

#include "aggregation/error.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <random>

namespace fedgan::aggregation {

namespace {

std::string system_reason(int error) {
  return std::strerror(error);
}

}  // namespace

// An unnamed scratch file: created with O_EXCL under a name no one else uses, then unlinked at
// once, so it is freed when the descriptor closes, whatever ends the process.
class UpdateStore::SpillFile {
 public:
  SpillFile(const std::filesystem::path& directory, const std::string& name) {
    std::random_device entropy;
    for (int attempt = 0; attempt < 16 && fd_ < 0; ++attempt) {
      path_ = directory / fmt::format(".{}-{:08x}.spill", name, entropy());
      fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd_ < 0 && errno != EEXIST) break;
    }
    check(fd_ >= 0, "the spill file {} for the round's updates cannot be created: {}",
          path_.string(), system_reason(errno));
    ::unlink(path_.c_str());
  }
  ~SpillFile() { ::close(fd_); }
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  void write_at(uint64_t offset, const void* data, size_t size) {
    const char* bytes = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t written = ::pwrite(fd_, bytes, size, static_cast<off_t>(offset));
      if (written < 0 && errno == EINTR) continue;
      check(written > 0, "writing {} bytes to the spill file {} failed: {}", size, path_.string(),
            written < 0 ? system_reason(errno) : "no space written");
      bytes += written;
      offset += static_cast<uint64_t>(written);
      size -= static_cast<size_t>(written);
    }
  }

  void read_at(uint64_t offset, void* data, size_t size) const {
    char* bytes = static_cast<char*>(data);
    while (size > 0) {
      const ssize_t got = ::pread(fd_, bytes, size, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      check(got > 0, "reading {} bytes back from the spill file {} failed: {}", size,
            path_.string(), got < 0 ? system_reason(errno) : "the file is shorter than written");
      bytes += got;
      offset += static_cast<uint64_t>(got);
      size -= static_cast<size_t>(got);
    }
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

UpdateStore::UpdateStore(size_t num_columns, UpdateStoreOptions options)
    : num_columns_(num_columns), options_(std::move(options)) {
  check(num_columns_ > 0, "an update store needs at least one column");
  check(options_.block_columns > 0, "an update store needs blocks of at least one column");
  max_memory_rows_ = static_cast<size_t>(options_.memory_budget_bytes /
                                         (static_cast<uint64_t>(num_columns_) * sizeof(float)));
}

UpdateStore::~UpdateStore() = default;

void UpdateStore::append(const std::vector<Piece>& pieces) {
  size_t total = 0;
  for (const auto& [data, size] : pieces) {
    check(data != nullptr || size == 0, "a row piece of {} floats has no data", size);
    total += size;
  }
  check(total == num_columns_, "a row of {} values was offered to a store of {} columns", total,
        num_columns_);
  if (memory_rows_.size() < max_memory_rows_ && spilled_rows_ == 0) {
    // Not value-initialised: every element is written below.
    std::unique_ptr<float[]> row(new float[num_columns_]);
    float* at = row.get();
    for (const auto& [data, size] : pieces) at = std::copy(data, data + size, at);
    memory_rows_.push_back(std::move(row));
    return;
  }
  if (!spill_) spill_ = std::make_unique<SpillFile>(options_.spill_directory, options_.spill_name);
  const uint64_t row_bytes = static_cast<uint64_t>(num_columns_) * sizeof(float);
  uint64_t offset = static_cast<uint64_t>(spilled_rows_) * row_bytes;
  for (const auto& [data, size] : pieces) {
    spill_->write_at(offset, data, size * sizeof(float));
    offset += size * sizeof(float);
  }
  ++spilled_rows_;
  spilled_scales_.push_back(1.0);
}

void UpdateStore::scale_row(size_t row, double factor) {
  check(row < num_rows(), "row {} of a store of {} rows cannot be scaled", row, num_rows());
  check(std::isfinite(factor) && factor > 0, "a row's scale must be finite and > 0, got {}",
        factor);
  if (row < memory_rows_.size()) {
    float* values = memory_rows_[row].get();
    for (size_t i = 0; i < num_columns_; ++i) {
      values[i] = static_cast<float>(static_cast<double>(values[i]) * factor);
    }
    return;
  }
  spilled_scales_[row - memory_rows_.size()] *= factor;
}

void UpdateStore::for_each_block(const BlockVisitor& visit) const {
  const size_t width = std::min(options_.block_columns, num_columns_);
  std::vector<float> spilled(spilled_rows_ * width);
  std::vector<const float*> rows(num_rows());
  const uint64_t row_bytes = static_cast<uint64_t>(num_columns_) * sizeof(float);
  for (size_t first = 0; first < num_columns_; first += width) {
    const size_t length = std::min(width, num_columns_ - first);
    for (size_t i = 0; i < memory_rows_.size(); ++i) rows[i] = memory_rows_[i].get() + first;
    for (size_t s = 0; s < spilled_rows_; ++s) {
      float* block = spilled.data() + s * width;
      spill_->read_at(static_cast<uint64_t>(s) * row_bytes + first * sizeof(float), block,
                      length * sizeof(float));
      if (const double scale = spilled_scales_[s]; scale != 1.0) {
        for (size_t i = 0; i < length; ++i) {
          block[i] = static_cast<float>(static_cast<double>(block[i]) * scale);
        }
      }
      rows[memory_rows_.size() + s] = block;
    }
    visit(first, length, rows.data());
  }
}

}  // namespace fedgan::aggregation
