#include "ibm/errors.h"

#include <utility>

namespace sto::ibm {

std::string_view to_string(IbmErrorKind kind) {
  switch (kind) {
    case IbmErrorKind::InvalidSpec:
      return "InvalidSpec";
    case IbmErrorKind::APIKeyInvalid:
      return "APIKeyInvalid";
    case IbmErrorKind::AccessDenied:
      return "AccessDenied";
    case IbmErrorKind::TeamNotFound:
      return "TeamNotFound";
    case IbmErrorKind::EndpointNotAllowed:
      return "EndpointNotAllowed";
    case IbmErrorKind::IAMUnavailable:
      return "IAMUnavailable";
    case IbmErrorKind::MonitoringUnavailable:
      return "MonitoringUnavailable";
    case IbmErrorKind::RateLimited:
      return "RateLimited";
    case IbmErrorKind::ServiceAccountTokenFailed:
      return "ServiceAccountTokenFailed";
  }
  return "Unknown";
}

bool retryable_by_default(IbmErrorKind kind) {
  switch (kind) {
    case IbmErrorKind::IAMUnavailable:
    case IbmErrorKind::MonitoringUnavailable:
    case IbmErrorKind::RateLimited:
      return true;
    case IbmErrorKind::InvalidSpec:
    case IbmErrorKind::APIKeyInvalid:
    case IbmErrorKind::AccessDenied:
    case IbmErrorKind::TeamNotFound:
    case IbmErrorKind::EndpointNotAllowed:
    case IbmErrorKind::ServiceAccountTokenFailed:
      return false;
  }
  return false;
}

IbmError make_error(IbmErrorKind kind, std::string message, int http_status) {
  IbmError error;
  error.kind = kind;
  error.message = std::move(message);
  error.retryable = retryable_by_default(kind);
  error.http_status = http_status;
  return error;
}

}  // namespace sto::ibm
