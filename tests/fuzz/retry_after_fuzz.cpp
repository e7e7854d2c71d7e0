// Retry-After (IBM Cloud and API server answers): the wait is between zero and the cap,
// whatever the header says.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.h"
#include "net/retry_after.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // A fixed "now" keeps runs reproducible: 2026-01-01T00:00:00Z.
  auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));
  auto wait = sto::net::parse_retry_after(text, now, std::chrono::seconds(3600));
  if (wait) {
    sto::fuzz::check(wait->count() >= 0 && wait->count() <= 3600, "Retry-After out of bounds");
  }
  return 0;
}
