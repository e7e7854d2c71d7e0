// The Monitoring endpoints over HTTPS, authorized by an IAM access token.
#include <gtest/gtest.h>

#include "test_server.h"

namespace sto::fake::testing {
namespace {

using nlohmann::json;

class MonitoringApi : public ::testing::Test {
 protected:
  // The single Sysdig-shaped error, after checking the status.
  json expect_error(const net::HttpResponse& response, int status) {
    EXPECT_EQ(response.status, status) << response.body;
    json body = body_json(response);
    EXPECT_TRUE(body["errors"].is_array() && body["errors"].size() == 1) << response.body;
    EXPECT_TRUE(body["errors"][0]["reason"].is_string()) << response.body;
    EXPECT_TRUE(body["errors"][0]["message"].is_string()) << response.body;
    return body["errors"][0];
  }

  TestServer server_;
  TestClient client_{server_};
  std::string token_ = client_.access_token();
};

TEST_F(MonitoringApi, ReturnsTheTeamsMonitorApiToken) {
  auto response = client_.get_monitoring("/api/token", token_, kGuid, kOpsTeam);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(body_json(response), (json{{"token", {{"key", kOpsToken}}}}));

  response = client_.get_monitoring("/api/token", token_, kGuid, kMonOpsTeam);
  EXPECT_EQ(body_json(response)["token"]["key"], kMonOpsToken);
}

TEST_F(MonitoringApi, WithoutSysdigTeamIdTheDefaultTeamAnswers) {
  auto response = client_.get_monitoring("/api/token", token_, kGuid);
  EXPECT_EQ(body_json(response)["token"]["key"], kOpsToken);
}

// The token the fake answers for a request carrying `headers` (team headers).
std::string token_for(TestClient& client, const std::string& access_token,
                      std::initializer_list<std::pair<const char*, std::int64_t>> headers) {
  net::Headers sent = {{"Authorization", "Bearer " + access_token},
                       {"IBMInstanceID", std::string(kGuid)}};
  for (const auto& [name, id] : headers) sent.push_back({name, std::to_string(id)});
  auto response = client.get("/api/token", sent);
  EXPECT_EQ(response.status, 200) << response.body;
  return body_json(response)["token"]["key"];
}

TEST_F(MonitoringApi, HonoursTheTeamHeadersItsInstanceKnows) {
  // Both (the default): either header selects the team, TeamID first.
  EXPECT_EQ(token_for(client_, token_, {{"TeamID", kMonOpsTeam}}), kMonOpsToken);
  EXPECT_EQ(token_for(client_, token_, {{"SysdigTeamID", kMonOpsTeam}}), kMonOpsToken);

  // An instance that knows only one header answers the other with the
  // caller's default team, silently, as Sysdig does.
  client_.admin("POST", "/_fake/state",
                {{"instances", {{{"guid", kGuid}, {"teamHeader", "TeamID"}}}}});
  EXPECT_EQ(token_for(client_, token_, {{"TeamID", kMonOpsTeam}}), kMonOpsToken);
  EXPECT_EQ(token_for(client_, token_, {{"SysdigTeamID", kMonOpsTeam}}), kOpsToken);
  EXPECT_EQ(token_for(client_, token_, {{"TeamID", kMonOpsTeam}, {"SysdigTeamID", kMonOpsTeam}}),
            kMonOpsToken);

  client_.admin("POST", "/_fake/state",
                {{"instances", {{{"guid", kGuid}, {"teamHeader", "SysdigTeamID"}}}}});
  EXPECT_EQ(token_for(client_, token_, {{"TeamID", kMonOpsTeam}}), kOpsToken);
  EXPECT_EQ(token_for(client_, token_, {{"SysdigTeamID", kMonOpsTeam}}), kMonOpsToken);
}

TEST_F(MonitoringApi, TheDefaultTeamCanBeChosen) {
  client_.admin("POST", "/_fake/state",
                {{"instances", {{{"guid", kGuid}, {"defaultTeam", kMonOpsTeam}}}}});
  EXPECT_EQ(token_for(client_, token_, {}), kMonOpsToken);
  EXPECT_EQ(token_for(client_, token_, {{"TeamID", kOpsTeam}}), kOpsToken);
  auto state = client_.admin("GET", "/_fake/state");
  bool found = false;
  for (const auto& instance : state["instances"]) {
    if (instance["guid"] != kGuid) continue;
    found = true;
    EXPECT_EQ(instance["defaultTeam"], kMonOpsTeam);
    EXPECT_EQ(instance["teamHeader"], "Both");
  }
  EXPECT_TRUE(found);
}

TEST_F(MonitoringApi, MissingAuthorizationIs401) {
  auto response = client_.get("/api/token", {{"IBMInstanceID", std::string(kGuid)},
                                             {"SysdigTeamID", std::to_string(kOpsTeam)}});
  EXPECT_EQ(expect_error(response, 401)["reason"], "Unauthorized");
}

TEST_F(MonitoringApi, MalformedAccessTokenIs401) {
  expect_error(client_.get_monitoring("/api/token", "not-a-jwt", kGuid, kOpsTeam), 401);
  expect_error(client_.get("/api/token", {{"Authorization", "Basic Yng6Yng="},
                                          {"IBMInstanceID", std::string(kGuid)}}),
               401);
  std::string forged = token_;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  expect_error(client_.get_monitoring("/api/token", forged, kGuid, kOpsTeam), 401);
}

TEST_F(MonitoringApi, ExpiredAccessTokenIs401) {
  server_.advance_clock(std::chrono::seconds(3601));
  json error = expect_error(client_.get_monitoring("/api/token", token_, kGuid, kOpsTeam), 401);
  EXPECT_EQ(error["message"], "access token has expired");
  // A token issued now works again.
  EXPECT_EQ(client_.get_monitoring("/api/token", client_.access_token(), kGuid, kOpsTeam).status,
            200);
}

TEST_F(MonitoringApi, RevokedAccessTokenIs401) {
  EXPECT_EQ(client_.admin("POST", "/_fake/iam/revoke")["revoked"], 1);
  json error = expect_error(client_.get_monitoring("/api/token", token_, kGuid, kOpsTeam), 401);
  EXPECT_EQ(error["message"], "access token has been revoked");
  EXPECT_EQ(client_.get_monitoring("/api/token", client_.access_token(), kGuid, kOpsTeam).status,
            200);
}

TEST_F(MonitoringApi, MissingInstanceIdIs400) {
  auto response = client_.get("/api/token", {{"Authorization", "Bearer " + token_},
                                             {"SysdigTeamID", std::to_string(kOpsTeam)}});
  expect_error(response, 400);
}

TEST_F(MonitoringApi, IamOnlyInstanceRefusesTokensWith403) {
  auto response = client_.get_monitoring("/api/token", token_, kIamOnlyGuid, 100);
  ASSERT_EQ(response.status, 403);
  EXPECT_EQ(body_json(response),
            json::parse(R"({"errors":[{"reason":"Not enough privileges to complete the action",)"
                        R"("message":"Access is denied"}]})"));
  // IAM itself still works there.
  EXPECT_EQ(client_.get_monitoring("/api/teams", token_, kIamOnlyGuid).status, 200);
}

TEST_F(MonitoringApi, UnknownInstanceIs404) {
  expect_error(client_.get_monitoring("/api/token", token_, "no-such-instance", kOpsTeam), 404);
}

TEST_F(MonitoringApi, UnknownTeamIs404) {
  json error = expect_error(client_.get_monitoring("/api/token", token_, kGuid, 999), 404);
  EXPECT_EQ(error["message"], "Team 999 not found");
}

TEST_F(MonitoringApi, NonNumericTeamIdIs400) {
  auto response = client_.get("/api/token", {{"Authorization", "Bearer " + token_},
                                             {"IBMInstanceID", std::string(kGuid)},
                                             {"SysdigTeamID", "ops"}});
  expect_error(response, 400);
}

TEST_F(MonitoringApi, ListsTheInstancesTeams) {
  auto response = client_.get_monitoring("/api/teams", token_);
  ASSERT_EQ(response.status, 200) << response.body;
  json teams = body_json(response)["teams"];
  ASSERT_EQ(teams.size(), 2u);
  EXPECT_EQ(teams[0]["id"], kOpsTeam);
  EXPECT_EQ(teams[0]["name"], "Ops");
  EXPECT_EQ(teams[1]["id"], kMonOpsTeam);
  EXPECT_EQ(teams[1]["name"], "Monitor Operations");
  EXPECT_FALSE(teams[0].contains("token"));
}

TEST_F(MonitoringApi, FindsATeamByName) {
  auto response = client_.get_monitoring("/api/v2/teams/light/name/Monitor%20Operations", token_);
  ASSERT_EQ(response.status, 200) << response.body;
  json team = body_json(response)["team"];
  EXPECT_EQ(team["id"], kMonOpsTeam);
  EXPECT_EQ(team["name"], "Monitor Operations");

  expect_error(client_.get_monitoring("/api/v2/teams/light/name/Nobody", token_), 404);
  expect_error(client_.get_monitoring("/api/v2/teams/light/name/ops", token_), 404);
}

TEST_F(MonitoringApi, UsersMeReportsTheCurrentTeam) {
  auto response = client_.get_monitoring("/api/users/me", token_, kGuid, kMonOpsTeam);
  ASSERT_EQ(response.status, 200) << response.body;
  json user = body_json(response)["user"];
  EXPECT_EQ(user["currentTeam"], kMonOpsTeam);
  EXPECT_EQ(user["username"], kIamId);

  user = body_json(client_.get_monitoring("/api/users/me", token_))["user"];
  EXPECT_EQ(user["currentTeam"], kOpsTeam);
  expect_error(client_.get_monitoring("/api/users/me", token_, kGuid, 999), 404);
}

TEST_F(MonitoringApi, TeamsAndUsersNeedAuthorizationToo) {
  expect_error(client_.get("/api/teams", {{"IBMInstanceID", std::string(kGuid)}}), 401);
  expect_error(client_.get("/api/users/me", {{"IBMInstanceID", std::string(kGuid)}}), 401);
  expect_error(client_.get_monitoring("/api/v2/teams/light/name/Ops", "x.y.z"), 401);
}

TEST_F(MonitoringApi, OtherMethodsAndPathsAreRefused) {
  auto response = client_.send(
      {.method = "POST",
       .target = "/api/token",
       .headers = {{"Authorization", "Bearer " + token_}, {"IBMInstanceID", std::string(kGuid)}}});
  expect_error(response, 405);
  EXPECT_EQ(response.header("Allow").value_or(""), "GET");
  expect_error(client_.get_monitoring("/api/alerts", token_), 404);
  expect_error(client_.get("/"), 404);
}

}  // namespace
}  // namespace sto::fake::testing
