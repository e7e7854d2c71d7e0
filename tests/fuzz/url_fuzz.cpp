// URLs (spec.endpoint, spec.iamEndpoint, kubeconfig server): a parsed URL's
// origin and path parse back to the same URL.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "net/http_client.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto url = sto::net::Url::parse(text);
  if (!url) return 0;
  sto::fuzz::check(!url->host.empty() && url->port != 0, "parsed URL without host or port");
  sto::fuzz::check(!url->path.empty() && url->path.front() == '/', "path does not start with /");
  std::string again_text = url->origin() + url->path;
  auto again = sto::net::Url::parse(again_text);
  sto::fuzz::check(again.ok(), "origin()+path does not parse: " + again_text);
  sto::fuzz::check(again->scheme == url->scheme && again->host == url->host &&
                       again->port == url->port && again->path == url->path,
                   "URL round trip changed it: " + again_text);
  (void)url->host_header();
  return 0;
}
