#include "ibm/host_rate_limiter.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "run_coroutine.h"

namespace sto::ibm {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = HostRateLimiter::Clock;

TEST(HostRateLimiter, RetryAfterHoldsOffOneHostOnly) {
  HostRateLimiter limiter;
  const auto now = Clock::now();
  limiter.back_off("https://a:443", 30s, now);
  EXPECT_EQ(limiter.backing_off("https://a:443", now), 30s);
  EXPECT_EQ(limiter.backing_off("https://a:443", now + 10500ms), 20s);  // rounded up
  EXPECT_EQ(limiter.backing_off("https://a:443", now + 30s), std::nullopt);
  EXPECT_EQ(limiter.backing_off("https://b:443", now), std::nullopt);
}

TEST(HostRateLimiter, AShorterRetryAfterDoesNotShortenTheWait) {
  HostRateLimiter limiter;
  const auto now = Clock::now();
  limiter.back_off("h", 30s, now);
  limiter.back_off("h", 5s, now);
  EXPECT_EQ(limiter.backing_off("h", now), 30s);
  limiter.back_off("h", 0s, now);
  EXPECT_EQ(limiter.backing_off("h", now), 30s);
}

TEST(HostRateLimiter, RequestsBeyondTheBurstWaitForTheRate) {
  HostRateLimiter::Options options;
  options.requests_per_second = 50;
  options.burst = 5;
  HostRateLimiter limiter(options);
  asio::io_context io;
  const std::string a = "https://a:443";
  const std::string b = "https://b:443";
  auto started = Clock::now();
  testing::run_on(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 5; ++i) co_await limiter.acquire(a);
  }());
  EXPECT_LT(Clock::now() - started, 50ms);  // the burst passes at once
  started = Clock::now();
  testing::run_on(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 10; ++i) co_await limiter.acquire(a);
    // Another host has its own bucket.
    for (int i = 0; i < 5; ++i) co_await limiter.acquire(b);
  }());
  const auto elapsed = Clock::now() - started;
  EXPECT_GE(elapsed, 150ms);  // 10 more at 50/s
  EXPECT_LT(elapsed, 2s);
}

}  // namespace
}  // namespace sto::ibm
