// The IAM token cache against the real fake IBM Cloud: one token per API key,
// shared, single-flight, refreshed at 80 % of its lifetime.
#include <gtest/gtest.h>

#include <thread>

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
  const std::string key = std::string(kGoodKey) + "\n";  // a Secret written from a file
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
  iam().invalidate(url(), std::string(kGoodKey), "some-older-token");
  auto still = get_iam_token();
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->access_token, first->access_token);
  EXPECT_EQ(iam_requests(), 1u);

  iam().invalidate(url(), std::string(kGoodKey), first->access_token);
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
  const std::string key(kGoodKey);
  auto result = testing::run_on(io_, iam().token(endpoint, key));
  expect_error(result, IbmErrorKind::InvalidSpec);
  EXPECT_EQ(iam_requests(), 0u);
}

}  // namespace
}  // namespace sto::ibm
