// Credentials the fake hands out: random Monitor API tokens (UUID-shaped,
// like Sysdig's) and IAM access tokens (three-part JWTs like IAM's).
//
// Access tokens are signed with a per-process HMAC key so that the fake can
// tell its own unexpired tokens from anything else. Revoking replaces the key:
// every token issued before stops verifying at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sto::fake {

// A random token shaped like a UUID (8-4-4-4-12 lower-case hex), from RAND_bytes.
std::string random_token();

std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

struct AccessTokenClaims {
  std::string iam_id;
  std::int64_t issued_at = 0;   // iat, seconds since the epoch
  std::int64_t expires_at = 0;  // exp
};

enum class AccessTokenProblem {
  Malformed,  // not a JWT of ours (shape, encoding, signature)
  Revoked,    // signed by a key replaced by POST /_fake/iam/revoke
  Expired,    // exp has passed
};

std::string_view describe(AccessTokenProblem problem);

class AccessTokenIssuer {
 public:
  AccessTokenIssuer();

  // A signed JWT for `iam_id`, valid from `now` for `ttl_seconds`.
  std::string issue(std::string_view iam_id, std::int64_t now, std::int64_t ttl_seconds);

  Result<AccessTokenClaims, AccessTokenProblem> verify(std::string_view token,
                                                       std::int64_t now) const;

  // Invalidates every token issued so far; returns how many were issued
  // since the previous revocation.
  std::uint64_t revoke_all();

 private:
  std::string sign(std::string_view signing_input, const std::string& key) const;

  std::string key_;
  std::vector<std::string> revoked_keys_;
  std::uint64_t issued_since_revoke_ = 0;
};

}  // namespace sto::fake
