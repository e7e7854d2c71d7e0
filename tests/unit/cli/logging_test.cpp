#include "cli/logging.h"

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

}  // namespace
}  // namespace sto::log
