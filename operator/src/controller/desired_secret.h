// The Secret a SysdigToken asks for, and how a cached Secret differs from it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "controller/managed_secret.h"
#include "controller/recorded_state.h"
#include "controller/sysdig_token.h"

namespace sto::controller {

// Labels, annotations, owner and connection info from the spec; the token
// and the sync record are added by with_token().
DesiredSecret render_desired_secret(const SysdigToken& token, const ResolvedSpec& spec,
                                    std::int64_t team_id);

// Adds the token and the record written with it.
void with_token(DesiredSecret& desired, const SysdigToken& token, const std::string& value,
                const SyncRecord& record, const std::string& synced_at);

// What of the Secret differs from `desired` ("label x", "data y", ...), or
// nothing when it matches and holds a token hashing to `token_sha256`.
// Fields the operator applied before and no longer wants count as drift
// (a label dropped from the spec, connection info turned off, Delete ->
// Retain), as do foreign edits of the fields it owns.
std::optional<std::string> drift(const ManagedSecret& secret, const DesiredSecret& desired,
                                 const SysdigToken& token, const std::string& token_sha256);

// Which of `owned` (fields the operator owns on a Secret) `desired` no
// longer has ("label x", ...), or nothing. The token's key is always wanted.
std::optional<std::string> unwanted_fields(const AppliedFields& owned,
                                           const DesiredSecret& desired,
                                           const std::string& token_key);

}  // namespace sto::controller
