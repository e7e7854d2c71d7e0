// Wakeup: something coroutines wait for — a stop, workers finishing, caches
// syncing — without polling. wait() suspends until notify() or a deadline;
// notify() resumes every waiter at once. Callers check their condition
// before waiting and after waking (as with a condition variable).
// Single-threaded: use from the executor's thread.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sto {

class Wakeup {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Wakeup(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}

  // Returns on notify(), at the deadline, or when the wait is cancelled.
  boost::asio::awaitable<void> wait(Clock::time_point deadline = Clock::time_point::max()) {
    auto timer = std::make_shared<boost::asio::steady_timer>(executor_, deadline);
    waiters_.push_back(timer);
    (void)co_await timer->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    std::erase(waiters_, timer);
  }

  void notify() {
    for (auto& w : waiters_) w->cancel();
  }

 private:
  boost::asio::any_io_executor executor_;
  std::vector<std::shared_ptr<boost::asio::steady_timer>> waiters_;
};

}  // namespace sto
