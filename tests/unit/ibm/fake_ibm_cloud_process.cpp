#include "fake_ibm_cloud_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "net/http_client.h"

extern char** environ;

namespace sto::ibm::testing {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
using namespace std::chrono_literals;

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path);
  out << content;
}

}  // namespace

FakeIbmCloudProcess::FakeIbmCloudProcess(const std::string& config_yaml) {
#ifndef FAKE_IBM_CLOUD_BINARY
  (void)config_yaml;
  throw std::runtime_error(
      "fake-ibm-cloud is not part of this build (tests/fakes did not define the target); the "
      "IBM Cloud client tests need it");
#else
  std::string pattern = (fs::temp_directory_path() / "ibm-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  write_file(dir_ / "config.yaml", config_yaml);

  std::vector<std::string> args = {FAKE_IBM_CLOUD_BINARY,
                                   "--config",
                                   (dir_ / "config.yaml").string(),
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--tls-dir",
                                   (dir_ / "tls").string(),
                                   "--port-file",
                                   (dir_ / "port").string(),
                                   "--log-level",
                                   "warn"};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string out = (dir_ / "stdout").string();
  const std::string err = (dir_ / "stderr").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error(std::string("cannot start ") + FAKE_IBM_CLOUD_BINARY + ": " +
                             std::to_string(rc));
  }

  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!fs::exists(dir_ / "port")) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("fake-ibm-cloud exited: " + read_file(dir_ / "stderr"));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("fake-ibm-cloud did not start in 30s: " +
                               read_file(dir_ / "stderr"));
    }
    std::this_thread::sleep_for(10ms);
  }
  port_ = static_cast<std::uint16_t>(std::stoi(read_file(dir_ / "port")));
  url_ = "https://127.0.0.1:" + std::to_string(port_);
  ca_pem_ = read_file(dir_ / "tls" / "ca.crt");
#endif
}

FakeIbmCloudProcess::~FakeIbmCloudProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (waitpid(pid_, &status, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
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
  std::optional<Result<net::HttpResponse, net::NetError>> response;
  std::shared_ptr<net::HttpClient> http = *client;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto sent = co_await http->send(request);
        response.emplace(std::move(sent));
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
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

}  // namespace sto::ibm::testing
