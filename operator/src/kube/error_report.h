// ErrorReport: a failed call of the runtime itself to the API server — an
// informer's list or watch, a Lease request, an Event write — that no caller
// receives as a return value. Components hand it to an ErrorHandler, so that
// someone can see it: log_errors() writes a rate-limited log line and passes
// each report on (for a metric).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "kube/api_error.h"

namespace sto::kube {

struct ErrorReport {
  std::string component;  // "watcher", "informer", "leader-election", "event-recorder"
  std::string path;       // the API path concerned, e.g. /api/v1/namespaces/a/secrets
  // The HTTP status ("403"), else what failed without one: an ApiErrorKind
  // name ("Transport" for connection and TLS failures, "Timeout", "Decode")
  // or "Dropped" for an Event given up locally.
  std::string code;
  std::string message;  // for people; never a secret
};

using ErrorHandler = std::function<void(const ErrorReport&)>;

// The report code of an API error: its HTTP status, else its kind.
std::string error_code(const ApiError& error);

// A handler that logs each report at warn level ("kubernetes API call
// failed", with component, path, status and error), at most one line per
// (component, path, code) per interval with the count of lines left out,
// and passes every report to `also` when given.
ErrorHandler log_errors(std::chrono::seconds interval = std::chrono::seconds(30),
                        ErrorHandler also = {});

}  // namespace sto::kube
