// IbmError: how a call to IBM Cloud failed, as a value.
//
// The kind is the Ready=False reason the controller reports (DESIGN §2), so it
// maps one to one; `retryable` says whether trying again later can help (the
// controller backs off) or whether a person has to change something first.
// A message is written for that person and never holds an API key, an IAM
// access token or a Monitor API token.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sto::ibm {

enum class IbmErrorKind {
  InvalidSpec,            // an endpoint, instance or team the request cannot be made with
  APIKeyInvalid,          // IAM does not know the key (or Monitoring rejects what it yields)
  AccessDenied,           // 403: the key may not do this; instances set to IAM_ONLY
  TeamNotFound,           // no such team (or instance) in Monitoring
  EndpointNotAllowed,     // the host is not on --allowed-hosts; no request was made
  IAMUnavailable,         // IAM did not answer usefully: 5xx, timeout, transport, bad answer
  MonitoringUnavailable,  // the same for Monitoring
  RateLimited,            // 429, or the host asked us to wait (Retry-After) and it has not passed
  // The API server gave no ServiceAccount token for a trusted profile: the
  // ServiceAccount does not exist, the operator may not create its tokens, or
  // the API server failed.
  ServiceAccountTokenFailed,
};

// The kind's name, which is also the condition reason ("APIKeyInvalid").
std::string_view to_string(IbmErrorKind kind);

// Whether errors of this kind are, unless said otherwise, worth retrying.
bool retryable_by_default(IbmErrorKind kind);

struct IbmError {
  IbmErrorKind kind = IbmErrorKind::IAMUnavailable;
  std::string message;
  bool retryable = false;
  // When the server said how long to wait (Retry-After), or when a host is
  // still backing off; the controller should not retry before it.
  std::optional<std::chrono::seconds> retry_after;
  int http_status = 0;  // the answer's status; 0 when there was no answer
};

// An error of `kind` that is retryable as retryable_by_default(kind) says.
IbmError make_error(IbmErrorKind kind, std::string message, int http_status = 0);

}  // namespace sto::ibm
