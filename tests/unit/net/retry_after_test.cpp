#include "net/retry_after.h"

#include <gtest/gtest.h>

namespace sto::net {
namespace {

using namespace std::chrono_literals;

TEST(RetryAfter, DeltaSecondsAndHttpDatesWithinTheCap) {
  const auto now = std::chrono::system_clock::from_time_t(1'000'000'000);  // 2001-09-09T01:46:40Z
  EXPECT_EQ(parse_retry_after("7", now), 7s);
  EXPECT_EQ(parse_retry_after(" 0 ", now), 0s);
  EXPECT_EQ(parse_retry_after("99999999", now), kMaxRetryAfter);
  EXPECT_EQ(parse_retry_after("999999999999999999999999", now), kMaxRetryAfter);
  EXPECT_EQ(parse_retry_after("Sun, 09 Sep 2001 01:47:40 GMT", now), 60s);
  EXPECT_EQ(parse_retry_after("Sun, 09 Sep 2001 01:00:00 GMT", now), 0s);
  EXPECT_EQ(parse_retry_after("Sun, 09 Sep 2001 01:47:40 GMT", now, 10s), 10s);
  EXPECT_EQ(parse_retry_after("", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("-5", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("1.5", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("soon", now), std::nullopt);
}

// Found by tests/fuzz/retry_after_fuzz: dates outside system_clock's range
// (before 1678, after 2261) must not overflow its nanoseconds.
TEST(RetryAfter, DatesFarInThePastOrFutureStayWithinBounds) {
  const auto now = std::chrono::system_clock::from_time_t(1'000'000'000);
  EXPECT_EQ(parse_retry_after("Sat, 21 Oct 0026 07:28:00 GMT", now), 0s);
  EXPECT_EQ(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), kMaxRetryAfter);
}

}  // namespace
}  // namespace sto::net
