// The SysdigToken projection (watch events and list items of the CRD,
// written by any tenant): never throws out of its Result API, and whatever
// it keeps resolve_spec can judge without throwing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "controller/sysdig_token.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view json(reinterpret_cast<const char*>(data), size);
  try {
    auto object = sto::controller::project_sysdig_token(json);
    if (!object) return 0;
    auto token = std::dynamic_pointer_cast<const sto::controller::SysdigToken>(*object);
    sto::fuzz::check(token != nullptr, "project_sysdig_token returned another type");
    (void)sto::controller::resolve_spec(*token);
  } catch (...) {
    sto::fuzz::fail("exception out of project_sysdig_token/resolve_spec");
  }
  return 0;
}
