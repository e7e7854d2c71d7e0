#include "fake_ibm_cloud_process.h"

#include <chrono>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "net/http_client.h"
#include "run_coroutine.h"

namespace sto::testing {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
using namespace std::chrono_literals;

}  // namespace

FakeIbmCloudProcess::FakeIbmCloudProcess(const std::string& config_yaml) {
#ifndef FAKE_IBM_CLOUD_BINARY
  (void)config_yaml;
  throw std::runtime_error(
      "fake-ibm-cloud is not part of this build (tests/fakes did not define the target); the "
      "IBM Cloud client tests need it");
#else
  const fs::path& dir = dir_.path();
  write_file(dir / "config.yaml", config_yaml);
  process_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{FAKE_IBM_CLOUD_BINARY, "--config", (dir / "config.yaml").string(),
                               "--listen", "127.0.0.1:0", "--tls-dir", (dir / "tls").string(),
                               "--port-file", (dir / "port").string(), "--log-level", "warn"},
      dir / "stdout", dir / "stderr");
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!fs::exists(dir / "port")) {
    if (process_->exited()) {
      throw std::runtime_error("fake-ibm-cloud exited: " + read_file(dir / "stderr"));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("fake-ibm-cloud did not start in 30s: " + read_file(dir / "stderr"));
    }
    std::this_thread::sleep_for(10ms);
  }
  port_ = static_cast<std::uint16_t>(std::stoi(read_file(dir / "port")));
  url_ = "https://127.0.0.1:" + std::to_string(port_);
  ca_pem_ = read_file(dir / "tls" / "ca.crt");
#endif
}

FakeIbmCloudProcess::~FakeIbmCloudProcess() {
  if (process_) process_->terminate();
}

nlohmann::json FakeIbmCloudProcess::admin(const std::string& method, const std::string& target,
                                          const nlohmann::json& body) {
  asio::io_context io;
  auto origin = net::Url::parse(url_);
  net::TlsConfig tls;
  tls.use_system_store = false;
  tls.ca_pem = ca_pem_;
  auto client = net::HttpClient::create(io.get_executor(), *origin, tls);
  if (!client) throw std::runtime_error("admin client: " + client.error().message);

  net::HttpRequest request;
  request.method = method;
  request.target = target;
  if (!body.is_null()) {
    request.headers.push_back({"Content-Type", "application/json"});
    request.body = body.dump();
  }
  std::shared_ptr<net::HttpClient> http = *client;
  std::optional<Result<net::HttpResponse, net::NetError>> response =
      run_on(io, http->send(request));
  if (!response || !response->ok()) {
    throw std::runtime_error(method + " " + target + ": " +
                             (response ? response->error().message : "no answer"));
  }
  const auto& answer = response->value();
  if (answer.status < 200 || answer.status > 299) {
    throw std::runtime_error(method + " " + target + ": HTTP " + std::to_string(answer.status) +
                             ": " + answer.body);
  }
  return answer.body.empty() ? nlohmann::json() : nlohmann::json::parse(answer.body);
}

std::uint64_t FakeIbmCloudProcess::count(const std::string& endpoint, const std::string& outcome) {
  auto requests = admin("GET", "/_fake/requests");
  const auto& counts = requests.at("counts");
  auto it = counts.find(endpoint);
  if (it == counts.end()) return 0;
  std::uint64_t total = 0;
  for (const auto& [status, n] : it->items()) {
    if (outcome.empty() || status == outcome) total += n.get<std::uint64_t>();
  }
  return total;
}

void FakeIbmCloudProcess::add_fault(const nlohmann::json& rule) {
  admin("POST", "/_fake/faults", rule);
}

void FakeIbmCloudProcess::clear_faults() { admin("DELETE", "/_fake/faults"); }

void FakeIbmCloudProcess::reset_requests() { admin("POST", "/_fake/requests/reset"); }

}  // namespace sto::testing
