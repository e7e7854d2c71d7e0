#include "ibm/credential.h"

#include <utility>

#include "common/encoding.h"
#include "ibm/iam_token_source.h"

namespace sto::ibm {

Credential::Credential(std::string_view api_key) : api_key_(trim_api_key(api_key)) {
  identity_ = sha256_hex(api_key_.view());
}

Credential Credential::trusted_profile(TrustedProfile profile, CrTokenSource cr_token) {
  Credential c;
  // Fields joined with a byte no Kubernetes name or profile reference holds.
  const std::string fields = "profile\n" + profile.id + "\n" + profile.name + "\n" + profile.ns +
                             "\n" + profile.service_account;
  c.identity_ = "profile:" + sha256_hex(fields);
  c.profile_ = std::move(profile);
  c.cr_token_ = std::move(cr_token);
  return c;
}

std::string Credential::describe() const {
  if (!profile_) return "the API key";
  const std::string which = profile_->id.empty() ? "named \"" + profile_->name + "\""
                                                 : "\"" + profile_->id + "\"";
  return "trusted profile " + which + " for ServiceAccount " + profile_->ns + "/" +
         profile_->service_account;
}

}  // namespace sto::ibm
