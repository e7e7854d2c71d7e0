#include "monitoring_api.h"

#include <charconv>
#include <functional>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace sto::fake {
namespace {

using json = nlohmann::json;

constexpr std::string_view kJson = "application/json;charset=UTF-8";
constexpr std::int64_t kCustomerId = 1;

// The caller, once its credentials check out.
struct Caller {
  AccessTokenClaims claims;
  const Instance* instance = nullptr;
};

Response unauthorized(std::string_view message) {
  return monitoring_error(http::status::unauthorized, "Unauthorized", message);
}

Result<Caller, Response> authorize(const Request& request, const World& world) {
  auto authorization = header_value(request, "Authorization");
  if (!authorization) return fail(unauthorized("Missing Authorization header"));
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization->size() <= kBearer.size() ||
      !equals_ignoring_case(authorization->substr(0, kBearer.size()), kBearer)) {
    return fail(unauthorized("Authorization header must be 'Bearer <IAM access token>'"));
  }
  auto claims =
      world.access_tokens.verify(authorization->substr(kBearer.size()), world.now_seconds());
  if (!claims) return fail(unauthorized(describe(claims.error())));

  auto guid = header_value(request, "IBMInstanceID");
  if (!guid || guid->empty()) {
    return fail(monitoring_error(http::status::bad_request, "Bad Request",
                                 "IBMInstanceID header is required with an IAM access token"));
  }
  const Instance* instance = world.state.find_instance(*guid);
  if (instance == nullptr) {
    return fail(monitoring_error(http::status::not_found, "Not Found",
                                 "Monitoring instance " + std::string(*guid) + " not found"));
  }
  return Caller{std::move(claims).value(), instance};
}

// The team header the instance honours: TeamID, SysdigTeamID or (Both)
// either, TeamID first. Another header is ignored, as by a Sysdig that does
// not know it.
std::optional<std::pair<std::string_view, std::string_view>> team_header(const Request& request,
                                                                        const Instance& instance) {
  for (std::string_view name : {"TeamID", "SysdigTeamID"}) {
    const bool honoured = instance.team_header == TeamHeader::Both ||
                          (name == "TeamID") == (instance.team_header == TeamHeader::TeamID);
    if (!honoured) continue;
    if (auto value = header_value(request, name)) return std::pair{name, *value};
  }
  return std::nullopt;
}

// The team named by the honoured team header, or the instance's default team
// without it.
Result<const Team*, Response> selected_team(const Request& request, const Instance& instance) {
  auto header = team_header(request, instance);
  if (!header) {
    if (const Team* team = instance.default_team()) return team;
    return fail(monitoring_error(http::status::not_found, "Not Found",
                                 "Monitoring instance " + instance.guid + " has no teams"));
  }
  const auto [name, value] = *header;
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), id);
  if (ec != std::errc() || end != value.data() + value.size()) {
    return fail(monitoring_error(http::status::bad_request, "Bad Request",
                                 std::string(name) + " must be an integer"));
  }
  const Team* team = instance.find_team(id);
  if (team == nullptr) {
    return fail(monitoring_error(http::status::not_found, "Not Found",
                                 "Team " + std::to_string(id) + " not found"));
  }
  return team;
}

json team_json(const Instance& instance, const Team& team) {
  return {{"id", team.id},      {"name", team.name},
          {"description", ""},  {"default", &team == instance.default_team()},
          {"immutable", false}, {"products", {"SDC"}},
          {"origin", "SYSDIG"}, {"customerId", kCustomerId},
          {"version", 1}};
}

Response ok(const json& body) { return json_response(http::status::ok, body, kJson); }

Response serve_token(const Request& request, const Caller& caller) {
  if (caller.instance->external_api_auth == ExternalApiAuth::IamOnly) {
    return monitoring_error(http::status::forbidden, "Not enough privileges to complete the action",
                            "Access is denied");
  }
  auto team = selected_team(request, *caller.instance);
  if (!team) return std::move(team.error());
  return ok({{"token", {{"key", (*team)->token}}}});
}

Response serve_teams(const Caller& caller) {
  json teams = json::array();
  for (const auto& [id, team] : caller.instance->teams) {
    teams.push_back(team_json(*caller.instance, team));
  }
  return ok({{"teams", std::move(teams)}});
}

Response serve_team_by_name(std::string_view encoded_name, const Caller& caller) {
  auto name = percent_decode(encoded_name, false);
  if (!name || name->empty()) {
    return monitoring_error(http::status::bad_request, "Bad Request", "Malformed team name");
  }
  const Team* team = caller.instance->find_team_by_name(*name);
  if (team == nullptr) {
    return monitoring_error(http::status::not_found, "Not Found",
                            "Team with name " + *name + " not found");
  }
  return ok({{"team", team_json(*caller.instance, *team)}});
}

Response serve_users_me(const Request& request, const Caller& caller) {
  json current = nullptr;
  if (team_header(request, *caller.instance) || caller.instance->default_team() != nullptr) {
    auto team = selected_team(request, *caller.instance);
    if (!team) return std::move(team.error());
    current = (*team)->id;
  }
  json roles = json::array();
  for (const auto& [id, team] : caller.instance->teams) {
    roles.push_back({{"teamId", id}, {"teamName", team.name}, {"role", "ROLE_TEAM_EDIT"}});
  }
  const auto& iam_id = caller.claims.iam_id;
  json user = {{"id", static_cast<std::int64_t>(std::hash<std::string>{}(iam_id) % 1'000'000)},
               {"username", iam_id},
               {"name", iam_id},
               {"customerId", kCustomerId},
               {"enabled", true},
               {"currentTeam", current},
               {"teamRoles", std::move(roles)}};
  return ok({{"user", std::move(user)}});
}

}  // namespace

bool is_monitoring_path(std::string_view path) { return path.starts_with("/api/"); }

Response monitoring_error(http::status status, std::string_view reason, std::string_view message) {
  return json_response(status, {{"errors", {{{"reason", reason}, {"message", message}}}}}, kJson);
}

Response serve_monitoring(const Request& request, World& world) {
  const std::string_view path = path_of(request.target());
  enum class Route { Token, Teams, TeamByName, UsersMe } route;
  if (path == "/api/token") {
    route = Route::Token;
  } else if (path == "/api/teams") {
    route = Route::Teams;
  } else if (path == "/api/users/me") {
    route = Route::UsersMe;
  } else if (path.starts_with(kTeamByNamePrefix) && path.size() > kTeamByNamePrefix.size() &&
             path.find('/', kTeamByNamePrefix.size()) == std::string_view::npos) {
    route = Route::TeamByName;
  } else {
    return monitoring_error(http::status::not_found, "Not Found",
                            "No such endpoint: " + std::string(path));
  }
  if (request.method() != http::verb::get) {
    auto response = monitoring_error(http::status::method_not_allowed, "Method Not Allowed",
                                     "Only GET is supported on " + std::string(path));
    response.set(http::field::allow, "GET");
    return response;
  }

  auto caller = authorize(request, world);
  if (!caller) return std::move(caller.error());
  switch (route) {
    case Route::Token:
      return serve_token(request, *caller);
    case Route::Teams:
      return serve_teams(*caller);
    case Route::TeamByName:
      return serve_team_by_name(path.substr(kTeamByNamePrefix.size()), *caller);
    case Route::UsersMe:
      return serve_users_me(request, *caller);
  }
  return monitoring_error(http::status::not_found, "Not Found", "No such endpoint");
}

}  // namespace sto::fake
