#include "tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

namespace sto::fake {
namespace {

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return out;
}

constexpr std::string_view kBase64UrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string random_token() {
  std::string bytes = random_bytes(16);
  bytes[6] = static_cast<char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    auto b = static_cast<unsigned char>(bytes[i]);
    out += kHex[b >> 4];
    out += kHex[b & 0x0f];
  }
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kBase64UrlAlphabet[(buffer >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kBase64UrlAlphabet[(buffer << (6 - bits)) & 0x3f];
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = base64url_value(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  if (bits >= 6) return std::nullopt;  // a lone trailing character
  return out;
}

std::string_view describe(AccessTokenProblem problem) {
  switch (problem) {
    case AccessTokenProblem::Malformed:
      return "access token is malformed or was not issued by this IAM";
    case AccessTokenProblem::Revoked:
      return "access token has been revoked";
    case AccessTokenProblem::Expired:
      return "access token has expired";
  }
  return "access token is invalid";
}

AccessTokenIssuer::AccessTokenIssuer() : key_(random_bytes(32)) {}

std::string AccessTokenIssuer::sign(std::string_view signing_input, const std::string& key) const {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(),
       mac.data(), &length);
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), length));
}

std::string AccessTokenIssuer::issue(std::string_view iam_id, std::int64_t now,
                                     std::int64_t ttl_seconds) {
  // The claims IAM puts in an API key's access token, with made-up values.
  nlohmann::json header = {{"alg", "RS256"}, {"kid", "fake"}};
  nlohmann::json payload = {
      {"iam_id", iam_id},
      {"id", iam_id},
      {"realmid", "IBMid"},
      {"jti", random_token()},
      {"identifier", iam_id},
      {"sub", iam_id},
      {"sub_type", "APIKey"},
      {"account", {{"valid", true}, {"bss", "fakeaccount0000000000000000000000"}}},
      {"iat", now},
      {"exp", now + ttl_seconds},
      {"iss", "https://iam.cloud.ibm.com/identity"},
      {"grant_type", "urn:ibm:params:oauth:grant-type:apikey"},
      {"scope", "ibm openid"},
      {"client_id", "default"},
      {"acr", 1},
      {"amr", {"pwd"}},
  };
  std::string signing_input =
      base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
  ++issued_since_revoke_;
  return signing_input + "." + sign(signing_input, key_);
}

Result<AccessTokenClaims, AccessTokenProblem> AccessTokenIssuer::verify(std::string_view token,
                                                                        std::int64_t now) const {
  auto first = token.find('.');
  auto last = token.rfind('.');
  if (first == std::string_view::npos || first == last) return fail(AccessTokenProblem::Malformed);
  std::string_view signing_input = token.substr(0, last);
  std::string_view signature = token.substr(last + 1);

  if (!constant_time_equal(sign(signing_input, key_), signature)) {
    for (const auto& old : revoked_keys_) {
      if (constant_time_equal(sign(signing_input, old), signature)) {
        return fail(AccessTokenProblem::Revoked);
      }
    }
    return fail(AccessTokenProblem::Malformed);
  }

  auto payload_text = base64url_decode(token.substr(first + 1, last - first - 1));
  if (!payload_text) return fail(AccessTokenProblem::Malformed);
  auto payload = nlohmann::json::parse(*payload_text, nullptr, /*allow_exceptions=*/false);
  if (!payload.is_object() || !payload.contains("exp") || !payload["exp"].is_number_integer() ||
      !payload.contains("iat") || !payload["iat"].is_number_integer() ||
      !payload.contains("iam_id") || !payload["iam_id"].is_string()) {
    return fail(AccessTokenProblem::Malformed);
  }
  AccessTokenClaims claims{payload["iam_id"].get<std::string>(), payload["iat"].get<std::int64_t>(),
                           payload["exp"].get<std::int64_t>()};
  if (claims.expires_at <= now) return fail(AccessTokenProblem::Expired);
  return claims;
}

std::uint64_t AccessTokenIssuer::revoke_all() {
  revoked_keys_.push_back(std::move(key_));
  key_ = random_bytes(32);
  return std::exchange(issued_since_revoke_, 0);
}

}  // namespace sto::fake
