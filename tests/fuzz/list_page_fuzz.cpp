// List answers of the API server (every informer's first page and each
// re-list): decode_list never throws, and each item it returns is one.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "kube/watch_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  try {
    auto page = sto::kube::decode_list(body);
    if (page) {
      for (const auto& item : page->items) sto::fuzz::check(!item.empty(), "empty list item");
    }
  } catch (...) {
    sto::fuzz::fail("exception out of decode_list");
  }
  return 0;
}
