// The IBM Cloud Monitoring (Sysdig) endpoints the operator uses, authorized by
// an IAM access token (`Authorization: Bearer`) plus `IBMInstanceID`:
//   GET /api/token                       the team's Monitor API token
//   GET /api/teams                       the instance's teams
//   GET /api/v2/teams/light/name/{name}  one team by name
//   GET /api/users/me                    the caller, with its current team
// Errors use Sysdig's body `{"errors":[{"reason":...,"message":...}]}`.
#pragma once

#include <string_view>

#include "http_messages.h"
#include "world.h"

namespace sto::fake {

inline constexpr std::string_view kTeamByNamePrefix = "/api/v2/teams/light/name/";

// Whether `path` belongs to the Monitoring API (the /api/ tree).
bool is_monitoring_path(std::string_view path);

Response serve_monitoring(const Request& request, World& world);

// A Monitoring-shaped error answer (also used for injected faults).
Response monitoring_error(http::status status, std::string_view reason, std::string_view message);

}  // namespace sto::fake
