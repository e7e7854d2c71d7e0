#include "common/logging.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace sto::log {
namespace {

TEST(Logging, JsonRecordHasLevelTimeMessageAndFields) {
  auto line = format_record(Format::Json, Level::Warn, "2026-11-28T10:00:00.000Z", "sync failed",
                            {{"resource", "monitoring/ops"}, {"reason", "IAMUnavailable"}});
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["time"], "2026-11-28T10:00:00.000Z");
  EXPECT_EQ(j["msg"], "sync failed");
  EXPECT_EQ(j["resource"], "monitoring/ops");
  EXPECT_EQ(j["reason"], "IAMUnavailable");
}

TEST(Logging, JsonEscapesControlCharactersAndInvalidUtf8) {
  auto line = format_record(Format::Json, Level::Info, "t", "a\"b\nc\xff", {});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_TRUE(nlohmann::json::accept(line));
}

TEST(Logging, TextRecordQuotesValuesWithSpaces) {
  auto line = format_record(Format::Text, Level::Error, "t", "msg", {{"k", "a b"}, {"r", "X"}});
  EXPECT_EQ(line, "t ERROR msg k=\"a b\" r=X");
}

TEST(Logging, ParsesLevelsAndFormats) {
  EXPECT_EQ(parse_level("debug"), Level::Debug);
  EXPECT_EQ(parse_level("warning"), Level::Warn);
  EXPECT_FALSE(parse_level("verbose"));
  EXPECT_EQ(parse_format("text"), Format::Text);
  EXPECT_FALSE(parse_format("yaml"));
}

TEST(Logging, SinkReceivesRecordsThatPassTheLevel) {
  const Level before = level();
  configure(Level::Info, Format::Json);
  std::vector<Record> records;
  auto previous = set_sink([&](const Record& r) { records.push_back(r); });
  debug("hidden");
  warn("watch failed", {{"path", "/api/v1/secrets"}, {"status", "403"}});
  set_sink(std::move(previous));
  configure(before, Format::Json);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].level, Level::Warn);
  EXPECT_EQ(records[0].message, "watch failed");
  EXPECT_EQ(records[0].field("path"), "/api/v1/secrets");
  EXPECT_EQ(records[0].field("missing"), "");
}

TEST(Throttle, OneLinePerKeyPerIntervalWithCountOfSuppressed) {
  Throttle::Clock::time_point now{};
  Throttle throttle(std::chrono::seconds(30), [&] { return now; });
  std::vector<Record> records;
  auto previous = set_sink([&](const Record& r) { records.push_back(r); });
  EXPECT_TRUE(throttle.write("a", Level::Warn, "failed", {{"k", "v"}}));
  EXPECT_FALSE(throttle.write("a", Level::Warn, "failed", {}));
  EXPECT_FALSE(throttle.write("a", Level::Warn, "failed", {}));
  EXPECT_TRUE(throttle.write("b", Level::Warn, "other", {}));
  now += std::chrono::seconds(31);
  EXPECT_TRUE(throttle.write("a", Level::Warn, "failed", {}));
  now += std::chrono::seconds(31);
  EXPECT_TRUE(throttle.write("a", Level::Warn, "failed", {}));
  set_sink(std::move(previous));
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].field("k"), "v");
  EXPECT_EQ(records[0].field("suppressed"), "");
  EXPECT_EQ(records[1].message, "other");
  EXPECT_EQ(records[2].field("suppressed"), "2");
  EXPECT_EQ(records[3].field("suppressed"), "");
}

}  // namespace
}  // namespace sto::log
