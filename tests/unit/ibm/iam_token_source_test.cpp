// The IAM token cache against the real fake IBM Cloud: one token per API key,
// shared, single-flight, refreshed at 80 % of its lifetime.
#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "fake_cloud_fixture.h"

namespace sto::ibm {
namespace {

using namespace std::chrono_literals;
using testing::FakeCloudTest;
using testing::kDisabledKey;
using testing::kGoodKey;
using testing::kIamTokenEndpoint;
using testing::kSecondKey;
using testing::kUnknownKey;

class IamTokenCache : public FakeCloudTest {
 protected:
  std::uint64_t iam_requests(const std::string& outcome = "") {
    return fake_->count(std::string(kIamTokenEndpoint), outcome);
  }
};

TEST_F(IamTokenCache, TradesTheApiKeyForAnAccessToken) {
  auto token = get_iam_token();
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_FALSE(token->access_token.empty());
  EXPECT_GT(token->expires_at, clock_.now + 3500s);
  EXPECT_LE(token->expires_at, clock_.now + 3600s);
  EXPECT_EQ(iam_requests("200"), 1u);
  // The request carried the key as a form, as IAM wants it.
  auto requests = fake_->admin("GET", "/_fake/requests");
  const auto& recent = requests.at("recent").back();
  EXPECT_EQ(recent.at("path"), "/identity/token");
  EXPECT_EQ(recent.at("form").at("grant_type"), "urn:ibm:params:oauth:grant-type:apikey");
  EXPECT_EQ(recent.at("headers").at("accept"), "application/json");
}

TEST_F(IamTokenCache, FiftyConcurrentCallsForOneKeyMakeOneRequest) {
  auto tokens = get_iam_tokens_concurrently(std::vector<std::string>(50, std::string(kGoodKey)));
  ASSERT_EQ(tokens.size(), 50u);
  for (const auto& token : tokens) {
    ASSERT_TRUE(token.ok()) << token.error().message;
    EXPECT_EQ(token->access_token, tokens.front()->access_token);
  }
  EXPECT_EQ(iam_requests(), 1u);
  // And later calls are served from the cache.
  auto again = get_iam_token();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->access_token, tokens.front()->access_token);
  EXPECT_EQ(iam_requests(), 1u);
}

TEST_F(IamTokenCache, EachApiKeyHasItsOwnToken) {
  std::vector<std::string> keys;
  for (int i = 0; i < 10; ++i) {
    keys.emplace_back(kGoodKey);
    keys.emplace_back(kSecondKey);
  }
  auto tokens = get_iam_tokens_concurrently(keys);
  ASSERT_TRUE(tokens[0].ok() && tokens[1].ok());
  EXPECT_NE(tokens[0]->access_token, tokens[1]->access_token);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    ASSERT_TRUE(tokens[i].ok());
    EXPECT_EQ(tokens[i]->access_token, tokens[i % 2]->access_token);
  }
  EXPECT_EQ(iam_requests(), 2u);
}

TEST_F(IamTokenCache, SpellingsOfOneEndpointAndKeyShareTheToken) {
  auto first = get_iam_token();
  ASSERT_TRUE(first.ok());
  const std::string endpoint = url() + "/";
  const Credential key(std::string(kGoodKey) + "\n");  // a Secret written from a file
  auto second = testing::run_on(io_, iam().token(endpoint, key));
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->access_token, first->access_token);
  EXPECT_EQ(iam_requests(), 1u);
}

TEST_F(IamTokenCache, RefreshesAt80PercentOfTheLifetime) {
  auto first = get_iam_token();
  ASSERT_TRUE(first.ok());
  clock_.advance(2879s);  // 3600 s * 0.8 = 2880 s
  auto cached = get_iam_token();
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->access_token, first->access_token);
  EXPECT_EQ(iam_requests(), 1u);

  clock_.advance(2s);
  auto refreshed = get_iam_token();
  ASSERT_TRUE(refreshed.ok());
  EXPECT_NE(refreshed->access_token, first->access_token);
  EXPECT_EQ(iam_requests(), 2u);
  EXPECT_GT(refreshed->expires_at, first->expires_at);
}

// IAM grants two-second tokens here, and time is real.
class ShortLivedIamTokens : public IamTokenCache {
 protected:
  std::string seed() const override { return testing::seed_yaml(2); }
};

TEST_F(ShortLivedIamTokens, AreRefreshedBeforeTheyExpire) {
  manual_clock_ = false;
  auto first = get_iam_token();
  ASSERT_TRUE(first.ok()) << first.error().message;
  std::this_thread::sleep_for(800ms);  // 40 %
  auto cached = get_iam_token();
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->access_token, first->access_token);
  std::this_thread::sleep_for(900ms);  // 85 %
  auto refreshed = get_iam_token();
  ASSERT_TRUE(refreshed.ok());
  EXPECT_NE(refreshed->access_token, first->access_token);
  EXPECT_EQ(iam_requests(), 2u);
  // The refreshed token works where the first one would have expired.
  std::this_thread::sleep_for(500ms);
  auto token = fetch_token(team());
  EXPECT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(fake_->count(std::string(testing::kMonitorTokenEndpoint), "401"), 0u);
}

TEST_F(IamTokenCache, AFailedRefreshServesTheOldTokenWhileItIsComfortablyValid) {
  auto first = get_iam_token();
  ASSERT_TRUE(first.ok());
  fake_->add_fault({{"pathPrefix", "/identity/token"}, {"status", 503}});

  clock_.advance(3000s);  // past 80 %, before 90 %
  auto kept = get_iam_token();
  ASSERT_TRUE(kept.ok()) << kept.error().message;
  EXPECT_EQ(kept->access_token, first->access_token);

  clock_.advance(300s);  // past 90 %: too close to expiry to hand out
  auto failed = get_iam_token();
  auto error = expect_error(failed, IbmErrorKind::IAMUnavailable);
  EXPECT_TRUE(error.retryable);
  EXPECT_EQ(iam_requests("503"), 2u);

  fake_->clear_faults();
  auto recovered = get_iam_token();
  ASSERT_TRUE(recovered.ok()) << recovered.error().message;
  EXPECT_NE(recovered->access_token, first->access_token);
}

TEST_F(IamTokenCache, UnknownDisabledAndEmptyKeysAreAPIKeyInvalid) {
  auto unknown = expect_error(get_iam_token(kUnknownKey), IbmErrorKind::APIKeyInvalid);
  EXPECT_FALSE(unknown.retryable);
  EXPECT_EQ(unknown.http_status, 400);
  EXPECT_NE(unknown.message.find("BXNIM0415E"), std::string::npos) << unknown.message;
  expect_error(get_iam_token(kDisabledKey), IbmErrorKind::APIKeyInvalid);
  EXPECT_EQ(iam_requests("400"), 2u);

  auto empty = expect_error(get_iam_token(" \n"), IbmErrorKind::APIKeyInvalid);
  EXPECT_EQ(empty.http_status, 0);
  EXPECT_EQ(iam_requests(), 2u);  // no request for an empty key
}

TEST_F(IamTokenCache, AKeyIamStopsAcceptingLosesItsToken) {
  ASSERT_TRUE(get_iam_token().ok());
  fake_->admin("POST", "/_fake/state",
               {{"apiKeys", {{{"key", std::string(kGoodKey)}, {"enabled", false}}}}});
  clock_.advance(2900s);
  expect_error(get_iam_token(), IbmErrorKind::APIKeyInvalid);
  // The old token is gone, not served until it expires.
  expect_error(get_iam_token(), IbmErrorKind::APIKeyInvalid);
  EXPECT_EQ(iam_requests("400"), 2u);
}

TEST_F(IamTokenCache, InvalidateDropsOnlyTheRejectedToken) {
  auto first = get_iam_token();
  ASSERT_TRUE(first.ok());
  iam().invalidate(url(), Credential(kGoodKey), "some-older-token");
  auto still = get_iam_token();
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->access_token, first->access_token);
  EXPECT_EQ(iam_requests(), 1u);

  iam().invalidate(url(), Credential(kGoodKey), first->access_token);
  auto fresh = get_iam_token();
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(fresh->access_token, first->access_token);
  EXPECT_EQ(iam_requests(), 2u);
}

TEST_F(IamTokenCache, IamOutageIsRetryableIAMUnavailable) {
  fake_->add_fault({{"pathPrefix", "/identity/token"}, {"status", 503}, {"times", 1}});
  auto error = expect_error(get_iam_token(), IbmErrorKind::IAMUnavailable);
  EXPECT_TRUE(error.retryable);
  EXPECT_EQ(error.http_status, 503);
  auto token = get_iam_token();
  EXPECT_TRUE(token.ok()) << token.error().message;
}

TEST_F(IamTokenCache, RateLimitHonoursRetryAfterWithoutCallingAgain) {
  fake_->add_fault(
      {{"pathPrefix", "/identity/token"}, {"status", 429}, {"retryAfterSeconds", 7}, {"times", 1}});
  auto error = expect_error(get_iam_token(), IbmErrorKind::RateLimited);
  EXPECT_TRUE(error.retryable);
  EXPECT_EQ(error.retry_after, 7s);
  EXPECT_EQ(error.http_status, 429);

  // Until the wait is over, IAM is not asked again for this key.
  auto held = expect_error(get_iam_token(), IbmErrorKind::RateLimited);
  ASSERT_TRUE(held.retry_after.has_value());
  EXPECT_GE(*held.retry_after, 1s);
  EXPECT_LE(*held.retry_after, 7s);
  EXPECT_EQ(iam_requests(), 1u);
}

TEST_F(IamTokenCache, RetryAfterForOneKeyDoesNotHoldBackAnother) {
  fake_->add_fault(
      {{"pathPrefix", "/identity/token"}, {"status", 429}, {"retryAfterSeconds", 30}, {"times", 1}});
  expect_error(get_iam_token(kGoodKey), IbmErrorKind::RateLimited);
  // Another tenant's key on the same IAM host is served at once.
  const auto started = std::chrono::steady_clock::now();
  auto other = get_iam_token(kSecondKey);
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(iam_requests(), 2u);
  // The throttled key still waits, without a request.
  auto held = expect_error(get_iam_token(kGoodKey), IbmErrorKind::RateLimited);
  ASSERT_TRUE(held.retry_after.has_value());
  EXPECT_GE(*held.retry_after, 25s);
  EXPECT_EQ(iam_requests(), 2u);
  // Surrounding whitespace does not make another key.
  const std::string spaced = std::string(kGoodKey) + "\n";
  expect_error(get_iam_token(spaced), IbmErrorKind::RateLimited);
  EXPECT_EQ(iam_requests(), 2u);
}

TEST_F(IamTokenCache, TransportFailuresAreIAMUnavailable) {
  fake_->add_fault({{"pathPrefix", "/identity/token"}, {"drop", true}, {"times", 1}});
  auto dropped = expect_error(get_iam_token(), IbmErrorKind::IAMUnavailable);
  EXPECT_TRUE(dropped.retryable);
  EXPECT_EQ(dropped.http_status, 0);
}

TEST_F(IamTokenCache, ASlowIamTimesOut) {
  gateway_options_.request_timeout = 300ms;
  fake_->add_fault({{"pathPrefix", "/identity/token"}, {"latencyMs", 3000}, {"times", 1}});
  auto started = std::chrono::steady_clock::now();
  auto error = expect_error(get_iam_token(), IbmErrorKind::IAMUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2500ms);
  EXPECT_NE(error.message.find("Timeout"), std::string::npos) << error.message;
}

TEST_F(IamTokenCache, AnUntrustedCertificateIsRefused) {
  gateway_options_.tls.ca_pem.clear();
  gateway_options_.tls.use_system_store = false;
  auto error = expect_error(get_iam_token(), IbmErrorKind::IAMUnavailable);
  EXPECT_NE(error.message.find("Tls"), std::string::npos) << error.message;
  EXPECT_EQ(iam_requests(), 0u);
}

TEST_F(IamTokenCache, HostsOffTheAllowlistAreNeverCalled) {
  allowed_hosts_ = {"iam.cloud.ibm.com"};
  auto error = expect_error(get_iam_token(), IbmErrorKind::EndpointNotAllowed);
  EXPECT_FALSE(error.retryable);
  EXPECT_NE(error.message.find("127.0.0.1"), std::string::npos) << error.message;
  EXPECT_EQ(iam_requests(), 0u);
}

TEST_F(IamTokenCache, AnEndpointThatIsNotHttpsIsInvalidSpec) {
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(fake_->port());
  const Credential key(kGoodKey);
  auto result = testing::run_on(io_, iam().token(endpoint, key));
  expect_error(result, IbmErrorKind::InvalidSpec);
  EXPECT_EQ(iam_requests(), 0u);
}

// --- Trusted profiles -------------------------------------------------------------

// A ServiceAccount token as the API server issues it (the fake reads only its
// claims).
std::string service_account_jwt(const std::string& ns, const std::string& sa, int serial) {
  auto url = [](std::string text) {
    std::string b = base64_encode(text);
    for (char& c : b) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!b.empty() && b.back() == '=') b.pop_back();
    return b;
  };
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  nlohmann::json claims = {{"aud", {"iam"}},
                           {"exp", now + 600},
                           {"iat", now},
                           {"jti", serial},
                           {"sub", "system:serviceaccount:" + ns + ":" + sa}};
  return url(R"({"alg":"RS256"})") + "." + url(claims.dump()) + ".sig";
}

class TrustedProfileTokens : public IamTokenCache {
 protected:
  void SetUp() override {
    IamTokenCache::SetUp();
    fake_->admin("POST", "/_fake/state",
                 {{"trustedProfiles",
                   {{{"id", "Profile-1"},
                     {"name", "sysdig-readers"},
                     {"iamID", "iam-Profile-1"},
                     {"trust",
                      {{{"namespace", "team-a"}, {"serviceAccount", "reader"}},
                       {{"namespace", "team-a"}, {"serviceAccount", "reader-2"}}}}}}}});
  }

  // A credential whose ServiceAccount tokens are counted in sa_tokens_.
  Credential profile(const std::string& sa, const std::string& id = "Profile-1",
                     const std::string& name = "") {
    auto counter = sa_tokens_;
    CrTokenSource source = [counter, sa]() -> boost::asio::awaitable<Result<std::string, IbmError>> {
      ++*counter;
      co_return service_account_jwt("team-a", sa, *counter);
    };
    return Credential::trusted_profile(TrustedProfile{id, name, "team-a", sa}, std::move(source));
  }

  Result<IamToken, IbmError> token_for(const Credential& credential) {
    auto& source = iam();
    const std::string endpoint = url();
    auto result = testing::run_on(io_, source.token(endpoint, credential));
    if (!result) seen(result.error());
    return result;
  }

  std::shared_ptr<int> sa_tokens_ = std::make_shared<int>(0);
};

TEST_F(TrustedProfileTokens, ServiceAccountTokenIsTradedForTheProfilesToken) {
  auto token = token_for(profile("reader"));
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(*sa_tokens_, 1);
  EXPECT_EQ(iam_requests("200"), 1u);
  auto requests = fake_->admin("GET", "/_fake/requests");
  const auto& form = requests.at("recent").back().at("form");
  EXPECT_EQ(form.at("grant_type"), "urn:ibm:params:oauth:grant-type:cr-token");
  EXPECT_EQ(form.at("profile_id"), "Profile-1");
  EXPECT_FALSE(form.contains("profile_name"));
  EXPECT_FALSE(form.contains("apikey"));
  EXPECT_TRUE(form.contains("cr_token"));

  auto by_name = token_for(profile("reader", "", "sysdig-readers"));
  ASSERT_TRUE(by_name.ok()) << by_name.error().message;
  requests = fake_->admin("GET", "/_fake/requests");
  EXPECT_EQ(requests.at("recent").back().at("form").at("profile_name"), "sysdig-readers");
}

TEST_F(TrustedProfileTokens, CachedPerProfileNamespaceAndServiceAccountNotPerServiceAccountToken) {
  auto first = token_for(profile("reader"));
  ASSERT_TRUE(first.ok()) << first.error().message;
  // A fresh cached token: no new ServiceAccount token, no IAM request.
  auto again = token_for(profile("reader"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->access_token, first->access_token);
  EXPECT_EQ(*sa_tokens_, 1);
  EXPECT_EQ(iam_requests(), 1u);
  // Another ServiceAccount is another identity.
  auto other = token_for(profile("reader-2"));
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_NE(other->access_token, first->access_token);
  EXPECT_EQ(iam_requests(), 2u);
  // At 80 % of its lifetime the token is refreshed with a new ServiceAccount token.
  clock_.advance(2900s);
  auto refreshed = token_for(profile("reader"));
  ASSERT_TRUE(refreshed.ok());
  EXPECT_NE(refreshed->access_token, first->access_token);
  EXPECT_EQ(*sa_tokens_, 3);
}

TEST_F(TrustedProfileTokens, ConcurrentCallsShareOneServiceAccountTokenAndOneIamRequest) {
  const Credential credential = profile("reader");
  auto& source = iam();
  const std::string endpoint = url();
  std::vector<std::optional<Result<IamToken, IbmError>>> slots(20);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    boost::asio::co_spawn(
        io_,
        [&source, &endpoint, &credential, &slots, i]() -> boost::asio::awaitable<void> {
          auto result = co_await source.token(endpoint, credential);
          slots[i].emplace(std::move(result));
        },
        boost::asio::detached);
  }
  io_.restart();
  io_.run();
  for (const auto& slot : slots) {
    ASSERT_TRUE(slot && slot->ok());
    EXPECT_EQ((*slot)->access_token, (*slots[0])->access_token);
  }
  EXPECT_EQ(*sa_tokens_, 1);
  EXPECT_EQ(iam_requests(), 1u);
}

TEST_F(TrustedProfileTokens, AnUntrustedServiceAccountIsAccessDeniedNamingTheTrustRule) {
  auto error = expect_error(token_for(profile("intruder")), IbmErrorKind::AccessDenied);
  EXPECT_NE(error.message.find("namespace team-a"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("service account intruder"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("HTTP 403"), std::string::npos) << error.message;
  EXPECT_EQ(error.message.find("eyJ"), std::string::npos) << error.message;
  auto unknown = expect_error(token_for(profile("reader", "Profile-404")),
                              IbmErrorKind::AccessDenied);
  EXPECT_NE(unknown.message.find("\"Profile-404\""), std::string::npos) << unknown.message;
}

TEST_F(TrustedProfileTokens, AServiceAccountTokenFailureIsReportedAndIamIsNotCalled) {
  CrTokenSource failing = []() -> boost::asio::awaitable<Result<std::string, IbmError>> {
    co_return fail(make_error(IbmErrorKind::ServiceAccountTokenFailed, "ServiceAccount gone"));
  };
  auto credential = Credential::trusted_profile(TrustedProfile{"Profile-1", "", "team-a", "gone"},
                                                std::move(failing));
  auto error = expect_error(token_for(credential), IbmErrorKind::ServiceAccountTokenFailed);
  EXPECT_EQ(error.message, "ServiceAccount gone");
  EXPECT_EQ(iam_requests(), 0u);
}

}  // namespace
}  // namespace sto::ibm
