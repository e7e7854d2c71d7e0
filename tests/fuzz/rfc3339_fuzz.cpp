// RFC 3339 timestamps (status times, annotations): a parsed time formats and
// parses back to itself (whole seconds: fractions are dropped); times beyond
// the clock's range parse as its ends.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/rfc3339.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto t = sto::parse_rfc3339(text);
  if (!t) return 0;
  // Times beyond the clock's range are its ends: nothing to round-trip.
  using Clock = std::chrono::system_clock;
  if (*t == Clock::time_point::min() || *t == Clock::time_point::max()) return 0;
  auto formatted = sto::format_rfc3339(*t);
  auto again = sto::parse_rfc3339(formatted);
  sto::fuzz::check(again.has_value(), "format_rfc3339 output does not parse: " + formatted);
  sto::fuzz::check(*again == std::chrono::floor<std::chrono::seconds>(*t),
                   "format/parse round trip changed the time: " + formatted);
  return 0;
}
