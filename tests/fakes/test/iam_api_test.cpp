// POST /identity/token over HTTPS: IAM's success and error answers.
#include <gtest/gtest.h>

#include "test_server.h"
#include "tokens.h"

namespace sto::fake::testing {
namespace {

using nlohmann::json;

class IamApi : public ::testing::Test {
 protected:
  // The IAM error body, after checking the shape every IAM error shares.
  json expect_iam_error(const net::HttpResponse& response, int status, std::string_view code) {
    EXPECT_EQ(response.status, status) << response.body;
    json body = body_json(response);
    EXPECT_EQ(body["errorCode"], code) << response.body;
    EXPECT_TRUE(body["errorMessage"].is_string()) << response.body;
    EXPECT_EQ(body["context"]["requestType"], "incoming.Identity_Token");
    auto transaction = response.header("Transaction-Id");
    EXPECT_TRUE(transaction.has_value());
    EXPECT_EQ(body["context"]["requestId"], std::string(transaction.value_or("")));
    return body;
  }

  TestServer server_;
  TestClient client_{server_};
};

TEST_F(IamApi, ExchangesAnApiKeyForAnAccessToken) {
  auto response = client_.request_access_token(kApiKey);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_TRUE(response.header("Transaction-Id").has_value());
  EXPECT_EQ(response.header("Content-Type").value_or(""), "application/json");

  json body = body_json(response);
  EXPECT_EQ(body["refresh_token"], "not_supported");
  EXPECT_EQ(body["token_type"], "Bearer");
  EXPECT_EQ(body["expires_in"], 3600);
  EXPECT_EQ(body["scope"], "ibm openid");

  json payload = jwt_payload(body["access_token"].get<std::string>());
  EXPECT_EQ(payload["iam_id"], kIamId);
  EXPECT_EQ(payload["exp"].get<std::int64_t>() - payload["iat"].get<std::int64_t>(), 3600);
  EXPECT_EQ(body["expiration"], payload["exp"]);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  EXPECT_NEAR(payload["iat"].get<double>(), static_cast<double>(now), 5.0);
}

TEST_F(IamApi, AcceptsResponseTypeAndAcceptAsSdksSendThem) {
  auto response = client_.send(
      {.method = "POST",
       .target = "/identity/token",
       .headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                   {"Accept", "application/json"},
                   {"Authorization", "Basic Yng6Yng="}},
       .body = "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey"
               "&apikey=demo-api-key-0001&response_type=cloud_iam"});
  EXPECT_EQ(response.status, 200) << response.body;
}

TEST_F(IamApi, EachTokenIsDistinct) { EXPECT_NE(client_.access_token(), client_.access_token()); }

TEST_F(IamApi, TokenLifetimeComesFromTheState) {
  client_.admin("POST", "/_fake/state", {{"iam", {{"tokenTTLSeconds", 120}}}});
  json body = body_json(client_.request_access_token(kApiKey));
  EXPECT_EQ(body["expires_in"], 120);
  json payload = jwt_payload(body["access_token"].get<std::string>());
  EXPECT_EQ(payload["exp"].get<std::int64_t>() - payload["iat"].get<std::int64_t>(), 120);
}

TEST_F(IamApi, UnknownApiKeyIs400Bxnim0415E) {
  json body = expect_iam_error(client_.request_access_token("no-such-key"), 400, "BXNIM0415E");
  EXPECT_EQ(body["errorMessage"], "Provided API key could not be found");
}

TEST_F(IamApi, DisabledApiKeyIs400Bxnim0415E) {
  json body = expect_iam_error(client_.request_access_token(kDisabledApiKey), 400, "BXNIM0415E");
  EXPECT_EQ(body["errorMessage"], "Provided API key could not be found");
}

TEST_F(IamApi, KeyDisabledThroughTheAdminApiStopsWorking) {
  ASSERT_EQ(client_.request_access_token(kApiKey).status, 200);
  client_.admin("POST", "/_fake/state", {{"apiKeys", {{{"key", kApiKey}, {"enabled", false}}}}});
  expect_iam_error(client_.request_access_token(kApiKey), 400, "BXNIM0415E");
}

TEST_F(IamApi, WrongGrantTypeIs400) {
  json body = expect_iam_error(
      client_.post_form("/identity/token", "grant_type=password&apikey=demo-api-key-0001"), 400,
      "BXNIM0106E");
  EXPECT_NE(body["errorMessage"].get<std::string>().find("grant_type"), std::string::npos);
}

TEST_F(IamApi, UnknownResponseTypeIs400) {
  expect_iam_error(client_.post_form("/identity/token",
                                     "grant_type=urn:ibm:params:oauth:grant-type:apikey"
                                     "&apikey=demo-api-key-0001&response_type=uaa"),
                   400, "BXNIM0106E");
}

TEST_F(IamApi, MissingFieldsAre400Bxnim0109E) {
  json body = expect_iam_error(client_.post_form("/identity/token", "apikey=demo-api-key-0001"),
                               400, "BXNIM0109E");
  EXPECT_EQ(body["errorMessage"], "Property 'grant_type' either missing or empty");
  body = expect_iam_error(
      client_.post_form("/identity/token", "grant_type=urn:ibm:params:oauth:grant-type:apikey"),
      400, "BXNIM0109E");
  EXPECT_EQ(body["errorMessage"], "Property 'apikey' either missing or empty");
}

TEST_F(IamApi, MalformedFormIs400) {
  expect_iam_error(client_.post_form("/identity/token", "apikey=%zz"), 400, "BXNIM0101E");
}

TEST_F(IamApi, WrongContentTypeIs415) {
  auto response = client_.send_json("POST", "/identity/token",
                                    {{"grant_type", kApiKeyGrant}, {"apikey", kApiKey}});
  expect_iam_error(response, 415, "BXNIM0102E");
}

TEST_F(IamApi, WrongMethodIs405) {
  auto response = client_.get("/identity/token");
  expect_iam_error(response, 405, "BXNIM0107E");
  EXPECT_EQ(response.header("Allow").value_or(""), "POST");
}

TEST_F(IamApi, EchoesTheCallersTransactionId) {
  auto response = client_.send({.method = "POST",
                                .target = "/identity/token",
                                .headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                                            {"Transaction-Id", "my-transaction"}},
                                .body = "apikey=nope&grant_type=" + std::string(kApiKeyGrant)});
  EXPECT_EQ(response.header("Transaction-Id").value_or(""), "my-transaction");
  EXPECT_EQ(body_json(response)["context"]["requestId"], "my-transaction");
}

}  // namespace
// --- The cr-token grant (IAM Trusted Profiles for compute resources) ---------

constexpr std::string_view kCrTokenGrant = "urn:ibm:params:oauth:grant-type:cr-token";

// A ServiceAccount token as the API server issues it (the signature is not
// checked by the fake).
std::string service_account_token(const std::string& ns, const std::string& sa,
                                  json aud = json::array({"iam"}), std::int64_t ttl = 600) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  json claims = {{"aud", std::move(aud)},
                 {"exp", now + ttl},
                 {"iat", now},
                 {"iss", "https://kubernetes.default.svc"},
                 {"sub", "system:serviceaccount:" + ns + ":" + sa},
                 {"kubernetes.io", {{"namespace", ns}, {"serviceaccount", {{"name", sa}}}}}};
  return base64url_encode(R"({"alg":"RS256","kid":"k"})") + "." + base64url_encode(claims.dump()) +
         ".c2lnbmF0dXJl";
}

class IamCrToken : public IamApi {
 protected:
  void SetUp() override {
    client_.admin("POST", "/_fake/state",
                  {{"trustedProfiles",
                    {{{"id", "Profile-1"},
                      {"name", "sysdig-readers"},
                      {"iamID", "iam-Profile-1"},
                      {"trust", {{{"namespace", "team-a"}, {"serviceAccount", "reader"}}}}}}}});
  }
  net::HttpResponse exchange(const std::string& cr_token, const std::string& profile_field) {
    return client_.post_form("/identity/token", "grant_type=" + std::string(kCrTokenGrant) +
                                                    "&cr_token=" + cr_token + "&" + profile_field);
  }
};

TEST_F(IamCrToken, ATrustedServiceAccountGetsTheProfilesToken) {
  for (const std::string field : {"profile_id=Profile-1", "profile_name=sysdig-readers"}) {
    auto response = exchange(service_account_token("team-a", "reader"), field);
    ASSERT_EQ(response.status, 200) << response.body;
    json payload = jwt_payload(body_json(response)["access_token"].get<std::string>());
    EXPECT_EQ(payload["iam_id"], "iam-Profile-1");
  }
}

TEST_F(IamCrToken, AnUntrustedServiceAccountIs403) {
  json body = expect_iam_error(exchange(service_account_token("team-a", "other"), "profile_id=Profile-1"),
                               403, "BXNIM0492E");
  EXPECT_NE(body["errorMessage"].get<std::string>().find("system:serviceaccount:team-a:other"),
            std::string::npos);
  // The same name in another namespace is another ServiceAccount.
  expect_iam_error(exchange(service_account_token("team-b", "reader"), "profile_id=Profile-1"),
                   403, "BXNIM0492E");
}

TEST_F(IamCrToken, AnUnknownProfileIs400) {
  expect_iam_error(exchange(service_account_token("team-a", "reader"), "profile_id=Profile-9"),
                   400, "BXNIM0491E");
  expect_iam_error(exchange(service_account_token("team-a", "reader"), "profile_name=nobody"), 400,
                   "BXNIM0491E");
}

TEST_F(IamCrToken, TheTokenMustBeAFreshServiceAccountTokenForIam) {
  auto bad = [&](const std::string& token) {
    return expect_iam_error(exchange(token, "profile_id=Profile-1"), 400, "BXNIM0490E");
  };
  bad(service_account_token("team-a", "reader", json::array({"https://kubernetes.default.svc"})));
  bad(service_account_token("team-a", "reader", json::array({"iam"}), -10));
  bad("not-a-jwt");
  bad(base64url_encode("{}") + "." + base64url_encode(R"({"aud":"iam","exp":9999999999,"sub":"user:alice"})") + ".x");
  json body = expect_iam_error(exchange(service_account_token("team-a", "reader"), ""), 400,
                               "BXNIM0109E");
  expect_iam_error(client_.post_form("/identity/token",
                                     "grant_type=" + std::string(kCrTokenGrant) + "&profile_id=P"),
                   400, "BXNIM0109E");
}

TEST_F(IamCrToken, TheCrTokenIsRedactedInTheRequestLog) {
  std::string token = service_account_token("team-a", "reader");
  ASSERT_EQ(exchange(token, "profile_id=Profile-1").status, 200);
  auto requests = client_.admin("GET", "/_fake/requests");
  const auto& recent = requests.at("recent").back();
  EXPECT_EQ(recent.at("form").at("cr_token"), "<redacted>");
  EXPECT_EQ(requests.dump().find(token), std::string::npos);
}

}  // namespace sto::fake::testing
