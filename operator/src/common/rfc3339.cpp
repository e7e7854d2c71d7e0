#include "common/rfc3339.h"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace sto {

std::string format_rfc3339(std::chrono::system_clock::time_point t) {
  std::time_t secs =
      std::chrono::system_clock::to_time_t(std::chrono::time_point_cast<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s) {
  auto number = [&](std::size_t pos, std::size_t len) -> std::optional<int> {
    if (pos + len > s.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      value = value * 10 + (s[i] - '0');
    }
    return value;
  };
  auto at = [&](std::size_t pos, char c) {
    return pos < s.size() && (s[pos] == c || s[pos] == static_cast<char>(std::tolower(c)));
  };
  auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
  auto hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || !at(4, '-') || !at(7, '-') ||
      !at(10, 'T') || !at(13, ':') || !at(16, ':')) {
    return std::nullopt;
  }
  std::chrono::year_month_day date{std::chrono::year(*year),
                                   std::chrono::month(static_cast<unsigned>(*month)),
                                   std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok() || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return std::nullopt;
  }
  std::chrono::minutes offset{0};
  if (at(pos, 'Z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    auto oh = number(pos + 1, 2), om = number(pos + 4, 2);
    if (!oh || !om || !at(pos + 3, ':') || *oh > 23 || *om > 59) return std::nullopt;
    offset = std::chrono::hours(*oh) + std::chrono::minutes(*om);
    if (s[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  // Seconds cover any year; the clock's own resolution does not: times
  // beyond its range are its ends.
  const std::chrono::sys_seconds t{std::chrono::sys_days(date).time_since_epoch() +
                                   std::chrono::hours(*hour) + std::chrono::minutes(*minute) +
                                   std::chrono::seconds(*second) - offset};
  using Clock = std::chrono::system_clock;
  const auto lo =
      std::chrono::floor<std::chrono::seconds>(Clock::time_point::min()) + std::chrono::seconds(1);
  const auto hi = std::chrono::floor<std::chrono::seconds>(Clock::time_point::max());
  if (t <= lo) return Clock::time_point::min();
  if (t >= hi) return Clock::time_point::max();
  return std::chrono::time_point_cast<Clock::duration>(t);
}

std::string format_micro_time(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::floor<std::chrono::microseconds>(t);
  auto secs = std::chrono::floor<std::chrono::seconds>(us);
  auto frac = (us - secs).count();
  std::time_t tt = static_cast<std::time_t>(secs.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06lldZ", buf, static_cast<long long>(frac));
  return out;
}

}  // namespace sto
