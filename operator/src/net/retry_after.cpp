#include "net/retry_after.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <string>

namespace sto::net {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// IMF-fixdate, the form HTTP servers send: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<std::time_t> parse_http_date(std::string_view text) {
  std::string copy(text);
  std::tm tm{};
  const char* end = strptime(copy.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return t;
}

}  // namespace

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now,
                                                      std::chrono::seconds max) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::uint64_t seconds = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec == std::errc::result_out_of_range) return max;
    if (ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
    if (seconds > static_cast<std::uint64_t>(max.count())) return max;
    return std::chrono::seconds(static_cast<std::int64_t>(seconds));
  }
  auto date = parse_http_date(value);
  if (!date) return std::nullopt;
  // In seconds: a far date (year 2262 on) does not fit system_clock's
  // nanoseconds.
  std::int64_t now_seconds =
      std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
  std::int64_t wait = static_cast<std::int64_t>(*date) - now_seconds;
  return std::chrono::seconds(std::clamp<std::int64_t>(wait, 0, max.count()));
}

}  // namespace sto::net
