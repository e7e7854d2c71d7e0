// Test support: runs coroutines to completion, the one way every test does.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <optional>
#include <type_traits>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace sto::testing {

// Runs `task` (and whatever else is queued) on `io` until the io_context has
// no more work, rethrows what the task threw and returns its value. The
// io_context may be reused.
template <typename T>
T run_on(boost::asio::io_context& io, boost::asio::awaitable<T> task) {
  std::optional<T> out;
  std::exception_ptr error;
  boost::asio::co_spawn(
      io, [&]() -> boost::asio::awaitable<void> { out.emplace(co_await std::move(task)); },
      [&](std::exception_ptr e) { error = e; });
  io.restart();
  io.run();
  io.restart();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

// Runs `task` on `io` only until it is done: timers and work it left behind
// wait for a later run of `io`.
template <typename T>
T run_until_done(boost::asio::io_context& io, boost::asio::awaitable<T> task) {
  std::optional<T> out;
  std::exception_ptr error;
  bool done = false;
  boost::asio::co_spawn(
      io, [&]() -> boost::asio::awaitable<void> { out.emplace(co_await std::move(task)); },
      [&](std::exception_ptr e) {
        error = e;
        done = true;
      });
  io.restart();
  while (!done && io.run_one() > 0) {
  }
  io.restart();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

inline void run_on(boost::asio::io_context& io, boost::asio::awaitable<void> task) {
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e) { error = e; });
  io.restart();
  io.run();
  io.restart();
  if (error) std::rethrow_exception(error);
}

// Runs f(executor)'s coroutine on `io` as above (so everything it started,
// such as informers, must be stopped by then).
template <typename F>
requires std::is_invocable_v<F&, boost::asio::any_io_executor>
auto run_on(boost::asio::io_context& io, F&& f) { return run_on(io, f(io.get_executor())); }

// Runs body(io_context&) — or body(executor) — as a coroutine on a fresh
// io_context until everything it started has finished, and returns its
// value. Work still running after `limit` fails the test instead of hanging it.
template <typename F>
auto run(F&& body, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  boost::asio::io_context io;
  auto start = [&] {
    if constexpr (std::is_invocable_v<F&, boost::asio::io_context&>) {
      return body(io);
    } else {
      return body(io.get_executor());
    }
  };
  using Task = decltype(start());
  using T = typename Task::value_type;
  std::exception_ptr error;
  bool finished = false;
  if constexpr (std::is_void_v<T>) {
    boost::asio::co_spawn(io, start(), [&](std::exception_ptr e) {
      error = e;
      finished = true;
    });
    io.run_for(limit);
    EXPECT_TRUE(io.stopped()) << "work left running after the test";
    if (error) std::rethrow_exception(error);
    EXPECT_TRUE(finished);
  } else {
    std::optional<T> out;
    boost::asio::co_spawn(
        io, [&]() -> boost::asio::awaitable<void> { out.emplace(co_await start()); },
        [&](std::exception_ptr e) {
          error = e;
          finished = true;
        });
    io.run_for(limit);
    EXPECT_TRUE(io.stopped()) << "work left running after the test";
    if (error) std::rethrow_exception(error);
    if (!out) throw std::runtime_error("the coroutine did not finish");
    return std::move(*out);
  }
}

}  // namespace sto::testing
