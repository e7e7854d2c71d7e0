// Where IBM Cloud lives: the Monitoring regions and their public and private
// endpoints, the IAM endpoints, and the checks an explicit endpoint URL
// (spec.endpoint, spec.iamEndpoint) must pass.
//
// Endpoints are handled as normalized base URLs, "https://host" or
// "https://host:port": lower-case host, no path, no trailing slash, so that two
// spellings of one endpoint share caches.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sto::ibm {

enum class EndpointType { Public, Private };

inline constexpr std::string_view kIamEndpoint = "https://iam.cloud.ibm.com";
inline constexpr std::string_view kPrivateIamEndpoint = "https://private.iam.cloud.ibm.com";

// The regions of IBM's "Regions for IBM Cloud Monitoring" page: us-south,
// us-east, eu-de, eu-gb, eu-es, ca-mon, ca-tor, jp-osa, jp-tok, br-sao, au-syd.
std::span<const std::string_view> monitoring_regions();
bool is_monitoring_region(std::string_view region);

// "https://<region>.monitoring.cloud.ibm.com" or
// "https://private.<region>.monitoring.cloud.ibm.com"; the error names the
// known regions.
Result<std::string, std::string> monitoring_endpoint(std::string_view region, EndpointType type);

// The same for IBM Cloud Security and Compliance Center Workload Protection
// (Sysdig Secure): "https://[private.]<region>.security-compliance-secure.cloud.ibm.com",
// for the regions of IBM's Workload Protection page (us-south, us-east,
// eu-de, eu-gb, eu-es, ca-tor, jp-osa, jp-tok, br-sao, au-syd).
Result<std::string, std::string> workload_protection_endpoint(std::string_view region,
                                                              EndpointType type);

// The region an IBM endpoint URL names ("https://private.eu-de.monitoring...":
// "eu-de"), or empty.
std::string region_of(std::string_view endpoint);

// kIamEndpoint or kPrivateIamEndpoint.
std::string_view iam_endpoint(EndpointType type);

// Checks and normalizes an explicit endpoint URL: https only, a host, an
// optional port, no credentials, no path (other than "/"), query or fragment.
// The error says what is wrong with it.
Result<std::string, std::string> normalize_endpoint(std::string_view url);

// normalize_endpoint for a Monitoring endpoint, which IBM's docs write with
// the API's path: "https://us-south.monitoring.cloud.ibm.com/api" (or
// "/api/") means the same base URL as without it.
Result<std::string, std::string> normalize_monitoring_endpoint(std::string_view url);

}  // namespace sto::ibm
