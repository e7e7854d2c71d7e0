#include "kube/api_error.h"

#include <charconv>

#include <nlohmann/json.hpp>

#include "net/retry_after.h"

namespace sto::kube {

std::string_view to_string(ApiErrorKind kind) {
  switch (kind) {
    case ApiErrorKind::BadRequest:
      return "BadRequest";
    case ApiErrorKind::Unauthorized:
      return "Unauthorized";
    case ApiErrorKind::Forbidden:
      return "Forbidden";
    case ApiErrorKind::NotFound:
      return "NotFound";
    case ApiErrorKind::MethodNotAllowed:
      return "MethodNotAllowed";
    case ApiErrorKind::Conflict:
      return "Conflict";
    case ApiErrorKind::AlreadyExists:
      return "AlreadyExists";
    case ApiErrorKind::Gone:
      return "Gone";
    case ApiErrorKind::Invalid:
      return "Invalid";
    case ApiErrorKind::TooManyRequests:
      return "TooManyRequests";
    case ApiErrorKind::ServerError:
      return "ServerError";
    case ApiErrorKind::Timeout:
      return "Timeout";
    case ApiErrorKind::Transport:
      return "Transport";
    case ApiErrorKind::TooLarge:
      return "TooLarge";
    case ApiErrorKind::Decode:
      return "Decode";
    case ApiErrorKind::Other:
      return "Other";
  }
  return "Other";
}

bool ApiError::retryable() const {
  switch (kind) {
    case ApiErrorKind::Conflict:
    case ApiErrorKind::TooManyRequests:
    case ApiErrorKind::ServerError:
    case ApiErrorKind::Timeout:
    case ApiErrorKind::Transport:
    case ApiErrorKind::Gone:
      return true;
    default:
      return false;
  }
}

std::string ApiError::describe() const {
  std::string out(to_string(kind));
  if (status != 0) out += " (" + std::to_string(status) + ")";
  if (!message.empty()) out += ": " + message;
  for (const auto& c : causes) {
    out += "; " + (c.field.empty() ? std::string() : c.field + ": ") + c.message;
  }
  return out;
}

namespace {

ApiErrorKind kind_for(int status, std::string_view reason) {
  switch (status) {
    case 400:
      return ApiErrorKind::BadRequest;
    case 401:
      return ApiErrorKind::Unauthorized;
    case 403:
      return ApiErrorKind::Forbidden;
    case 404:
      return ApiErrorKind::NotFound;
    case 405:
      return ApiErrorKind::MethodNotAllowed;
    case 409:
      return reason == "AlreadyExists" ? ApiErrorKind::AlreadyExists : ApiErrorKind::Conflict;
    case 410:
      return ApiErrorKind::Gone;
    case 422:
      return ApiErrorKind::Invalid;
    case 429:
      return ApiErrorKind::TooManyRequests;
    case 504:
      return ApiErrorKind::Timeout;
    default:
      if (reason == "Expired" || reason == "Gone") return ApiErrorKind::Gone;
      if (status >= 500) return ApiErrorKind::ServerError;
      return ApiErrorKind::Other;
  }
}

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

ApiError api_error_from_response(int status, std::string_view body,
                                 std::optional<std::string_view> retry_after_header) {
  ApiError e;
  e.status = status;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && str(j, "kind") == "Status") {
    e.reason = str(j, "reason");
    e.message = str(j, "message");
    if (auto code = j.find("code"); code != j.end() && code->is_number_integer() && status == 200) {
      e.status = code->get<int>();  // a Status inside a watch ERROR event
    }
    if (auto d = j.find("details"); d != j.end() && d->is_object()) {
      if (auto cs = d->find("causes"); cs != d->end() && cs->is_array()) {
        for (const auto& c : *cs) {
          if (!c.is_object()) continue;
          e.causes.push_back({str(c, "field"), str(c, "reason"), str(c, "message")});
        }
      }
      if (auto ra = d->find("retryAfterSeconds"); ra != d->end() && ra->is_number_integer()) {
        e.retry_after = std::chrono::seconds(ra->get<long>());
      }
    }
  } else {
    std::string_view snippet = body.substr(0, 200);
    e.message = std::string(snippet);
  }
  if (retry_after_header) {
    if (auto wait = net::parse_retry_after(*retry_after_header, std::chrono::system_clock::now()))
      e.retry_after = *wait;
  }
  e.kind = kind_for(e.status, e.reason);
  if (e.message.empty()) e.message = "HTTP " + std::to_string(e.status);
  return e;
}

}  // namespace sto::kube
