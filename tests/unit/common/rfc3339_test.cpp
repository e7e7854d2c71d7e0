// RFC 3339 timestamps as Kubernetes writes them.
#include "common/rfc3339.h"

#include <gtest/gtest.h>

namespace sto {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

TEST(Rfc3339, ParsesAndFormatsKubernetesTimes) {
  auto t = parse_rfc3339("2026-11-28T10:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_rfc3339(*t), "2026-11-28T10:00:00Z");
  EXPECT_EQ(parse_rfc3339("2026-11-28T15:30:00.25+05:30"), t);
  EXPECT_EQ(parse_rfc3339("2026-11-28 10:00:00Z"), std::nullopt);
}

// Found by tests/fuzz/rfc3339_fuzz: a year past 2261 overflowed
// system_clock's nanoseconds (from_time_t) instead of being refused.
TEST(Rfc3339, TimesOutsideTheClocksRangeAreRefused) {
  EXPECT_EQ(parse_rfc3339("4052-02-28T23:59:60.123456789+05:30"), std::nullopt);
  EXPECT_EQ(parse_rfc3339("9999-12-31T23:59:59Z"), std::nullopt);
  EXPECT_EQ(parse_rfc3339("0001-01-01T00:00:00Z"), std::nullopt);
  auto late = parse_rfc3339("2261-12-31T23:59:59Z");
  ASSERT_TRUE(late);
  EXPECT_EQ(format_rfc3339(*late), "2261-12-31T23:59:59Z");
  auto early = parse_rfc3339("1678-01-01T00:00:00Z");
  ASSERT_TRUE(early);
  EXPECT_EQ(format_rfc3339(*early), "1678-01-01T00:00:00Z");
}

}  // namespace
}  // namespace sto
