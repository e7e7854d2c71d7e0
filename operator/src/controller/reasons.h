// The words the controller reports in: condition reasons (each with whether
// it retries, how soon, and its event type) and reconcile outcomes. The CRD
// docs and the README's troubleshooting table list the same reasons; a unit
// test keeps them in step.
#pragma once

#include <chrono>
#include <optional>
#include <ostream>
#include <span>
#include <string_view>

#include "ibm/errors.h"

namespace sto::controller {

enum class Reason {
  // Ready=True, and Normal events.
  TokenSynced,
  TokenRotated,
  SecretRestored,
  // Warning events that leave Ready as it is.
  ResetTokenUnchanged,
  // Ready=False.
  InvalidSpec,
  APIKeySecretNotFound,
  ServiceAccountTokenFailed,
  APIKeyInvalid,
  AccessDenied,
  TeamNotFound,
  EndpointNotAllowed,
  IAMUnavailable,
  MonitoringUnavailable,
  RateLimited,
  SecretConflict,
  SecretRejected,
  InternalError,
};

struct ReasonInfo {
  Reason reason;
  std::string_view name;  // the condition and event reason
  bool failure;           // reported as Ready=False
  bool warning;           // its event is a Warning
  // Whether the resource is tried again on its own (with backoff) or waits
  // for a change of its spec or reset annotation.
  bool retries;
  // The first retry is no sooner than this (the backoff grows from here).
  std::chrono::seconds min_backoff{0};
  // What the README's troubleshooting table says of it.
  std::string_view meaning;
};

const ReasonInfo& info(Reason r);
std::string_view to_string(Reason r);
std::optional<Reason> reason_from_string(std::string_view name);
// Every reason, in declaration order.
std::span<const ReasonInfo> all_reasons();
// The reason an IBM Cloud failure is reported under.
Reason reason_for(ibm::IbmErrorKind kind);

// What one reconcile did, for logs, metrics and tests.
enum class Outcome {
  Synced,      // first token written
  Rotated,     // a new token from Sysdig written
  Unchanged,   // a reset was handled and Sysdig returned the same token
  Restored,    // drift repaired without a new token
  Refreshed,   // a due fetch found the same token
  UpToDate,    // nothing was due, nothing written
  Refetch,     // the Secret's token was edited: fetch again at once
  BackingOff,  // an earlier failure's retry time has not come
  Gathering,   // a reset waits for resets of its fetch group to stop arriving
  Failed,      // Ready=False with a reason
  Deleted,     // the resource is gone or going
};

std::string_view to_string(Outcome o);

inline std::ostream& operator<<(std::ostream& os, Reason r) { return os << to_string(r); }
inline std::ostream& operator<<(std::ostream& os, Outcome o) { return os << to_string(o); }

}  // namespace sto::controller
