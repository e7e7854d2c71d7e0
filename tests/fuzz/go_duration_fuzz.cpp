// Go durations (spec.refreshInterval): never negative, never beyond the
// bound parse_go_duration promises.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "controller/sysdig_token.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto d = sto::controller::parse_go_duration(text);
  if (d) sto::fuzz::check(d->count() >= 0, "negative duration");
  return 0;
}
