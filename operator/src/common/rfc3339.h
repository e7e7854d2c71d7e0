// RFC 3339 timestamps as Kubernetes writes them ("2026-11-28T10:00:00Z").
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sto {

std::string format_rfc3339(std::chrono::system_clock::time_point t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)" (a valid date; 't' and
// 'z' too), to the second: fractions are dropped.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

// metav1.MicroTime: RFC 3339 in UTC with six fraction digits,
// "2026-11-28T10:00:00.000000Z" (finer parts are cut, never rounded up).
std::string format_micro_time(std::chrono::system_clock::time_point t);

}  // namespace sto
