#include "controller/reasons.h"

#include <array>

namespace sto::controller {

using std::chrono::minutes;
using std::chrono::seconds;

namespace {

constexpr std::array kReasons{
    ReasonInfo{Reason::TokenSynced, "TokenSynced", false, false, false, seconds(0),
               "the Secret holds the team's token"},
    ReasonInfo{Reason::TokenRotated, "TokenRotated", false, false, false, seconds(0),
               "Sysdig handed out a new token and the Secret now holds it"},
    ReasonInfo{Reason::SecretRestored, "SecretRestored", false, false, false, seconds(0),
               "someone edited or stripped the Secret; it was repaired"},
    ReasonInfo{Reason::ResetTokenUnchanged, "ResetTokenUnchanged", false, true, false, seconds(0),
               "a reset returned the same token: reset it in the Monitoring UI (Settings > Monitor API > Reset Token); the operator checks again every 30 s for 15 minutes"},
    ReasonInfo{Reason::InvalidSpec, "InvalidSpec", true, true, false, seconds(0),
               "the message names the field; fix the resource"},
    ReasonInfo{Reason::APIKeySecretNotFound, "APIKeySecretNotFound", true, true, true,
               seconds(0),
               "create the Secret named by `spec.apiKeySecretRef` with the key (default `apikey`) in the same namespace"},
    ReasonInfo{Reason::ServiceAccountTokenFailed, "ServiceAccountTokenFailed", true, true, true,
               seconds(0),
               "no token for the ServiceAccount of `spec.trustedProfile`: create the ServiceAccount in the resource's namespace, or grant the operator `create` on `serviceaccounts/token` (the message quotes the API server)"},
    ReasonInfo{Reason::APIKeyInvalid, "APIKeyInvalid", true, true, true, seconds(0),
               "IAM does not accept the key: check it is current and enabled, then update the Secret"},
    ReasonInfo{Reason::AccessDenied, "AccessDenied", true, true, true, minutes(5),
               "403: the key's identity may not read the team's token, or the instance accepts only IAM tokens of users (`IAM_ONLY`); grant access or change the instance setting. With `spec.trustedProfile`: the profile does not exist or does not trust the ServiceAccount; add a compute resource trust rule for its namespace and name. Retried from 5 minutes on, at once after a spec change or a new reset value"},
    ReasonInfo{Reason::TeamNotFound, "TeamNotFound", true, true, true, seconds(0),
               "check `instanceID`, `teamID` / `teamName` and the region"},
    ReasonInfo{Reason::EndpointNotAllowed, "EndpointNotAllowed", true, true, false, seconds(0),
               "the endpoint's host is not in `--allowed-hosts`; no request was made"},
    ReasonInfo{Reason::IAMUnavailable, "IAMUnavailable", true, true, true, seconds(0),
               "IAM did not answer usefully (5xx, timeout, TLS); retried with backoff (`status.failedAttempts`, `status.nextRetryTime`), the last good token stays in the Secret"},
    ReasonInfo{Reason::MonitoringUnavailable, "MonitoringUnavailable", true, true, true,
               seconds(0),
               "Monitoring did not answer usefully (5xx, timeout, TLS); retried with backoff, the last good token stays in the Secret"},
    ReasonInfo{Reason::RateLimited, "RateLimited", true, true, true, seconds(0),
               "IBM Cloud answered 429; retried after its `Retry-After`"},
    ReasonInfo{Reason::SecretConflict, "SecretConflict", true, true, true, seconds(0),
               "a Secret of that name exists and is not managed by this SysdigToken; choose another `target.name`"},
    ReasonInfo{Reason::SecretRejected, "SecretRejected", true, true, true, seconds(0),
               "the API server refused the Secret (422, 403); the message quotes it (a quota, an admission policy, a label value); retried with backoff"},
    ReasonInfo{Reason::InternalError, "InternalError", true, true, true, seconds(0),
               "the operator failed unexpectedly on this resource (the log names the exception type); retried with backoff, other resources go on"},
};

constexpr std::array<std::string_view, 11> kOutcomes{
    "Synced", "Rotated", "Unchanged", "Restored", "Refreshed",
    "UpToDate", "Refetch", "BackingOff", "Gathering", "Failed", "Deleted",
};

constexpr bool in_declaration_order() {
  for (std::size_t i = 0; i < kReasons.size(); ++i) {
    if (static_cast<std::size_t>(kReasons[i].reason) != i) return false;
  }
  return kReasons.size() == static_cast<std::size_t>(Reason::InternalError) + 1;
}
static_assert(in_declaration_order(), "kReasons lists every Reason in declaration order");
static_assert(kOutcomes.size() == static_cast<std::size_t>(Outcome::Deleted) + 1);

}  // namespace

const ReasonInfo& info(Reason r) { return kReasons[static_cast<std::size_t>(r)]; }

std::string_view to_string(Reason r) { return info(r).name; }

std::optional<Reason> reason_from_string(std::string_view name) {
  for (const auto& i : kReasons) {
    if (i.name == name) return i.reason;
  }
  return std::nullopt;
}

std::span<const ReasonInfo> all_reasons() { return kReasons; }

Reason reason_for(ibm::IbmErrorKind kind) {
  switch (kind) {
    case ibm::IbmErrorKind::InvalidSpec:
      return Reason::InvalidSpec;
    case ibm::IbmErrorKind::APIKeyInvalid:
      return Reason::APIKeyInvalid;
    case ibm::IbmErrorKind::AccessDenied:
      return Reason::AccessDenied;
    case ibm::IbmErrorKind::TeamNotFound:
      return Reason::TeamNotFound;
    case ibm::IbmErrorKind::EndpointNotAllowed:
      return Reason::EndpointNotAllowed;
    case ibm::IbmErrorKind::IAMUnavailable:
      return Reason::IAMUnavailable;
    case ibm::IbmErrorKind::MonitoringUnavailable:
      return Reason::MonitoringUnavailable;
    case ibm::IbmErrorKind::RateLimited:
      return Reason::RateLimited;
    case ibm::IbmErrorKind::ServiceAccountTokenFailed:
      return Reason::ServiceAccountTokenFailed;
  }
  return Reason::InternalError;
}

std::string_view to_string(Outcome o) { return kOutcomes[static_cast<std::size_t>(o)]; }

}  // namespace sto::controller
