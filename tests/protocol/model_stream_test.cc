// A 256 MiB model crosses real loopback mutual TLS with memory bounded by a few chunks.

#include "tests/protocol/model_transfer.h"

#include <gtest/gtest.h>

#include <iostream>

namespace fedgan::protocol::testing {
namespace {

constexpr size_t kChunk = size_t{4} << 20;
// Both sides' chunk, frame and TLS buffers: a handful of chunks, whatever the model size.
constexpr size_t kMaxExtraBytes = 12 * kChunk;

TEST(ModelStream, A256MiBModelArrivesExactlyWithMemoryBoundedByChunks) {
  const auto result = transfer_model(4, size_t{16} << 20, wire::CODEC_FP32, kChunk);
  EXPECT_TRUE(result.identical);
  EXPECT_EQ(result.wire_bytes, size_t{256} << 20);
  EXPECT_LE(result.peak_extra_bytes, kMaxExtraBytes)
      << "peak grew by " << (result.peak_extra_bytes >> 20) << " MiB for a "
      << (result.model_bytes >> 20) << " MiB model";
  EXPECT_LE(result.sender_peak_queued, 2 * kChunk + 1024);
  std::cout << "256 MiB model: peak memory grew by " << (result.peak_extra_bytes >> 20) << " MiB, "
            << result.seconds << " s\n";
}

TEST(ModelStream, Fp16HalvesTheWireAndRoundsEachValue) {
  const auto result = transfer_model(3, size_t{1} << 20, wire::CODEC_FP16, size_t{1} << 20);
  EXPECT_TRUE(result.identical);
  EXPECT_EQ(result.wire_bytes, 3 * (size_t{2} << 20));
}

}  // namespace
}  // namespace fedgan::protocol::testing
