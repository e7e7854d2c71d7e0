#include "kube/work_queue.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include "run_coroutine.h"

namespace sto::kube {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

using sto::testing::run;

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

TEST(WorkQueue, DeduplicatesQueuedKeys) {
  run([](asio::io_context& ioc) -> asio::awaitable<void> {
    WorkQueue q(ioc.get_executor());
    q.add("a");
    q.add("a");
    q.add("b");
    EXPECT_EQ(q.stats().depth, 2u);
    EXPECT_EQ(q.stats().adds, 3u);
    auto k1 = co_await q.get();
    auto k2 = co_await q.get();
    EXPECT_EQ(*k1, "a");
    EXPECT_EQ(*k2, "b");
    q.done("a");
    q.done("b");
    EXPECT_EQ(q.stats().depth, 0u);
  });
}

TEST(WorkQueue, NeverHandsOutAKeyBeingProcessed) {
  run([](asio::io_context& ioc) -> asio::awaitable<void> {
    WorkQueue q(ioc.get_executor());
    q.add("a");
    auto k = co_await q.get();
    q.add("a");  // changed while processing
    EXPECT_EQ(q.stats().depth, 0u);
    q.add("b");
    auto next = co_await q.get();
    EXPECT_EQ(*next, "b");
    q.done("a");  // now it is queued again
    EXPECT_EQ(q.stats().depth, 1u);
    auto again = co_await q.get();
    EXPECT_EQ(*again, "a");
    q.done("a");
    q.done("b");
  });
}

TEST(WorkQueue, BackoffGrowsPerKeyAndForgetResets) {
  run([](asio::io_context& ioc) -> asio::awaitable<void> {
    WorkQueueOptions o;
    o.backoff = Backoff{20ms, 1s, 0.0};
    WorkQueue q(ioc.get_executor(), o);
    auto start = std::chrono::steady_clock::now();
    q.add_rate_limited("a");  // 20ms
    auto k = co_await q.get();
    auto first = std::chrono::steady_clock::now() - start;
    q.done(*k);
    EXPECT_GE(first, 20ms);
    EXPECT_EQ(q.failures("a"), 1);
    start = std::chrono::steady_clock::now();
    q.add_rate_limited("a");  // 40ms
    k = co_await q.get();
    EXPECT_GE(std::chrono::steady_clock::now() - start, 40ms);
    q.done(*k);
    q.forget("a");
    EXPECT_EQ(q.failures("a"), 0);
    EXPECT_EQ(q.stats().retries, 2u);
  });
}

TEST(WorkQueue, EarliestDelayedAddWins) {
  run([](asio::io_context& ioc) -> asio::awaitable<void> {
    WorkQueue q(ioc.get_executor());
    auto start = std::chrono::steady_clock::now();
    q.add_after("a", 5s);
    q.add_after("a", 30ms);
    q.add_after("a", 10s);
    auto k = co_await q.get();
    auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(*k, "a");
    EXPECT_GE(waited, 30ms);
    EXPECT_LT(waited, 4s);
    q.done("a");
    q.shut_down();
  });
}

TEST(WorkQueue, ShutdownWakesWorkersAndDrainWaitsForInFlight) {
  run([](asio::io_context& ioc) -> asio::awaitable<void> {
    WorkQueue q(ioc.get_executor());
    int idle_workers_done = 0;
    for (int i = 0; i < 3; ++i) {
      asio::co_spawn(
          ioc,
          [&]() -> asio::awaitable<void> {
            auto k = co_await q.get();
            if (!k) ++idle_workers_done;
          },
          asio::detached);
    }
    q.add("busy");
    co_await sleep_for(10ms);  // one worker took "busy" and returned
    q.add("x");
    auto in_flight = co_await q.get();  // take "x" and hold it
    bool finished = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          co_await sleep_for(30ms);
          finished = true;
          q.done(*in_flight);
        },
        asio::detached);
    q.shut_down();
    co_await sleep_for(1ms);
    EXPECT_EQ(idle_workers_done, 2);
    q.add("late");  // ignored
    EXPECT_EQ(q.stats().depth, 0u);
    q.done("busy");
    co_await q.drain();
    EXPECT_TRUE(finished);
    auto none = co_await q.get();
    EXPECT_FALSE(none.has_value());
  });
}

TEST(WorkQueue, OverallRateLimitSpacesRetries) {
  run([](asio::io_context& ioc) -> asio::awaitable<void> {
    WorkQueueOptions o;
    o.backoff = Backoff{1ms, 1ms, 0.0};
    o.qps = 100;
    o.burst = 1;
    WorkQueue q(ioc.get_executor(), o);
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 6; ++i) q.add_rate_limited("k" + std::to_string(i));
    for (int i = 0; i < 6; ++i) {
      auto k = co_await q.get();
      q.done(*k);
    }
    // Burst 1 at 100/s: the sixth waits ~50ms.
    EXPECT_GE(std::chrono::steady_clock::now() - start, 45ms);
  });
}

}  // namespace
}  // namespace sto::kube
