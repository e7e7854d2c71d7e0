#include "ibm/host_rate_limiter.h"

#include <algorithm>

namespace sto::ibm {

std::optional<std::chrono::seconds> HostRateLimiter::backing_off(const std::string& origin,
                                                                 Clock::time_point now) const {
  auto it = not_before_.find(origin);
  if (it == not_before_.end() || it->second <= now) return std::nullopt;
  return std::chrono::ceil<std::chrono::seconds>(it->second - now);
}

void HostRateLimiter::back_off(const std::string& origin, std::chrono::seconds wait,
                               Clock::time_point now) {
  if (wait <= std::chrono::seconds::zero()) return;
  // Forget ends that have passed, so the map holds only hosts backing off.
  std::erase_if(not_before_, [now](const auto& entry) { return entry.second <= now; });
  auto until = now + wait;
  auto [it, inserted] = not_before_.try_emplace(origin, until);
  if (!inserted) it->second = std::max(it->second, until);
}

boost::asio::awaitable<void> HostRateLimiter::acquire(const std::string& origin) {
  auto it = buckets_.find(origin);
  if (it == buckets_.end()) {
    it = buckets_
             .emplace(std::piecewise_construct, std::forward_as_tuple(origin),
                      std::forward_as_tuple(options_.requests_per_second, options_.burst))
             .first;
  }
  net::RateLimiter& bucket = it->second;
  co_await bucket.acquire();
}

}  // namespace sto::ibm
