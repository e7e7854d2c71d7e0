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
  const std::string key = "key-a";
  limiter.back_off("https://a:443", key, 30s, now);
  EXPECT_EQ(limiter.backing_off("https://a:443", key, now), 30s);
  EXPECT_EQ(limiter.backing_off("https://a:443", key, now + 10500ms), 20s);  // rounded up
  EXPECT_EQ(limiter.backing_off("https://a:443", key, now + 30s), std::nullopt);
  EXPECT_EQ(limiter.backing_off("https://b:443", key, now), std::nullopt);
}

TEST(HostRateLimiter, RetryAfterHoldsOffOneCallerOnly) {
  HostRateLimiter limiter;
  const auto now = Clock::now();
  const std::string a = "sha256-of-key-a";
  const std::string b = "sha256-of-key-b";
  const std::string none;
  limiter.back_off("https://iam:443", a, 30s, now);
  EXPECT_EQ(limiter.backing_off("https://iam:443", a, now), 30s);
  EXPECT_EQ(limiter.backing_off("https://iam:443", b, now), std::nullopt);
  EXPECT_EQ(limiter.backing_off("https://iam:443", none, now), std::nullopt);
  // Keys do not run into each other through the origin.
  EXPECT_EQ(limiter.backing_off("https://iam:443\nsha256-of-key", "a", now), std::nullopt);
  EXPECT_EQ(limiter.waits(), 1u);
}

TEST(HostRateLimiter, AShorterRetryAfterDoesNotShortenTheWait) {
  HostRateLimiter limiter;
  const auto now = Clock::now();
  const std::string key = "k";
  limiter.back_off("h", key, 30s, now);
  limiter.back_off("h", key, 5s, now);
  EXPECT_EQ(limiter.backing_off("h", key, now), 30s);
  limiter.back_off("h", key, 0s, now);
  EXPECT_EQ(limiter.backing_off("h", key, now), 30s);
}

TEST(HostRateLimiter, FullBucketsOfManyHostsAreDropped) {
  HostRateLimiter::Options options;
  options.requests_per_second = 1e9;  // a bucket is full again at once
  options.burst = 1;
  HostRateLimiter limiter(options);
  asio::io_context io;
  testing::run_on(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 500; ++i) {
      const std::string origin = "https://h:" + std::to_string(1000 + i);
      co_await limiter.acquire(origin);
    }
  }());
  // Full buckets are dropped once there are many: the map stays small.
  EXPECT_LE(limiter.buckets(), 65u);
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
