// kubectl-sysdigtoken's command line (arguments separated by NUL bytes):
// never throws; an error is one line; a name or namespace it accepts is a
// valid Kubernetes name.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "kube/validation.h"
#include "plugin/args.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> argv;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = text.find('\0', start);
    argv.push_back(text.substr(start, end == std::string_view::npos ? text.npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  auto args = sto::plugin::parse_args(argv);
  if (!args) {
    for (char c : args.error()) {
      sto::fuzz::check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f,
                       "an argument error with a control character");
    }
    return 0;
  }
  const auto& a = args.value();
  if (a.command == sto::plugin::Command::Status || a.command == sto::plugin::Command::Rotate) {
    sto::fuzz::check(a.name.empty() || sto::kube::is_dns1123_subdomain(a.name), "invalid name accepted");
    sto::fuzz::check(a.namespace_.empty() || sto::kube::is_dns1123_label(a.namespace_),
                     "invalid namespace accepted");
    sto::fuzz::check(!(a.all_namespaces && !a.name.empty() && a.command == sto::plugin::Command::Status),
                     "NAME with --all-namespaces accepted");
    if (a.wait) sto::fuzz::check(a.wait->count() > 0, "a wait of 0 or less accepted");
  }
  return 0;
}
