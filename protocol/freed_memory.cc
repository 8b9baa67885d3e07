#include "protocol/freed_memory.h"

#include <climits>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace fedgan::protocol {

bool keep_freed_memory(const FreedMemoryPolicy& policy) {
#if defined(__GLIBC__)
  if (policy.map_threshold_bytes > INT_MAX || policy.trim_threshold_bytes > INT_MAX) return false;
  // Setting either one also stops glibc from moving both with the sizes it sees freed.
  return mallopt(M_MMAP_THRESHOLD, static_cast<int>(policy.map_threshold_bytes)) == 1 &&
         mallopt(M_TRIM_THRESHOLD, static_cast<int>(policy.trim_threshold_bytes)) == 1;
#else
  (void)policy;
  return false;
#endif
}

bool release_freed_memory() {
#if defined(__GLIBC__)
  return malloc_trim(0) == 1;
#else
  return false;
#endif
}

}  // namespace fedgan::protocol
