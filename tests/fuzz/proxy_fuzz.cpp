// Proxy settings (HTTPS_PROXY, a kubeconfig proxy-url, NO_PROXY): the first
// line is a proxy URL, the rest a NO_PROXY list. A parsed proxy's display()
// parses back to the same host and port; an error never repeats what stands
// before the '@' (the credentials); matching never fails.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "net/proxy.h"

namespace {

// Whether `needle` occurs in `error` within one of the pieces left when every
// quotation of `rest` (what follows the '@') is cut out: user info made of
// the message's words and the start of the quoted host is chance, not a leak.
bool outside_quoted_rest(std::string_view error, std::string_view needle, std::string_view rest) {
  if (rest.empty()) return error.find(needle) != std::string_view::npos;
  for (;;) {
    auto cut = error.find(rest);
    if (error.substr(0, cut).find(needle) != std::string_view::npos) return true;
    if (cut == std::string_view::npos) return false;
    error.remove_prefix(cut + rest.size());
  }
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
    auto scheme_end = url.find("://");
    std::size_t from = scheme_end != std::string_view::npos && scheme_end < at ? scheme_end + 3 : 0;
    std::string_view userinfo = url.substr(from, at - from);
    // Short ones may occur in the rest of the message by chance, and what
    // follows the '@' is quoted.
    // And the message's own words may happen to be the user info: the same
    // URL with other credentials must not show it either.
    std::string other(url);
    other.replace(from, userinfo.size(), std::string(userinfo.size(), 'x'));
    auto other_error = sto::net::parse_proxy_url(other, "HTTPS_PROXY", 1080);
    const bool in_own_words =
        !other_error.ok() && other_error.error().find(userinfo) != std::string::npos;
    if (userinfo.size() >= 12 && !in_own_words &&
        url.substr(at).find(userinfo) == std::string_view::npos &&
        url.substr(0, from).find(userinfo) == std::string_view::npos) {
      sto::fuzz::check(!outside_quoted_rest(proxy.error(), userinfo, url.substr(at + 1)),
                       "an error repeats the credentials: " + proxy.error());
    }
  }

  auto no_proxy = sto::net::NoProxy::parse(list);
  for (std::string_view host : {"iam.cloud.ibm.com", "10.96.0.1", "::1", "[fd00::1]", "localhost"}) {
    (void)no_proxy.matches(host, 443);
  }
  if (proxy) (void)no_proxy.matches(proxy->host, proxy->port);
  return 0;
}
