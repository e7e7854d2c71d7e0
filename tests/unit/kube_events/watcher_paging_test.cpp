// A watcher's list pages: the first is small, later ones grow while they stay
// small in bytes and shrink when objects are large, and an answer too large
// for the client is asked again with fewer objects — so that a few big
// objects (a tenant's 1 MiB Secrets) never make one huge page.
#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include "fake_kube_api.h"
#include "kube/watcher.h"
#include "run_coroutine.h"

namespace sto::kube {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using sto::testing::run;
using testing::FakeApi;

void add_secrets(FakeApi& api, int count, std::size_t data_bytes) {
  for (int i = 0; i < count; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "s%03d", i);
    api.put("secrets", "ops",
            {{"metadata", {{"name", name}}}, {"data", {{"token", std::string(data_bytes, 'A')}}}});
  }
}

struct Listed {
  std::vector<std::int64_t> limits;  // of each list request, in order
  std::size_t objects = 0;
  bool done = false;
};

// Lists once (the fake has no watch) and reports what the pages asked for.
Listed list_once(const std::shared_ptr<FakeApi>& api, WatcherConfig config) {
  Listed out;
  config.backoff = Backoff{1ms, 1ms, 0.0};
  config.on_error = [](const ErrorReport&) {};
  Watcher w(api, config);
  run([&](asio::io_context&) -> asio::awaitable<void> {
    co_await w.run([&](WatcherEvent&& e) {
      if (e.type == WatcherEventType::InitApply) ++out.objects;
      if (e.type == WatcherEventType::InitDone) {
        out.done = true;
        w.stop();
      }
    });
  });
  for (const auto& c : api->calls) {
    if (c.verb == "list") out.limits.push_back(c.limit);
  }
  return out;
}

TEST(WatcherPaging, SmallObjectsGrowThePagesUpToTheMaximum) {
  auto api = std::make_shared<FakeApi>();
  add_secrets(*api, 300, 10);
  WatcherConfig config{resources::secrets(), "ops"};
  config.page_size = 100;
  auto listed = list_once(api, config);
  EXPECT_TRUE(listed.done);
  EXPECT_EQ(listed.objects, 300u);
  EXPECT_EQ(listed.limits, (std::vector<std::int64_t>{8, 16, 32, 64, 100, 100}));
}

TEST(WatcherPaging, LargeObjectsShrinkThePagesToTheByteTarget) {
  auto api = std::make_shared<FakeApi>();
  add_secrets(*api, 40, 200 * 1024);
  WatcherConfig config{resources::secrets(), "ops"};
  config.page_bytes = 1u << 20;  // five objects of 200 KiB
  auto listed = list_once(api, config);
  EXPECT_TRUE(listed.done);
  EXPECT_EQ(listed.objects, 40u);
  ASSERT_GE(listed.limits.size(), 2u);
  EXPECT_EQ(listed.limits[0], 8);
  for (std::size_t i = 1; i < listed.limits.size(); ++i) {
    EXPECT_LE(listed.limits[i], 5) << "page " << i;
    EXPECT_GE(listed.limits[i], 4) << "page " << i;
  }
}

TEST(WatcherPaging, AnAnswerTooLargeIsAskedAgainWithFewerObjects) {
  auto api = std::make_shared<FakeApi>();
  add_secrets(*api, 12, 100 * 1024);
  api->max_list_bytes = 250 * 1024;  // two objects fit
  WatcherConfig config{resources::secrets(), "ops"};
  auto listed = list_once(api, config);
  EXPECT_TRUE(listed.done);
  EXPECT_EQ(listed.objects, 12u);
  ASSERT_GE(listed.limits.size(), 3u);
  EXPECT_EQ(listed.limits[0], 8);
  EXPECT_EQ(listed.limits[1], 2);  // a quarter, then it fits
}

TEST(WatcherPaging, ASingleObjectTooLargeIsAFailure) {
  auto api = std::make_shared<FakeApi>();
  add_secrets(*api, 3, 100 * 1024);
  api->max_list_bytes = 50 * 1024;
  std::vector<ErrorReport> reports;
  WatcherConfig config{resources::secrets(), "ops"};
  config.backoff = Backoff{1ms, 1ms, 0.0};
  Watcher* watcher = nullptr;
  config.on_error = [&](const ErrorReport& r) {
    reports.push_back(r);
    watcher->stop();
  };
  Watcher w(api, config);
  watcher = &w;
  run([&](asio::io_context&) -> asio::awaitable<void> { co_await w.run([](WatcherEvent&&) {}); });
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_NE(reports[0].message.find("TooLarge"), std::string::npos) << reports[0].message;
  std::vector<std::int64_t> limits;
  for (const auto& c : api->calls) limits.push_back(c.limit);
  EXPECT_EQ(limits, (std::vector<std::int64_t>{8, 2, 1}));
}

TEST(WatcherPaging, ZeroPageSizeListsEverythingAtOnce) {
  auto api = std::make_shared<FakeApi>();
  add_secrets(*api, 30, 10);
  WatcherConfig config{resources::secrets(), "ops"};
  config.page_size = 0;
  auto listed = list_once(api, config);
  EXPECT_EQ(listed.objects, 30u);
  EXPECT_EQ(listed.limits, (std::vector<std::int64_t>{0}));
}

}  // namespace
}  // namespace sto::kube
