#include "protocol/freed_memory.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

namespace fedgan::protocol {
namespace {

long minor_page_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// What a round does to the heap: the eight 512 KiB chunk frames of a 4 MiB model are allocated and
// written, then freed together; `rounds` times. Returns the page faults of the last rounds - 1
// rounds (the first one may take fresh memory under any policy).
long faults_of_rounds(int rounds) {
  constexpr size_t kChunkBytes = size_t{512} << 10;
  long faults = 0;
  for (int round = 0; round < rounds; ++round) {
    const long before = minor_page_faults();
    std::vector<std::unique_ptr<char[]>> frames;
    for (int i = 0; i < 8; ++i) {
      frames.emplace_back(new char[kChunkBytes]);
      std::memset(frames.back().get(), round + i, kChunkBytes);
    }
    EXPECT_EQ(frames.back()[kChunkBytes / 2], static_cast<char>(round + 7));
    frames.clear();
    if (round > 0) faults += minor_page_faults() - before;
  }
  return faults;
}

TEST(FreedMemory, ARoundsBuffersAreReusedInsteadOfFaultedInAgain) {
#if defined(__GLIBC__)
  const long pages_per_round = (long{8} << 19) / sysconf(_SC_PAGESIZE);
  // glibc's defaults give the freed frames back to the kernel, so every round faults them in.
  const long with_defaults = faults_of_rounds(5);
  EXPECT_GT(with_defaults, 2 * pages_per_round) << "4 rounds, " << pages_per_round << " pages each";
  ASSERT_TRUE(keep_freed_memory());
  const long kept = faults_of_rounds(5);
  EXPECT_LT(kept, pages_per_round / 4) << "4 rounds after keep_freed_memory()";
#else
  GTEST_SKIP() << "keep_freed_memory() sets glibc's allocator; this C library is not glibc";
#endif
}

TEST(FreedMemory, RefusesThresholdsTheAllocatorCannotTake) {
#if defined(__GLIBC__)
  FreedMemoryPolicy too_large;
  too_large.map_threshold_bytes = size_t{1} << 40;
  EXPECT_FALSE(keep_freed_memory(too_large));
#else
  GTEST_SKIP() << "keep_freed_memory() sets glibc's allocator; this C library is not glibc";
#endif
}

}  // namespace
}  // namespace fedgan::protocol
