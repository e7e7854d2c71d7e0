#include "ibm/iam_token_source.h"

#include <compare>
#include <map>
#include <utility>

#include "common/encoding.h"
#include "common/secure_string.h"
#include "ibm/endpoints.h"
#include "ibm/http_gateway.h"
#include "ibm/iam_api.h"
#include "ibm/single_flight.h"
#include "net/http_client.h"

namespace sto::ibm {
namespace {

using Clock = std::chrono::steady_clock;
using TokenResult = Result<IamToken, IbmError>;

class IamTokenCache final : public IamTokenSource,
                            public std::enable_shared_from_this<IamTokenCache> {
 public:
  IamTokenCache(std::shared_ptr<HttpGateway> gateway, IamTokenCacheOptions options,
                boost::asio::any_io_executor executor)
      : gateway_(std::move(gateway)), options_(std::move(options)), flights_(std::move(executor)) {
    if (!options_.clock) options_.clock = [] { return Clock::now(); };
    if (!(options_.refresh_fraction > 0.0 && options_.refresh_fraction <= 1.0)) {
      options_.refresh_fraction = 0.8;
    }
  }

  boost::asio::awaitable<TokenResult> token(const std::string& iam_endpoint,
                                            const Credential& credential) override {
    auto key = cache_key(iam_endpoint, credential);
    if (!key) co_return fail(std::move(key.error()));
    if (auto it = cache_.find(*key);
        it != cache_.end() && options_.clock() < it->second.refresh_at) {
      co_return IamToken{it->second.access_token, it->second.expires_at};
    }
    auto self = shared_from_this();
    auto make = [self, key = *key, credential] { return self->fetch(key, credential); };
    auto flight = flights_.run(*key, std::move(make));
    co_return co_await std::move(flight);
  }

  void invalidate(const std::string& iam_endpoint, const Credential& credential,
                  std::string_view rejected_access_token) override {
    auto key = cache_key(iam_endpoint, credential);
    if (!key) return;
    if (auto it = cache_.find(*key);
        it != cache_.end() && it->second.access_token == rejected_access_token) {
      cache_.erase(it);
    }
  }

 private:
  struct Key {
    std::string endpoint;    // normalized
    std::string key_digest;  // the credential's identity (SHA-256 of the API key)
    auto operator<=>(const Key&) const = default;
  };
  struct Entry {
    std::string access_token;
    Clock::time_point refresh_at;
    Clock::time_point expires_at;
  };

  static Result<Key, IbmError> cache_key(const std::string& iam_endpoint,
                                         const Credential& credential) {
    auto endpoint = normalize_endpoint(iam_endpoint);
    if (!endpoint) {
      return fail(make_error(IbmErrorKind::InvalidSpec, "IAM endpoint: " + endpoint.error()));
    }
    if (!credential.is_trusted_profile() && credential.api_key().empty())
      return fail(make_error(IbmErrorKind::APIKeyInvalid, "the API key is empty"));
    return Key{std::move(endpoint).value(), credential.identity()};
  }

  // The IAM request for the credential; for a trusted profile, a fresh
  // ServiceAccount token is asked for first.
  static boost::asio::awaitable<Result<net::HttpRequest, IbmError>> build_request(
      Credential credential) {
    if (!credential.is_trusted_profile()) co_return iam_token_request(credential.api_key());
    const auto& produce = credential.cr_token();
    if (!produce) {
      co_return fail(make_error(IbmErrorKind::ServiceAccountTokenFailed,
                                "no ServiceAccount token source for " + credential.describe()));
    }
    auto cr_token = co_await produce();
    if (!cr_token) co_return fail(std::move(cr_token.error()));
    CleanseOnExit wipe_token(cr_token.value());
    const TrustedProfile& profile = credential.profile();
    co_return iam_profile_token_request(cr_token.value(), profile.id, profile.name);
  }

  static std::string trust_hint(const TrustedProfile& profile) {
    return "the trusted profile must exist and trust this ServiceAccount: add a trust rule for "
           "compute resources (Kubernetes) with this cluster, namespace " + profile.ns +
           " and service account " + profile.service_account + ", or correct spec.trustedProfile";
  }

  boost::asio::awaitable<TokenResult> fetch(Key key, Credential credential) {
    const Clock::time_point started = options_.clock();
    auto request = co_await build_request(credential);
    if (!request) co_return fallback(key, std::move(request.error()));
    // A Retry-After from IAM holds back this credential only.
    const std::string caller = key.key_digest;
    auto response =
        co_await gateway_->send(key.endpoint, std::move(request).value(), Service::Iam, caller);
    if (!response) co_return fallback(key, std::move(response.error()));
    // IAM's answer holds the access token: cleared once read.
    CleanseOnExit wipe_answer(response->body);
    auto grant = read_grant(*response, key, credential);
    if (!grant) co_return fallback(key, std::move(grant.error()));

    const auto lifetime = std::chrono::duration_cast<Clock::duration>(grant->expires_in);
    Entry entry;
    entry.access_token = std::move(grant->access_token);
    entry.refresh_at =
        started + std::chrono::duration_cast<Clock::duration>(lifetime * options_.refresh_fraction);
    entry.expires_at = started + lifetime;
    std::erase_if(cache_,
                  [started](const auto& item) { return item.second.expires_at <= started; });
    IamToken token{entry.access_token, entry.expires_at};
    cache_.insert_or_assign(std::move(key), std::move(entry));
    co_return token;
  }

  static Result<IamGrant, IbmError> read_grant(const net::HttpResponse& response, const Key& key,
                                              const Credential& credential) {
    if (!credential.is_trusted_profile())
      return read_iam_token_response(response, key.endpoint, credential.api_key());
    // The ServiceAccount token is not at hand any more: it was cleared after
    // sending, and IAM does not echo it.
    return read_iam_profile_token_response(response, key.endpoint, credential.describe(),
                                           trust_hint(credential.profile()), "");
  }

  // A refresh failed: keep serving the cached token while it is comfortably
  // valid if IAM may recover; forget it if IAM rejected the key.
  TokenResult fallback(const Key& key, IbmError error) {
    auto it = cache_.find(key);
    if (it == cache_.end()) return fail(std::move(error));
    if (!error.retryable) {
      cache_.erase(it);
      return fail(std::move(error));
    }
    const Entry& entry = it->second;
    const auto usable_until = entry.expires_at - (entry.expires_at - entry.refresh_at) / 2;
    if (options_.clock() < usable_until) return IamToken{entry.access_token, entry.expires_at};
    return fail(std::move(error));
  }

  std::shared_ptr<HttpGateway> gateway_;
  IamTokenCacheOptions options_;
  std::map<Key, Entry> cache_;
  SingleFlight<Key, TokenResult> flights_;
};

}  // namespace

std::string_view trim_api_key(std::string_view api_key) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  auto first = api_key.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  auto last = api_key.find_last_not_of(kSpace);
  return api_key.substr(first, last - first + 1);
}

std::shared_ptr<IamTokenSource> make_iam_token_cache(std::shared_ptr<HttpGateway> gateway,
                                                     IamTokenCacheOptions options) {
  auto executor = gateway->executor();
  return std::make_shared<IamTokenCache>(std::move(gateway), std::move(options),
                                         std::move(executor));
}

}  // namespace sto::ibm
