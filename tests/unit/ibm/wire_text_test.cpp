// Text to and from IBM Cloud: encoding, digests of credentials, Retry-After,
// and quoting what a server said without leaking a secret.
#include <gtest/gtest.h>

#include "common/encoding.h"
#include "ibm/errors.h"
#include "ibm/retry_after.h"
#include "ibm/wire_text.h"

namespace sto::ibm {
namespace {

using namespace std::chrono_literals;

TEST(WireText, PercentEncodesAllButUnreservedCharacters) {
  EXPECT_EQ(percent_encode("abcXYZ019-._~"), "abcXYZ019-._~");
  EXPECT_EQ(percent_encode("Mon Ops"), "Mon%20Ops");
  EXPECT_EQ(percent_encode("a+b&c=d/e?f%"), "a%2Bb%26c%3Dd%2Fe%3Ff%25");
  EXPECT_EQ(percent_encode("urn:ibm"), "urn%3Aibm");
  EXPECT_EQ(percent_encode("\xC3\xA9"), "%C3%A9");
}

TEST(WireText, QuotedServerTextHasNoSecretsNoControlsAndABoundedLength) {
  EXPECT_EQ(quote_server_text("key s3cr3t not found; s3cr3t!", {"s3cr3t"}),
            "key <redacted> not found; <redacted>!");
  EXPECT_EQ(quote_server_text("a\r\nb\tc", {}), "a  b c");
  EXPECT_EQ(quote_server_text("  padded \n", {}), "padded");
  EXPECT_EQ(quote_server_text(std::string(500, 'x'), {}, 10), "xxxxxxxxxx...");
  // Never cut inside a UTF-8 sequence.
  EXPECT_EQ(quote_server_text("abc\xC3\xA9", {}, 4), "abc...");
  // A secret that contains the redaction marker does not loop forever.
  EXPECT_EQ(quote_server_text("<redacted>", {"redacted"}), "<<redacted>>");
}

TEST(WireText, HeaderSafeValues) {
  EXPECT_TRUE(is_header_safe("abc-123", 10));
  EXPECT_FALSE(is_header_safe("", 10));
  EXPECT_FALSE(is_header_safe("abc def", 10));
  EXPECT_FALSE(is_header_safe("abc\r\nX: y", 20));
  EXPECT_FALSE(is_header_safe(std::string(11, 'a'), 10));
}

TEST(Digest, Sha256Hex) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(RetryAfter, SecondsAndDatesWithinBounds) {
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
// (before 1678, after 2261) overflowed its nanoseconds.
TEST(RetryAfter, DatesFarInThePastOrFutureStayWithinBounds) {
  const auto now = std::chrono::system_clock::from_time_t(1'000'000'000);
  EXPECT_EQ(parse_retry_after("Wed, 2Oct026 07:28:00 GMT", now), 0s);
  EXPECT_EQ(parse_retry_after("Sat, 21 Oct 0026 07:28:00 GMT", now), 0s);
  EXPECT_EQ(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), kMaxRetryAfter);
}

TEST(IbmError, KindsNameTheConditionReasonsAndSayWhetherToRetry) {
  EXPECT_EQ(to_string(IbmErrorKind::APIKeyInvalid), "APIKeyInvalid");
  EXPECT_EQ(to_string(IbmErrorKind::IAMUnavailable), "IAMUnavailable");
  EXPECT_EQ(to_string(IbmErrorKind::EndpointNotAllowed), "EndpointNotAllowed");
  EXPECT_TRUE(make_error(IbmErrorKind::MonitoringUnavailable, "x").retryable);
  EXPECT_TRUE(make_error(IbmErrorKind::RateLimited, "x").retryable);
  EXPECT_FALSE(make_error(IbmErrorKind::TeamNotFound, "x").retryable);
  EXPECT_FALSE(make_error(IbmErrorKind::AccessDenied, "x", 403).retryable);
  EXPECT_EQ(make_error(IbmErrorKind::AccessDenied, "x", 403).http_status, 403);
}

}  // namespace
}  // namespace sto::ibm
