// Credential: what IAM is asked to trade for an access token — an IBM Cloud
// API key, or a trusted profile and a compute resource token (a Kubernetes
// ServiceAccount token with audience "iam").
//
// The compute resource token is produced on demand (cr_token()), only when
// IAM must be called: a cached IAM token for the same identity is served
// without asking the API server for a new ServiceAccount token.
//
// identity() is what caches, single-flight and rate limits key on: the
// SHA-256 of the trimmed API key, or of the trusted profile, namespace and
// ServiceAccount — never a secret, and never the compute resource token
// (which changes with every TokenRequest).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "common/secure_string.h"
#include "ibm/errors.h"

namespace sto::ibm {

struct TrustedProfile {
  std::string id;               // profile_id; empty when the name is used
  std::string name;             // profile_name; empty when the ID is used
  std::string ns;               // the ServiceAccount's namespace
  std::string service_account;  // the ServiceAccount's name
};

// Produces a fresh compute resource token. It must own what it uses: it may
// run after its caller has gone. Errors: ServiceAccountTokenFailed,
// AccessDenied (the operator may not create the ServiceAccount's tokens).
using CrTokenSource = std::function<boost::asio::awaitable<Result<std::string, IbmError>>()>;

class Credential {
 public:
  // An API key. Explicit: coroutines take a Credential by reference, and a
  // converted temporary must not be their argument (see kube/client.h).
  explicit Credential(std::string_view api_key);

  static Credential trusted_profile(TrustedProfile profile, CrTokenSource cr_token);

  bool is_trusted_profile() const { return profile_.has_value(); }
  // The API key without surrounding whitespace (empty for a trusted profile).
  std::string_view api_key() const { return api_key_.view(); }
  const TrustedProfile& profile() const { return *profile_; }
  const CrTokenSource& cr_token() const { return cr_token_; }
  const std::string& identity() const { return identity_; }
  // For messages: `trusted profile "Profile-1" for ServiceAccount ns/sa`, or
  // "the API key".
  std::string describe() const;

 private:
  Credential() = default;
  SecureString api_key_;
  std::optional<TrustedProfile> profile_;
  CrTokenSource cr_token_;
  std::string identity_;
};

}  // namespace sto::ibm
