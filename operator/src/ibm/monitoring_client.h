// MonitoringClient: what the controller asks of IBM Cloud Monitoring.
//
// The interface is the seam the reconciler's unit tests fake;
// make_monitoring_client() is the operator's implementation, which
// - gets IAM access tokens from an IamTokenSource (one per API key, shared);
// - on a 401 from Monitoring drops the IAM token, fetches a fresh one and
//   retries once (a token revoked or expired early), then gives up with
//   APIKeyInvalid;
// - coalesces concurrent identical calls: callers asking for the same team of
//   the same instance at the same endpoints with the same API key share one
//   request. The key includes the credential's identity (the SHA-256 of the
//   API key, or the trusted profile and ServiceAccount), so resources with
//   different keys never share an answer: a resource whose key is invalid
//   fails even while another resource fetches the same team's token with a
//   good one;
// - shares answers across calls that come shortly after each other: a caller
//   says how old an answer it accepts (`max_age`, counted from when the
//   request was sent) — a resource created next to 19 others of the same team
//   takes the token one of them just fetched, while a reset asks for 0 and
//   gets a request sent after it asked. Successful answers are kept at most
//   kMaxShareAge; failures are never shared beyond the call in flight.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "ibm/credential.h"
#include "ibm/errors.h"

namespace sto::ibm {

class HttpGateway;
class IamTokenSource;

// A Monitoring instance and where to reach it and its IAM.
struct InstanceRef {
  std::string endpoint;      // Monitoring base URL, "https://us-south.monitoring.cloud.ibm.com"
  std::string iam_endpoint;  // IAM base URL, "https://iam.cloud.ibm.com"
  std::string instance_id;   // IBMInstanceID: the instance's GUID
};

struct TeamRef {
  InstanceRef instance;
  std::int64_t team_id = 0;  // sent as TeamID and SysdigTeamID
};

// The oldest shared answer any caller can get.
inline constexpr std::chrono::seconds kMaxShareAge{60};

class MonitoringClient {
 public:
  virtual ~MonitoringClient() = default;

  // The team's Monitor API token. Errors: InvalidSpec, APIKeyInvalid,
  // AccessDenied (403, IAM_ONLY instances, untrusted profiles), TeamNotFound,
  // EndpointNotAllowed, RateLimited, IAMUnavailable, MonitoringUnavailable,
  // ServiceAccountTokenFailed.
  virtual boost::asio::awaitable<Result<std::string, IbmError>> fetch_token(
      const TeamRef& team, const Credential& credential, std::chrono::milliseconds max_age) = 0;

  // The id of the team named `team_name` (exact name). Errors as fetch_token.
  virtual boost::asio::awaitable<Result<std::int64_t, IbmError>> find_team_id(
      const InstanceRef& instance, const std::string& team_name, const Credential& credential,
      std::chrono::milliseconds max_age) = 0;
};

std::shared_ptr<MonitoringClient> make_monitoring_client(std::shared_ptr<HttpGateway> gateway,
                                                         std::shared_ptr<IamTokenSource> iam);

}  // namespace sto::ibm
