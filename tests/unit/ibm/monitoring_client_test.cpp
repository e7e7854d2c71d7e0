// The Monitoring client against the real fake IBM Cloud: a team's token and a
// team by name, the 401 retry with a fresh IAM token, coalescing keyed by API
// key, and every failure reason.
#include <gtest/gtest.h>

#include "fake_cloud_fixture.h"

namespace sto::ibm {
namespace {

using namespace std::chrono_literals;
using testing::FakeCloudTest;
using testing::kGoodKey;
using testing::kGuid;
using testing::kIamOnlyGuid;
using testing::kIamTokenEndpoint;
using testing::kMonitorTokenEndpoint;
using testing::kMonOpsTeam;
using testing::kMonOpsToken;
using testing::kOpsTeam;
using testing::kOpsToken;
using testing::kSecondKey;
using testing::kTeamByNameEndpoint;
using testing::kUnknownKey;

class MonitoringClientTest : public FakeCloudTest {
 protected:
  std::uint64_t iam_requests(const std::string& outcome = "") {
    return fake_->count(std::string(kIamTokenEndpoint), outcome);
  }
  std::uint64_t token_requests(const std::string& outcome = "") {
    return fake_->count(std::string(kMonitorTokenEndpoint), outcome);
  }
  std::uint64_t all_requests() {
    auto counts = fake_->admin("GET", "/_fake/requests").at("counts");
    std::uint64_t total = 0;
    for (const auto& [endpoint, outcomes] : counts.items()) {
      for (const auto& [outcome, n] : outcomes.items()) total += n.get<std::uint64_t>();
    }
    return total;
  }
};

TEST_F(MonitoringClientTest, FetchesTheTeamsToken) {
  auto token = fetch_token(team());
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(*token, kOpsToken);
  auto other = fetch_token(team(kMonOpsTeam));
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_EQ(*other, kMonOpsToken);
  // One IAM token served both.
  EXPECT_EQ(iam_requests(), 1u);
  EXPECT_EQ(token_requests("200"), 2u);

  auto recent = fake_->admin("GET", "/_fake/requests").at("recent").back();
  EXPECT_EQ(recent.at("path"), "/api/token");
  EXPECT_EQ(recent.at("headers").at("ibminstanceid"), kGuid);
  EXPECT_EQ(recent.at("headers").at("sysdigteamid"), std::to_string(kMonOpsTeam));
  EXPECT_EQ(recent.at("headers").at("authorization").get<std::string>().rfind("Bearer ", 0), 0u);
}

TEST_F(MonitoringClientTest, EveryFetchAsksMonitoringSoAResetIsSeen) {
  ASSERT_EQ(*fetch_token(team()), kOpsToken);
  auto reset = fake_->admin("POST", "/_fake/instances/" + std::string(kGuid) + "/teams/" +
                                        std::to_string(kOpsTeam) + "/reset");
  auto token = fetch_token(team());
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, reset.at("token").get<std::string>());
  EXPECT_NE(*token, kOpsToken);
}

TEST_F(MonitoringClientTest, TwentyConcurrentFetchesOfOneTeamShareOneRequest) {
  std::vector<std::pair<TeamRef, std::string>> calls(20, {team(), std::string(kGoodKey)});
  auto tokens = fetch_tokens_concurrently(calls);
  for (const auto& token : tokens) {
    ASSERT_TRUE(token.ok()) << token.error().message;
    EXPECT_EQ(*token, kOpsToken);
  }
  EXPECT_EQ(iam_requests(), 1u);
  EXPECT_LE(token_requests(), 2u);
  EXPECT_GE(token_requests(), 1u);
}

TEST_F(MonitoringClientTest, AFetchWithinMaxAgeTakesTheAnswerJustFetched) {
  ASSERT_EQ(*fetch_token(team(), kGoodKey, 30s), kOpsToken);
  ASSERT_EQ(*fetch_token(team(), kGoodKey, 30s), kOpsToken);
  EXPECT_EQ(token_requests(), 1u);
  // A zero max_age (a reset) asks again.
  ASSERT_EQ(*fetch_token(team(), kGoodKey, 0ms), kOpsToken);
  EXPECT_EQ(token_requests(), 2u);
}

TEST_F(MonitoringClientTest, AResetIsSeenByAZeroMaxAgeEvenRightAfterASharedFetch) {
  ASSERT_EQ(*fetch_token(team(), kGoodKey, 30s), kOpsToken);
  auto reset = fake_->admin("POST", "/_fake/instances/" + std::string(kGuid) + "/teams/" +
                                        std::to_string(kOpsTeam) + "/reset");
  EXPECT_EQ(*fetch_token(team(), kGoodKey, 30s), kOpsToken);  // shared, as asked
  EXPECT_EQ(*fetch_token(team(), kGoodKey, 0ms), reset.at("token").get<std::string>());
}

TEST_F(MonitoringClientTest, AFailureIsNeverSharedWithALaterCall) {
  fake_->add_fault({{"pathPrefix", "/api/token"}, {"status", 503}, {"times", 1}});
  expect_error(fetch_token(team(), kGoodKey, 30s), IbmErrorKind::MonitoringUnavailable);
  auto token = fetch_token(team(), kGoodKey, 30s);
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(token_requests(), 2u);
}

TEST_F(MonitoringClientTest, AnInvalidKeyNeverGetsAnotherKeysSharedAnswer) {
  ASSERT_TRUE(fetch_token(team(), kGoodKey, 30s).ok());
  expect_error(fetch_token(team(), kUnknownKey, 30s), IbmErrorKind::APIKeyInvalid);
  ASSERT_TRUE(fetch_token(team(), kSecondKey, 30s).ok());
  EXPECT_EQ(token_requests(), 2u);  // the unknown key fails at IAM
}

TEST_F(MonitoringClientTest, ResetCallersArrivingDuringAFetchShareTheNextOne) {
  // 20 callers that accept no earlier answer: one request for the first, one
  // after it for all who came while it was in flight.
  std::vector<std::pair<TeamRef, std::string>> calls(20, {team(), std::string(kGoodKey)});
  auto tokens = fetch_tokens_concurrently(calls, 0ms);
  for (const auto& token : tokens) ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_LE(token_requests(), 2u);
}

TEST_F(MonitoringClientTest, ConcurrentFetchesWithDifferentKeysNeverShareAnAnswer) {
  std::vector<std::pair<TeamRef, std::string>> calls;
  for (int i = 0; i < 5; ++i) {
    calls.emplace_back(team(), std::string(kGoodKey));
    calls.emplace_back(team(), std::string(kUnknownKey));
    calls.emplace_back(team(), std::string(kSecondKey));
  }
  auto results = fetch_tokens_concurrently(calls);
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (i % 3 == 1) {
      expect_error(results[i], IbmErrorKind::APIKeyInvalid);
    } else {
      ASSERT_TRUE(results[i].ok()) << results[i].error().message;
      EXPECT_EQ(*results[i], kOpsToken);
    }
  }
  EXPECT_EQ(token_requests(), 2u);  // one per valid key
  EXPECT_EQ(iam_requests(), 3u);    // one per key
}

TEST_F(MonitoringClientTest, AnInvalidKeyFailsRightAfterAGoodKeyFetchedTheSameTeam) {
  ASSERT_TRUE(fetch_token(team()).ok());
  auto error = expect_error(fetch_token(team(), kUnknownKey), IbmErrorKind::APIKeyInvalid);
  EXPECT_FALSE(error.retryable);
  EXPECT_EQ(token_requests(), 1u);
}

TEST_F(MonitoringClientTest, ARevokedIamTokenIsDroppedAndFetchedAgain) {
  ASSERT_TRUE(fetch_token(team()).ok());
  fake_->admin("POST", "/_fake/iam/revoke");
  auto token = fetch_token(team());
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(*token, kOpsToken);
  EXPECT_EQ(iam_requests("200"), 2u);
  EXPECT_EQ(token_requests("401"), 1u);
  EXPECT_EQ(token_requests("200"), 2u);
  // The new IAM token is cached again.
  ASSERT_TRUE(fetch_token(team(kMonOpsTeam)).ok());
  EXPECT_EQ(iam_requests(), 2u);
}

TEST_F(MonitoringClientTest, ConcurrentCallersHitByARevocationRefetchTheIamTokenOnce) {
  ASSERT_TRUE(fetch_token(team()).ok());
  fake_->admin("POST", "/_fake/iam/revoke");
  std::vector<std::pair<TeamRef, std::string>> calls = {{team(kOpsTeam), std::string(kGoodKey)},
                                                        {team(kMonOpsTeam), std::string(kGoodKey)}};
  auto results = fetch_tokens_concurrently(calls);
  ASSERT_TRUE(results[0].ok()) << results[0].error().message;
  ASSERT_TRUE(results[1].ok()) << results[1].error().message;
  EXPECT_EQ(iam_requests(), 2u);
}

TEST_F(MonitoringClientTest, A401WithAFreshIamTokenIsAPIKeyInvalid) {
  fake_->add_fault({{"pathPrefix", "/api/token"}, {"status", 401}, {"times", 2}});
  auto error = expect_error(fetch_token(team()), IbmErrorKind::APIKeyInvalid);
  EXPECT_EQ(error.http_status, 401);
  EXPECT_EQ(token_requests("401"), 2u);  // retried once, not more
  EXPECT_EQ(iam_requests(), 2u);
}

TEST_F(MonitoringClientTest, AnIamOnlyInstanceIsAccessDenied) {
  auto error = expect_error(fetch_token(team(100, kIamOnlyGuid)), IbmErrorKind::AccessDenied);
  EXPECT_FALSE(error.retryable);
  EXPECT_EQ(error.http_status, 403);
  EXPECT_NE(error.message.find("IAM_ONLY"), std::string::npos) << error.message;
}

TEST_F(MonitoringClientTest, AnUnknownTeamOrInstanceIsTeamNotFound) {
  auto error = expect_error(fetch_token(team(999)), IbmErrorKind::TeamNotFound);
  EXPECT_EQ(error.http_status, 404);
  EXPECT_NE(error.message.find("999"), std::string::npos) << error.message;
  expect_error(fetch_token(team(kOpsTeam, "00000000-0000-0000-0000-000000000000")),
               IbmErrorKind::TeamNotFound);
}

TEST_F(MonitoringClientTest, AMonitoringOutageIsRetryableMonitoringUnavailable) {
  fake_->add_fault({{"pathPrefix", "/api/token"}, {"status", 503}, {"times", 1}});
  auto error = expect_error(fetch_token(team()), IbmErrorKind::MonitoringUnavailable);
  EXPECT_TRUE(error.retryable);
  EXPECT_EQ(error.http_status, 503);
  // Twice: the HTTP client retries once when a kept-alive connection closes.
  fake_->add_fault({{"pathPrefix", "/api/token"}, {"drop", true}, {"times", 2}});
  expect_error(fetch_token(team()), IbmErrorKind::MonitoringUnavailable);
  EXPECT_TRUE(fetch_token(team()).ok());
}

TEST_F(MonitoringClientTest, ARateLimitHonoursRetryAfter) {
  fake_->add_fault(
      {{"pathPrefix", "/api/token"}, {"status", 429}, {"retryAfterSeconds", 30}, {"times", 1}});
  auto error = expect_error(fetch_token(team()), IbmErrorKind::RateLimited);
  EXPECT_EQ(error.retry_after, 30s);
  auto held = expect_error(fetch_token(team(kMonOpsTeam)), IbmErrorKind::RateLimited);
  ASSERT_TRUE(held.retry_after.has_value());
  EXPECT_LE(*held.retry_after, 30s);
  EXPECT_EQ(token_requests(), 1u);
}

TEST_F(MonitoringClientTest, RetryAfterForOneKeyDoesNotHoldBackAnother) {
  fake_->add_fault(
      {{"pathPrefix", "/api/token"}, {"status", 429}, {"retryAfterSeconds", 30}, {"times", 1}});
  expect_error(fetch_token(team(), kGoodKey), IbmErrorKind::RateLimited);
  // Another tenant's key, same host and even the same team: served at once.
  const auto started = std::chrono::steady_clock::now();
  auto other = fetch_token(team(), kSecondKey);
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_EQ(*other, kOpsToken);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(token_requests(), 2u);
  // The throttled key still waits out its Retry-After, without a request.
  auto held = expect_error(fetch_token(team(kMonOpsTeam), kGoodKey), IbmErrorKind::RateLimited);
  ASSERT_TRUE(held.retry_after.has_value());
  EXPECT_GE(*held.retry_after, 25s);
  EXPECT_EQ(token_requests(), 2u);
}

TEST_F(MonitoringClientTest, ASlowMonitoringTimesOut) {
  gateway_options_.request_timeout = 300ms;
  fake_->add_fault({{"pathPrefix", "/api/token"}, {"latencyMs", 3000}, {"times", 1}});
  auto error = expect_error(fetch_token(team()), IbmErrorKind::MonitoringUnavailable);
  EXPECT_NE(error.message.find("Timeout"), std::string::npos) << error.message;
}

TEST_F(MonitoringClientTest, IamFailuresComeThrough) {
  expect_error(fetch_token(team(), kUnknownKey), IbmErrorKind::APIKeyInvalid);
  fake_->add_fault({{"pathPrefix", "/identity/token"}, {"status", 500}, {"times", 1}});
  expect_error(fetch_token(team()), IbmErrorKind::IAMUnavailable);
  EXPECT_EQ(token_requests(), 0u);
}

TEST_F(MonitoringClientTest, HostsOffTheAllowlistAreNeverCalled) {
  // The fake answers on localhost too, but only 127.0.0.1 is allowed.
  const std::string localhost = "https://localhost:" + std::to_string(fake_->port());
  TeamRef monitoring_elsewhere = team();
  monitoring_elsewhere.instance.endpoint = localhost;
  auto error = expect_error(fetch_token(monitoring_elsewhere), IbmErrorKind::EndpointNotAllowed);
  EXPECT_NE(error.message.find("localhost"), std::string::npos) << error.message;
  TeamRef iam_elsewhere = team();
  iam_elsewhere.instance.iam_endpoint = localhost;
  expect_error(fetch_token(iam_elsewhere), IbmErrorKind::EndpointNotAllowed);
  EXPECT_EQ(all_requests(), 0u);
}

TEST_F(MonitoringClientTest, ASpecThatCannotMakeARequestIsInvalidSpec) {
  TeamRef no_instance = team();
  no_instance.instance.instance_id = "";
  expect_error(fetch_token(no_instance), IbmErrorKind::InvalidSpec);
  TeamRef spaced = team();
  spaced.instance.instance_id = "a b";
  expect_error(fetch_token(spaced), IbmErrorKind::InvalidSpec);
  expect_error(fetch_token(team(0)), IbmErrorKind::InvalidSpec);
  TeamRef plain_http = team();
  plain_http.instance.endpoint = "http://127.0.0.1:" + std::to_string(fake_->port());
  expect_error(fetch_token(plain_http), IbmErrorKind::InvalidSpec);
  expect_error(find_team(""), IbmErrorKind::InvalidSpec);
  EXPECT_EQ(all_requests(), 0u);
}

TEST_F(MonitoringClientTest, FindsATeamByName) {
  auto ops = find_team("Ops");
  ASSERT_TRUE(ops.ok()) << ops.error().message;
  EXPECT_EQ(*ops, kOpsTeam);
  auto mon_ops = find_team("Mon Ops");
  ASSERT_TRUE(mon_ops.ok()) << mon_ops.error().message;
  EXPECT_EQ(*mon_ops, kMonOpsTeam);
  auto error = expect_error(find_team("Nobody"), IbmErrorKind::TeamNotFound);
  EXPECT_NE(error.message.find("Nobody"), std::string::npos) << error.message;
  EXPECT_EQ(fake_->count(std::string(kTeamByNameEndpoint)), 3u);
  EXPECT_EQ(iam_requests(), 1u);
  expect_error(find_team("Ops", kUnknownKey), IbmErrorKind::APIKeyInvalid);
}

TEST_F(MonitoringClientTest, ATeamLookupAlsoRetriesOnceAfterARevocation) {
  ASSERT_TRUE(find_team("Ops").ok());
  fake_->admin("POST", "/_fake/iam/revoke");
  auto ops = find_team("Ops");
  ASSERT_TRUE(ops.ok()) << ops.error().message;
  EXPECT_EQ(fake_->count(std::string(kTeamByNameEndpoint), "401"), 1u);
}

}  // namespace
}  // namespace sto::ibm
