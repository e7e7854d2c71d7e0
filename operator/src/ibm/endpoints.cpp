#include "ibm/endpoints.h"

#include <algorithm>
#include <array>

#include "net/http_client.h"

namespace sto::ibm {
namespace {

constexpr std::array<std::string_view, 11> kRegions = {"us-south", "us-east", "eu-de",  "eu-gb",
                                                       "eu-es",    "ca-mon",  "ca-tor", "jp-osa",
                                                       "jp-tok",   "br-sao",  "au-syd"};

std::string region_list() {
  std::string out;
  for (auto region : kRegions) {
    if (!out.empty()) out += ", ";
    out += region;
  }
  return out;
}

}  // namespace

std::span<const std::string_view> monitoring_regions() { return kRegions; }

bool is_monitoring_region(std::string_view region) {
  return std::find(kRegions.begin(), kRegions.end(), region) != kRegions.end();
}

Result<std::string, std::string> monitoring_endpoint(std::string_view region, EndpointType type) {
  if (!is_monitoring_region(region)) {
    return fail("unknown region \"" + std::string(region) + "\" (known: " + region_list() +
                "; or give the endpoint URL)");
  }
  std::string host = std::string(region) + ".monitoring.cloud.ibm.com";
  if (type == EndpointType::Private) host = "private." + host;
  return "https://" + host;
}

std::string_view iam_endpoint(EndpointType type) {
  return type == EndpointType::Private ? kPrivateIamEndpoint : kIamEndpoint;
}

Result<std::string, std::string> normalize_endpoint(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  if (text.empty()) return fail(std::string("endpoint URL is empty"));
  if (std::any_of(text.begin(), text.end(),
                  [](unsigned char c) { return c <= 0x20 || c >= 0x7f; })) {
    return fail(quoted + ": endpoint URL contains spaces or control characters");
  }
  auto url = net::Url::parse(text);
  if (!url) return fail(url.error());
  if (url->scheme != "https") return fail(quoted + ": endpoint URL must use https");
  if (text.find_first_of("?#") != std::string_view::npos) {
    return fail(quoted + ": endpoint URL must not have a query or fragment");
  }
  if (url->path != "/") {
    return fail(quoted + ": endpoint URL must not have a path (expected https://HOST[:PORT])");
  }
  if (url->host.back() == '.') url->host.pop_back();
  if (url->host.empty() || url->host.front() == '.' || url->host.back() == '.') {
    return fail(quoted + ": endpoint URL has an invalid host");
  }
  return "https://" + url->host_header();
}

Result<std::string, std::string> normalize_monitoring_endpoint(std::string_view url) {
  // Only a suffix after "scheme://host": "https:///api" keeps its path and
  // is refused for its empty host.
  const auto scheme_end = url.find("://");
  for (std::string_view suffix : {"/api", "/api/"}) {
    if (scheme_end != std::string_view::npos && url.ends_with(suffix) &&
        scheme_end + 3 < url.size() - suffix.size()) {
      return normalize_endpoint(url.substr(0, url.size() - suffix.size()));
    }
  }
  return normalize_endpoint(url);
}

}  // namespace sto::ibm
