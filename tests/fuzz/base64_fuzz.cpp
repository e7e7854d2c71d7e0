// Base64 (Secret data, kubeconfig *-data fields): decoding never fails on
// what base64_encode wrote and gives the bytes back; whatever decodes
// re-encodes to text that decodes to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/encoding.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto encoded = sto::base64_encode(bytes);
  sto::fuzz::check(encoded.size() == (size + 2) / 3 * 4, "base64_encode: wrong length");
  auto decoded = sto::base64_decode(encoded);
  sto::fuzz::check(decoded && *decoded == bytes, "base64 round trip lost bytes");
  if (auto d = sto::base64_decode(bytes)) {
    auto back = sto::base64_decode(sto::base64_encode(*d));
    sto::fuzz::check(back && *back == *d, "base64 decode/encode/decode changed the bytes");
  }
  return 0;
}
