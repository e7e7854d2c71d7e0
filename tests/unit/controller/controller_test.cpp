// The controller's runtime against a fake API server: failures of its own
// API calls reach the log and the metrics, and stop() is prompt.
#include "controller/controller.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include "fake_kube_api.h"
#include "log_capture.h"
#include "run_coroutine.h"
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
  Controller controller(api, options);
  const std::string sample = "sysdigtoken_kube_errors_total{component=\"watcher\",code=\"403\"}";

  Clock::duration stop_took{};
  bool returned = false;
  sto::testing::run([&](asio::io_context& io) -> asio::awaitable<void> {
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

}  // namespace
}  // namespace sto::controller
