// RateLimiter: a token bucket (rate per second, burst) for outgoing requests.
// acquire() reserves a token and waits until it is due, so waiters are served
// in order. Use from the executor's thread only.
#pragma once

#include <chrono>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace sto::net {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  RateLimiter(double per_second, double burst);

  // How long a request made now would wait (and reserves its token).
  Clock::duration reserve(Clock::time_point now = Clock::now());
  boost::asio::awaitable<void> acquire();

  // Holds every reservation until `until` (for Retry-After answers).
  void pause_until(Clock::time_point until);

  // Whether the bucket is full again at `now` and not paused: it then acts
  // exactly like a new one, so a holder of many buckets may drop it.
  bool idle(Clock::time_point now = Clock::now()) const;

 private:
  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
  Clock::time_point paused_until_{};
};

}  // namespace sto::net
