#include "files/durable_file.h"
#include "files/error.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace fedgan::files {
namespace {

std::string contents(const std::vector<char>& data) {
  return std::string(data.begin(), data.end());
}

// A fresh directory under the system's temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fedgan-files-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw FileError("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

TEST(DurableFile, WritesReplacesAndReadsBack) {
  TempDir dir;
  const auto path = dir / "f.bin";
  write_file_atomically(path, "first", 5);
  EXPECT_EQ(contents(read_file(path)), "first");
  write_file_atomically(path, "second!", 7);
  EXPECT_EQ(contents(read_file(path)), "second!");
  EXPECT_FALSE(std::filesystem::exists(temporary_path_for(path)));
  EXPECT_EQ(temporary_path_for(path), dir / ".f.bin.tmp");
}

// A site's local state and a private key are written owner-only.
TEST(DurableFile, NewFilesGetTheRequestedMode) {
  TempDir dir;
  write_file_atomically(dir / "private.bin", "x", 1, 0600);
  const auto permissions = std::filesystem::status(dir / "private.bin").permissions();
  EXPECT_EQ(permissions & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(DurableFile, OverwritesATemporaryLeftByACrash) {
  TempDir dir;
  const auto path = dir / "f.bin";
  std::ofstream(temporary_path_for(path)) << "half-written garbage from a crashed writer";
  write_file_atomically(path, "whole", 5);
  EXPECT_EQ(contents(read_file(path)), "whole");
  EXPECT_FALSE(std::filesystem::exists(temporary_path_for(path)));
}

// A leftover temporary readable by others must not lend its mode to a private file's bytes.
TEST(DurableFile, ALeftoverTemporaryDoesNotLendItsMode) {
  TempDir dir;
  const auto path = dir / "key.pem";
  std::ofstream(temporary_path_for(path)) << "leftover";
  std::filesystem::permissions(temporary_path_for(path), std::filesystem::perms::all);
  write_file_atomically(path, std::string_view("secret"), 0600);
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(DurableFile, NeverWritesThroughASymbolicLink) {
  TempDir dir;
  const auto path = dir / "f.bin";
  std::ofstream(dir / "victim") << "untouched";
  std::filesystem::create_symlink(dir / "victim", temporary_path_for(path));
  write_file_atomically(path, std::string_view("new"));
  EXPECT_EQ(contents(read_file(path)), "new");
  EXPECT_EQ(contents(read_file(dir / "victim")), "untouched");
}

// Writers of one path take turns: the file always holds one writer's whole contents.
TEST(DurableFile, ConcurrentWritersOfOnePathNeverTearIt) {
  TempDir dir;
  const auto path = dir / "shared.bin";
  constexpr int kWriters = 4, kWrites = 25;
  std::vector<std::string> payloads;
  for (int w = 0; w < kWriters; ++w) payloads.push_back(std::string(100000 + w, char('a' + w)));
  std::atomic<bool> torn{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kWrites; ++i) {
        write_file_atomically(path, std::string_view(payloads[static_cast<size_t>(w)]));
        const std::string now = contents(read_file(path));
        if (std::find(payloads.begin(), payloads.end(), now) == payloads.end()) torn = true;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_FALSE(torn);
  EXPECT_FALSE(std::filesystem::exists(temporary_path_for(path)));
}

TEST(DurableFile, FailuresNameTheFileAndLeaveNoTemporary) {
  TempDir dir;
  const auto path = dir / "no_such_dir" / "f.bin";
  try {
    write_file_atomically(path, "x", 1);
    FAIL();
  } catch (const FileError& error) {
    EXPECT_NE(std::string(error.what()).find("no_such_dir"), std::string::npos);
  }
  EXPECT_THROW(read_file(dir / "missing"), FileError);
  std::filesystem::create_directory(dir / "taken");
  std::filesystem::create_directory(dir / "taken" / "sub");  // rename over a non-empty directory
  EXPECT_THROW(write_file_atomically(dir / "taken", "x", 1), FileError);
  EXPECT_FALSE(std::filesystem::exists(temporary_path_for(dir / "taken")));
}

}  // namespace
}  // namespace fedgan::files
