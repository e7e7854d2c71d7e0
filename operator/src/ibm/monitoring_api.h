// The Monitoring (Sysdig) API's wire format (DESIGN §1): the requests for a
// team's Monitor API token and for a team by name, and what the answers mean.
//
//   GET <endpoint>/api/token
//   Authorization: Bearer <IAM access token>, IBMInstanceID: <guid>, TeamID and SysdigTeamID: <id>
//   -> {"token":{"key":"..."}}
//   GET <endpoint>/api/v2/teams/light/name/<percent-encoded name>
//   -> {"team":{"id":26055,"name":"Ops",...}}
//   errors -> {"errors":[{"reason":"...","message":"..."}]}
//
// Pure functions of the request and answer, so every outcome is testable
// without a server.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "ibm/errors.h"
#include "net/http_client.h"

namespace sto::ibm {

inline constexpr std::string_view kTokenPath = "/api/token";
inline constexpr std::string_view kTeamByNamePath = "/api/v2/teams/light/name/";
inline constexpr std::size_t kMaxMonitorTokenSize = 4096;

net::HttpRequest monitor_token_request(std::string_view access_token, std::string_view instance_id,
                                       std::int64_t team_id);
net::HttpRequest team_by_name_request(std::string_view access_token, std::string_view instance_id,
                                      std::string_view team_name);

// What the caller asked for and with which credentials, for messages (which
// name the subject and never quote the secrets).
struct MonitoringCall {
  std::string_view endpoint;
  std::string_view subject;  // "team 26055 of instance 7a1f..."
  std::string_view api_key;
  std::string_view access_token;
};

// The team's Monitor API token in a 200 answer, or what went wrong (see
// monitoring_error).
Result<std::string, IbmError> read_monitor_token_response(const net::HttpResponse& response,
                                                          const MonitoringCall& call);
// The team's id in a 200 answer, or what went wrong (see monitoring_error).
Result<std::int64_t, IbmError> read_team_response(const net::HttpResponse& response,
                                                  const MonitoringCall& call);

// A non-200 answer as an error: 400 InvalidSpec, 401 APIKeyInvalid (after the
// caller retried with a fresh IAM token), 403 AccessDenied (including
// instances set to IAM_ONLY), 404 TeamNotFound, 429 RateLimited, anything
// else MonitoringUnavailable. Retry-After is carried over.
IbmError monitoring_error(const net::HttpResponse& response, const MonitoringCall& call);

}  // namespace sto::ibm
