#include "protocol/freed_memory.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
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

long resident_pages() {
  long total = 0, resident = 0;
  FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return -1;
  const int read = std::fscanf(statm, "%ld %ld", &total, &resident);
  std::fclose(statm);
  return read == 2 ? resident : -1;
}

TEST(FreedMemory, ReleasedMemoryLeavesTheResidentSetAndKeptMemoryStays) {
#if defined(__GLIBC__)
  ASSERT_TRUE(keep_freed_memory());
  // A paged-out site: 64 blocks of 1 MiB (below the mapping threshold, so from the heap), written,
  // then freed. Blocks in between keep the freed ones away from the heap's top, where a trim
  // would have reached them anyway.
  constexpr size_t kBlockBytes = size_t{1} << 20;
  const long pages_per_block = static_cast<long>(kBlockBytes) / sysconf(_SC_PAGESIZE);
  std::vector<std::unique_ptr<char[]>> freed, kept;
  for (int i = 0; i < 64; ++i) {
    freed.emplace_back(new char[kBlockBytes]);
    std::memset(freed.back().get(), i + 1, kBlockBytes);
    kept.emplace_back(new char[4096]);
    std::memset(kept.back().get(), i + 1, 4096);
  }
  const long before = resident_pages();
  ASSERT_GT(before, 0) << "/proc/self/statm";
  freed.clear();
  const long after_free = resident_pages();
  EXPECT_GT(after_free, before - 8 * pages_per_block) << "kept memory stays resident";
  EXPECT_TRUE(release_freed_memory());
  const long after_release = resident_pages();
  EXPECT_LT(after_release, after_free - 48 * pages_per_block)
      << "release_freed_memory() hands the 64 MiB back";
  EXPECT_EQ(kept.back()[100], static_cast<char>(64));
#else
  GTEST_SKIP() << "release_freed_memory() is glibc's malloc_trim; this C library is not glibc";
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
