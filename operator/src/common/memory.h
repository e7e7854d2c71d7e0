// Gives memory the allocator holds but no longer uses back to the system,
// after a large answer (a list page of big objects) has been freed.
#pragma once

namespace sto {

void release_free_memory();

// Has blocks of 128 KiB and more mapped and unmapped one by one, so that
// freeing a large answer returns its memory at once (glibc otherwise raises
// that threshold after such a free, and later large blocks stay in the heap).
void return_large_blocks_at_once();

}  // namespace sto
