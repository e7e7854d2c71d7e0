// RFC 3339 timestamps as Kubernetes writes them ("2026-11-28T10:00:00Z").
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sto {

std::string format_rfc3339(std::chrono::system_clock::time_point t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)".
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

}  // namespace sto
