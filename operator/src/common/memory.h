// Gives memory the allocator holds but no longer uses back to the system,
// after a large answer (a list page of big objects) has been freed.
#pragma once

namespace sto {

void release_free_memory();

}  // namespace sto
