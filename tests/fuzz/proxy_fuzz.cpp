// Proxy settings (HTTPS_PROXY, a kubeconfig proxy-url, NO_PROXY): the first
// line is a proxy URL, the rest a NO_PROXY list. A parsed proxy's display()
// parses back to the same host and port; an error is the same whatever stands
// before the last '@' (the credentials); matching never fails.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "net/proxy.h"

namespace {

// The same text with every letter and digit moved to another of its class
// (hex digits stay hex digits), so the parser takes the same path through it.
std::string shifted(std::string_view text) {
  std::string out(text);
  auto rotate = [](char c, char first, char last) {
    return c == last ? first : static_cast<char>(c + 1);
  };
  for (char& c : out) {
    if (c >= '0' && c <= '9') c = rotate(c, '0', '9');
    else if (c >= 'a' && c <= 'f') c = rotate(c, 'a', 'f');
    else if (c >= 'g' && c <= 'z') c = rotate(c, 'g', 'z');
    else if (c >= 'A' && c <= 'F') c = rotate(c, 'A', 'F');
    else if (c >= 'G' && c <= 'Z') c = rotate(c, 'G', 'Z');
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto newline = text.find('\n');
  std::string_view url = text.substr(0, newline);
  std::string_view list = newline == std::string_view::npos ? "" : text.substr(newline + 1);

  auto proxy = sto::net::parse_proxy_url(url, "HTTPS_PROXY", 1080);
  if (proxy) {
    sto::fuzz::check(!proxy->host.empty() && proxy->port != 0, "proxy without host or port");
    auto again = sto::net::parse_proxy_url(proxy->display(), "HTTPS_PROXY", 1080);
    sto::fuzz::check(again.ok(), "display() does not parse: " + proxy->display());
    sto::fuzz::check(again->host == proxy->host && again->port == proxy->port,
                     "display() round trip changed it: " + proxy->display());
    (void)proxy->authorization();
  } else if (auto at = url.rfind('@'); at != std::string_view::npos) {
    // Everything before the last '@' may be credentials: the message must be
    // the same whatever they are. Other credentials of the same shape either
    // parse (a port that is now out of range) or give the very same message.
    auto scheme_end = url.find("://");
    std::size_t from = scheme_end != std::string_view::npos && scheme_end < at ? scheme_end + 3 : 0;
    std::string other(url);
    other.replace(from, at - from, shifted(url.substr(from, at - from)));
    auto other_error = sto::net::parse_proxy_url(other, "HTTPS_PROXY", 1080);
    sto::fuzz::check(other_error.ok() || other_error.error() == proxy.error(),
                     "an error depends on the credentials: " + proxy.error());
  }

  auto no_proxy = sto::net::NoProxy::parse(list);
  for (std::string_view host : {"iam.cloud.ibm.com", "10.96.0.1", "::1", "[fd00::1]", "localhost"}) {
    (void)no_proxy.matches(host, 443);
  }
  if (proxy) (void)no_proxy.matches(proxy->host, proxy->port);
  return 0;
}
