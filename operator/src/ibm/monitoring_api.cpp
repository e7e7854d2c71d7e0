#include "ibm/monitoring_api.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "ibm/wire_text.h"
#include "net/retry_after.h"

namespace sto::ibm {
namespace {

using json = nlohmann::json;

net::Headers monitoring_headers(std::string_view access_token, std::string_view instance_id) {
  return {{"Authorization", "Bearer " + std::string(access_token)},
          {"IBMInstanceID", std::string(instance_id)},
          {"Accept", "application/json"}};
}

std::string quote(std::string_view text, const MonitoringCall& call, std::size_t max = 300) {
  return quote_server_text(text, {call.api_key, call.access_token}, max);
}

// The first error message of Monitoring's error body ({"errors":[{...}]}),
// or of the other shapes Sysdig uses ({"message":...}, {"error":...}), or a
// piece of the body.
std::string describe_error_body(const net::HttpResponse& response, const MonitoringCall& call) {
  json body = json::parse(response.body, nullptr, false);
  if (body.is_object()) {
    if (auto errors = body.find("errors");
        errors != body.end() && errors->is_array() && !errors->empty()) {
      const json& first = (*errors)[0];
      if (first.is_object()) {
        for (const char* field : {"message", "reason"}) {
          auto it = first.find(field);
          if (it != first.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
            return quote(it->get_ref<const std::string&>(), call);
          }
        }
      }
    }
    for (const char* field : {"message", "error"}) {
      auto it = body.find(field);
      if (it != body.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
        return quote(it->get_ref<const std::string&>(), call);
      }
    }
  }
  std::string text = quote(response.body, call, 200);
  return text.empty() ? "no details" : text;
}

IbmError bad_answer(const MonitoringCall& call, const std::string& problem) {
  return make_error(IbmErrorKind::MonitoringUnavailable,
                    "Monitoring answer " + problem + " (" + std::string(call.endpoint) + ", " +
                        std::string(call.subject) + ")",
                    200);
}

Result<json, IbmError> parse_object(const net::HttpResponse& response, const MonitoringCall& call) {
  json body = json::parse(response.body, nullptr, false);
  if (!body.is_object()) return fail(bad_answer(call, "is not a JSON object"));
  return body;
}

}  // namespace

net::HttpRequest monitor_token_request(std::string_view access_token, std::string_view instance_id,
                                       std::int64_t team_id) {
  net::HttpRequest request;
  request.method = "GET";
  request.target = std::string(kTokenPath);
  request.headers = monitoring_headers(access_token, instance_id);
  // IBM's current docs name the header TeamID, older ones SysdigTeamID; a
  // service that honours only the other would silently answer with the
  // caller's default team, so both carry the same value.
  const std::string team = std::to_string(team_id);
  request.headers.push_back({"TeamID", team});
  request.headers.push_back({"SysdigTeamID", team});
  return request;
}

net::HttpRequest team_by_name_request(std::string_view access_token, std::string_view instance_id,
                                      std::string_view team_name) {
  net::HttpRequest request;
  request.method = "GET";
  request.target = std::string(kTeamByNamePath) + percent_encode(team_name);
  request.headers = monitoring_headers(access_token, instance_id);
  return request;
}

IbmError monitoring_error(const net::HttpResponse& response, const MonitoringCall& call) {
  const int status = response.status;
  const std::string details = describe_error_body(response, call);
  const std::string suffix =
      " (" + details + ", HTTP " + std::to_string(status) + ", " + std::string(call.endpoint) + ")";
  const std::string subject(call.subject);
  IbmError error;
  switch (status) {
    case 400:
      error = make_error(IbmErrorKind::InvalidSpec,
                         "Monitoring rejected the request for " + subject + suffix, status);
      break;
    case 401:
      error = make_error(
          IbmErrorKind::APIKeyInvalid,
          "Monitoring does not accept the IAM token of this API key for " + subject + suffix,
          status);
      break;
    case 403:
      error = make_error(IbmErrorKind::AccessDenied,
                         "Monitoring denied access to " + subject +
                             ": the API key lacks permission, or the instance allows IAM only "
                             "(externalApiAuth IAM_ONLY)" +
                             suffix,
                         status);
      break;
    case 404:
      error =
          make_error(IbmErrorKind::TeamNotFound, "Monitoring has no " + subject + suffix, status);
      break;
    case 429:
      error =
          make_error(IbmErrorKind::RateLimited,
                     "Monitoring is limiting the rate of requests for " + subject + suffix, status);
      break;
    default:
      error = make_error(IbmErrorKind::MonitoringUnavailable,
                         "Monitoring answered HTTP " + std::to_string(status) + " for " + subject +
                             " (" + details + ", " + std::string(call.endpoint) + ")",
                         status);
      break;
  }
  if (status == 429 || status >= 500) {
    if (auto header = response.header("Retry-After")) {
      error.retry_after = net::parse_retry_after(*header, std::chrono::system_clock::now());
    }
  }
  return error;
}

Result<std::string, IbmError> read_monitor_token_response(const net::HttpResponse& response,
                                                          const MonitoringCall& call) {
  if (response.status != 200) return fail(monitoring_error(response, call));
  auto body = parse_object(response, call);
  if (!body) return fail(std::move(body.error()));
  auto token = body->find("token");
  if (token == body->end() || !token->is_object()) return fail(bad_answer(call, "lacks token"));
  auto key = token->find("key");
  if (key == token->end() || !key->is_string()) return fail(bad_answer(call, "lacks token.key"));
  auto& value = key->get_ref<std::string&>();
  if (!is_header_safe(value, kMaxMonitorTokenSize)) {
    return fail(bad_answer(call, "has a token.key that is empty, too long or not printable"));
  }
  // Moved out of the parsed answer, so that no copy is left behind.
  return std::move(value);
}

Result<std::int64_t, IbmError> read_team_response(const net::HttpResponse& response,
                                                  const MonitoringCall& call) {
  if (response.status != 200) return fail(monitoring_error(response, call));
  auto body = parse_object(response, call);
  if (!body) return fail(std::move(body.error()));
  auto team = body->find("team");
  if (team == body->end() || !team->is_object()) return fail(bad_answer(call, "lacks team"));
  auto id = team->find("id");
  if (id == team->end() || !id->is_number_integer()) {
    return fail(bad_answer(call, "lacks team.id"));
  }
  std::int64_t value = id->get<std::int64_t>();
  if (value <= 0) return fail(bad_answer(call, "has a team.id that is not positive"));
  return value;
}

}  // namespace sto::ibm
