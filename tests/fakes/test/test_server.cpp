#include "test_server.h"

#include <stdexcept>

#include "tokens.h"

namespace sto::fake::testing {

const char* const kDemoConfigYaml = R"(
iam:
  tokenTTLSeconds: 3600
apiKeys:
  - {key: "demo-api-key-0001", iamID: "IBMid-550000DEMO", enabled: true}
  - {key: "disabled-api-key-0002", iamID: "IBMid-550000GONE", enabled: false}
instances:
  - guid: "7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c11"
    region: us-south
    externalApiAuth: ANY            # ANY | IAM_ONLY
    teams:
      - {id: 26055, name: Ops, token: "0f8e2c5a-9a51-4d0e-8b7c-1e2f3a4b5c6d"}
      - {id: 26056, name: "Monitor Operations", token: "9d1c7b3e-2f4a-4b5c-8d6e-7f8091a2b3c4"}
  - guid: "5c2d8e1a-0b3f-4a6c-8d7e-9f0a1b2c3d4e"
    region: eu-de
    externalApiAuth: IAM_ONLY
    teams:
      - {id: 100, name: Ops, token: "11111111-2222-4333-8444-555555555555"}
)";

State demo_state() {
  auto patch = parse_state_yaml(kDemoConfigYaml);
  if (!patch) throw std::runtime_error("demo config: " + patch.error());
  auto state = build_state(*patch);
  if (!state) throw std::runtime_error("demo config: " + state.error());
  return std::move(state).value();
}

TestServer::TestServer() : TestServer(Options{}) {}

TestServer::TestServer(Options options)
    : clock_offset_seconds_(std::make_shared<std::atomic<std::int64_t>>(0)) {
  ServerOptions server_options;
  if (options.tls) {
    auto identity = generate_tls_identity();
    if (!identity) throw std::runtime_error("TLS identity: " + identity.error());
    ca_pem_ = identity->ca_cert_pem;
    server_options.tls = std::move(identity).value();
  }
  FakeOptions fake_options;
  fake_options.clock = [offset = clock_offset_seconds_] {
    return std::chrono::system_clock::now() + std::chrono::seconds(offset->load());
  };
  auto fake = std::make_shared<FakeIbmCloud>(
      options.state ? std::move(*options.state) : demo_state(), std::move(fake_options));
  auto server = Server::start(io_, std::move(server_options), std::move(fake));
  if (!server) throw std::runtime_error("server: " + server.error());
  server_ = std::move(server).value();
  thread_ = std::thread([this] { io_.run(); });
}

TestServer::~TestServer() {
  server_->stop();
  thread_.join();
}

TestClient::TestClient(const TestServer& server) : TestClient(server.url(), server.ca_pem()) {}

TestClient::TestClient(const std::string& url, const std::string& ca_pem) {
  auto origin = net::Url::parse(url);
  if (!origin) throw std::runtime_error("url: " + origin.error());
  origin_ = std::move(origin).value();
  tls_.use_system_store = false;
  tls_.ca_pem = ca_pem;
  client_ = new_http_client();
}

TestClient::~TestClient() { client_->shutdown(); }

std::shared_ptr<net::HttpClient> TestClient::new_http_client() {
  auto client = net::HttpClient::create(io_.get_executor(), origin_, tls_);
  if (!client) throw std::runtime_error("client: " + client.error().message);
  return std::move(client).value();
}

Result<net::HttpResponse, net::NetError> TestClient::try_send(net::HttpRequest request) {
  request.timeout = std::chrono::seconds(30);
  return run_on(io_, client_->send(std::move(request)));
}

net::HttpResponse TestClient::send(net::HttpRequest request) {
  std::string what = request.method + " " + request.target;
  auto response = try_send(std::move(request));
  if (!response) {
    throw std::runtime_error(what + ": " + std::string(net::to_string(response.error().kind)) +
                             ": " + response.error().message);
  }
  return std::move(response).value();
}

net::HttpResponse TestClient::get(std::string target, net::Headers headers) {
  return send({.method = "GET", .target = std::move(target), .headers = std::move(headers)});
}

net::HttpResponse TestClient::post_form(std::string target, std::string body) {
  return send({.method = "POST",
               .target = std::move(target),
               .headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                           {"Accept", "application/json"}},
               .body = std::move(body)});
}

net::HttpResponse TestClient::send_json(std::string method, std::string target,
                                        const nlohmann::json& body) {
  net::HttpRequest request{.method = std::move(method), .target = std::move(target)};
  if (!body.is_null()) {
    request.headers.push_back({"Content-Type", "application/json"});
    request.body = body.dump();
  }
  return send(std::move(request));
}

net::HttpResponse TestClient::request_access_token(std::string_view api_key) {
  return post_form("/identity/token",
                   "grant_type=" + std::string(kApiKeyGrant) + "&apikey=" + std::string(api_key));
}

std::string TestClient::access_token(std::string_view api_key) {
  auto response = request_access_token(api_key);
  if (response.status != 200) {
    throw std::runtime_error("IAM answered " + std::to_string(response.status) + ": " +
                             response.body);
  }
  return body_json(response).at("access_token").get<std::string>();
}

net::HttpResponse TestClient::get_monitoring(std::string target, const std::string& access_token,
                                             std::string_view guid,
                                             std::optional<std::int64_t> team) {
  net::Headers headers = {{"Authorization", "Bearer " + access_token},
                          {"IBMInstanceID", std::string(guid)}};
  if (team) headers.push_back({"SysdigTeamID", std::to_string(*team)});
  return get(std::move(target), std::move(headers));
}

nlohmann::json TestClient::admin(std::string method, std::string target,
                                 const nlohmann::json& body) {
  std::string what = method + " " + target;
  auto response = send_json(std::move(method), std::move(target), body);
  if (response.status / 100 != 2) {
    throw std::runtime_error(what + " answered " + std::to_string(response.status) + ": " +
                             response.body);
  }
  return body_json(response);
}

nlohmann::json body_json(const net::HttpResponse& response) {
  try {
    return nlohmann::json::parse(response.body);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("response " + std::to_string(response.status) +
                             " is not JSON: " + response.body);
  }
}

nlohmann::json jwt_payload(const std::string& token) {
  auto first = token.find('.');
  auto last = token.rfind('.');
  if (first == std::string::npos || first == last || token.find('.', first + 1) != last) {
    throw std::runtime_error("not a three-part JWT: " + token);
  }
  auto payload = base64url_decode(token.substr(first + 1, last - first - 1));
  if (!payload) throw std::runtime_error("JWT payload is not base64url: " + token);
  return nlohmann::json::parse(*payload);
}

}  // namespace sto::fake::testing
