#include "ibm/single_flight.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "run_coroutine.h"

namespace sto::ibm {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::run_on;

asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

struct Counter {
  int started = 0;
};

// Work that counts its starts and answers "<key>#<start number>" after a while.
auto slow_work(std::shared_ptr<Counter> counter, std::string key) {
  return [counter, key]() -> asio::awaitable<std::string> {
    int n = ++counter->started;
    co_await sleep_for(20ms);
    co_return key + "#" + std::to_string(n);
  };
}

TEST(SingleFlight, ConcurrentCallsForOneKeyShareOneRun) {
  asio::io_context io;
  SingleFlight<std::string, std::string> flights(io.get_executor());
  auto counter = std::make_shared<Counter>();
  std::vector<std::string> results;
  for (int i = 0; i < 10; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto work = slow_work(counter, "a");
          auto flight = flights.run("a", std::move(work));
          results.push_back(co_await std::move(flight));
        },
        asio::detached);
  }
  io.run();
  EXPECT_EQ(counter->started, 1);
  EXPECT_EQ(results, std::vector<std::string>(10, "a#1"));
  EXPECT_EQ(flights.in_flight(), 0u);
}

TEST(SingleFlight, CallersNeedingANewerAnswerShareTheNextRun) {
  asio::io_context io;
  SingleFlight<std::string, std::string> flights(io.get_executor());
  auto counter = std::make_shared<Counter>();
  std::vector<std::string> results;
  std::optional<SingleFlight<std::string, std::string>::Clock::duration> no_older{0ms};
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto flight = flights.run("a", slow_work(counter, "a"));
        results.push_back(co_await std::move(flight));
      },
      asio::detached);
  for (int i = 0; i < 10; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await sleep_for(5ms);  // while the first run is in flight
          auto flight = flights.run("a", slow_work(counter, "a"), no_older);
          results.push_back(co_await std::move(flight));
        },
        asio::detached);
  }
  io.run();
  EXPECT_EQ(counter->started, 2);
  ASSERT_EQ(results.size(), 11u);
  EXPECT_EQ(results[0], "a#1");
  for (std::size_t i = 1; i < results.size(); ++i) EXPECT_EQ(results[i], "a#2");
}

TEST(SingleFlight, SuccessfulAnswersAreKeptForCallersThatAcceptTheirAge) {
  asio::io_context io;
  SingleFlight<std::string, std::string> flights(io.get_executor(), 200ms);
  auto counter = std::make_shared<Counter>();
  std::vector<std::string> results;
  std::optional<SingleFlight<std::string, std::string>::Clock::duration> recent{150ms}, none{0ms};
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (auto* age : {&recent, &recent, &none, &recent}) {
          auto flight = flights.run("a", slow_work(counter, "a"), *age);
          results.push_back(co_await std::move(flight));
        }
        co_await sleep_for(250ms);  // past keep_for
        auto flight = flights.run("a", slow_work(counter, "a"), recent);
        results.push_back(co_await std::move(flight));
      },
      asio::detached);
  io.run();
  EXPECT_EQ(results, (std::vector<std::string>{"a#1", "a#1", "a#2", "a#2", "a#3"}));
  EXPECT_EQ(flights.kept(), 1u);
}

TEST(SingleFlight, DifferentKeysRunSeparately) {
  asio::io_context io;
  SingleFlight<std::string, std::string> flights(io.get_executor());
  auto counter = std::make_shared<Counter>();
  std::vector<std::string> results;
  for (const char* key : {"a", "b", "a", "b"}) {
    asio::co_spawn(
        io,
        [&, key = std::string(key)]() -> asio::awaitable<void> {
          auto work = slow_work(counter, key);
          auto flight = flights.run(key, std::move(work));
          results.push_back(co_await std::move(flight));
        },
        asio::detached);
  }
  io.run();
  EXPECT_EQ(counter->started, 2);
  std::sort(results.begin(), results.end());
  EXPECT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0].substr(0, 2), "a#");
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[2].substr(0, 2), "b#");
  EXPECT_EQ(results[2], results[3]);
}

TEST(SingleFlight, AFinishedFlightIsNotCached) {
  asio::io_context io;
  SingleFlight<std::string, std::string> flights(io.get_executor());
  auto counter = std::make_shared<Counter>();
  for (int i = 1; i <= 2; ++i) {
    auto result = run_on(io, [&]() -> asio::awaitable<std::string> {
      auto work = slow_work(counter, "a");
      auto flight = flights.run("a", std::move(work));
      co_return co_await std::move(flight);
    }());
    EXPECT_EQ(result, "a#" + std::to_string(i));
  }
}

TEST(SingleFlight, AnExceptionReachesEveryWaiter) {
  asio::io_context io;
  SingleFlight<int, int> flights(io.get_executor());
  int failures = 0;
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto work = []() -> asio::awaitable<int> {
            co_await sleep_for(5ms);
            throw std::runtime_error("boom");
          };
          auto flight = flights.run(1, std::move(work));
          try {
            (void)co_await std::move(flight);
          } catch (const std::runtime_error&) {
            ++failures;
          }
        },
        asio::detached);
  }
  io.run();
  EXPECT_EQ(failures, 3);
  EXPECT_EQ(flights.in_flight(), 0u);
}

}  // namespace
}  // namespace sto::ibm
