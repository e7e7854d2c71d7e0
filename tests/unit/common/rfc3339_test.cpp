#include "common/rfc3339.h"

#include <gtest/gtest.h>

namespace sto {
namespace {

using namespace std::chrono_literals;

std::chrono::system_clock::time_point at(int y, int mo, int d, int h, int mi, int s) {
  using namespace std::chrono;
  return sys_days{year{y} / month{static_cast<unsigned>(mo)} / day{static_cast<unsigned>(d)}} +
         hours{h} + minutes{mi} + seconds{s};
}

TEST(Rfc3339, FormatsAndParsesKubernetesTimes) {
  auto t = at(2026, 11, 28, 10, 0, 0);
  EXPECT_EQ(format_rfc3339(t + 999ms), "2026-11-28T10:00:00Z");
  EXPECT_EQ(parse_rfc3339("2026-11-28T10:00:00Z"), t);
  EXPECT_EQ(parse_rfc3339("2026-11-28t10:00:00.123456z"), t);
  EXPECT_EQ(parse_rfc3339("2026-11-28T12:30:00+02:30"), t);
  EXPECT_EQ(parse_rfc3339("2026-11-28T07:00:00-03:00"), t);
}

TEST(Rfc3339, RejectsWhatIsNotADateTime) {
  EXPECT_FALSE(parse_rfc3339(""));
  EXPECT_FALSE(parse_rfc3339("2026-11-28"));
  EXPECT_FALSE(parse_rfc3339("2026-02-30T10:00:00Z"));  // no such day
  EXPECT_FALSE(parse_rfc3339("2026-11-28T24:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2026-11-28T10:00:00"));    // no zone
  EXPECT_FALSE(parse_rfc3339("2026-11-28T10:00:00.Z"));  // empty fraction
  EXPECT_FALSE(parse_rfc3339("2026-11-28T10:00:00+2:00"));
  EXPECT_FALSE(parse_rfc3339("2026-11-28T10:00:00Zjunk"));
}

TEST(Rfc3339, TimesBeyondTheClocksRangeAreItsEnd) {
  EXPECT_EQ(parse_rfc3339("9999-12-31T23:59:59Z"), std::chrono::system_clock::time_point::max());
}

TEST(MicroTime, IsRfc3339InUtcWithSixFractionDigits) {
  auto t = at(2026, 11, 28, 10, 0, 0);
  EXPECT_EQ(format_micro_time(t), "2026-11-28T10:00:00.000000Z");
  EXPECT_EQ(format_micro_time(t + 123456us), "2026-11-28T10:00:00.123456Z");
  EXPECT_EQ(format_micro_time(t + 999999us), "2026-11-28T10:00:00.999999Z");
  // Finer than a microsecond is cut, never rounded into the next second.
  EXPECT_EQ(format_micro_time(t + 999999999ns), "2026-11-28T10:00:00.999999Z");
  EXPECT_EQ(format_micro_time(at(1999, 12, 31, 23, 59, 59)), "1999-12-31T23:59:59.000000Z");
}

}  // namespace
}  // namespace sto
