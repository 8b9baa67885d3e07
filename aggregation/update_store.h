#pragma once

#include "aggregation/update_matrix.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace fedgan::aggregation {

struct UpdateStoreOptions {
  /// Bytes of rows kept in memory; rows beyond it go to the spill file. Default 1 GiB.
  uint64_t memory_budget_bytes = uint64_t{1} << 30;
  /// Where the spill file is created (the coordinator passes its checkpoint directory). The file
  /// is unlinked as soon as it is open, so it never outlives the store, not even a SIGKILL.
  std::filesystem::path spill_directory = ".";
  /// A name that says what the file holds while it exists (e.g. "round-12"), for `ls -l /proc`.
  std::string spill_name = "updates";
  /// Columns per block handed to rules: 65,536 floats = 256 KiB per row and block.
  size_t block_columns = size_t{1} << 16;
};

/// The accepted updates of one round, kept for a rule that needs all of them: rows in memory up to
/// a byte budget, the rest in an unnamed spill file read back block by block. Memory held: the
/// in-memory rows plus, during for_each_block, one block of every spilled row.
/// Not thread-safe (one round's updates are added from one thread).
class UpdateStore final : public UpdateMatrix {
 public:
  /// Throws AggregationError for 0 columns or 0 block columns.
  UpdateStore(size_t num_columns, UpdateStoreOptions options);
  ~UpdateStore() override;
  UpdateStore(const UpdateStore&) = delete;
  UpdateStore& operator=(const UpdateStore&) = delete;

  /// One piece of a row: `size` floats at `data` (a tensor of the delta).
  using Piece = std::pair<const float*, size_t>;
  /// Appends one row made of `pieces` in order; their sizes must sum to num_columns(). Throws
  /// AggregationError (the store unchanged) when they do not, and when the spill file cannot be
  /// created or written (naming the file and the system's reason).
  void append(const std::vector<Piece>& pieces);

  size_t num_rows() const override { return memory_rows_.size() + spilled_rows_; }
  size_t num_columns() const override { return num_columns_; }
  size_t block_columns() const override { return options_.block_columns; }
  void for_each_block(const BlockVisitor& visit) const override;

  /// Multiplies every value of row `row` by `factor` (each product in double, rounded once), as
  /// clip_to_norm scales a delta: in place for a row in memory, when read back for a spilled one.
  /// Throws AggregationError for a row out of range or a factor that is not finite and positive.
  void scale_row(size_t row, double factor);

  size_t rows_in_memory() const { return memory_rows_.size(); }
  size_t rows_spilled() const { return spilled_rows_; }

 private:
  class SpillFile;

  size_t num_columns_;
  UpdateStoreOptions options_;
  size_t max_memory_rows_;
  // Rows 0 .. memory_rows_.size() - 1; the spilled ones follow them in row order.
  std::vector<std::unique_ptr<float[]>> memory_rows_;
  std::unique_ptr<SpillFile> spill_;
  size_t spilled_rows_ = 0;
  std::vector<double> spilled_scales_;  // the factor each spilled row is read back with
};

}  // namespace fedgan::aggregation
