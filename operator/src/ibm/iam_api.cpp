#include "ibm/iam_api.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/secure_string.h"
#include "ibm/wire_text.h"
#include "net/retry_after.h"

namespace sto::ibm {
namespace {

using json = nlohmann::json;

constexpr std::string_view kApiKeyGrant = "urn:ibm:params:oauth:grant-type:apikey";
constexpr std::string_view kCrTokenGrant = "urn:ibm:params:oauth:grant-type:cr-token";
// IAM grants one hour; anything beyond a day is not believed.
constexpr std::int64_t kMaxLifetimeSeconds = 24 * 3600;

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

json parse_json(const std::string& body) { return json::parse(body, nullptr, false); }

IbmError bad_answer(std::string_view iam_endpoint, const std::string& what) {
  return make_error(IbmErrorKind::IAMUnavailable,
                    "IAM answer lacks " + what + " (" + std::string(iam_endpoint) + ")", 200);
}

// "Provided API key could not be found (BXNIM0415E)", from IAM's error body,
// or a piece of the body when it is not IAM's JSON.
std::string describe_error_body(const net::HttpResponse& response, std::string_view api_key) {
  json body = parse_json(response.body);
  if (body.is_object()) {
    auto message = body.find("errorMessage");
    auto code = body.find("errorCode");
    std::string text;
    if (message != body.end() && message->is_string()) {
      text = quote_server_text(message->get_ref<const std::string&>(), {api_key});
    }
    if (code != body.end() && code->is_string()) {
      std::string quoted_code =
          quote_server_text(code->get_ref<const std::string&>(), {api_key}, 40);
      text = text.empty() ? quoted_code : text + " (" + quoted_code + ")";
    }
    if (!text.empty()) return text;
  }
  std::string text = quote_server_text(response.body, {api_key}, 200);
  return text.empty() ? "no details" : text;
}

std::optional<std::chrono::seconds> retry_after_of(const net::HttpResponse& response,
                                                   std::chrono::system_clock::time_point now) {
  auto header = response.header("Retry-After");
  if (!header) return std::nullopt;
  return net::parse_retry_after(*header, now);
}

}  // namespace

net::HttpRequest iam_token_request(std::string_view api_key) {
  net::HttpRequest request;
  request.method = "POST";
  request.target = std::string(kIamTokenPath);
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"}};
  // Built in place (no temporaries left holding the key); the encoded key is
  // cleared once copied.
  std::string encoded_key = percent_encode(api_key);
  const std::string grant = "grant_type=" + percent_encode(kApiKeyGrant) + "&apikey=";
  request.body.reserve(grant.size() + encoded_key.size());
  request.body.append(grant).append(encoded_key);
  cleanse(encoded_key);
  return request;
}

net::HttpRequest iam_profile_token_request(std::string_view cr_token, std::string_view profile_id,
                                           std::string_view profile_name) {
  net::HttpRequest request;
  request.method = "POST";
  request.target = std::string(kIamTokenPath);
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"}};
  std::string encoded_token = percent_encode(cr_token);
  const std::string grant = "grant_type=" + percent_encode(kCrTokenGrant) + "&cr_token=";
  const std::string profile = profile_id.empty()
                                  ? "&profile_name=" + percent_encode(profile_name)
                                  : "&profile_id=" + percent_encode(profile_id);
  request.body.reserve(grant.size() + encoded_token.size() + profile.size());
  request.body.append(grant).append(encoded_token).append(profile);
  cleanse(encoded_token);
  return request;
}

namespace {

// What a refusal (400, 401, 403) is reported as; the API key's wording when
// `profile` is empty.
struct Refusal {
  std::string_view profile;
  std::string_view trust_hint;
};

Result<IamGrant, IbmError> read_answer(const net::HttpResponse& response,
                                       std::string_view iam_endpoint, std::string_view secret,
                                       const Refusal& refusal,
                                       std::chrono::system_clock::time_point now) {
  const int status = response.status;
  const std::string at = " (" + std::string(iam_endpoint) + ")";
  if (status != 200) {
    const std::string details = describe_error_body(response, secret);
    const std::string http = "HTTP " + std::to_string(status);
    IbmError error;
    if (!refusal.profile.empty() && (status == 400 || status == 401 || status == 403)) {
      error = make_error(IbmErrorKind::AccessDenied,
                         "IAM refused a token of " + std::string(refusal.profile) + ": " +
                             details + ", " + http + at + "; " + std::string(refusal.trust_hint),
                         status);
    } else if (status == 400 || status == 401) {
      error = make_error(IbmErrorKind::APIKeyInvalid,
                         "IAM rejected the API key: " + details + ", " + http + at, status);
    } else if (status == 403) {
      error =
          make_error(IbmErrorKind::AccessDenied,
                     "IAM denied a token for the API key: " + details + ", " + http + at, status);
    } else if (status == 429) {
      error =
          make_error(IbmErrorKind::RateLimited,
                     "IAM is limiting the rate of requests: " + details + ", " + http + at, status);
    } else {
      error = make_error(IbmErrorKind::IAMUnavailable, "IAM answered " + http + ": " + details + at,
                         status);
    }
    if (status == 429 || status >= 500) error.retry_after = retry_after_of(response, now);
    return fail(std::move(error));
  }

  json body = parse_json(response.body);
  if (!body.is_object()) {
    return fail(
        make_error(IbmErrorKind::IAMUnavailable, "IAM answer is not a JSON object" + at, status));
  }
  auto token = body.find("access_token");
  if (token == body.end() || !token->is_string())
    return fail(bad_answer(iam_endpoint, "access_token"));
  // Moved out of the parsed answer below, so that no copy is left behind.
  auto& access_token = token->get_ref<std::string&>();
  if (!is_header_safe(access_token, kMaxAccessTokenSize)) {
    return fail(make_error(IbmErrorKind::IAMUnavailable,
                           "IAM answer's access_token is empty, too long or not printable" + at,
                           status));
  }
  if (auto type = body.find("token_type"); type != body.end()) {
    if (!type->is_string() ||
        !equals_ignoring_case(type->get_ref<const std::string&>(), "Bearer")) {
      return fail(make_error(IbmErrorKind::IAMUnavailable,
                             "IAM answer's token_type is not \"Bearer\"" + at, status));
    }
  }

  std::int64_t lifetime = 0;
  if (auto expires_in = body.find("expires_in"); expires_in != body.end()) {
    if (!expires_in->is_number_integer()) {
      return fail(make_error(IbmErrorKind::IAMUnavailable,
                             "IAM answer's expires_in is not an integer" + at, status));
    }
    lifetime = expires_in->get<std::int64_t>();
  } else if (auto expiration = body.find("expiration"); expiration != body.end()) {
    if (!expiration->is_number_integer()) {
      return fail(make_error(IbmErrorKind::IAMUnavailable,
                             "IAM answer's expiration is not an integer" + at, status));
    }
    // Compared before subtracting: a hostile expiration must not overflow.
    const std::int64_t expires_at = expiration->get<std::int64_t>();
    const std::int64_t now_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    lifetime = expires_at > now_seconds ? expires_at - now_seconds : 0;
  } else {
    return fail(bad_answer(iam_endpoint, "expires_in and expiration"));
  }
  if (lifetime <= 0) {
    return fail(make_error(IbmErrorKind::IAMUnavailable,
                           "IAM granted a token that has already expired" + at, status));
  }
  IamGrant grant;
  grant.access_token = std::move(access_token);
  grant.expires_in = std::chrono::seconds(std::min(lifetime, kMaxLifetimeSeconds));
  return grant;
}

}  // namespace

Result<IamGrant, IbmError> read_iam_token_response(const net::HttpResponse& response,
                                                   std::string_view iam_endpoint,
                                                   std::string_view api_key,
                                                   std::chrono::system_clock::time_point now) {
  return read_answer(response, iam_endpoint, api_key, Refusal{}, now);
}

Result<IamGrant, IbmError> read_iam_profile_token_response(
    const net::HttpResponse& response, std::string_view iam_endpoint, std::string_view profile,
    std::string_view trust_hint, std::string_view cr_token,
    std::chrono::system_clock::time_point now) {
  return read_answer(response, iam_endpoint, cr_token, Refusal{profile, trust_hint}, now);
}

}  // namespace sto::ibm
