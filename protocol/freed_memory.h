#pragma once

#include <cstddef>

namespace fedgan::protocol {

/// Heap memory a process keeps after freeing it rather than handing it back to the kernel.
struct FreedMemoryPolicy {
  /// Allocations below this come from the heap, where freed blocks are reused; larger ones are
  /// mapped and unmapped on their own.
  size_t map_threshold_bytes = size_t{32} << 20;
  /// Free memory at the top of the heap beyond this goes back to the kernel.
  size_t trim_threshold_bytes = size_t{512} << 20;
};

/// Makes the process reuse freed buffers of up to `policy.map_threshold_bytes` instead of
/// returning them to the kernel and faulting fresh pages in when it allocates the next one.
/// Every model sent or received allocates and frees the same buffers again (its chunk frames,
/// protobuf's copies of chunks, the buffer it is decoded into): with glibc's defaults freed chunk
/// buffers are unmapped, or trimmed together from the top of the heap, so the next model faults
/// them in page by page, which costs more than copying the bytes they carry. The price is a
/// resident size that stays at its peak, plus at most `trim_threshold_bytes` of free heap. Call
/// once, first thing in main(), before other threads start. Returns false where the C library has
/// no such settings (it is not glibc) or refuses them; the process then keeps its defaults.
bool keep_freed_memory(const FreedMemoryPolicy& policy = {});

/// Hands the free memory of every heap back to the kernel now (glibc's malloc_trim: free pages
/// inside the heaps too, not only at their tops), for a process that has just freed a large amount
/// it will not need soon and keeps freed memory otherwise. Returns whether any memory went back;
/// false where the C library has no such call.
bool release_freed_memory();

}  // namespace fedgan::protocol
