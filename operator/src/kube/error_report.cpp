#include "kube/error_report.h"

#include <memory>

#include "common/logging.h"

namespace sto::kube {

std::string error_code(const ApiError& error) {
  if (error.status != 0) return std::to_string(error.status);
  return std::string(to_string(error.kind));
}

ErrorHandler log_errors(std::chrono::seconds interval, ErrorHandler also) {
  auto throttle = std::make_shared<log::Throttle>(interval);
  return [throttle, also = std::move(also)](const ErrorReport& r) {
    const std::string key = r.component + ' ' + r.path + ' ' + r.code;
    throttle->write(
        key, log::Level::Warn, "kubernetes API call failed",
        {{"component", r.component}, {"path", r.path}, {"status", r.code}, {"error", r.message}});
    if (also) also(r);
  };
}

}  // namespace sto::kube
