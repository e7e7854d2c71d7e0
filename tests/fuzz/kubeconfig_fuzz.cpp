// Kubeconfig files (YAML, base64 *-data fields, PEM, exec sections):
// loading never throws. The file is written to a scratch folder; an exec
// plugin it names is configured but never run.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.h"
#include "kube/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto path = sto::fuzz::write_file("kubeconfig", text);
  try {
    auto config = sto::kube::load_kubeconfig_file(path);
    if (config) {
      sto::fuzz::check(config->credentials != nullptr, "null credentials");
      sto::fuzz::check(!config->server.host.empty(), "server without host");
    }
  } catch (...) {
    sto::fuzz::fail("exception out of load_kubeconfig_file");
  }
  return 0;
}
