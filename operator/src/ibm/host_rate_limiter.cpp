#include "ibm/host_rate_limiter.h"

#include <algorithm>

namespace sto::ibm {
namespace {

// Beyond this many buckets, full ones (hosts not called lately) are dropped:
// a full bucket behaves exactly like a new one.
constexpr std::size_t kPruneBucketsAbove = 64;

}  // namespace

std::string HostRateLimiter::wait_key(const std::string& origin, const std::string& caller) {
  // An origin never holds a newline.
  return origin + '\n' + caller;
}

std::optional<std::chrono::seconds> HostRateLimiter::backing_off(const std::string& origin,
                                                                 const std::string& caller,
                                                                 Clock::time_point now) const {
  if (not_before_.empty()) return std::nullopt;
  auto it = not_before_.find(wait_key(origin, caller));
  if (it == not_before_.end() || it->second <= now) return std::nullopt;
  return std::chrono::ceil<std::chrono::seconds>(it->second - now);
}

void HostRateLimiter::back_off(const std::string& origin, const std::string& caller,
                               std::chrono::seconds wait, Clock::time_point now) {
  if (wait <= std::chrono::seconds::zero()) return;
  // Forget ends that have passed, so the map holds only callers backing off.
  std::erase_if(not_before_, [now](const auto& entry) { return entry.second <= now; });
  auto until = now + wait;
  auto [it, inserted] = not_before_.try_emplace(wait_key(origin, caller), until);
  if (!inserted) it->second = std::max(it->second, until);
}

boost::asio::awaitable<void> HostRateLimiter::acquire(const std::string& origin) {
  auto it = buckets_.find(origin);
  if (it == buckets_.end()) {
    if (buckets_.size() >= kPruneBucketsAbove) {
      const auto now = Clock::now();
      std::erase_if(buckets_, [now](const auto& entry) { return entry.second.idle(now); });
    }
    it = buckets_
             .emplace(std::piecewise_construct, std::forward_as_tuple(origin),
                      std::forward_as_tuple(options_.requests_per_second, options_.burst))
             .first;
  }
  net::RateLimiter& bucket = it->second;
  co_await bucket.acquire();
}

}  // namespace sto::ibm
