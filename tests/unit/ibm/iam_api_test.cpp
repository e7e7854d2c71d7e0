// The IAM token endpoint's wire format, from canned answers.
#include "ibm/iam_api.h"

#include <gtest/gtest.h>

namespace sto::ibm {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kKey = "k3y/with+special=chars&more";
constexpr std::string_view kIam = "https://iam.cloud.ibm.com";
const auto kNow = std::chrono::system_clock::from_time_t(1'800'000'000);

net::HttpResponse answer(int status, std::string body, net::Headers headers = {}) {
  net::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers = std::move(headers);
  return response;
}

Result<IamGrant, IbmError> read(const net::HttpResponse& response) {
  return read_iam_token_response(response, kIam, kKey, kNow);
}

TEST(IamApi, RequestIsAnApiKeyGrantForm) {
  auto request = iam_token_request(kKey);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/identity/token");
  EXPECT_EQ(net::find_header(request.headers, "content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(net::find_header(request.headers, "accept"), "application/json");
  EXPECT_EQ(request.body,
            "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey"
            "&apikey=k3y%2Fwith%2Bspecial%3Dchars%26more");
}

TEST(IamApi, ProfileRequestIsACrTokenGrantForm) {
  auto request = iam_profile_token_request("eyJ.a+b/c.d", "Profile-1", "ignored");
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/identity/token");
  EXPECT_EQ(net::find_header(request.headers, "content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(request.body,
            "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Acr-token"
            "&cr_token=eyJ.a%2Bb%2Fc.d&profile_id=Profile-1");
  auto by_name = iam_profile_token_request("t", "", "sysdig readers");
  EXPECT_EQ(by_name.body,
            "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Acr-token"
            "&cr_token=t&profile_name=sysdig%20readers");
}

TEST(IamApi, ProfileRefusalsAreAccessDeniedWithTheTrustHint) {
  for (int status : {400, 401, 403}) {
    auto grant = read_iam_profile_token_response(
        answer(status, R"({"errorCode":"BXNIM0492E","errorMessage":"not trusted: eyJ.secret"})"),
        kIam, "trusted profile \"P-1\" for ServiceAccount ns/sa", "add a trust rule", "eyJ.secret",
        kNow);
    ASSERT_FALSE(grant.ok());
    EXPECT_EQ(grant.error().kind, IbmErrorKind::AccessDenied) << status;
    EXPECT_FALSE(grant.error().retryable);
    const auto& message = grant.error().message;
    EXPECT_NE(message.find("trusted profile \"P-1\" for ServiceAccount ns/sa"), std::string::npos)
        << message;
    EXPECT_NE(message.find("add a trust rule"), std::string::npos) << message;
    EXPECT_NE(message.find("BXNIM0492E"), std::string::npos) << message;
    EXPECT_EQ(message.find("eyJ.secret"), std::string::npos) << message;
  }
  auto unavailable = read_iam_profile_token_response(answer(503, "down"), kIam, "p", "h", "t", kNow);
  ASSERT_FALSE(unavailable.ok());
  EXPECT_EQ(unavailable.error().kind, IbmErrorKind::IAMUnavailable);
  auto granted = read_iam_profile_token_response(
      answer(200, R"({"access_token":"x","expires_in":3600})"), kIam, "p", "h", "t", kNow);
  ASSERT_TRUE(granted.ok());
  EXPECT_EQ(granted->expires_in, 3600s);
}

TEST(IamApi, ReadsTheGrant) {
  auto grant =
      read(answer(200, R"({"access_token":"eyJ.a.b","refresh_token":"not_supported",)"
                       R"("token_type":"Bearer","expires_in":3600,"expiration":1800003600})"));
  ASSERT_TRUE(grant.ok()) << grant.error().message;
  EXPECT_EQ(grant->access_token, "eyJ.a.b");
  EXPECT_EQ(grant->expires_in, 3600s);
}

TEST(IamApi, LifetimeFromExpirationWhenExpiresInIsAbsent) {
  auto grant = read(answer(200, R"({"access_token":"t","expiration":1800000120})"));
  ASSERT_TRUE(grant.ok()) << grant.error().message;
  EXPECT_EQ(grant->expires_in, 120s);
}

TEST(IamApi, UnknownApiKeyIsAPIKeyInvalidAndNotRetryable) {
  auto grant = read(answer(
      400, R"({"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found",)"
           R"("context":{"requestId":"abc"}})"));
  ASSERT_FALSE(grant.ok());
  const auto& error = grant.error();
  EXPECT_EQ(error.kind, IbmErrorKind::APIKeyInvalid);
  EXPECT_FALSE(error.retryable);
  EXPECT_EQ(error.http_status, 400);
  EXPECT_NE(error.message.find("Provided API key could not be found"), std::string::npos);
  EXPECT_NE(error.message.find("BXNIM0415E"), std::string::npos);
  EXPECT_NE(error.message.find(std::string(kIam)), std::string::npos);
}

TEST(IamApi, StatusesMapToReasons) {
  struct Case {
    int status;
    IbmErrorKind kind;
    bool retryable;
  };
  for (const auto& c :
       {Case{401, IbmErrorKind::APIKeyInvalid, false}, Case{403, IbmErrorKind::AccessDenied, false},
        Case{429, IbmErrorKind::RateLimited, true}, Case{500, IbmErrorKind::IAMUnavailable, true},
        Case{502, IbmErrorKind::IAMUnavailable, true},
        Case{503, IbmErrorKind::IAMUnavailable, true},
        Case{404, IbmErrorKind::IAMUnavailable, true}}) {
    auto grant = read(answer(c.status, "<html>oops</html>"));
    ASSERT_FALSE(grant.ok()) << c.status;
    EXPECT_EQ(grant.error().kind, c.kind) << c.status;
    EXPECT_EQ(grant.error().retryable, c.retryable) << c.status;
    EXPECT_EQ(grant.error().http_status, c.status);
    EXPECT_NE(grant.error().message.find("oops"), std::string::npos) << grant.error().message;
  }
}

TEST(IamApi, RetryAfterIsCarriedOnRateLimitsAndOutages) {
  auto limited = read(answer(429, "{}", {{"Retry-After", "7"}}));
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.error().kind, IbmErrorKind::RateLimited);
  EXPECT_EQ(limited.error().retry_after, 7s);
  auto down = read(answer(503, "{}", {{"retry-after", "30"}}));
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().retry_after, 30s);
  auto no_header = read(answer(429, "{}"));
  ASSERT_FALSE(no_header.ok());
  EXPECT_EQ(no_header.error().retry_after, std::nullopt);
}

TEST(IamApi, IllFormedAnswersAreIAMUnavailableWithAClearMessage) {
  struct Case {
    const char* body;
    const char* says;
  };
  for (const auto& c : {
           Case{"not json", "not a JSON object"},
           Case{"[1,2]", "not a JSON object"},
           Case{R"({"expires_in":3600})", "IAM answer lacks access_token"},
           Case{R"({"access_token":42,"expires_in":3600})", "IAM answer lacks access_token"},
           Case{R"({"access_token":"","expires_in":3600})", "access_token is empty"},
           Case{R"({"access_token":"a b","expires_in":3600})", "not printable"},
           Case{R"({"access_token":"t"})", "lacks expires_in and expiration"},
           Case{R"({"access_token":"t","expires_in":"3600"})", "expires_in is not an integer"},
           Case{R"({"access_token":"t","expires_in":0})", "already expired"},
           Case{R"({"access_token":"t","expiration":1700000000})", "already expired"},
           // Found by tests/fuzz/ibm_answers_fuzz: expiration - now overflowed.
           Case{R"({"access_token":"t","expiration":-9223372036854775808})", "already expired"},
           Case{R"({"access_token":"t","expires_in":60,"token_type":"MAC"})", "token_type"},
       }) {
    auto grant = read(answer(200, c.body));
    ASSERT_FALSE(grant.ok()) << c.body;
    EXPECT_EQ(grant.error().kind, IbmErrorKind::IAMUnavailable) << c.body;
    EXPECT_TRUE(grant.error().retryable);
    EXPECT_NE(grant.error().message.find(c.says), std::string::npos) << grant.error().message;
  }
  auto huge = read(answer(200, R"({"access_token":")" + std::string(kMaxAccessTokenSize + 1, 'a') +
                                   R"(","expires_in":60})"));
  EXPECT_FALSE(huge.ok());
}

TEST(IamApi, LifetimesBeyondADayAreNotBelieved) {
  auto grant = read(answer(200, R"({"access_token":"t","expires_in":31536000})"));
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(grant->expires_in, 24h);
}

TEST(IamApi, ErrorsNeverQuoteTheApiKey) {
  // A server that echoes the key (in a message, in a code, in a non-JSON
  // body) still does not get it into our message.
  const std::string key(kKey);
  for (const std::string& body :
       {R"({"errorCode":"E","errorMessage":"key )" + key + R"( is unknown"})",
        R"({"errorCode":")" + key + R"("})", "plain text with " + key}) {
    for (int status : {400, 401, 403, 429, 500}) {
      auto grant = read(answer(status, body));
      ASSERT_FALSE(grant.ok());
      EXPECT_EQ(grant.error().message.find(key), std::string::npos) << grant.error().message;
    }
  }
}

}  // namespace
}  // namespace sto::ibm
