// The host allowlist (--allowed-hosts patterns, and the hosts of endpoints
// a SysdigToken names). Input: patterns, one a line, then a line "--", then
// hosts, one a line. Invariants: a wildcard never admits an IP address or
// the bare domain; matching ignores case.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "ibm/host_allowlist.h"

namespace {

std::vector<std::string> lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    out.emplace_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto split = text.find("\n--\n");
  std::string_view pattern_text = text.substr(0, split);
  std::string_view host_text = split == std::string_view::npos ? "" : text.substr(split + 4);
  auto list = sto::ibm::HostAllowlist::parse(lines(pattern_text));
  if (!list) {
    list = sto::ibm::HostAllowlist::parse(sto::ibm::HostAllowlist::default_patterns());
    sto::fuzz::check(list.ok(), "default patterns do not parse");
  }
  for (const auto& host : lines(host_text)) {
    bool allowed = list->allows(host);
    sto::fuzz::check(allowed == list->allows(upper(host)), "allowlist match depends on case");
  }
  return 0;
}
