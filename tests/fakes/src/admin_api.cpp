#include "admin_api.h"

#include <charconv>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace sto::fake {
namespace {

using json = nlohmann::json;

Response error(http::status status, std::string_view message) {
  return json_response(status, {{"error", message}});
}

Response ok(const json& body, http::status status = http::status::ok) {
  return json_response(status, body);
}

Response method_not_allowed(const Request& request, std::string_view allow) {
  auto response =
      error(http::status::method_not_allowed,
            std::string(request.method_string()) + " is not allowed on " +
                std::string(path_of(request.target())) + " (allowed: " + std::string(allow) + ")");
  response.set(http::field::allow, allow);
  return response;
}

Result<json, Response> json_body(const Request& request) {
  if (request.body().empty()) {
    return fail(error(http::status::bad_request, "request body: expected a JSON object"));
  }
  try {
    return json::parse(request.body());
  } catch (const json::parse_error& e) {
    // nlohmann's text starts with "[json.exception.parse_error.101] ".
    std::string_view what = e.what();
    if (auto close = what.find("] "); close != std::string_view::npos)
      what.remove_prefix(close + 2);
    return fail(error(http::status::bad_request, "request body: " + std::string(what)));
  }
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    auto slash = path.find('/');
    if (slash != 0) parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

Response serve_state(const Request& request, World& world) {
  if (request.method() == http::verb::get) return ok(to_json(world.state));
  if (request.method() != http::verb::put && request.method() != http::verb::post) {
    return method_not_allowed(request, "GET, PUT, POST");
  }
  auto body = json_body(request);
  if (!body) return std::move(body.error());
  auto patch = parse_state_json(*body);
  if (!patch) return error(http::status::bad_request, "request body: " + patch.error());
  if (request.method() == http::verb::put) {
    auto state = build_state(*patch);
    if (!state) return error(http::status::bad_request, "request body: " + state.error());
    world.state = std::move(state).value();
  } else if (auto merged = merge_state(world.state, *patch); !merged) {
    return error(http::status::bad_request, "request body: " + merged.error());
  }
  return ok(to_json(world.state));
}

Response serve_team_reset(const Request& request, World& world, std::string_view guid,
                          std::string_view id_text) {
  if (request.method() != http::verb::post) return method_not_allowed(request, "POST");
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || end != id_text.data() + id_text.size()) {
    return error(http::status::bad_request, "team id must be an integer");
  }
  Instance* instance = world.state.find_instance(guid);
  if (instance == nullptr) {
    return error(http::status::not_found, "no instance " + std::string(guid));
  }
  auto team = instance->teams.find(id);
  if (team == instance->teams.end()) {
    return error(http::status::not_found,
                 "no team " + std::to_string(id) + " in instance " + std::string(guid));
  }
  team->second.token = random_token();
  return ok({{"token", team->second.token}});
}

Response serve_faults(const Request& request, World& world) {
  switch (request.method()) {
    case http::verb::get: {
      json faults = json::array();
      for (const auto& rule : world.faults.rules()) faults.push_back(to_json(rule));
      return ok({{"faults", std::move(faults)}});
    }
    case http::verb::post: {
      auto body = json_body(request);
      if (!body) return std::move(body.error());
      auto rule = parse_fault(*body);
      if (!rule) return error(http::status::bad_request, "request body: " + rule.error());
      return ok(to_json(world.faults.add(std::move(rule).value())), http::status::created);
    }
    case http::verb::delete_:
      return ok({{"removed", world.faults.clear()}});
    default:
      return method_not_allowed(request, "GET, POST, DELETE");
  }
}

}  // namespace

bool is_admin_path(std::string_view path) {
  return path == kAdminPrefix.substr(0, kAdminPrefix.size() - 1) || path.starts_with(kAdminPrefix);
}

Response serve_admin(const Request& request, World& world) {
  const std::string_view path = path_of(request.target());
  const auto parts = split_path(path.substr(kAdminPrefix.size() - 1));
  const auto method = request.method();

  if (parts.size() == 1 && parts[0] == "state") return serve_state(request, world);
  if (parts.size() == 1 && parts[0] == "faults") return serve_faults(request, world);
  if (parts.size() == 5 && parts[0] == "instances" && parts[2] == "teams" && parts[4] == "reset") {
    return serve_team_reset(request, world, parts[1], parts[3]);
  }
  if (parts.size() == 2 && parts[0] == "iam" && parts[1] == "revoke") {
    if (method != http::verb::post) return method_not_allowed(request, "POST");
    return ok({{"revoked", world.access_tokens.revoke_all()}});
  }
  if (parts.size() == 1 && parts[0] == "requests") {
    if (method != http::verb::get) return method_not_allowed(request, "GET");
    return ok(world.requests.to_json());
  }
  if (parts.size() == 2 && parts[0] == "requests" && parts[1] == "reset") {
    if (method != http::verb::post) return method_not_allowed(request, "POST");
    world.requests.reset();
    return ok(json::object());
  }
  return error(http::status::not_found, "no admin endpoint " + std::string(path));
}

}  // namespace sto::fake
