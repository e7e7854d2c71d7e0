// The Lease the leader elector reads (anyone who may edit the Lease can
// write it): decoding never throws.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.h"
#include "kube/leader_election.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view json(reinterpret_cast<const char*>(data), size);
  try {
    (void)sto::kube::decode_lease_record(json);
  } catch (...) {
    sto::fuzz::fail("exception out of decode_lease_record");
  }
  return 0;
}
