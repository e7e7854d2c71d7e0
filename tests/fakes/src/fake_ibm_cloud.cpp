#include "fake_ibm_cloud.h"

#include <algorithm>
#include <cctype>
#include <exception>

#include <spdlog/spdlog.h>

#include "admin_api.h"
#include "iam_api.h"
#include "monitoring_api.h"

namespace sto::fake {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

RequestRecord start_record(const Request& request, std::int64_t now_ms) {
  RequestRecord record;
  record.time_ms = now_ms;
  record.method = std::string(request.method_string());
  record.target = std::string(request.target());
  record.endpoint = endpoint_of(request);
  for (const auto& field : request) {
    std::string name = lower(field.name_string());
    record.headers.emplace_back(name, redact(name, field.value()));
  }
  auto content_type = header_value(request, "Content-Type");
  if (content_type && has_media_type(*content_type, "application/x-www-form-urlencoded")) {
    if (auto form = parse_form(request.body())) {
      for (auto& [name, value] : *form) record.form.emplace_back(name, redact(name, value));
    }
  }
  return record;
}

}  // namespace

std::string endpoint_of(const Request& request) {
  std::string_view path = path_of(request.target());
  if (path.starts_with(kTeamByNamePrefix) && path.size() > kTeamByNamePrefix.size()) {
    path = "/api/v2/teams/light/name/{name}";
  }
  return std::string(request.method_string()) + " " + std::string(path);
}

FakeIbmCloud::FakeIbmCloud(State initial, FakeOptions options)
    : world_(std::move(initial), options.max_recent_requests, std::move(options.clock)) {}

Response FakeIbmCloud::route(const Request& request, std::string_view path) {
  if (path == kIamTokenPath) return serve_iam_token(request, world_);
  if (is_monitoring_path(path)) return serve_monitoring(request, world_);
  return monitoring_error(http::status::not_found, "Not Found",
                          "No such endpoint: " + std::string(path));
}

Response FakeIbmCloud::fault_response(const Request& request, std::string_view path, int status,
                                      std::int64_t retry_after_seconds) {
  auto code = static_cast<http::status>(status);
  std::string reason(http::obsolete_reason(code));
  if (reason.empty() || reason == "<unknown-status>") reason = "Injected fault";
  Response response =
      path.starts_with("/identity/")
          ? iam_error(request, world_, code, "BXNIM" + std::to_string(status) + "0E",
                      "Injected fault: " + reason)
          : monitoring_error(code, reason, "Injected fault");
  if (retry_after_seconds > 0) {
    response.set(http::field::retry_after, std::to_string(retry_after_seconds));
  }
  return response;
}

Reply FakeIbmCloud::handle(const Request& request) {
  const std::string_view path = path_of(request.target());
  Reply reply;
  try {
    if (is_admin_path(path)) {
      reply.response = serve_admin(request, world_);
      spdlog::debug("{} {} -> {}", request.method_string(), request.target(),
                    reply.response.result_int());
      return reply;
    }

    RequestRecord record = start_record(request, world_.now_ms());
    bool answered = false;
    if (auto fault = world_.faults.hit(path)) {
      record.fault = true;
      reply.delay = fault->latency;
      reply.drop = fault->drop;
      if (fault->status != 0) {
        reply.response = fault_response(request, path, fault->status, fault->retry_after_seconds);
        answered = true;
      }
    }
    if (!reply.drop && !answered) reply.response = route(request, path);
    record.outcome = reply.drop ? "dropped" : std::to_string(reply.response.result_int());
    spdlog::debug("{} {} -> {}{}", record.method, record.target, record.outcome,
                  record.fault ? " (fault)" : "");
    world_.requests.record(std::move(record));
  } catch (const std::exception& e) {
    spdlog::error("{} {}: {}", request.method_string(), request.target(), e.what());
    reply = Reply{
        monitoring_error(http::status::internal_server_error, "Internal Server Error", e.what()),
        std::chrono::milliseconds(0), false};
  }
  return reply;
}

}  // namespace sto::fake
