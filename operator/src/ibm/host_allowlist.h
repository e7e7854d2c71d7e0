// HostAllowlist: the hosts the operator may call on IBM Cloud's behalf.
//
// A pattern is a host name ("iam.cloud.ibm.com"), a wildcard for any name
// below a domain ("*.monitoring.cloud.ibm.com" matches
// "us-south.monitoring.cloud.ibm.com" and "private.us-south.monitoring..."
// but not "monitoring.cloud.ibm.com" itself), or an IP address (which matches
// that address in any spelling, "::1" and "0:0::1"; a wildcard never matches an
// IP address). Patterns match the host only, never the port; matching ignores
// case.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sto::ibm {

class HostAllowlist {
 public:
  static const std::vector<std::string>& default_patterns();

  // Parses the patterns; the error names the offending pattern and why.
  static Result<HostAllowlist, std::string> parse(const std::vector<std::string>& patterns);

  bool allows(std::string_view host) const;
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  std::vector<std::string> patterns_;  // lower-cased
};

}  // namespace sto::ibm
