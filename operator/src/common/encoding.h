// Encodings shared by every layer: base64 (Kubernetes Secret data,
// kubeconfig *-data fields) and SHA-256 digests (fingerprints, cache keys).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sto {

std::string base64_encode(std::string_view data);
// Standard base64 (RFC 4648 §4); line breaks and spaces are ignored, padding
// is optional, anything else is an error.
std::optional<std::string> base64_decode(std::string_view text);

// Lower-case hex SHA-256 of data (64 characters).
std::string sha256_hex(std::string_view data);

}  // namespace sto
