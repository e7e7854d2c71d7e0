// The admin API under /_fake/: state, token reset, revocation, faults and the
// request log, over HTTPS.
#include <gtest/gtest.h>

#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "test_server.h"

namespace sto::fake::testing {
namespace {

using nlohmann::json;

class AdminApi : public ::testing::Test {
 protected:
  std::string team_token(std::int64_t team, std::string_view guid = kGuid) {
    auto response = client_.get_monitoring("/api/token", client_.access_token(), guid, team);
    if (response.status != 200) return "status " + std::to_string(response.status);
    return body_json(response)["token"]["key"].get<std::string>();
  }

  // The admin API's error message, after checking the status.
  std::string expect_error(const net::HttpResponse& response, int status) {
    EXPECT_EQ(response.status, status) << response.body;
    return body_json(response).value("error", "");
  }

  TestServer server_;
  TestClient client_{server_};
};

// State ----------------------------------------------------------------------

TEST_F(AdminApi, GetStateShowsTheSeed) {
  json state = client_.admin("GET", "/_fake/state");
  EXPECT_EQ(state, to_json(demo_state()));
}

TEST_F(AdminApi, PutReplacesTheState) {
  json state = client_.admin("PUT", "/_fake/state", json::parse(R"({
    "apiKeys": [{"key": "other-key", "iamID": "IBMid-OTHER"}],
    "instances": [{"guid": "g1", "teams": [{"id": 1, "name": "One", "token": "t1"}]}]
  })"));
  EXPECT_EQ(state["instances"].size(), 1u);
  EXPECT_EQ(client_.request_access_token(kApiKey).status, 400);
  auto token = client_.access_token("other-key");
  EXPECT_EQ(body_json(client_.get_monitoring("/api/token", token, "g1", 1))["token"]["key"], "t1");
  EXPECT_EQ(client_.get_monitoring("/api/token", token, kGuid, kOpsTeam).status, 404);
}

TEST_F(AdminApi, PostMergesIntoTheState) {
  client_.admin("POST", "/_fake/state",
                {{"instances", {{{"guid", kGuid}, {"externalApiAuth", "IAM_ONLY"}}}}});
  EXPECT_EQ(team_token(kOpsTeam), "status 403");
  client_.admin("POST", "/_fake/state",
                {{"instances", {{{"guid", kGuid}, {"externalApiAuth", "ANY"}}}}});
  EXPECT_EQ(team_token(kOpsTeam), kOpsToken);
  EXPECT_EQ(team_token(kMonOpsTeam), kMonOpsToken);
}

TEST_F(AdminApi, BadStateDocumentsAre400AndChangeNothing) {
  const json before = client_.admin("GET", "/_fake/state");
  EXPECT_EQ(expect_error(
                client_.send_json("PUT", "/_fake/state", json::parse(R"({"instances":[{"guid":"g",
                                             "teams":[{"id":1,"name":"a"},{"id":"2","name":"b"}]}]})")),
                400),
            "request body: instances[0].teams[1].id: expected an integer, got a string");
  EXPECT_EQ(
      expect_error(client_.send_json("POST", "/_fake/state", {{"apiKeys", {{{"key", "k"}}}}}), 400),
      "request body: apiKeys[0].iamID: required for a new API key");
  EXPECT_EQ(expect_error(client_.send_json("PUT", "/_fake/state", json::array()), 400),
            "request body: top level: expected a mapping, got a list");
  EXPECT_EQ(client_.admin("GET", "/_fake/state"), before);
}

TEST_F(AdminApi, MalformedJsonIs400WithTheParserMessage) {
  auto response = client_.send({.method = "PUT",
                                .target = "/_fake/state",
                                .headers = {{"Content-Type", "application/json"}},
                                .body = R"({"apiKeys": [)"});
  std::string message = expect_error(response, 400);
  EXPECT_EQ(message.rfind("request body: parse error at line 1", 0), 0u) << message;

  response = client_.send({.method = "POST", .target = "/_fake/faults"});
  EXPECT_EQ(expect_error(response, 400), "request body: expected a JSON object");
}

TEST_F(AdminApi, UnknownPathsAndMethodsAreRefused) {
  expect_error(client_.send({.method = "GET", .target = "/_fake/nothing"}), 404);
  auto response = client_.send({.method = "DELETE", .target = "/_fake/state"});
  expect_error(response, 405);
  EXPECT_EQ(response.header("Allow").value_or(""), "GET, PUT, POST");
  expect_error(client_.send({.method = "GET", .target = "/_fake/iam/revoke"}), 405);
}

// Reset and revoke -------------------------------------------------------------

TEST_F(AdminApi, ResetGivesTheTeamANewTokenLikeTheMonitoringUi) {
  json reset = client_.admin("POST", "/_fake/instances/" + std::string(kGuid) + "/teams/" +
                                         std::to_string(kOpsTeam) + "/reset");
  std::string fresh = reset["token"].get<std::string>();
  EXPECT_NE(fresh, kOpsToken);
  EXPECT_EQ(fresh.size(), 36u);
  EXPECT_EQ(team_token(kOpsTeam), fresh);
  EXPECT_EQ(team_token(kMonOpsTeam), kMonOpsToken);  // other teams keep theirs

  json again = client_.admin("POST", "/_fake/instances/" + std::string(kGuid) + "/teams/" +
                                         std::to_string(kOpsTeam) + "/reset");
  EXPECT_NE(again["token"], fresh);
  EXPECT_EQ(team_token(kOpsTeam), again["token"]);
}

TEST_F(AdminApi, ResetOfAnUnknownTeamIs404) {
  expect_error(
      client_.send({.method = "POST",
                    .target = "/_fake/instances/" + std::string(kGuid) + "/teams/1/reset"}),
      404);
  expect_error(client_.send({.method = "POST", .target = "/_fake/instances/nope/teams/1/reset"}),
               404);
  expect_error(
      client_.send({.method = "POST",
                    .target = "/_fake/instances/" + std::string(kGuid) + "/teams/x/reset"}),
      400);
}

TEST_F(AdminApi, RevokeInvalidatesEveryIssuedAccessToken) {
  std::string first = client_.access_token();
  std::string second = client_.access_token();
  EXPECT_EQ(client_.admin("POST", "/_fake/iam/revoke")["revoked"], 2);
  EXPECT_EQ(client_.get_monitoring("/api/token", first, kGuid, kOpsTeam).status, 401);
  EXPECT_EQ(client_.get_monitoring("/api/token", second, kGuid, kOpsTeam).status, 401);
  EXPECT_EQ(team_token(kOpsTeam), kOpsToken);
}

// Faults -------------------------------------------------------------------------

TEST_F(AdminApi, StatusFaultAppliesTheGivenNumberOfTimes) {
  std::string token = client_.access_token();
  json fault = client_.admin("POST", "/_fake/faults",
                             json::parse(R"({"pathPrefix":"/api/token","status":503,"times":3,
                               "probability":1.0,"latencyMs":0,"retryAfterSeconds":0,"drop":false})"));
  EXPECT_EQ(fault["times"], 3);
  for (int i = 0; i < 3; ++i) {
    auto response = client_.get_monitoring("/api/token", token, kGuid, kOpsTeam);
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(body_json(response)["errors"][0]["message"], "Injected fault");
  }
  EXPECT_EQ(client_.get_monitoring("/api/token", token, kGuid, kOpsTeam).status, 200);
  EXPECT_TRUE(client_.admin("GET", "/_fake/faults")["faults"].empty());

  json counts = client_.admin("GET", "/_fake/requests")["counts"]["GET /api/token"];
  EXPECT_EQ(counts, (json{{"503", 3}, {"200", 1}}));
}

TEST_F(AdminApi, RateLimitFaultSendsRetryAfter) {
  client_.admin("POST", "/_fake/faults",
                {{"pathPrefix", "/api/"}, {"status", 429}, {"retryAfterSeconds", 7}});
  auto response = client_.get_monitoring("/api/teams", "irrelevant");
  EXPECT_EQ(response.status, 429);
  EXPECT_EQ(response.header("Retry-After").value_or(""), "7");
  EXPECT_EQ(body_json(response)["errors"][0]["reason"], "Too Many Requests");
  // Unlimited until deleted.
  EXPECT_EQ(client_.get_monitoring("/api/users/me", "irrelevant").status, 429);
  EXPECT_EQ(client_.admin("DELETE", "/_fake/faults")["removed"], 1);
  EXPECT_EQ(client_.get_monitoring("/api/users/me", "irrelevant").status, 401);
}

TEST_F(AdminApi, FaultsOnIamAnswerInIamsShape) {
  client_.admin("POST", "/_fake/faults", {{"pathPrefix", "/identity/token"}, {"status", 500}});
  auto response = client_.request_access_token(kApiKey);
  EXPECT_EQ(response.status, 500);
  json body = body_json(response);
  EXPECT_TRUE(body["errorCode"].is_string());
  EXPECT_EQ(body["context"]["requestType"], "incoming.Identity_Token");
  EXPECT_TRUE(response.header("Transaction-Id").has_value());
}

TEST_F(AdminApi, ProbabilityZeroNeverFires) {
  client_.admin("POST", "/_fake/faults",
                {{"pathPrefix", "/identity"}, {"status", 500}, {"probability", 0.0}});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client_.request_access_token(kApiKey).status, 200);
}

TEST_F(AdminApi, ProbabilityHalfFiresSometimes) {
  client_.admin("POST", "/_fake/faults",
                {{"pathPrefix", "/identity"}, {"status", 500}, {"probability", 0.5}});
  int failed = 0;
  for (int i = 0; i < 60; ++i) failed += client_.request_access_token(kApiKey).status == 500;
  EXPECT_GT(failed, 5);  // chance of failing either bound by luck: < 1e-10
  EXPECT_LT(failed, 55);
}

TEST_F(AdminApi, LatencyDelaysOnlyMatchingRequests) {
  using Clock = std::chrono::steady_clock;
  const std::string token = client_.access_token();
  client_.admin("POST", "/_fake/faults", {{"pathPrefix", "/api/teams"}, {"latencyMs", 1500}});

  // A slow request and a fast one at the same time, on two connections: the
  // slow one must not hold up the other (the latency is a timer, not a sleep).
  auto slow_client = client_.new_http_client();
  auto fast_client = client_.new_http_client();
  net::Headers headers = {{"Authorization", "Bearer " + token},
                          {"IBMInstanceID", std::string(kGuid)}};
  Clock::time_point start = Clock::now(), slow_done, fast_done;
  int slow_status = 0, fast_status = 0;
  auto timed = [&](std::shared_ptr<net::HttpClient> client, std::string target, int& status,
                   Clock::time_point& done) -> boost::asio::awaitable<void> {
    net::HttpRequest request{.method = "GET", .target = target, .headers = headers};
    auto response = co_await client->send(std::move(request));
    status = response ? response->status : -1;
    done = Clock::now();
  };
  boost::asio::co_spawn(client_.io(), timed(slow_client, "/api/teams", slow_status, slow_done),
                        boost::asio::detached);
  boost::asio::co_spawn(client_.io(), timed(fast_client, "/api/token", fast_status, fast_done),
                        boost::asio::detached);
  client_.io().restart();
  client_.io().run();
  slow_client->shutdown();
  fast_client->shutdown();

  EXPECT_EQ(slow_status, 200);
  EXPECT_EQ(fast_status, 200);
  EXPECT_GE(slow_done - start, std::chrono::milliseconds(1450));
  EXPECT_LT(fast_done - start, std::chrono::milliseconds(1000));
}

TEST_F(AdminApi, DropClosesTheConnectionWithoutAnAnswer) {
  client_.admin("POST", "/_fake/faults",
                {{"pathPrefix", "/api/token"}, {"drop", true}, {"times", 1}});
  // A fresh client: the shared one would retry a dropped reused connection.
  auto fresh = client_.new_http_client();
  auto response = run_on(client_.io(), fresh->send({.method = "GET", .target = "/api/token"}));
  fresh->shutdown();
  ASSERT_FALSE(response) << "status " << response->status;
  EXPECT_EQ(response.error().kind, net::NetErrorKind::Closed) << response.error().message;

  json counts = client_.admin("GET", "/_fake/requests")["counts"];
  EXPECT_EQ(counts["GET /api/token"]["dropped"], 1);
  EXPECT_EQ(client_.get("/api/token").status, 401);  // the fault is used up
}

TEST_F(AdminApi, FaultsAreValidated) {
  auto fault_error = [&](const json& body) {
    return expect_error(client_.send_json("POST", "/_fake/faults", body), 400);
  };
  EXPECT_EQ(fault_error({{"status", 503}}),
            "request body: pathPrefix: required, a path such as \"/api/token\"");
  EXPECT_EQ(fault_error({{"pathPrefix", "/_fake/state"}, {"status", 503}}),
            "request body: pathPrefix: faults cannot apply to the admin API (/_fake/)");
  EXPECT_EQ(fault_error({{"pathPrefix", "/api"}, {"status", 200}}),
            "request body: status: must be 400-599 (or 0)");
  EXPECT_EQ(fault_error({{"pathPrefix", "/api"}, {"status", 503}, {"probability", 1.5}}),
            "request body: probability: must be between 0 and 1");
  EXPECT_EQ(fault_error({{"pathPrefix", "/api"}, {"status", 503}, {"drop", true}}),
            "request body: drop: a dropped connection has no status; give one or the other");
  EXPECT_EQ(fault_error({{"pathPrefix", "/api"}}),
            "request body: a fault needs a status, latencyMs or drop");
  EXPECT_EQ(fault_error({{"pathPrefix", "/api"}, {"status", "503"}}),
            "request body: status: expected an integer");
  EXPECT_EQ(fault_error({{"pathPrefix", "/api"}, {"stauts", 503}})
                .rfind("request body: stauts: unknown field", 0),
            0u);
  EXPECT_TRUE(client_.admin("GET", "/_fake/faults")["faults"].empty());
}

// Request log ----------------------------------------------------------------------

TEST_F(AdminApi, CountsRequestsPerEndpointAndOutcome) {
  std::string token = client_.access_token();
  client_.request_access_token("unknown-key");
  client_.get_monitoring("/api/token", token, kGuid, kOpsTeam);
  client_.get_monitoring("/api/token", token, kGuid, kOpsTeam);
  client_.get_monitoring("/api/token", token, kIamOnlyGuid, 100);
  client_.get_monitoring("/api/v2/teams/light/name/Ops", token);
  client_.get_monitoring("/api/v2/teams/light/name/Nobody", token);

  json counts = client_.admin("GET", "/_fake/requests")["counts"];
  EXPECT_EQ(counts, json::parse(R"({
    "POST /identity/token": {"200": 1, "400": 1},
    "GET /api/token": {"200": 2, "403": 1},
    "GET /api/v2/teams/light/name/{name}": {"200": 1, "404": 1}
  })"));
}

TEST_F(AdminApi, RecentRequestsHaveCredentialsRedacted) {
  std::string token = client_.access_token();
  client_.get_monitoring("/api/token", token, kGuid, kOpsTeam);

  json log = client_.admin("GET", "/_fake/requests");
  const std::string dump = log.dump();
  EXPECT_EQ(dump.find(kApiKey), std::string::npos) << dump;
  EXPECT_EQ(dump.find(token), std::string::npos);
  EXPECT_EQ(dump.find(kOpsToken), std::string::npos);

  ASSERT_EQ(log["recent"].size(), 2u);
  json iam = log["recent"][0];
  EXPECT_EQ(iam["method"], "POST");
  EXPECT_EQ(iam["path"], "/identity/token");
  EXPECT_EQ(iam["outcome"], "200");
  EXPECT_EQ(iam["form"]["grant_type"], kApiKeyGrant);
  EXPECT_EQ(iam["form"]["apikey"], "<redacted>");

  json monitoring = log["recent"][1];
  EXPECT_EQ(monitoring["endpoint"], "GET /api/token");
  EXPECT_EQ(monitoring["headers"]["authorization"], "Bearer <redacted>");
  EXPECT_EQ(monitoring["headers"]["ibminstanceid"], kGuid);
  EXPECT_EQ(monitoring["headers"]["sysdigteamid"], std::to_string(kOpsTeam));
  EXPECT_EQ(monitoring["fault"], false);
}

TEST_F(AdminApi, RequestsThatAreNotUtf8AreAnsweredAndLogged) {
  const std::string not_utf8 = "\xff\xfe";
  const std::string token = client_.access_token();
  client_.admin("POST", "/_fake/requests/reset");

  auto response = client_.get("/api/token",
                              {{"Authorization", "Bearer " + token}, {"IBMInstanceID", not_utf8}});
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(body_json(response)["errors"][0]["message"],
            "Monitoring instance \ufffd\ufffd not found");
  response = client_.send(
      {.method = "POST",
       .target = "/identity/token",
       .headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"User-Agent", not_utf8}},
       .body = "grant_type=" + std::string(kApiKeyGrant) + "&apikey=nope"});
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(body_json(response)["context"]["userAgent"], "\ufffd\ufffd");

  json log = client_.admin("GET", "/_fake/requests");
  ASSERT_EQ(log["recent"].size(), 2u);
  EXPECT_EQ(log["recent"][0]["headers"]["ibminstanceid"], "\ufffd\ufffd");
}

TEST_F(AdminApi, RequestsResetClearsTheLogAndAdminCallsAreNotLogged) {
  client_.access_token();
  client_.admin("POST", "/_fake/requests/reset");
  json log = client_.admin("GET", "/_fake/requests");
  EXPECT_TRUE(log["counts"].empty()) << log.dump();
  EXPECT_TRUE(log["recent"].empty()) << log.dump();
}

}  // namespace
}  // namespace sto::fake::testing
