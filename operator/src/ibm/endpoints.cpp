#include "ibm/endpoints.h"

#include <algorithm>
#include <array>

#include "net/http_client.h"

namespace sto::ibm {
namespace {

constexpr std::array<std::string_view, 11> kRegions = {"us-south", "us-east", "eu-de",  "eu-gb",
                                                       "eu-es",    "ca-mon",  "ca-tor", "jp-osa",
                                                       "jp-tok",   "br-sao",  "au-syd"};

// The regions of IBM's "Supported regions and endpoints for Workload
// Protection" page.
constexpr std::array<std::string_view, 10> kSecureRegions = {
    "us-south", "us-east", "eu-de", "eu-gb", "eu-es",
    "ca-tor",   "jp-osa",  "jp-tok", "br-sao", "au-syd"};

std::string region_list(std::span<const std::string_view> regions) {
  std::string out;
  for (auto region : regions) {
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

Result<std::string, std::string> service_endpoint(std::string_view region, EndpointType type,
                                                  bool workload_protection) {
  const std::span<const std::string_view> regions =
      workload_protection ? std::span<const std::string_view>(kSecureRegions) : kRegions;
  if (std::find(regions.begin(), regions.end(), region) == regions.end()) {
    return fail("unknown region \"" + std::string(region) + "\" (known" +
                (workload_protection ? " for WorkloadProtection" : "") + ": " +
                region_list(regions) + "; or give the endpoint URL)");
  }
  std::string host = std::string(region) +
                     (workload_protection ? ".security-compliance-secure.cloud.ibm.com"
                                          : ".monitoring.cloud.ibm.com");
  if (type == EndpointType::Private) host = "private." + host;
  return "https://" + host;
}

Result<std::string, std::string> monitoring_endpoint(std::string_view region, EndpointType type) {
  return service_endpoint(region, type, false);
}

Result<std::string, std::string> workload_protection_endpoint(std::string_view region,
                                                              EndpointType type) {
  return service_endpoint(region, type, true);
}

std::string region_of(std::string_view endpoint) {
  auto url = net::Url::parse(endpoint);
  if (!url) return {};
  std::string_view host = url->host;
  if (host.starts_with("private.")) host.remove_prefix(8);
  for (std::string_view domain :
       {".monitoring.cloud.ibm.com", ".security-compliance-secure.cloud.ibm.com"}) {
    if (host.ends_with(domain)) {
      std::string_view region = host.substr(0, host.size() - domain.size());
      if (is_monitoring_region(region)) return std::string(region);
    }
  }
  return {};
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
