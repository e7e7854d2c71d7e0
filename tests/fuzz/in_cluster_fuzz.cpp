// The in-cluster configuration: $KUBERNETES_SERVICE_HOST/PORT, and the
// service-account folder's ca.crt, token and namespace files. Input: the
// five values separated by NUL bytes.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "kube/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::array<std::string, 5> part;  // host, port, ca.crt, token, namespace
  for (auto& p : part) {
    auto nul = text.find('\0');
    p = std::string(text.substr(0, nul));
    text = nul == std::string_view::npos ? std::string_view() : text.substr(nul + 1);
  }
  sto::fuzz::write_file("ca.crt", part[2]);
  sto::fuzz::write_file("token", part[3]);
  sto::fuzz::write_file("namespace", part[4]);
  sto::kube::LoadOptions options;
  options.service_account_dir = sto::fuzz::scratch_dir();
  options.getenv = [&](const char* name) -> const char* {
    if (std::strcmp(name, "KUBERNETES_SERVICE_HOST") == 0) return part[0].c_str();
    if (std::strcmp(name, "KUBERNETES_SERVICE_PORT") == 0) return part[1].c_str();
    return nullptr;
  };
  try {
    auto config = sto::kube::load_in_cluster(options);
    if (config) {
      sto::fuzz::check(config->credentials != nullptr, "null credentials");
      sto::fuzz::check(!config->namespace_.empty(), "empty namespace");
    }
  } catch (...) {
    sto::fuzz::fail("exception out of load_in_cluster");
  }
  return 0;
}
