// IamTokenSource: IAM access tokens for IBM Cloud API keys and trusted
// profiles (see credential.h).
//
// The interface is what the Monitoring client needs (and what tests fake);
// make_iam_token_cache() is the operator's implementation:
// - one token per (IAM endpoint, API key), shared by every caller using that
//   key; the cache is keyed by the SHA-256 of the key, never the key itself,
//   and holds only the token and its times;
// - a token is refreshed once 80 % of its lifetime has passed; if IAM cannot
//   be reached then (retryable failure) the old token keeps being served while
//   it has at least half of its remaining fifth left;
// - single-flight: concurrent calls for one key share one IAM request;
// - invalidate() drops a token Monitoring rejected (401), so that the next
//   call fetches a fresh one;
// - a key IAM rejects (APIKeyInvalid, AccessDenied) loses its cached token;
// - a trusted profile's token is cached per (IAM endpoint, profile, namespace,
//   ServiceAccount), exactly as a key's; the ServiceAccount token is asked for
//   only when IAM is called, sent once and cleared.
// API keys are trimmed of surrounding whitespace (a Secret written from a file
// often ends in a newline; IBM Cloud keys never contain whitespace).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "ibm/credential.h"
#include "ibm/errors.h"

namespace sto::ibm {

class HttpGateway;

struct IamToken {
  std::string access_token;
  std::chrono::steady_clock::time_point expires_at;  // on the source's clock
};

class IamTokenSource {
 public:
  virtual ~IamTokenSource() = default;

  // A valid access token for `credential` from `iam_endpoint` (a base URL
  // such as "https://iam.cloud.ibm.com"). Errors: InvalidSpec (endpoint),
  // APIKeyInvalid, AccessDenied, EndpointNotAllowed, RateLimited,
  // IAMUnavailable, ServiceAccountTokenFailed.
  virtual boost::asio::awaitable<Result<IamToken, IbmError>> token(
      const std::string& iam_endpoint, const Credential& credential) = 0;

  // Monitoring rejected `rejected_access_token` (401): forget it, so that the
  // next token() for the key fetches a new one. A cached token other than the
  // rejected one (already replaced) is kept.
  virtual void invalidate(const std::string& iam_endpoint, const Credential& credential,
                          std::string_view rejected_access_token) = 0;
};

struct IamTokenCacheOptions {
  // Fraction of a token's lifetime after which it is refreshed.
  double refresh_fraction = 0.8;
  // The clock that ages tokens; steady_clock::now when empty (tests move it).
  std::function<std::chrono::steady_clock::time_point()> clock;
};

std::shared_ptr<IamTokenSource> make_iam_token_cache(std::shared_ptr<HttpGateway> gateway,
                                                     IamTokenCacheOptions options = {});

// `api_key` without surrounding whitespace.
std::string_view trim_api_key(std::string_view api_key);

}  // namespace sto::ibm
