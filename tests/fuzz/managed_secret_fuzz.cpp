// The Secret projection (Secrets with our label, which any tenant can set),
// a data value read from a Secret, and the managedFields tree: none throws.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "controller/managed_secret.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view json(reinterpret_cast<const char*>(data), size);
  try {
    if (auto object = sto::controller::project_managed_secret(json)) {
      auto secret = std::dynamic_pointer_cast<const sto::controller::ManagedSecret>(*object);
      sto::fuzz::check(secret != nullptr, "project_managed_secret returned another type");
      (void)secret->owned_by(secret->meta.uid);
      (void)secret->retained_for(secret->meta.name);
    }
    (void)sto::controller::secret_value(json, "SYSDIG_MONITOR_API_TOKEN");
    (void)sto::controller::secret_value(json, "apikey");
    (void)sto::controller::applied_fields_from(json);
  } catch (...) {
    sto::fuzz::fail("exception out of the Secret projection");
  }
  return 0;
}
