#include "common/rfc3339.h"

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
  if (s.size() < 20) return std::nullopt;
  auto digits = [&](std::size_t pos, std::size_t n, int& out) {
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, se;
  if (!digits(0, 4, y) || s[4] != '-' || !digits(5, 2, mo) || s[7] != '-' || !digits(8, 2, d) ||
      (s[10] != 'T' && s[10] != 't') || !digits(11, 2, h) || s[13] != ':' || !digits(14, 2, mi) ||
      s[16] != ':' || !digits(17, 2, se)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  }
  int offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z') && i + 1 == s.size()) {
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (!digits(i + 1, 2, oh) || s[i + 3] != ':' || !digits(i + 4, 2, om)) return std::nullopt;
    offset = (oh * 60 + om) * 60 * (s[i] == '+' ? 1 : -1);
  } else {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  std::time_t t = timegm(&tm) - offset;
  // system_clock counts nanoseconds in 64 bits: years 1678 to 2261 only.
  // Beyond, from_time_t would overflow.
  using std::chrono::system_clock;
  constexpr auto kMin = std::chrono::floor<std::chrono::seconds>(system_clock::time_point::min());
  constexpr auto kMax = std::chrono::floor<std::chrono::seconds>(system_clock::time_point::max());
  if (t <= kMin.time_since_epoch().count() || t >= kMax.time_since_epoch().count()) {
    return std::nullopt;
  }
  return system_clock::from_time_t(t);
}

}  // namespace sto
