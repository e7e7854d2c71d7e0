#include "common/memory.h"

#include <cstdlib>  // defines __GLIBC__ on glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace sto {

void release_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

void return_large_blocks_at_once() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  mallopt(M_TRIM_THRESHOLD, 512 * 1024);
#endif
}

}  // namespace sto
