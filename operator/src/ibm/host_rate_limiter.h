// HostRateLimiter: how often the operator calls each IBM Cloud host.
//
// Every host (keyed by origin, "https://host:port") gets its own token bucket
// (net::RateLimiter): a request waits for a token, so a burst of reconciles
// is smoothed instead of hammering IAM or Monitoring. When a host answers with
// Retry-After, it is left alone until then: requests to it fail at once with
// the remaining wait instead of queueing, so the reconcile workers stay free
// for other hosts and the controller requeues at the right time.
// Use from the executor's thread only.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "net/rate_limiter.h"

namespace sto::ibm {

class HostRateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    double requests_per_second = 20;
    double burst = 40;
  };

  HostRateLimiter() : HostRateLimiter(Options{}) {}
  explicit HostRateLimiter(Options options) : options_(options) {}

  // The rest of the wait `origin` asked for, rounded up to whole seconds;
  // nullopt when it may be called.
  std::optional<std::chrono::seconds> backing_off(const std::string& origin,
                                                  Clock::time_point now = Clock::now()) const;
  // Leave `origin` alone for `wait` from `now` (an earlier end is never
  // brought forward).
  void back_off(const std::string& origin, std::chrono::seconds wait,
                Clock::time_point now = Clock::now());

  // Waits for a token of `origin`'s bucket.
  boost::asio::awaitable<void> acquire(const std::string& origin);

 private:
  Options options_;
  std::map<std::string, net::RateLimiter, std::less<>> buckets_;
  std::map<std::string, Clock::time_point, std::less<>> not_before_;
};

}  // namespace sto::ibm
