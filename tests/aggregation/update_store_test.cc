#include "aggregation/update_store.h"

#include "tests/aggregation/test_util.h"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

namespace fedgan::aggregation {
namespace {

using test::contains;
using test::error_message;

namespace fs = std::filesystem;

// A fresh directory, removed with its contents at the end of the test.
class SpillDirectory {
 public:
  SpillDirectory() {
    std::string pattern = (fs::temp_directory_path() / "fedgan_spill_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~SpillDirectory() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Row r, column c holds r * 100 + c (exact in float), written as two pieces of 4 and 6 values.
std::vector<float> row_values(size_t row) {
  std::vector<float> values(10);
  for (size_t c = 0; c < values.size(); ++c) values[c] = static_cast<float>(row * 100 + c);
  return values;
}

void append_rows(UpdateStore& store, size_t rows) {
  for (size_t r = 0; r < rows; ++r) {
    const std::vector<float> values = row_values(store.num_rows());
    store.append({{values.data(), 4}, {values.data() + 4, 6}});
  }
}

// Every value the store hands out, as [row][column], checking the blocks tile the columns.
std::vector<std::vector<float>> read_back(const UpdateStore& store) {
  std::vector<std::vector<float>> rows(store.num_rows());
  size_t next = 0;
  store.for_each_block([&](size_t first, size_t length, const float* const* block) {
    EXPECT_EQ(first, next);
    EXPECT_LE(length, store.block_columns());
    next = first + length;
    for (size_t r = 0; r < rows.size(); ++r)
      rows[r].insert(rows[r].end(), block[r], block[r] + length);
  });
  EXPECT_EQ(next, store.num_columns());
  return rows;
}

// The descriptors of this process that point at a deleted file whose name contains `part`.
size_t open_deleted_files_named(const std::string& part) {
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    const std::string target = fs::read_symlink(entry.path(), error).string();
    if (!error && contains(target, part) && contains(target, "(deleted)")) ++count;
  }
  return count;
}

TEST(UpdateStore, RowsBeyondTheBudgetAreSpilledAndReadBackInOrder) {
  SpillDirectory directory;
  UpdateStoreOptions options;
  options.memory_budget_bytes = 2 * 10 * sizeof(float) + 39;  // two rows and a bit
  options.spill_directory = directory.path();
  options.block_columns = 3;
  UpdateStore store(10, options);
  append_rows(store, 5);
  EXPECT_EQ(store.rows_in_memory(), 2u);
  EXPECT_EQ(store.rows_spilled(), 3u);
  const auto rows = read_back(store);
  ASSERT_EQ(rows.size(), 5u);
  for (size_t r = 0; r < rows.size(); ++r) EXPECT_EQ(rows[r], row_values(r)) << "row " << r;
  // A second pass reads the same values: rules pass over the updates several times.
  EXPECT_EQ(read_back(store), rows);
}

TEST(UpdateStore, AScaledRowReadsTheSameInMemoryAndSpilled) {
  SpillDirectory directory;
  UpdateStoreOptions options;
  options.memory_budget_bytes = 10 * sizeof(float);  // row 0 in memory, rows 1 and 2 spilled
  options.spill_directory = directory.path();
  options.block_columns = 4;
  UpdateStore store(10, options);
  append_rows(store, 3);
  store.scale_row(0, 0.5);
  store.scale_row(2, 0.5);
  const auto rows = read_back(store);
  for (size_t c = 0; c < 10; ++c) {
    EXPECT_EQ(rows[0][c], static_cast<float>(c) * 0.5f);
    EXPECT_EQ(rows[1][c], row_values(1)[c]);
    EXPECT_EQ(rows[2][c], static_cast<float>(200 + c) * 0.5f);
  }
  EXPECT_TRUE(contains(error_message([&] { store.scale_row(3, 0.5); }), "row 3 of a store of 3"));
  EXPECT_TRUE(contains(error_message([&] { store.scale_row(1, 0.0); }), "finite and > 0"));
}

TEST(UpdateStore, TheSpillFileHasNoNameAndDiesWithTheStore) {
  SpillDirectory directory;
  UpdateStoreOptions options;
  options.memory_budget_bytes = 0;
  options.spill_directory = directory.path();
  options.spill_name = "round-7-updates";
  {
    UpdateStore store(10, options);
    append_rows(store, 3);
    EXPECT_EQ(store.rows_in_memory(), 0u);
    EXPECT_EQ(store.rows_spilled(), 3u);
    // Open, but no longer in its directory: a SIGKILL leaves nothing behind.
    EXPECT_TRUE(fs::is_empty(directory.path()));
    EXPECT_EQ(open_deleted_files_named(".round-7-updates-"), 1u);
    EXPECT_EQ(read_back(store)[2], row_values(2));
  }
  EXPECT_EQ(open_deleted_files_named(".round-7-updates-"), 0u);
}

TEST(UpdateStore, ABudgetForAllRowsNeverCreatesAFile) {
  UpdateStoreOptions options;
  options.spill_directory = "/nonexistent/fedgan";  // would fail if a file were created
  UpdateStore store(10, options);
  append_rows(store, 4);
  EXPECT_EQ(store.rows_in_memory(), 4u);
  EXPECT_EQ(read_back(store)[3], row_values(3));
}

TEST(UpdateStore, ARowOfTheWrongWidthIsRefusedAndTheStoreUnchanged) {
  UpdateStore store(10, UpdateStoreOptions{});
  const std::vector<float> values(11, 1.0f);
  const std::string message = error_message([&] {
    store.append({{values.data(), 4}, {values.data() + 4, 7}});
  });
  EXPECT_TRUE(contains(message, "a row of 11 values was offered to a store of 10 columns"))
      << message;
  EXPECT_EQ(store.num_rows(), 0u);
}

TEST(UpdateStore, AMissingSpillDirectoryIsNamed) {
  UpdateStoreOptions options;
  options.memory_budget_bytes = 0;
  options.spill_directory = "/nonexistent/fedgan";
  UpdateStore store(10, options);
  const std::vector<float> values(10, 1.0f);
  const std::string message = error_message([&] { store.append({{values.data(), 10}}); });
  EXPECT_TRUE(contains(message, "/nonexistent/fedgan/.updates-")) << message;
  EXPECT_TRUE(contains(message, "No such file or directory")) << message;
  EXPECT_EQ(store.num_rows(), 0u);
}

}  // namespace
}  // namespace fedgan::aggregation
