// HostRateLimiter: how often the operator calls each IBM Cloud host.
//
// Every host (keyed by origin, "https://host:port") gets its own token bucket
// (net::RateLimiter): a request waits for a token, so a burst of reconciles
// is smoothed instead of hammering IAM or Monitoring. That limit is
// host-wide.
//
// A Retry-After answer holds back only the caller it was given to: the
// origin together with a caller key (the SHA-256 of the API key the request
// was made with). One tenant whose key IAM or Monitoring throttles must not
// stop every other tenant's requests to the same host. Until the wait is
// over, requests with that key fail at once with the remaining wait instead
// of queueing, so the reconcile workers stay free and the controller
// requeues at the right time.
// Use from the executor's thread only.
#pragma once

#include <chrono>
#include <cstddef>
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

  // The rest of the wait `origin` asked of `caller`, rounded up to whole
  // seconds; nullopt when it may be called.
  std::optional<std::chrono::seconds> backing_off(const std::string& origin,
                                                  const std::string& caller,
                                                  Clock::time_point now = Clock::now()) const;
  // Leave `origin` alone for `wait` from `now` for requests of `caller` (an
  // earlier end is never brought forward).
  void back_off(const std::string& origin, const std::string& caller, std::chrono::seconds wait,
                Clock::time_point now = Clock::now());

  // Waits for a token of `origin`'s bucket.
  boost::asio::awaitable<void> acquire(const std::string& origin);

  // Buckets held (full buckets of hosts not called for a while are dropped).
  std::size_t buckets() const { return buckets_.size(); }
  // Retry-After waits held.
  std::size_t waits() const { return not_before_.size(); }

 private:
  static std::string wait_key(const std::string& origin, const std::string& caller);

  Options options_;
  std::map<std::string, net::RateLimiter, std::less<>> buckets_;
  std::map<std::string, Clock::time_point, std::less<>> not_before_;
};

}  // namespace sto::ibm
