#include "kube/access_review.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "kube/client.h"
#include "log_capture.h"
#include "run_coroutine.h"

namespace sto::kube {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using Clock = ReviewCache::Clock;

// --- request bodies ----------------------------------------------------------

TEST(AccessReviewJson, TokenReviewRequestCarriesTheToken) {
  json body = json::parse(token_review_request("abc.def-ghi"));
  EXPECT_EQ(body["apiVersion"], "authentication.k8s.io/v1");
  EXPECT_EQ(body["kind"], "TokenReview");
  EXPECT_EQ(body["spec"]["token"], "abc.def-ghi");
}

TEST(AccessReviewJson, SubjectAccessReviewRequestNamesUserAndNonResourceUrl) {
  UserInfo u;
  u.username = "system:serviceaccount:mon:prometheus";
  u.uid = "1234";
  u.groups = {"system:serviceaccounts", "system:authenticated"};
  u.extra = {{"authentication.kubernetes.io/pod-name", {"prometheus-0"}}};
  json body = json::parse(subject_access_review_request(u, "/metrics", "get"));
  EXPECT_EQ(body["apiVersion"], "authorization.k8s.io/v1");
  EXPECT_EQ(body["kind"], "SubjectAccessReview");
  EXPECT_EQ(body["spec"]["user"], u.username);
  EXPECT_EQ(body["spec"]["uid"], "1234");
  EXPECT_EQ(body["spec"]["groups"], json(u.groups));
  EXPECT_EQ(body["spec"]["extra"]["authentication.kubernetes.io/pod-name"][0], "prometheus-0");
  EXPECT_EQ(body["spec"]["nonResourceAttributes"]["path"], "/metrics");
  EXPECT_EQ(body["spec"]["nonResourceAttributes"]["verb"], "get");
  EXPECT_FALSE(body["spec"].contains("resourceAttributes"));
}

// --- answers -------------------------------------------------------------------

TEST(AccessReviewJson, ParsesAnAuthenticatedTokenReview) {
  auto r = parse_token_review(R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview",
    "status":{"authenticated":true,"user":{"username":"system:serviceaccount:a:b","uid":"u-1",
    "groups":["system:serviceaccounts","system:authenticated"],
    "extra":{"k":["v1","v2"]}},"audiences":["https://kubernetes.default.svc"]}})");
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(r->authenticated);
  EXPECT_EQ(r->user.username, "system:serviceaccount:a:b");
  EXPECT_EQ(r->user.uid, "u-1");
  EXPECT_EQ(r->user.groups.size(), 2u);
  ASSERT_EQ(r->user.extra.size(), 1u);
  EXPECT_EQ(r->user.extra[0].second, (std::vector<std::string>{"v1", "v2"}));
}

TEST(AccessReviewJson, ParsesAnUnauthenticatedTokenReview) {
  auto r = parse_token_review(
      R"({"kind":"TokenReview","status":{"user":{},"error":"[invalid bearer token, square/go-jose: error in cryptographic primitive]"}})");
  ASSERT_TRUE(r) << r.error();
  EXPECT_FALSE(r->authenticated);
  EXPECT_NE(r->error.find("invalid bearer token"), std::string::npos);
}

TEST(AccessReviewJson, ParsesSubjectAccessReviews) {
  auto yes = parse_subject_access_review(
      R"({"kind":"SubjectAccessReview","status":{"allowed":true,"reason":"RBAC: allowed by ClusterRoleBinding"}})");
  ASSERT_TRUE(yes) << yes.error();
  EXPECT_TRUE(yes->allowed);
  auto no = parse_subject_access_review(R"({"kind":"SubjectAccessReview","status":{"allowed":false}})");
  ASSERT_TRUE(no) << no.error();
  EXPECT_FALSE(no->allowed);
}

struct Hostile {
  const char* answer;
  const char* error;  // part of the error text
};

class HostileTokenReview : public ::testing::TestWithParam<Hostile> {};

TEST_P(HostileTokenReview, IsRefusedWithAClearError) {
  auto r = parse_token_review(GetParam().answer);
  ASSERT_FALSE(r) << "accepted: " << GetParam().answer;
  EXPECT_NE(r.error().find(GetParam().error), std::string::npos) << r.error();
  // The answer is never quoted (it may echo the token).
  EXPECT_EQ(r.error().find("SECRET"), std::string::npos) << r.error();
}

INSTANTIATE_TEST_SUITE_P(
    Answers, HostileTokenReview,
    ::testing::Values(
        Hostile{"", "not JSON"}, Hostile{"SECRET", "not JSON"}, Hostile{"[1,2]", "not a JSON object"},
        Hostile{R"({"kind":"Status","status":"Failure","message":"SECRET"})", "not a TokenReview"},
        Hostile{R"({"kind":"TokenReview"})", "no status"},
        Hostile{R"({"kind":"TokenReview","status":"SECRET"})", "no status"},
        Hostile{R"({"status":{"authenticated":"true"}})", "authenticated is not a boolean"},
        Hostile{R"({"status":{"authenticated":true}})", "no status.user"},
        Hostile{R"({"status":{"authenticated":true,"user":{"username":""}}})", "username is empty"},
        Hostile{R"({"status":{"authenticated":true,"user":{"username":7}}})", "not a string"},
        Hostile{R"({"status":{"authenticated":true,"user":{"username":"a","groups":"SECRET"}}})",
                "groups is not a list"},
        Hostile{R"({"status":{"authenticated":true,"user":{"username":"a","groups":[1]}}})",
                "not a string"},
        Hostile{R"({"status":{"authenticated":true,"user":{"username":"a","extra":[]}}})",
                "extra is not an object"},
        Hostile{R"({"status":{"authenticated":true,"user":{"username":"a","extra":{"k":"v"}}}})",
                "extra values is not a list"}));

TEST(AccessReviewJson, OversizedAnswersAreRefused) {
  std::string huge = R"({"status":{"authenticated":true,"user":{"username":")" +
                     std::string(2000, 'u') + R"("}}})";
  auto r = parse_token_review(huge);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("longer than 1024"), std::string::npos) << r.error();
  json many = {{"status",
                {{"authenticated", true},
                 {"user", {{"username", "a"}, {"groups", std::vector<std::string>(300, "g")}}}}}};
  auto m = parse_token_review(many.dump());
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().find("more than 256"), std::string::npos) << m.error();
  auto big = parse_token_review(std::string(2 * 1024 * 1024, ' '));
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().find("larger than 1 MiB"), std::string::npos) << big.error();
}

TEST(AccessReviewJson, HostileSubjectAccessReviewsAreRefused) {
  for (const char* answer :
       {"", "{}", R"({"kind":"SubjectAccessReview"})", R"({"status":{}})",
        R"({"status":{"allowed":"true"}})", R"({"status":{"allowed":1}})",
        R"({"kind":"TokenReview","status":{"allowed":true}})",
        R"({"status":{"allowed":true,"denied":true}})",
        R"({"status":{"allowed":false,"denied":"yes"}})"}) {
    auto r = parse_subject_access_review(answer);
    EXPECT_FALSE(r) << "accepted: " << answer;
    if (!r) {
      EXPECT_NE(r.error().find("SubjectAccessReview"), std::string::npos) << r.error();
    }
  }
}

TEST(AccessReviewJson, PlausibleBearerTokens) {
  EXPECT_TRUE(plausible_bearer_token("eyJhbGciOi.eyJzdWIi.sig-_~+/=", 100));
  EXPECT_FALSE(plausible_bearer_token("", 100));
  EXPECT_FALSE(plausible_bearer_token("two words", 100));
  EXPECT_FALSE(plausible_bearer_token("tab\there", 100));
  EXPECT_FALSE(plausible_bearer_token(std::string_view("nul\0x", 5), 100));
  EXPECT_FALSE(plausible_bearer_token("caf\xc3\xa9", 100));
  EXPECT_FALSE(plausible_bearer_token(std::string(101, 'a'), 100));
}

// --- the cache -----------------------------------------------------------------

TEST(ReviewCache, KeysAreDigestsNotTokens) {
  std::string key = ReviewCache::key_of("my-secret-token");
  EXPECT_EQ(key.rfind("sha256:", 0), 0u);
  EXPECT_EQ(key.size(), 7u + 64u);
  EXPECT_EQ(key.find("my-secret-token"), std::string::npos);
  EXPECT_NE(key, ReviewCache::key_of("my-secret-token2"));
}

TEST(ReviewCache, EntriesExpireAfterTheTtl) {
  ReviewCache cache(60s, 10);
  auto t0 = Clock::now();
  cache.put("a", AccessDecision::Allowed, t0);
  cache.put("b", AccessDecision::Forbidden, t0);
  EXPECT_EQ(cache.get("a", t0 + 59s), AccessDecision::Allowed);
  EXPECT_EQ(cache.get("b", t0 + 59s), AccessDecision::Forbidden);
  EXPECT_EQ(cache.get("a", t0 + 60s), std::nullopt);
  EXPECT_EQ(cache.size(), 1u);  // the expired entry is dropped
  EXPECT_EQ(cache.get("c", t0), std::nullopt);
}

TEST(ReviewCache, IsBoundedOldestFirst) {
  ReviewCache cache(60s, 3);
  auto t0 = Clock::now();
  for (int i = 0; i < 10; ++i) {
    cache.put("k" + std::to_string(i), AccessDecision::Unauthenticated, t0 + std::chrono::seconds(i));
    EXPECT_LE(cache.size(), 3u);
  }
  EXPECT_EQ(cache.get("k6", t0 + 10s), std::nullopt);
  EXPECT_EQ(cache.get("k7", t0 + 10s), AccessDecision::Unauthenticated);
  EXPECT_EQ(cache.get("k9", t0 + 10s), AccessDecision::Unauthenticated);
  // Putting a key again refreshes it without growing the cache.
  cache.put("k7", AccessDecision::Allowed, t0 + 20s);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.get("k7", t0 + 70s), AccessDecision::Allowed);
}

// --- the reviewer against a scripted API server --------------------------------

class ScriptedApi final : public Client {
 public:
  struct Call {
    std::string method, path, body;
  };
  std::vector<Call> calls;
  std::deque<Result<Json, ApiError>> answers;
  // Time each request takes.
  std::chrono::milliseconds latency{0};

  const ClusterConfig& config() const override { return config_; }
  Async<Json> get(const Resource&, std::string_view, std::string_view, std::string_view) override {
    co_return unsupported();
  }
  Async<Json> list(const Resource&, std::string_view, const ListOptions&) override {
    co_return unsupported();
  }
  Async<Json> create(const Resource&, std::string_view, const Json&) override {
    co_return unsupported();
  }
  Async<Json> update(const Resource&, std::string_view, std::string_view, const Json&,
                     std::string_view) override {
    co_return unsupported();
  }
  Async<Json> patch(const Resource&, std::string_view, std::string_view, PatchType, const Json&,
                    const PatchOptions&, std::string_view) override {
    co_return unsupported();
  }
  Async<Json> remove(const Resource&, std::string_view, std::string_view,
                     const DeleteOptions&) override {
    co_return unsupported();
  }
  Async<std::unique_ptr<WatchStream>> watch(const Resource&, std::string_view,
                                            const WatchOptions&) override {
    co_return fail(ApiError{});
  }
  Async<Json> request(std::string_view method, const std::string& path, const Json& body,
                      std::string_view) override {
    calls.push_back({std::string(method), path, body});
    if (latency.count() > 0) {
      boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, latency);
      co_await t.async_wait(boost::asio::use_awaitable);
    }
    if (answers.empty()) co_return unsupported();
    auto a = std::move(answers.front());
    answers.pop_front();
    co_return a;
  }
  void shutdown() override {}

 private:
  static Result<Json, ApiError> unsupported() {
    ApiError e;
    e.message = "not scripted";
    return fail(e);
  }
  ClusterConfig config_;
};

constexpr const char* kAuthenticated =
    R"({"kind":"TokenReview","status":{"authenticated":true,"user":{"username":"system:serviceaccount:mon:prom","groups":["system:authenticated"]}}})";
constexpr const char* kAllowed = R"({"kind":"SubjectAccessReview","status":{"allowed":true}})";
constexpr const char* kNotAllowed = R"({"kind":"SubjectAccessReview","status":{"allowed":false,"reason":"no RBAC policy matched"}})";

struct ReviewerTest : ::testing::Test {
  boost::asio::io_context io;
  std::shared_ptr<ScriptedApi> api = std::make_shared<ScriptedApi>();
  Clock::time_point now = Clock::now();
  AccessReviewer reviewer{api, [this] {
                            AccessReviewOptions o;
                            o.now = [this] { return now; };
                            return o;
                          }()};
  AccessDecision review(const std::string& token) {
    return testing::run_on(io, reviewer.review(token));
  }
};

TEST_F(ReviewerTest, AllowedTokenIsReviewedOnceThenCached) {
  api->answers.emplace_back(std::string(kAuthenticated));
  api->answers.emplace_back(std::string(kAllowed));
  EXPECT_EQ(review("token-1"), AccessDecision::Allowed);
  ASSERT_EQ(api->calls.size(), 2u);
  EXPECT_EQ(api->calls[0].method, "POST");
  EXPECT_EQ(api->calls[0].path, "/apis/authentication.k8s.io/v1/tokenreviews");
  EXPECT_EQ(json::parse(api->calls[0].body)["spec"]["token"], "token-1");
  EXPECT_EQ(api->calls[1].path, "/apis/authorization.k8s.io/v1/subjectaccessreviews");
  json sar = json::parse(api->calls[1].body);
  EXPECT_EQ(sar["spec"]["user"], "system:serviceaccount:mon:prom");
  EXPECT_EQ(sar["spec"]["nonResourceAttributes"]["path"], "/metrics");
  EXPECT_EQ(sar["spec"]["nonResourceAttributes"]["verb"], "get");

  now += 30s;
  EXPECT_EQ(review("token-1"), AccessDecision::Allowed);
  EXPECT_EQ(api->calls.size(), 2u);  // cached
  now += 31s;
  api->answers.emplace_back(std::string(kAuthenticated));
  api->answers.emplace_back(std::string(kNotAllowed));
  EXPECT_EQ(review("token-1"), AccessDecision::Forbidden);  // expired, reviewed again
  EXPECT_EQ(api->calls.size(), 4u);
}

TEST_F(ReviewerTest, DenialsAreCachedToo) {
  api->answers.emplace_back(std::string(R"({"status":{"authenticated":false}})"));
  EXPECT_EQ(review("bad"), AccessDecision::Unauthenticated);
  EXPECT_EQ(review("bad"), AccessDecision::Unauthenticated);
  EXPECT_EQ(api->calls.size(), 1u);
  api->answers.emplace_back(std::string(kAuthenticated));
  api->answers.emplace_back(std::string(kNotAllowed));
  EXPECT_EQ(review("nobody"), AccessDecision::Forbidden);
  EXPECT_EQ(review("nobody"), AccessDecision::Forbidden);
  EXPECT_EQ(api->calls.size(), 3u);
}

TEST_F(ReviewerTest, MissingOrMalformedTokensAreNotSentForReview) {
  EXPECT_EQ(review(""), AccessDecision::Unauthenticated);
  EXPECT_EQ(review("two words"), AccessDecision::Unauthenticated);
  EXPECT_EQ(review(std::string(9000, 'a')), AccessDecision::Unauthenticated);
  EXPECT_TRUE(api->calls.empty());
}

TEST_F(ReviewerTest, HostileOrFailedAnswersDenyWithALogLineAndAreNotCached) {
  testing::LogCapture logs;
  // The answer echoes the token: it must not reach the log.
  api->answers.emplace_back(std::string(R"({"kind":"Status","message":"tok-SECRET-42"})"));
  EXPECT_EQ(review("tok-SECRET-42"), AccessDecision::Unauthenticated);
  api->answers.emplace_back(std::string(kAuthenticated));
  api->answers.emplace_back(std::string(R"({"status":{"allowed":"yes"}})"));
  EXPECT_EQ(review("tok-SECRET-43"), AccessDecision::Forbidden);
  ApiError down;
  down.status = 503;
  down.reason = "ServiceUnavailable";
  down.message = "the server is currently unable to handle the request";
  api->answers.emplace_back(fail(down));
  EXPECT_EQ(review("tok-SECRET-44"), AccessDecision::Unauthenticated);
  EXPECT_EQ(reviewer.cached(), 0u);

  // Failures are not cached: the next scrape asks again.
  api->answers.emplace_back(std::string(kAuthenticated));
  api->answers.emplace_back(std::string(kAllowed));
  EXPECT_EQ(review("tok-SECRET-44"), AccessDecision::Allowed);

  bool saw_bad_tr = false, saw_bad_sar = false;
  for (const auto& r : logs.records()) {
    std::string line = r.message;
    for (const auto& [k, v] : r.fields) line += " " + k + "=" + v;
    EXPECT_EQ(line.find("SECRET"), std::string::npos) << line;
    if (r.message.find("TokenReview answer is not usable") != std::string::npos) {
      saw_bad_tr = true;
      EXPECT_NE(r.field("error").find("not a TokenReview"), std::string::npos) << line;
    }
    if (r.message.find("SubjectAccessReview answer is not usable") != std::string::npos) {
      saw_bad_sar = true;
      EXPECT_NE(r.field("error").find("status.allowed"), std::string::npos) << line;
      EXPECT_EQ(r.field("user"), "system:serviceaccount:mon:prom");
    }
  }
  EXPECT_TRUE(saw_bad_tr);
  EXPECT_TRUE(saw_bad_sar);
}

TEST(ReviewerLimit, AtMostMaxInFlightReviewsWaitForTheApiServer) {
  boost::asio::io_context io;
  auto api = std::make_shared<ScriptedApi>();
  api->latency = 20ms;
  for (int i = 0; i < 10; ++i)
    api->answers.emplace_back(std::string(R"({"status":{"authenticated":false}})"));
  AccessReviewOptions options;
  options.max_in_flight = 3;
  AccessReviewer reviewer(api, options);
  std::vector<std::string> tokens;
  for (int i = 0; i < 10; ++i) tokens.push_back("made-up-" + std::to_string(i));
  std::vector<AccessDecision> decisions;
  std::size_t peak = 0;
  for (const auto& token : tokens) {
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          AccessDecision d = co_await reviewer.review(token);
          decisions.push_back(d);
        },
        boost::asio::detached);
  }
  // Watch the count while the reviews wait.
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        for (int i = 0; i < 10; ++i) {
          peak = std::max(peak, reviewer.in_flight());
          boost::asio::steady_timer t(io, 2ms);
          co_await t.async_wait(boost::asio::use_awaitable);
        }
      },
      boost::asio::detached);
  io.run();
  EXPECT_EQ(decisions.size(), 10u);
  EXPECT_EQ(api->calls.size(), 3u);  // the others were denied without a review
  EXPECT_EQ(peak, 3u);
  EXPECT_EQ(reviewer.in_flight(), 0u);
  for (auto d : decisions) EXPECT_EQ(d, AccessDecision::Unauthenticated);
}

}  // namespace
}  // namespace sto::kube
