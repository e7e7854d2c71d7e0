// The gateway's bounded pool of HTTP clients and its one shared TLS context,
// against the real fake IBM Cloud listening on many ports (each port is
// another origin, as a tenant's spec.endpoint or spec.iamEndpoint would make
// it), and the pool's waiting rules on their own.
#include "ibm/client_pool.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "child_process.h"
#include "fake_cloud_fixture.h"
#include "ibm/http_gateway.h"
#include "ibm/iam_api.h"
#include "run_coroutine.h"

namespace sto::ibm {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sto::testing::ChildProcess;
using sto::testing::read_file;
using sto::testing::TempDir;
using sto::testing::write_file;
using testing::kGoodKey;
using Clock = std::chrono::steady_clock;

// fake-ibm-cloud with one listener per entry of `hosts` (a loopback address
// each, port chosen by the system): every listener serves the same fake.
class MultiPortFake {
 public:
  explicit MultiPortFake(const std::vector<std::string>& hosts) {
#ifndef FAKE_IBM_CLOUD_BINARY
    (void)hosts;
    throw std::runtime_error("fake-ibm-cloud is not part of this build");
#else
    const fs::path& dir = dir_.path();
    write_file(dir / "config.yaml", testing::seed_yaml());
    std::vector<std::string> argv = {FAKE_IBM_CLOUD_BINARY, "--config",
                                     (dir / "config.yaml").string()};
    for (const auto& host : hosts) {
      argv.push_back("--listen");
      argv.push_back(host + ":0");
    }
    for (std::string more : {std::string("--tls-dir"), (dir / "tls").string(),
                             std::string("--ports-file"), (dir / "ports").string(),
                             std::string("--log-level"), std::string("warn")}) {
      argv.push_back(std::move(more));
    }
    process_ = std::make_unique<ChildProcess>(argv, dir / "stdout", dir / "stderr");
    const auto deadline = Clock::now() + 30s;
    while (!fs::exists(dir / "ports")) {
      if (process_->exited() || Clock::now() > deadline) {
        throw std::runtime_error("fake-ibm-cloud did not start: " + read_file(dir / "stderr"));
      }
      std::this_thread::sleep_for(10ms);
    }
    std::istringstream ports(read_file(dir / "ports"));
    std::size_t i = 0;
    for (std::string port; std::getline(ports, port);) {
      urls_.push_back("https://" + hosts.at(i++) + ":" + port);
    }
    if (urls_.size() != hosts.size()) throw std::runtime_error("fake-ibm-cloud: ports file");
    ca_pem_ = read_file(dir / "tls" / "ca.crt");
#endif
  }
  ~MultiPortFake() {
    if (process_) process_->terminate();
  }

  const std::vector<std::string>& urls() const { return urls_; }
  const std::string& ca_pem() const { return ca_pem_; }

  // POST /_fake/faults (through any listener: they share the fake).
  void add_fault(const nlohmann::json& rule) {
    asio::io_context io;
    net::TlsConfig tls;
    tls.use_system_store = false;
    tls.ca_pem = ca_pem_;
    auto origin = net::Url::parse(urls_.front());
    auto client = net::HttpClient::create(io.get_executor(), *origin, tls);
    if (!client) throw std::runtime_error(client.error().message);
    net::HttpRequest request;
    request.method = "POST";
    request.target = "/_fake/faults";
    request.headers.push_back({"Content-Type", "application/json"});
    request.body = rule.dump();
    std::shared_ptr<net::HttpClient> http = *client;
    auto response = sto::testing::run_on(io, http->send(request));
    if (!response || response->status / 100 != 2) throw std::runtime_error("add_fault failed");
  }

 private:
  TempDir dir_{"fake-ibm-cloud-ports"};
  std::unique_ptr<ChildProcess> process_;
  std::vector<std::string> urls_;
  std::string ca_pem_;
};

std::vector<std::string> loopback(std::size_t n) { return std::vector<std::string>(n, "127.0.0.1"); }

class GatewayPoolTest : public ::testing::Test {
 protected:
  void start(std::size_t listeners, std::vector<std::string> extra_hosts = {}) {
    auto hosts = loopback(listeners);
    hosts.insert(hosts.end(), extra_hosts.begin(), extra_hosts.end());
    fake_ = std::make_unique<MultiPortFake>(hosts);
    options_.tls.ca_pem = fake_->ca_pem();
    options_.tls.use_system_store = false;
    options_.request_timeout = 10s;
  }

  HttpGateway& gateway() {
    if (!gateway_) {
      auto allowlist = HostAllowlist::parse({"127.0.0.1", "127.0.0.2", "localhost"});
      if (!allowlist) throw std::runtime_error(allowlist.error());
      auto created = HttpGateway::create(io_.get_executor(), *allowlist, options_);
      if (!created) throw std::runtime_error(created.error());
      gateway_ = *created;
    }
    return *gateway_;
  }

  // An IAM token request for the good key: 200 from any listener.
  asio::awaitable<Result<net::HttpResponse, IbmError>> iam_call(std::string url) {
    auto request = iam_token_request(kGoodKey);
    const std::string caller;
    co_return co_await gateway().send(url, std::move(request), Service::Iam, caller);
  }
  Result<net::HttpResponse, IbmError> call(const std::string& url) {
    return sto::testing::run_on(io_, iam_call(url));
  }
  void expect_ok(const std::string& url) {
    auto response = call(url);
    ASSERT_TRUE(response.ok()) << url << ": " << response.error().message;
    EXPECT_EQ(response->status, 200) << url;
  }

  void TearDown() override {
    if (gateway_) gateway_->shutdown();
    gateway_.reset();
    io_.restart();
    io_.run();
  }

  asio::io_context io_;
  std::unique_ptr<MultiPortFake> fake_;
  GatewayOptions options_;
  std::shared_ptr<HttpGateway> gateway_;
};

TEST_F(GatewayPoolTest, ManyEndpointsShareOneTlsContext) {
  start(12);
  const std::size_t before = net::TlsContext::live_count();
  gateway();
  EXPECT_EQ(net::TlsContext::live_count(), before + 1);
  for (const auto& url : fake_->urls()) expect_ok(url);
  // Host names verify too (the certificate names localhost), with the same context.
  const std::string by_name = "https://localhost:" + fake_->urls()[0].substr(18);
  expect_ok(by_name);
  EXPECT_EQ(gateway().client_count(), 13u);
  EXPECT_EQ(net::TlsContext::live_count(), before + 1);
}

TEST_F(GatewayPoolTest, EachConnectionStillVerifiesItsOwnHost) {
  // 127.0.0.2 is loopback too, but not in the fake's certificate.
  start(1, {"127.0.0.2"});
  const std::string& good = fake_->urls()[0];
  const std::string& wrong_host = fake_->urls()[1];
  expect_ok(good);
  auto refused = call(wrong_host);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, IbmErrorKind::IAMUnavailable);
  EXPECT_NE(refused.error().message.find("Tls"), std::string::npos) << refused.error().message;
  // And the verified origin still works, through the same context.
  expect_ok(good);
}

TEST_F(GatewayPoolTest, NeverExceedsItsBoundAndEvictsTheLeastRecentlyUsedIdleClient) {
  start(8);
  options_.max_clients = 3;
  const auto& urls = fake_->urls();
  for (std::size_t i = 0; i < urls.size(); ++i) {
    expect_ok(urls[i]);
    EXPECT_LE(gateway().client_count(), 3u) << "after " << i + 1 << " origins";
  }
  EXPECT_EQ(gateway().client_count(), 3u);
  // The three most recent are kept; using one makes it the most recent.
  auto origin = [&](std::size_t i) { return net::Url::parse(urls[i])->origin(); };
  EXPECT_TRUE(gateway().has_client(origin(5)));
  EXPECT_FALSE(gateway().has_client(origin(4)));
  expect_ok(urls[5]);  // 5 is now the most recent: 6 is the least recent
  expect_ok(urls[0]);
  EXPECT_TRUE(gateway().has_client(origin(5)));
  EXPECT_TRUE(gateway().has_client(origin(7)));
  EXPECT_FALSE(gateway().has_client(origin(6)));
  EXPECT_EQ(gateway().client_count(), 3u);
}

TEST_F(GatewayPoolTest, IdleClientsAreDropped) {
  start(4);
  options_.client_idle_timeout = 200ms;
  const auto& urls = fake_->urls();
  for (std::size_t i = 0; i < 3; ++i) expect_ok(urls[i]);
  EXPECT_EQ(gateway().client_count(), 3u);
  // maintain() sweeps them (at least once a second) ...
  bool swept = false;
  sto::testing::run_on(io_, [&]() -> asio::awaitable<void> {
    asio::co_spawn(io_, gateway().maintain(), asio::detached);
    asio::steady_timer timer(io_, 1500ms);
    co_await timer.async_wait(asio::use_awaitable);
    swept = gateway().client_count() == 0;
    gateway().shutdown();  // ends maintain()
  }());
  EXPECT_TRUE(swept) << gateway().client_count() << " clients left";
  EXPECT_EQ(gateway().client_count(), 0u);
}

TEST_F(GatewayPoolTest, ANewOriginAlsoDropsExpiredIdleClients) {
  start(4);
  options_.client_idle_timeout = 200ms;
  const auto& urls = fake_->urls();
  for (std::size_t i = 0; i < 3; ++i) expect_ok(urls[i]);
  std::this_thread::sleep_for(300ms);
  expect_ok(urls[3]);
  EXPECT_EQ(gateway().client_count(), 1u);
}

TEST_F(GatewayPoolTest, AClientInUseIsNeverEvictedUnderItsRequest) {
  start(5);
  options_.max_clients = 2;
  const auto& urls = fake_->urls();
  const std::string slow_origin = net::Url::parse(urls[0])->origin();
  fake_->add_fault({{"pathPrefix", "/identity/token"}, {"latencyMs", 1500}, {"times", 1}});
  std::optional<Result<net::HttpResponse, IbmError>> slow;
  std::vector<Result<net::HttpResponse, IbmError>> quick;
  std::size_t most_clients = 0;
  bool slow_kept = true;
  Clock::time_point slow_done{}, quick_done{};
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        auto result = co_await iam_call(urls[0]);
        slow.emplace(std::move(result));
        slow_done = Clock::now();
      },
      asio::detached);
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(io_, 300ms);
        co_await timer.async_wait(asio::use_awaitable);
        // Origins 1..4 churn through the one other slot while 0 is busy.
        for (std::size_t i = 1; i < urls.size(); ++i) {
          auto result = co_await iam_call(urls[i]);
          quick.push_back(std::move(result));
          most_clients = std::max(most_clients, gateway().client_count());
          slow_kept = slow_kept && gateway().has_client(slow_origin);
        }
        quick_done = Clock::now();
      },
      asio::detached);
  io_.restart();
  io_.run();
  ASSERT_TRUE(slow.has_value());
  ASSERT_TRUE(slow->ok()) << slow->error().message;
  EXPECT_EQ((*slow)->status, 200);
  ASSERT_EQ(quick.size(), 4u);
  for (const auto& result : quick) EXPECT_TRUE(result.ok()) << result.error().message;
  EXPECT_LT(quick_done, slow_done) << "the other origins waited for the slow one";
  EXPECT_LE(most_clients, 2u);
  EXPECT_TRUE(slow_kept);
}

TEST_F(GatewayPoolTest, WhenEveryClientIsBusyANewOriginWaitsForOne) {
  start(2);
  options_.max_clients = 1;
  const auto& urls = fake_->urls();
  fake_->add_fault({{"pathPrefix", "/identity/token"}, {"latencyMs", 800}, {"times", 1}});
  std::optional<Result<net::HttpResponse, IbmError>> slow, waiting;
  Clock::time_point slow_done{}, waiting_done{};
  std::size_t most_clients = 0;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        auto result = co_await iam_call(urls[0]);
        slow.emplace(std::move(result));
        slow_done = Clock::now();
        most_clients = std::max(most_clients, gateway().client_count());
      },
      asio::detached);
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(io_, 200ms);
        co_await timer.async_wait(asio::use_awaitable);
        most_clients = std::max(most_clients, gateway().client_count());
        auto result = co_await iam_call(urls[1]);
        waiting.emplace(std::move(result));
        waiting_done = Clock::now();
        most_clients = std::max(most_clients, gateway().client_count());
      },
      asio::detached);
  io_.restart();
  io_.run();
  ASSERT_TRUE(slow && waiting);
  ASSERT_TRUE(slow->ok()) << slow->error().message;
  ASSERT_TRUE(waiting->ok()) << waiting->error().message;
  EXPECT_GE(waiting_done, slow_done);
  EXPECT_EQ(most_clients, 1u);
}

TEST_F(GatewayPoolTest, ShutdownLetsARequestUnderWayFinish) {
  start(1);
  const auto& urls = fake_->urls();
  fake_->add_fault({{"pathPrefix", "/identity/token"}, {"latencyMs", 500}, {"times", 1}});
  std::optional<Result<net::HttpResponse, IbmError>> slow, after;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        auto result = co_await iam_call(urls[0]);
        slow.emplace(std::move(result));
      },
      asio::detached);
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(io_, 150ms);
        co_await timer.async_wait(asio::use_awaitable);
        gateway().shutdown();
        // The gateway goes; the request under way keeps its client.
        gateway_.reset();
      },
      asio::detached);
  io_.restart();
  io_.run();
  ASSERT_TRUE(slow.has_value());
  EXPECT_TRUE(slow->ok()) << slow->error().message;
}

// The pool's rules without a network: clients are only made, never used.

class ClientPoolTest : public ::testing::Test {
 protected:
  std::shared_ptr<ClientPool> make(std::size_t max_clients) {
    auto tls = net::TlsContext::create(net::TlsConfig{});
    EXPECT_TRUE(tls.ok());
    ClientPool::Factory factory = [this, tls = *tls](const net::Url& url) {
      ++made_;
      return net::HttpClient::create(io_.get_executor(), url, tls);
    };
    ClientPool::Options options;
    options.max_clients = max_clients;
    return ClientPool::create(io_.get_executor(), std::move(factory), options);
  }
  static net::Url url(int port) { return *net::Url::parse("https://h:" + std::to_string(port)); }

  asio::io_context io_;
  int made_ = 0;
};

TEST_F(ClientPoolTest, OneClientPerOriginReusedWhileKept) {
  auto pool = make(4);
  sto::testing::run_on(io_, [&]() -> asio::awaitable<void> {
    const auto a = url(1);
    const auto deadline = Clock::now() + 1s;
    {
      auto first = co_await pool->acquire(a, deadline);
      auto second = co_await pool->acquire(a, deadline);
      EXPECT_TRUE(first.ok() && second.ok());
      EXPECT_EQ(&first->client(), &second->client());
      EXPECT_EQ(pool->in_use(), 1u);
    }
    EXPECT_EQ(pool->in_use(), 0u);
    EXPECT_EQ(pool->size(), 1u);
  }());
  EXPECT_EQ(made_, 1);
}

TEST_F(ClientPoolTest, ABusyPoolFailsAtTheDeadline) {
  auto pool = make(1);
  sto::testing::run_on(io_, [&]() -> asio::awaitable<void> {
    const auto a = url(1);
    const auto b = url(2);
    auto held = co_await pool->acquire(a, Clock::now() + 1s);
    EXPECT_TRUE(held.ok());
    const auto started = Clock::now();
    const auto deadline = started + 200ms;
    auto other = co_await pool->acquire(b, deadline);
    EXPECT_FALSE(other.ok());
    if (!other.ok()) {
      EXPECT_EQ(other.error().failure, ClientPool::Failure::Busy);
    }
    EXPECT_GE(Clock::now() - started, 190ms);
    EXPECT_EQ(pool->size(), 1u);
    EXPECT_TRUE(pool->contains(a.origin()));
  }());
}

TEST_F(ClientPoolTest, AReleaseWakesAWaiterAndShutdownFailsTheRest) {
  auto pool = make(1);
  std::vector<std::string> outcomes;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        const auto a = url(1);
        auto held = co_await pool->acquire(a, Clock::now() + 5s);
        asio::steady_timer timer(io_, 100ms);
        co_await timer.async_wait(asio::use_awaitable);
        outcomes.push_back("a released");
      },
      asio::detached);
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        const auto b = url(2);
        auto lease = co_await pool->acquire(b, Clock::now() + 5s);
        outcomes.push_back(lease.ok() ? "b served" : "b failed");
        asio::steady_timer timer(io_, 100ms);
        co_await timer.async_wait(asio::use_awaitable);
        pool->shutdown();
        EXPECT_EQ(pool->size(), 1u);  // still in use: kept until released
      },
      asio::detached);
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(io_, 50ms);
        co_await timer.async_wait(asio::use_awaitable);
        const auto c = url(3);
        auto lease = co_await pool->acquire(c, Clock::now() + 5s);
        outcomes.push_back(lease.ok() ? "c served"
                           : lease.error().failure == ClientPool::Failure::ShutDown
                               ? "c shut down"
                               : "c failed");
      },
      asio::detached);
  io_.run_for(5s);
  EXPECT_TRUE(io_.stopped());
  EXPECT_EQ(outcomes, (std::vector<std::string>{"a released", "b served", "c shut down"}));
  EXPECT_EQ(pool->size(), 0u);
}

}  // namespace
}  // namespace sto::ibm
