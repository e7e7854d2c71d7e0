// Test support: a real fake-ibm-cloud server (HTTPS on 127.0.0.1:0) running on
// its own thread and io_context, and a synchronous client over the operator's
// HttpClient (sto::net) for the test's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "fake_cloud_ids.h"
#include "net/http_client.h"
#include "run_coroutine.h"
#include "server.h"
#include "state.h"

namespace sto::fake::testing {

using sto::testing::run_on;

inline constexpr std::string_view kApiKey = "demo-api-key-0001";
inline constexpr std::string_view kIamId = "IBMid-550000DEMO";
inline constexpr std::string_view kDisabledApiKey = "disabled-api-key-0002";
using namespace sto::testing::fake_cloud;
inline constexpr std::string_view kApiKeyGrant = "urn:ibm:params:oauth:grant-type:apikey";

// The seed used by the tests: the DESIGN §6 example plus a disabled key, a
// second team with a space in its name and an IAM_ONLY instance.
extern const char* const kDemoConfigYaml;
State demo_state();

class TestServer {
 public:
  struct Options {
    bool tls = true;
    std::optional<State> state;  // demo_state() when empty
  };

  TestServer();
  explicit TestServer(Options options);
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::string url() const { return server_->url(); }
  std::uint16_t port() const { return server_->local_endpoint().port(); }
  const std::string& ca_pem() const { return ca_pem_; }
  // Moves the fake's clock forward (access tokens expire).
  void advance_clock(std::chrono::seconds by) { clock_offset_seconds_->fetch_add(by.count()); }

 private:
  boost::asio::io_context io_;
  std::shared_ptr<std::atomic<std::int64_t>> clock_offset_seconds_;
  std::shared_ptr<Server> server_;
  std::string ca_pem_;
  std::thread thread_;
};

class TestClient {
 public:
  explicit TestClient(const TestServer& server);
  // A client of any fake-ibm-cloud at `url`, trusting `ca_pem` (if https).
  TestClient(const std::string& url, const std::string& ca_pem);
  ~TestClient();

  boost::asio::io_context& io() { return io_; }
  // Another client of the same server on this client's io_context, with no
  // connections yet.
  std::shared_ptr<net::HttpClient> new_http_client();
  net::HttpClient& http() { return *client_; }

  Result<net::HttpResponse, net::NetError> try_send(net::HttpRequest request);
  // Throws on a transport error (the test then fails with its message).
  net::HttpResponse send(net::HttpRequest request);

  net::HttpResponse get(std::string target, net::Headers headers = {});
  net::HttpResponse post_form(std::string target, std::string body);
  net::HttpResponse send_json(std::string method, std::string target, const nlohmann::json& body);

  // POST /identity/token for `api_key`.
  net::HttpResponse request_access_token(std::string_view api_key);
  // An access token for `api_key`; throws unless IAM answers 200.
  std::string access_token(std::string_view api_key = kApiKey);
  // A Monitoring request with IAM authorization; `team` sets SysdigTeamID.
  net::HttpResponse get_monitoring(std::string target, const std::string& access_token,
                                   std::string_view guid = kGuid,
                                   std::optional<std::int64_t> team = std::nullopt);

  // An admin API call that must succeed; returns its JSON body.
  nlohmann::json admin(std::string method, std::string target,
                       const nlohmann::json& body = nullptr);

 private:
  net::Url origin_;
  net::TlsConfig tls_;
  boost::asio::io_context io_;
  std::shared_ptr<net::HttpClient> client_;
};

// The response body parsed as JSON; throws with the body in the message.
nlohmann::json body_json(const net::HttpResponse& response);
// A JWT's payload; throws unless the token has three base64url parts.
nlohmann::json jwt_payload(const std::string& token);

}  // namespace sto::fake::testing
