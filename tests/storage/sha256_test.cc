#include "storage/sha256.h"
#include "storage/error.h"
#include "tests/storage/test_util.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace fedgan::storage {
namespace {

// FIPS 180-2 test vectors.
TEST(Sha256, MatchesTheStandardVectors) {
  EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc", 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, FileHashEqualsMemoryHash) {
  testing::TempDir dir;
  const std::string data(200000, 'x');  // several read blocks
  std::ofstream(dir / "f", std::ios::binary) << data;
  EXPECT_EQ(sha256_file_hex(dir / "f"), sha256_hex(data.data(), data.size()));
  EXPECT_THROW(sha256_file_hex(dir / "missing"), StorageError);
}

}  // namespace
}  // namespace fedgan::storage
