// The watch stream framing (one JSON event a line, split anywhere by the
// transport). The first input byte picks the chunk size; the rest is the
// stream. Invariant: how the bytes are split does not change the events.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "kube/watch_decoder.h"

namespace {

struct Outcome {
  bool ok = true;
  std::vector<sto::kube::WatchEvent> events;
};

Outcome decode(std::string_view stream, std::size_t chunk) {
  // A small limit so that the size check is reached too.
  sto::kube::WatchDecoder decoder(4096);
  Outcome out;
  while (!stream.empty()) {
    std::size_t n = std::min(chunk, stream.size());
    if (!decoder.feed(stream.substr(0, n), out.events)) {
      out.ok = false;
      return out;
    }
    stream.remove_prefix(n);
  }
  out.ok = static_cast<bool>(decoder.finish(out.events));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t chunk = data[0] % 64 + 1;
  std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    Outcome whole = decode(stream, stream.size() + 1);
    Outcome pieces = decode(stream, chunk);
    sto::fuzz::check(whole.ok == pieces.ok, "chunking changed success");
    if (whole.ok) {
      sto::fuzz::check(whole.events.size() == pieces.events.size(), "chunking changed events");
      for (std::size_t i = 0; i < whole.events.size(); ++i) {
        const auto& a = whole.events[i];
        const auto& b = pieces.events[i];
        sto::fuzz::check(
            a.type == b.type && a.object == b.object && a.resource_version == b.resource_version,
            "chunking changed an event");
      }
    }
  } catch (...) {
    sto::fuzz::fail("exception out of WatchDecoder");
  }
  return 0;
}
