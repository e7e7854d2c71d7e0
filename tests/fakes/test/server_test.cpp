// The server itself: concurrency, TLS identity, plain HTTP, limits.
#include "server.h"

#include <gtest/gtest.h>

#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "test_server.h"

namespace sto::fake::testing {
namespace {

using nlohmann::json;

net::HttpRequest iam_token_request() {
  return {.method = "POST",
          .target = "/identity/token",
          .headers = {{"Content-Type", "application/x-www-form-urlencoded"}},
          .body = "grant_type=" + std::string(kApiKeyGrant) + "&apikey=" + std::string(kApiKey)};
}

net::HttpRequest monitoring_token_request(const std::string& access_token) {
  return {.method = "GET",
          .target = "/api/token",
          .headers = {{"Authorization", "Bearer " + access_token},
                      {"IBMInstanceID", std::string(kGuid)},
                      {"SysdigTeamID", std::to_string(kOpsTeam)}},
          .timeout = std::chrono::seconds(60)};
}

TEST(Server, Answers200ParallelTokenRequestsEachOnItsOwnConnection) {
  TestServer server;
  TestClient client(server);
  // Every Monitoring answer takes 300 ms: served one after another, 200
  // requests would take a minute.
  client.admin("POST", "/_fake/faults", {{"pathPrefix", "/api/token"}, {"latencyMs", 300}});

  constexpr int kRequests = 200;
  std::vector<int> statuses(kRequests, 0);
  std::vector<std::string> keys(kRequests);
  auto fetch = [&](int i) -> boost::asio::awaitable<void> {
    // (Requests are built before co_await: GCC 12 miscompiles braced
    // temporaries inside co_await expressions.)
    auto http = client.new_http_client();
    net::HttpRequest iam_request = iam_token_request();
    auto iam = co_await http->send(std::move(iam_request));
    if (!iam || iam->status != 200) {
      statuses[i] = iam ? iam->status : -1;
      co_return;
    }
    std::string token = json::parse(iam->body)["access_token"].get<std::string>();
    net::HttpRequest token_request = monitoring_token_request(token);
    auto response = co_await http->send(std::move(token_request));
    statuses[i] = response ? response->status : -1;
    if (response && response->status == 200) {
      keys[i] = json::parse(response->body)["token"]["key"].get<std::string>();
    }
    http->shutdown();
  };

  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRequests; ++i) {
    boost::asio::co_spawn(client.io(), fetch(i), boost::asio::detached);
  }
  client.io().restart();
  client.io().run();
  auto elapsed = std::chrono::steady_clock::now() - start;

  for (int i = 0; i < kRequests; ++i) {
    EXPECT_EQ(statuses[i], 200) << "request " << i;
    EXPECT_EQ(keys[i], kOpsToken) << "request " << i;
  }
  EXPECT_LT(elapsed, std::chrono::seconds(30));
  json counts = client.admin("GET", "/_fake/requests")["counts"];
  EXPECT_EQ(counts["POST /identity/token"]["200"], kRequests);
  EXPECT_EQ(counts["GET /api/token"]["200"], kRequests);
}

TEST(Server, CertificateNamesLocalhostAndLoopback) {
  TestServer server;
  const std::string port = std::to_string(server.port());
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    TestClient client("https://" + host + ":" + port, server.ca_pem());
    EXPECT_EQ(client.request_access_token(kApiKey).status, 200) << host;
  }
}

TEST(Server, ClientsThatDoNotTrustTheCaAreRefused) {
  TestServer server;
  auto other_ca = generate_tls_identity();
  ASSERT_TRUE(other_ca) << other_ca.error();
  TestClient client(server.url(), other_ca->ca_cert_pem);
  auto response = client.try_send({.method = "GET", .target = "/api/teams"});
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, net::NetErrorKind::Tls) << response.error().message;
}

TEST(Server, PlainHttpForDebugging) {
  TestServer server({.tls = false});
  EXPECT_EQ(server.url().rfind("http://127.0.0.1:", 0), 0u) << server.url();
  TestClient client(server);
  std::string token = client.access_token();
  EXPECT_EQ(client.get_monitoring("/api/token", token, kGuid, kOpsTeam).status, 200);
}

TEST(Server, KeepsConnectionsAlive) {
  TestServer server;
  TestClient client(server);
  for (int i = 0; i < 3; ++i) {
    auto response = client.request_access_token(kApiKey);
    EXPECT_EQ(response.status, 200);
    EXPECT_NE(response.header("Connection").value_or(""), "close");
  }
}

TEST(Server, RefusesBodiesOverOneMebibyteWith413) {
  TestServer server;
  TestClient client(server);
  auto response = client.send({.method = "PUT",
                               .target = "/_fake/state",
                               .headers = {{"Content-Type", "application/json"}},
                               .body = std::string(2 * 1024 * 1024, ' ')});
  EXPECT_EQ(response.status, 413);
  EXPECT_EQ(response.header("Connection").value_or(""), "close");
  // The server is fine afterwards.
  EXPECT_EQ(client.request_access_token(kApiKey).status, 200);
}

TEST(Server, RefusesOversizedHeadersWith431) {
  TestServer server;
  TestClient client(server);
  auto response = client.get("/api/teams", {{"X-Padding", std::string(32 * 1024, 'x')}});
  EXPECT_EQ(response.status, 431);
  EXPECT_EQ(client.request_access_token(kApiKey).status, 200);
}

}  // namespace
}  // namespace sto::fake::testing
