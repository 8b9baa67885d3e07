#pragma once

#include <cstddef>
#include <functional>

namespace fedgan::aggregation {

/// The accepted updates of one round as rows of one matrix: row i is update i's delta, flat in
/// layout order (num_parameters() floats). Rules that need every update read it column block by
/// column block, so the rows may live in memory or in a spill file (UpdateStore) and a rule holds
/// only one block of every row at a time.
class UpdateMatrix {
 public:
  /// Called once per block: `rows[i]` points at row i's `length` values from column `first`.
  /// The pointers are valid during the call only.
  using BlockVisitor = std::function<void(size_t first, size_t length, const float* const* rows)>;

  virtual ~UpdateMatrix() = default;

  virtual size_t num_rows() const = 0;
  virtual size_t num_columns() const = 0;

  /// Calls `visit` for consecutive column blocks that cover [0, num_columns()) in order, each at
  /// most block_columns() wide. Rethrows what `visit` throws; throws AggregationError when a
  /// spilled row cannot be read back.
  virtual void for_each_block(const BlockVisitor& visit) const = 0;

  /// The widest block for_each_block passes.
  virtual size_t block_columns() const = 0;
};

}  // namespace fedgan::aggregation
