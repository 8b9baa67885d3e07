#include "storage/durable_file.h"
#include "storage/error.h"
#include "tests/storage/test_util.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace fedgan::storage {
namespace {

std::string contents(const std::vector<char>& data) {
  return std::string(data.begin(), data.end());
}

TEST(DurableFile, WritesReplacesAndReadsBack) {
  testing::TempDir dir;
  const auto path = dir / "f.bin";
  write_file_atomically(path, "first", 5);
  EXPECT_EQ(contents(read_file(path)), "first");
  write_file_atomically(path, "second!", 7);
  EXPECT_EQ(contents(read_file(path)), "second!");
  EXPECT_FALSE(std::filesystem::exists(temporary_path_for(path)));
  EXPECT_EQ(temporary_path_for(path), dir / ".f.bin.tmp");
}

// A site's local state is written owner-only.
TEST(DurableFile, NewFilesGetTheRequestedMode) {
  testing::TempDir dir;
  write_file_atomically(dir / "private.bin", "x", 1, 0600);
  const auto permissions = std::filesystem::status(dir / "private.bin").permissions();
  EXPECT_EQ(permissions & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(DurableFile, OverwritesATemporaryLeftByACrash) {
  testing::TempDir dir;
  const auto path = dir / "f.bin";
  std::ofstream(temporary_path_for(path)) << "half-written garbage from a crashed writer";
  write_file_atomically(path, "whole", 5);
  EXPECT_EQ(contents(read_file(path)), "whole");
  EXPECT_FALSE(std::filesystem::exists(temporary_path_for(path)));
}

TEST(DurableFile, FailuresNameTheFileAndLeaveNoTemporary) {
  testing::TempDir dir;
  const auto path = dir / "no_such_dir" / "f.bin";
  try {
    write_file_atomically(path, "x", 1);
    FAIL();
  } catch (const StorageError& error) {
    EXPECT_NE(std::string(error.what()).find("no_such_dir"), std::string::npos);
  }
  EXPECT_THROW(read_file(dir / "missing"), StorageError);
  std::filesystem::create_directory(dir / "taken");
  std::filesystem::create_directory(dir / "taken" / "sub");  // rename over a non-empty directory
  EXPECT_THROW(write_file_atomically(dir / "taken", "x", 1), StorageError);
  EXPECT_FALSE(std::filesystem::exists(temporary_path_for(dir / "taken")));
}

}  // namespace
}  // namespace fedgan::storage
