#pragma once

// Test helpers shared by the IDX and Fashion-MNIST loader tests: building IDX bytes by hand and a
// per-test temporary directory to write them into.

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fedgan::gan {

using Bytes = std::vector<uint8_t>;

/// Builds an IDX file: magic (0, 0, type, ndims), big-endian dims, then the payload as given.
inline Bytes make_idx(uint8_t type, const std::vector<uint32_t>& dims, const Bytes& payload) {
  Bytes out = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(d >> shift));
  }
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

/// A fresh directory per test, removed afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           (std::string("fedgan_") + info->test_suite_name() + "_" + std::to_string(getpid()) +
            "_" + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  /// Writes `content` as is to `name` in the directory; returns the path.
  std::string write_plain(const std::string& name, const Bytes& content) {
    const std::string path = (dir_ / name).string();
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(content.data()),
              static_cast<std::streamsize>(content.size()));
    return path;
  }

  std::filesystem::path dir_;
};

}  // namespace fedgan::gan
