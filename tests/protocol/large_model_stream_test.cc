// The streaming claim at scale: a 1 GiB model over loopback mutual TLS, memory bounded by chunks.

#include "tests/protocol/model_transfer.h"

#include <gtest/gtest.h>

#include <iostream>

namespace fedgan::protocol::testing {
namespace {

constexpr size_t kChunk = size_t{4} << 20;

TEST(LargeModelStream, A1GiBModelArrivesExactlyWithMemoryBoundedByChunks) {
  const auto result = transfer_model(8, size_t{32} << 20, wire::CODEC_FP32, kChunk);
  EXPECT_TRUE(result.identical);
  EXPECT_EQ(result.wire_bytes, size_t{1} << 30);
  EXPECT_LE(result.peak_extra_bytes, 12 * kChunk)
      << "peak grew by " << (result.peak_extra_bytes >> 20) << " MiB for a 1 GiB model";
  std::cout << "1 GiB model: peak memory grew by " << (result.peak_extra_bytes >> 20) << " MiB, "
            << result.seconds << " s\n";
}

}  // namespace
}  // namespace fedgan::protocol::testing
