#include "kube/api_error.h"

#include <ctime>

#include <gtest/gtest.h>

#include "net/retry_after.h"

namespace sto::kube {
namespace {

TEST(ApiError, DecodesStatusWithCauses) {
  auto e = api_error_from_response(422, R"({"kind":"Status","apiVersion":"v1","status":"Failure",
    "message":"Widget.x \"bad\" is invalid: spec.size: Invalid value: 0","reason":"Invalid",
    "details":{"name":"bad","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: 0","field":"spec.size"}]},
    "code":422})",
                                   std::nullopt);
  EXPECT_EQ(e.kind, ApiErrorKind::Invalid);
  EXPECT_EQ(e.status, 422);
  ASSERT_EQ(e.causes.size(), 1u);
  EXPECT_EQ(e.causes[0].field, "spec.size");
  EXPECT_FALSE(e.retryable());
  EXPECT_NE(e.describe().find("spec.size"), std::string::npos);
}

TEST(ApiError, DistinguishesConflictFromAlreadyExists) {
  auto conflict = api_error_from_response(
      409, R"({"kind":"Status","reason":"Conflict","message":"the object has been modified"})",
      std::nullopt);
  auto exists = api_error_from_response(
      409, R"({"kind":"Status","reason":"AlreadyExists","message":"exists"})", std::nullopt);
  EXPECT_EQ(conflict.kind, ApiErrorKind::Conflict);
  EXPECT_TRUE(conflict.retryable());
  EXPECT_EQ(exists.kind, ApiErrorKind::AlreadyExists);
  EXPECT_FALSE(exists.retryable());
}

TEST(ApiError, TooManyRequestsCarriesRetryAfter) {
  auto e = api_error_from_response(
      429, R"({"kind":"Status","reason":"TooManyRequests","details":{"retryAfterSeconds":2}})",
      std::string_view("5"));
  EXPECT_EQ(e.kind, ApiErrorKind::TooManyRequests);
  ASSERT_TRUE(e.retry_after);
  EXPECT_EQ(e.retry_after->count(), 5);
  EXPECT_TRUE(e.retryable());
}

TEST(ApiError, RetryAfterAsAnHttpDateOrBeyondTheCap) {
  const auto in_a_minute = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() +
                                                                std::chrono::seconds(61));
  std::tm tm{};
  gmtime_r(&in_a_minute, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  auto e = api_error_from_response(429, "{}", std::string_view(date));
  ASSERT_TRUE(e.retry_after);
  EXPECT_GE(e.retry_after->count(), 59);
  EXPECT_LE(e.retry_after->count(), 61);
  auto capped = api_error_from_response(429, "{}", std::string_view("999999999"));
  ASSERT_TRUE(capped.retry_after);
  EXPECT_EQ(*capped.retry_after, net::kMaxRetryAfter);
}

TEST(ApiError, WatchErrorStatusUsesItsCode) {
  auto e = api_error_from_response(
      200,
      R"j({"kind":"Status","status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410})j",
      std::nullopt);
  EXPECT_EQ(e.kind, ApiErrorKind::Gone);
  EXPECT_EQ(e.status, 410);
}

TEST(ApiError, NonJsonBodiesAreKeptShort) {
  auto e = api_error_from_response(503, std::string(10000, 'x'), std::string_view("soon"));
  EXPECT_EQ(e.kind, ApiErrorKind::ServerError);
  EXPECT_LE(e.message.size(), 200u);
  EXPECT_FALSE(e.retry_after);
}

}  // namespace
}  // namespace sto::kube
