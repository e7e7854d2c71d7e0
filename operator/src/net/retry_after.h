// Reading an HTTP Retry-After header — the one reading for the Kubernetes
// and the IBM Cloud clients: delta-seconds ("120") or an HTTP-date ("Wed, 21
// Oct 2026 07:28:00 GMT"), bounded so that a server cannot park a resource
// for days.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace sto::net {

inline constexpr std::chrono::seconds kMaxRetryAfter{3600};

// The wait the header asks for, at most `max`; nullopt when it is malformed.
// A date in the past means no wait (zero).
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now,
                                                      std::chrono::seconds max = kMaxRetryAfter);

}  // namespace sto::net
