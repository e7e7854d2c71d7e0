// ApiError: a failed Kubernetes API call as a value. The kind comes from the
// HTTP status and the API's Status object (reason, field causes,
// Retry-After); transport failures and undecodable answers have kinds too.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sto::kube {

enum class ApiErrorKind {
  BadRequest,        // 400
  Unauthorized,      // 401
  Forbidden,         // 403
  NotFound,          // 404
  MethodNotAllowed,  // 405
  Conflict,          // 409, reason Conflict (stale resourceVersion)
  AlreadyExists,     // 409, reason AlreadyExists
  Gone,              // 410 (resourceVersion too old / expired continue token)
  Invalid,           // 422, with field causes
  TooManyRequests,   // 429, with Retry-After
  ServerError,       // 5xx
  Timeout,           // 504 or a client-side deadline
  Transport,         // connection, TLS or protocol failure
  TooLarge,          // an answer larger than the client accepts
  Decode,            // an answer that is not the JSON it should be
  Other,
};

struct StatusCause {
  std::string field;
  std::string reason;
  std::string message;
};

struct ApiError {
  ApiErrorKind kind = ApiErrorKind::Other;
  int status = 0;  // HTTP status; 0 for client-side failures
  std::string reason;
  std::string message;
  std::vector<StatusCause> causes;
  std::optional<std::chrono::seconds> retry_after;

  // Whether trying again later can succeed without changing the request.
  bool retryable() const;
  // "NotFound (404): secrets \"x\" not found" plus causes.
  std::string describe() const;
};

std::string_view to_string(ApiErrorKind kind);

// Builds the error for an HTTP answer that is not 2xx: decodes a
// metav1.Status body when there is one, and the Retry-After header.
ApiError api_error_from_response(int status, std::string_view body,
                                 std::optional<std::string_view> retry_after_header);

}  // namespace sto::kube
