#include "net/rate_limiter.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sto::net {

RateLimiter::RateLimiter(double per_second, double burst)
    : rate_(per_second), burst_(std::max(1.0, burst)), tokens_(burst_), last_(Clock::now()) {}

RateLimiter::Clock::duration RateLimiter::reserve(Clock::time_point now) {
  if (now > last_) {
    std::chrono::duration<double> elapsed = now - last_;
    tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
    last_ = now;
  }
  tokens_ -= 1.0;
  Clock::duration wait{0};
  if (tokens_ < 0) {
    wait = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(-tokens_ / rate_));
  }
  if (paused_until_ > now) wait = std::max<Clock::duration>(wait, paused_until_ - now);
  return wait;
}

boost::asio::awaitable<void> RateLimiter::acquire() {
  auto wait = reserve();
  if (wait <= Clock::duration::zero()) co_return;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, wait);
  // A cancelled wait (shutdown) simply returns early.
  (void)co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

bool RateLimiter::idle(Clock::time_point now) const {
  if (paused_until_ > now) return false;
  std::chrono::duration<double> elapsed = now > last_ ? now - last_ : Clock::duration::zero();
  return tokens_ + elapsed.count() * rate_ >= burst_;
}

void RateLimiter::pause_until(Clock::time_point until) {
  paused_until_ = std::max(paused_until_, until);
}

}  // namespace sto::net
