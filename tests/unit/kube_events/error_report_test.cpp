// Failures of the runtime's own API calls reach the log (rate-limited) and
// whoever counts them: a watcher's list and watch, an informer's decode, a
// Lease request, an Event write.
#include "kube/error_report.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include "fake_kube_api.h"
#include "kube/event_recorder.h"
#include "kube/informer.h"
#include "kube/leader_election.h"
#include "kube/watcher.h"
#include "log_capture.h"
#include "run_coroutine.h"

namespace sto::kube {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using sto::testing::LogCapture;
using sto::testing::run;
using testing::api_error;
using testing::FakeApi;

constexpr std::string_view kLine = "kubernetes API call failed";

ApiError tls_failure() {
  ApiError e;
  e.kind = ApiErrorKind::Transport;
  e.message = "TLS handshake with https://127.0.0.1:6443: certificate verify failed";
  return e;
}

// Runs a watcher of secrets in "ops" until it reported `reports` failures.
std::vector<ErrorReport> watch_until_reported(std::shared_ptr<FakeApi> api, std::size_t reports) {
  std::vector<ErrorReport> seen;
  WatcherConfig config{resources::secrets(), "ops"};
  config.backoff = Backoff{1ms, 1ms, 0.0};
  Watcher* watcher = nullptr;
  config.on_error = log_errors(30s, [&](const ErrorReport& r) {
    seen.push_back(r);
    if (seen.size() >= reports) watcher->stop();
  });
  Watcher w(api, config);
  watcher = &w;
  run([&](asio::io_context&) -> asio::awaitable<void> { co_await w.run([](WatcherEvent&&) {}); });
  return seen;
}

TEST(ErrorReport, FailedListIsLoggedWithPathAndStatus) {
  LogCapture logs;
  auto api = std::make_shared<FakeApi>();
  api->inject = [](const FakeApi::Call&) -> std::optional<ApiError> {
    return api_error(ApiErrorKind::Forbidden, 403, "Forbidden", "secrets is forbidden");
  };
  auto reports = watch_until_reported(api, 1);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].code, "403");
  auto lines = logs.find(kLine);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].level, log::Level::Warn);
  EXPECT_EQ(lines[0].field("component"), "watcher");
  EXPECT_EQ(lines[0].field("path"), "/api/v1/namespaces/ops/secrets");
  EXPECT_EQ(lines[0].field("status"), "403");
  EXPECT_NE(lines[0].field("error").find("list: Forbidden (403)"), std::string::npos)
      << lines[0].field("error");
}

TEST(ErrorReport, ForbiddenWatchIsLoggedOnceWhileItRepeats) {
  LogCapture logs;
  auto api = std::make_shared<FakeApi>();
  api->inject = [](const FakeApi::Call& c) -> std::optional<ApiError> {
    if (c.verb != "watch") return std::nullopt;
    return api_error(ApiErrorKind::Forbidden, 403, "Forbidden", "watch is forbidden");
  };
  auto reports = watch_until_reported(api, 5);
  EXPECT_EQ(reports.size(), 5u);
  auto lines = logs.find(kLine);
  ASSERT_EQ(lines.size(), 1u);  // the same failure again within the interval: no new line
  EXPECT_EQ(lines[0].field("status"), "403");
  EXPECT_EQ(lines[0].field("path"), "/api/v1/namespaces/ops/secrets");
  EXPECT_NE(lines[0].field("error").find("watch: "), std::string::npos);
}

TEST(ErrorReport, TlsFailureIsATransportError) {
  LogCapture logs;
  auto api = std::make_shared<FakeApi>();
  api->inject = [](const FakeApi::Call&) -> std::optional<ApiError> { return tls_failure(); };
  auto reports = watch_until_reported(api, 1);
  ASSERT_EQ(reports.size(), 1u);
  auto lines = logs.find(kLine);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].field("status"), "Transport");
  EXPECT_NE(lines[0].field("error").find("certificate verify failed"), std::string::npos);
}

TEST(ErrorReport, GoneIsAnsweredByARelistNotReported) {
  LogCapture logs;
  auto api = std::make_shared<FakeApi>();
  int watches = 0;
  api->inject = [&](const FakeApi::Call& c) -> std::optional<ApiError> {
    if (c.verb != "watch") return std::nullopt;
    if (++watches == 1) return api_error(ApiErrorKind::Gone, 410, "Expired", "too old");
    return api_error(ApiErrorKind::ServerError, 503, "ServiceUnavailable", "down");
  };
  auto reports = watch_until_reported(api, 1);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].code, "503");
  EXPECT_EQ(api->count("list", "secrets"), 2u);
}

TEST(ErrorReport, UndecodableObjectIsReportedByTheInformer) {
  LogCapture logs;
  auto api = std::make_shared<FakeApi>();
  api->objects["secrets/ops/broken"] = nlohmann::json{{"kind", "Secret"}};  // no metadata
  std::vector<ErrorReport> seen;
  WatcherConfig config{resources::secrets(), "ops"};
  Informer* informer = nullptr;
  config.on_error = log_errors(30s, [&](const ErrorReport& r) {
    seen.push_back(r);
    informer->stop();
  });
  Informer inf(api, config, project_metadata);
  informer = &inf;
  run([&](asio::io_context&) -> asio::awaitable<void> { co_await inf.run(); });
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen[0].component, "informer");
  EXPECT_EQ(seen[0].code, "Decode");
  EXPECT_EQ(inf.stats().decode_errors, 1u);
  auto lines = logs.find(kLine);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].field("path"), "/api/v1/namespaces/ops/secrets");
}

TEST(ErrorReport, LeaseErrorIsLoggedWithTheLeasePath) {
  LogCapture logs;
  auto api = std::make_shared<FakeApi>();
  api->inject = [](const FakeApi::Call& c) -> std::optional<ApiError> {
    if (c.plural != "leases") return std::nullopt;
    return api_error(ApiErrorKind::ServerError, 500, "InternalError", "etcd is down");
  };
  LeaderElectionConfig config;
  config.ns = "ops";
  config.name = "sto-leader";
  config.identity = "me";
  config.lease_duration = 2s;
  config.renew_deadline = 1s;
  config.retry_period = 100ms;
  std::vector<ErrorReport> seen;
  LeaderElector* elector = nullptr;
  LeaderElectionCallbacks callbacks;
  callbacks.on_error = log_errors(30s, [&](const ErrorReport& r) {
    seen.push_back(r);
    elector->stop();
  });
  LeaderElector e(api, config, callbacks);
  elector = &e;
  run([&](asio::io_context&) -> asio::awaitable<void> { co_await e.run(); });
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen[0].component, "leader-election");
  auto lines = logs.find(kLine);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].field("component"), "leader-election");
  EXPECT_EQ(lines[0].field("path"),
            "/apis/coordination.k8s.io/v1/namespaces/ops/leases/sto-leader");
  EXPECT_EQ(lines[0].field("status"), "500");
}

TEST(ErrorReport, FailedEventWriteIsLoggedWithTheEventsPath) {
  LogCapture logs;
  auto api = std::make_shared<FakeApi>();
  api->inject = [](const FakeApi::Call&) -> std::optional<ApiError> {
    return api_error(ApiErrorKind::Forbidden, 403, "Forbidden", "events is forbidden");
  };
  EventRecorder recorder(api, "monitoring.ibm.com/sysdig-token-operator", "pod-1");
  ObjectRef regarding;
  regarding.api_version = "v1";
  regarding.kind = "ConfigMap";
  regarding.ns = "team-a";
  regarding.name = "cm";
  regarding.uid = "uid-1";
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    asio::co_spawn(io, recorder.run(), asio::detached);
    recorder.record(regarding, EventType::Warning, "SyncFailed", "Reconcile", "it broke");
    co_await recorder.flush();
    recorder.stop();
  });
  auto lines = logs.find(kLine);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].field("component"), "event-recorder");
  EXPECT_EQ(lines[0].field("path"), "/apis/events.k8s.io/v1/namespaces/team-a/events");
  EXPECT_EQ(lines[0].field("status"), "403");
}

TEST(ErrorReport, CodeIsTheStatusElseTheKind) {
  EXPECT_EQ(error_code(api_error(ApiErrorKind::Forbidden, 403, "Forbidden", "")), "403");
  EXPECT_EQ(error_code(tls_failure()), "Transport");
}

}  // namespace
}  // namespace sto::kube
