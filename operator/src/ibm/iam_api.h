// The IAM token endpoint's wire format (DESIGN §1): the request that trades an
// IBM Cloud API key for an IAM access token, and what IAM's answer means.
//
//   POST <iam>/identity/token
//   Content-Type: application/x-www-form-urlencoded
//   grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=<key>
//   -> {"access_token":"...","expires_in":3600,"expiration":<epoch s>,"token_type":"Bearer"}
//   -> 400 {"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found"}
//
// and the request that trades a compute resource token (a ServiceAccount
// token) for an access token of the trusted profile that trusts it:
//
//   grant_type=urn:ibm:params:oauth:grant-type:cr-token&cr_token=<jwt>
//     &profile_id=<id>   (or &profile_name=<name>)
//
// Pure functions of the request and answer, so every outcome is testable
// without a server.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"
#include "ibm/errors.h"
#include "net/http_client.h"

namespace sto::ibm {

inline constexpr std::string_view kIamTokenPath = "/identity/token";
inline constexpr std::size_t kMaxAccessTokenSize = 16 * 1024;

// What IAM granted: the access token and how long it lives from now.
struct IamGrant {
  std::string access_token;
  std::chrono::seconds expires_in{0};
};

net::HttpRequest iam_token_request(std::string_view api_key);

// The cr-token grant for the profile `profile_id` or, when that is empty,
// `profile_name`.
net::HttpRequest iam_profile_token_request(std::string_view cr_token, std::string_view profile_id,
                                           std::string_view profile_name);

// The grant in a 200 answer, or what went wrong: APIKeyInvalid (400, 401),
// AccessDenied (403), RateLimited (429), IAMUnavailable (5xx, anything else,
// or an answer that lacks or mistypes a field). `iam_endpoint` names IAM in
// messages; `api_key` is redacted from any text quoted from the answer.
Result<IamGrant, IbmError> read_iam_token_response(
    const net::HttpResponse& response, std::string_view iam_endpoint, std::string_view api_key,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// The same for a cr-token grant: 400, 401 and 403 mean the profile does not
// exist or does not trust the ServiceAccount (AccessDenied, the message says
// which trust rule to add); `profile` describes the profile and
// ServiceAccount for messages; `cr_token` is redacted from quoted text.
Result<IamGrant, IbmError> read_iam_profile_token_response(
    const net::HttpResponse& response, std::string_view iam_endpoint, std::string_view profile,
    std::string_view trust_hint, std::string_view cr_token,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace sto::ibm
