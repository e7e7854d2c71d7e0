// The controller's runtime against a fake API server: failures of its own
// API calls reach the log and the metrics, and stop() is prompt.
#include "controller/controller.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include "fake_kube_api.h"
#include "log_capture.h"
#include "run_coroutine.h"
#include "ibm/host_allowlist.h"
#include "ibm/monitoring_client.h"
#include "server/metrics.h"

namespace sto::controller {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using kube::testing::api_error;
using kube::testing::FakeApi;

TEST(Controller, ForbiddenListIsLoggedCountedAndStopIsPrompt) {
  sto::testing::LogCapture logs;
  auto api = std::make_shared<FakeApi>();
  api->inject = [](const FakeApi::Call& c) -> std::optional<kube::ApiError> {
    if (c.plural != "sysdigtokens") return std::nullopt;
    return api_error(kube::ApiErrorKind::Forbidden, 403, "Forbidden",
                     "sysdigtokens.monitoring.ibm.com is forbidden");
  };
  server::Registry registry;
  ControllerOptions options;
  options.namespaces = {"ops"};
  options.metrics = &registry;
  // The io_context outlives the controller, as in the operator.
  asio::io_context io;
  Controller controller(api, options);
  const std::string sample = "sysdigtoken_kube_errors_total{component=\"watcher\",code=\"403\"}";

  Clock::duration stop_took{};
  bool returned = false;
  sto::testing::run_on(io, [&](asio::any_io_executor) -> asio::awaitable<void> {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await controller.run();
          returned = true;
        },
        asio::detached);
    asio::steady_timer timer(io);
    for (int i = 0; i < 500 && registry.render().find(sample) == std::string::npos; ++i) {
      timer.expires_after(10ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    const auto stopping = Clock::now();
    controller.stop();
    while (!returned) {
      timer.expires_after(1ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    stop_took = Clock::now() - stopping;
  });
  EXPECT_TRUE(returned);
  EXPECT_LT(stop_took, 100ms);
  EXPECT_NE(registry.render().find(sample), std::string::npos) << registry.render();
  auto lines = logs.find("kubernetes API call failed");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].field("path"),
            "/apis/monitoring.ibm.com/v1alpha1/namespaces/ops/sysdigtokens");
  EXPECT_EQ(lines[0].field("status"), "403");
}

// A Monitoring client whose calls hang until the test releases them.
class HangingMonitoring final : public ibm::MonitoringClient {
 public:
  explicit HangingMonitoring(asio::io_context& io) : release(io, asio::steady_timer::time_point::max()) {}
  asio::awaitable<Result<std::string, ibm::IbmError>> fetch_token(
      const ibm::TeamRef&, const ibm::Credential&, std::chrono::milliseconds) override {
    ++calls;
    (void)co_await release.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return fail(ibm::make_error(ibm::IbmErrorKind::MonitoringUnavailable, "released"));
  }
  asio::awaitable<Result<std::int64_t, ibm::IbmError>> find_team_id(
      const ibm::InstanceRef&, const std::string&, const ibm::Credential&,
      std::chrono::milliseconds) override {
    co_return fail(ibm::make_error(ibm::IbmErrorKind::TeamNotFound, "none"));
  }
  asio::steady_timer release;
  int calls = 0;
};

nlohmann::json sysdig_token(const std::string& name) {
  return {{"apiVersion", "monitoring.ibm.com/v1alpha1"},
          {"kind", "SysdigToken"},
          {"metadata",
           {{"name", name}, {"namespace", "ops"}, {"uid", "uid-" + name},
            {"resourceVersion", "1"}, {"generation", 1}}},
          {"spec",
           {{"instanceID", "7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c11"},
            {"teamID", 26055},
            {"region", "us-south"},
            {"apiKeySecretRef", {{"name", "ibm-api-key"}, {"key", "apikey"}}}}}};
}

// The API key Secret the SysdigTokens above name.
void put_api_key_secret(FakeApi& api) {
  api.put("secrets", "ops",
          {{"apiVersion", "v1"},
           {"kind", "Secret"},
           {"metadata", {{"name", "ibm-api-key"}, {"namespace", "ops"}, {"uid", "k"},
                         {"resourceVersion", "1"}}},
           {"data", {{"apikey", "a2V5"}}}});
}

// Workers that hang while keys wait make readiness fail, naming them; once
// they move again it recovers.
TEST(Controller, StalledWorkersAreReportedByStatus) {
  asio::io_context io;
  auto api = std::make_shared<FakeApi>();
  api->put("sysdigtokens", "ops", sysdig_token("a"));
  api->put("sysdigtokens", "ops", sysdig_token("b"));
  put_api_key_secret(*api);
  auto monitoring = std::make_shared<HangingMonitoring>(io);
  ControllerOptions options;
  options.namespaces = {"ops"};
  options.workers = 1;
  options.stall_timeout = 200ms;
  options.monitoring = monitoring;
  options.allowlist = ibm::HostAllowlist::parse(ibm::HostAllowlist::default_patterns()).value();
  Controller controller(api, options);

  std::string stalled, after_release;
  bool returned = false;
  sto::testing::run_on(io, [&]() -> asio::awaitable<void> {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await controller.run();
          returned = true;
        },
        asio::detached);
    asio::steady_timer timer(io);
    for (int i = 0; i < 300 && controller.status().stalled.empty(); ++i) {
      timer.expires_after(10ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    stalled = controller.status().stalled;
    monitoring->release.cancel();
    timer.expires_after(50ms);
    co_await timer.async_wait(asio::use_awaitable);
    after_release = controller.status().stalled;
    controller.stop();
    monitoring->release.cancel();
    while (!returned) {
      monitoring->release.cancel();
      timer.expires_after(5ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }());
  EXPECT_EQ(monitoring->calls >= 1, true);
  EXPECT_NE(stalled.find("no progress"), std::string::npos) << stalled;
  EXPECT_NE(stalled.find("1 keys waiting"), std::string::npos) << stalled;
  EXPECT_EQ(after_release, "");
}

// Cluster-wide without the ClusterSysdigToken CRD (an upgrade that kept the
// old CRDs): the caches SysdigTokens need sync, readiness follows them, and
// the SysdigTokens are reconciled; the missing resource is only reported.
TEST(Controller, WithoutTheClusterSysdigTokenCrdSysdigTokensAreStillServed) {
  sto::testing::LogCapture logs;
  asio::io_context io;
  auto api = std::make_shared<FakeApi>();
  api->inject = [](const FakeApi::Call& c) -> std::optional<kube::ApiError> {
    if (c.plural != "clustersysdigtokens") return std::nullopt;
    return api_error(kube::ApiErrorKind::NotFound, 404, "NotFound", "the server could not find "
                                                                    "the requested resource");
  };
  api->put("sysdigtokens", "ops", sysdig_token("a"));
  put_api_key_secret(*api);
  auto monitoring = std::make_shared<HangingMonitoring>(io);
  ControllerOptions options;  // all namespaces
  options.workers = 1;
  options.monitoring = monitoring;
  options.allowlist = ibm::HostAllowlist::parse(ibm::HostAllowlist::default_patterns()).value();
  Controller controller(api, options);

  bool synced = false, returned = false;
  sto::testing::run_on(io, [&]() -> asio::awaitable<void> {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await controller.run();
          returned = true;
        },
        asio::detached);
    asio::steady_timer timer(io);
    for (int i = 0; i < 300 && (!controller.status().synced || monitoring->calls == 0); ++i) {
      timer.expires_after(10ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    synced = controller.status().synced;
    controller.stop();
    while (!returned) {
      monitoring->release.cancel();
      timer.expires_after(5ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }());
  EXPECT_TRUE(synced);
  EXPECT_GE(monitoring->calls, 1) << "the SysdigToken was not reconciled";
  bool reported = false;
  for (const auto& line : logs.find("kubernetes API call failed")) {
    reported = reported || line.field("path") == "/apis/monitoring.ibm.com/v1alpha1/clustersysdigtokens";
  }
  EXPECT_TRUE(reported) << "the failed list of clustersysdigtokens was not logged";
}

}  // namespace
}  // namespace sto::controller
