// Test support: runs a coroutine to completion on an io_context.
#pragma once

#include <exception>
#include <optional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace sto::ibm::testing {

// Runs `task` (and whatever else is queued) on `io` until the io_context has
// no more work, and returns the task's value. The io_context may be reused.
template <typename T>
T run_on(boost::asio::io_context& io, boost::asio::awaitable<T> task) {
  std::optional<T> out;
  std::exception_ptr error;
  boost::asio::co_spawn(
      io, [&]() -> boost::asio::awaitable<void> { out.emplace(co_await std::move(task)); },
      [&](std::exception_ptr e) { error = e; });
  io.restart();
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

inline void run_on(boost::asio::io_context& io, boost::asio::awaitable<void> task) {
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e) { error = e; });
  io.restart();
  io.run();
  if (error) std::rethrow_exception(error);
}

}  // namespace sto::ibm::testing
