// The Monitoring API's wire format, from canned answers.
#include "ibm/monitoring_api.h"

#include <gtest/gtest.h>

namespace sto::ibm {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kEndpoint = "https://us-south.monitoring.cloud.ibm.com";
constexpr std::string_view kApiKey = "the-api-key";
constexpr std::string_view kAccessToken = "the-iam-access-token";

const MonitoringCall kCall{kEndpoint, "team 26055 of instance guid-1", kApiKey, kAccessToken};

net::HttpResponse answer(int status, std::string body, net::Headers headers = {}) {
  net::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers = std::move(headers);
  return response;
}

std::string errors_body(const std::string& message) {
  return R"({"errors":[{"reason":"Some Reason","message":")" + message + R"("}]})";
}

TEST(MonitoringApi, TokenRequestCarriesIamTokenInstanceAndTeam) {
  auto request = monitor_token_request(kAccessToken, "guid-1", 26055);
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.target, "/api/token");
  EXPECT_EQ(net::find_header(request.headers, "Authorization"), "Bearer the-iam-access-token");
  EXPECT_EQ(net::find_header(request.headers, "IBMInstanceID"), "guid-1");
  // IBM's docs name the team header TeamID now and SysdigTeamID before.
  EXPECT_EQ(net::find_header(request.headers, "TeamID"), "26055");
  EXPECT_EQ(net::find_header(request.headers, "SysdigTeamID"), "26055");
}

TEST(MonitoringApi, TeamByNameRequestEncodesTheName) {
  auto request = team_by_name_request(kAccessToken, "guid-1", "Mon Ops/eu");
  EXPECT_EQ(request.target, "/api/v2/teams/light/name/Mon%20Ops%2Feu");
  EXPECT_EQ(net::find_header(request.headers, "IBMInstanceID"), "guid-1");
  EXPECT_FALSE(net::find_header(request.headers, "SysdigTeamID").has_value());
  EXPECT_FALSE(net::find_header(request.headers, "TeamID").has_value());
}

TEST(MonitoringApi, ReadsTheToken) {
  auto token = read_monitor_token_response(answer(200, R"({"token":{"key":"abc-123"}})"), kCall);
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(*token, "abc-123");
}

TEST(MonitoringApi, ReadsTheTeam) {
  auto id = read_team_response(
      answer(200, R"({"team":{"id":26056,"name":"Mon Ops","description":""}})"), kCall);
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(*id, 26056);
}

TEST(MonitoringApi, StatusesMapToReasons) {
  struct Case {
    int status;
    IbmErrorKind kind;
    bool retryable;
  };
  for (const auto& c :
       {Case{400, IbmErrorKind::InvalidSpec, false}, Case{401, IbmErrorKind::APIKeyInvalid, false},
        Case{403, IbmErrorKind::AccessDenied, false}, Case{404, IbmErrorKind::TeamNotFound, false},
        Case{429, IbmErrorKind::RateLimited, true},
        Case{500, IbmErrorKind::MonitoringUnavailable, true},
        Case{503, IbmErrorKind::MonitoringUnavailable, true},
        Case{302, IbmErrorKind::MonitoringUnavailable, true}}) {
    auto token =
        read_monitor_token_response(answer(c.status, errors_body("Team 1 not found")), kCall);
    ASSERT_FALSE(token.ok()) << c.status;
    EXPECT_EQ(token.error().kind, c.kind) << c.status;
    EXPECT_EQ(token.error().retryable, c.retryable) << c.status;
    EXPECT_EQ(token.error().http_status, c.status);
    EXPECT_NE(token.error().message.find("Team 1 not found"), std::string::npos)
        << token.error().message;
    EXPECT_NE(token.error().message.find("team 26055 of instance guid-1"), std::string::npos)
        << token.error().message;
    auto team = read_team_response(answer(c.status, errors_body("x")), kCall);
    ASSERT_FALSE(team.ok());
    EXPECT_EQ(team.error().kind, c.kind) << c.status;
  }
}

TEST(MonitoringApi, ForbiddenMentionsIamOnlyInstances) {
  auto error = monitoring_error(answer(403, errors_body("Access is denied")), kCall);
  EXPECT_EQ(error.kind, IbmErrorKind::AccessDenied);
  EXPECT_NE(error.message.find("IAM_ONLY"), std::string::npos) << error.message;
}

TEST(MonitoringApi, OtherErrorBodyShapes) {
  EXPECT_NE(
      monitoring_error(answer(500, R"({"message":"db down"})"), kCall).message.find("db down"),
      std::string::npos);
  EXPECT_NE(monitoring_error(answer(500, R"({"error":"gateway"})"), kCall).message.find("gateway"),
            std::string::npos);
  EXPECT_NE(monitoring_error(answer(502, "Bad Gateway\n"), kCall).message.find("Bad Gateway"),
            std::string::npos);
  EXPECT_NE(monitoring_error(answer(502, ""), kCall).message.find("no details"), std::string::npos);
}

TEST(MonitoringApi, RetryAfterIsCarried) {
  auto error = monitoring_error(answer(429, "{}", {{"Retry-After", "12"}}), kCall);
  EXPECT_EQ(error.kind, IbmErrorKind::RateLimited);
  EXPECT_EQ(error.retry_after, 12s);
  EXPECT_EQ(monitoring_error(answer(404, "{}", {{"Retry-After", "12"}}), kCall).retry_after,
            std::nullopt);
}

TEST(MonitoringApi, IllFormedAnswersAreMonitoringUnavailable) {
  for (const char* body :
       {"", "nope", "[]", R"({})", R"({"token":"abc"})", R"({"token":{}})",
        R"({"token":{"key":7}})", R"({"token":{"key":""}})", R"({"token":{"key":"a\nb"}})"}) {
    auto token = read_monitor_token_response(answer(200, body), kCall);
    ASSERT_FALSE(token.ok()) << body;
    EXPECT_EQ(token.error().kind, IbmErrorKind::MonitoringUnavailable) << body;
    EXPECT_TRUE(token.error().retryable);
  }
  for (const char* body : {"", R"({"teams":[]})", R"({"team":{"name":"Ops"}})",
                           R"({"team":{"id":"26055"}})", R"({"team":{"id":0}})"}) {
    auto team = read_team_response(answer(200, body), kCall);
    ASSERT_FALSE(team.ok()) << body;
    EXPECT_EQ(team.error().kind, IbmErrorKind::MonitoringUnavailable) << body;
  }
  auto lacks = read_monitor_token_response(answer(200, R"({"token":{}})"), kCall);
  EXPECT_NE(lacks.error().message.find("Monitoring answer lacks token.key"), std::string::npos)
      << lacks.error().message;
}

TEST(MonitoringApi, ErrorsNeverQuoteTheApiKeyOrTheIamToken) {
  for (const std::string& text : {std::string(kApiKey), std::string(kAccessToken)}) {
    for (int status : {400, 401, 403, 404, 429, 500}) {
      auto error = monitoring_error(answer(status, errors_body("bad token " + text)), kCall);
      EXPECT_EQ(error.message.find(text), std::string::npos) << error.message;
      error = monitoring_error(answer(status, "raw " + text), kCall);
      EXPECT_EQ(error.message.find(text), std::string::npos) << error.message;
    }
  }
}

}  // namespace
}  // namespace sto::ibm
