// SHA-256 digests that stand in for credentials: cache and coalescing keys
// hold the digest of an API key, never the key itself.
#pragma once

#include <string>
#include <string_view>

namespace sto::ibm {

// Lower-case hex SHA-256 of `data` (64 characters).
std::string sha256_hex(std::string_view data);

}  // namespace sto::ibm
