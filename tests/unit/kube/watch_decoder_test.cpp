#include "kube/watch_decoder.h"

#include <gtest/gtest.h>

#include <random>

namespace sto::kube {
namespace {

const std::string kTwoEvents =
    R"({"type":"ADDED","object":{"kind":"Secret","metadata":{"name":"a","namespace":"n","resourceVersion":"10"}}})"
    "\n"
    R"({"type":"BOOKMARK","object":{"kind":"Secret","metadata":{"resourceVersion":"12"}}})"
    "\n";

TEST(WatchDecoder, DecodesEventsSplitAtEveryByte) {
  for (std::size_t split = 0; split <= kTwoEvents.size(); ++split) {
    WatchDecoder d;
    std::vector<WatchEvent> out;
    ASSERT_TRUE(d.feed(std::string_view(kTwoEvents).substr(0, split), out).ok());
    ASSERT_TRUE(d.feed(std::string_view(kTwoEvents).substr(split), out).ok());
    ASSERT_TRUE(d.finish(out).ok());
    ASSERT_EQ(out.size(), 2u) << "split at " << split;
    EXPECT_EQ(out[0].type, WatchEventType::Added);
    EXPECT_EQ(out[0].resource_version, "10");
    EXPECT_NE(out[0].object.find("\"name\":\"a\""), std::string::npos);
    EXPECT_EQ(out[1].type, WatchEventType::Bookmark);
    EXPECT_EQ(out[1].resource_version, "12");
  }
}

TEST(WatchDecoder, TruncatedLastEventIsAnError) {
  WatchDecoder d;
  std::vector<WatchEvent> out;
  ASSERT_TRUE(d.feed(kTwoEvents.substr(0, 40), out).ok());
  auto r = d.finish(out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ApiErrorKind::Decode);
}

TEST(WatchDecoder, RejectsMalformedEvents) {
  for (std::string bad : {"not json\n", "{\"type\":\"ADDED\"}\n", "{\"object\":{}}\n",
                          "{\"type\":\"EXPLODED\",\"object\":{}}\n", "{\"type\":1,\"object\":{}}\n",
                          "{\"type\":\"ADDED\",\"object\":[]}\n", "[]\n"}) {
    WatchDecoder d;
    std::vector<WatchEvent> out;
    auto r = d.feed(bad, out);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(WatchDecoder, BoundsMemoryForHugeEvents) {
  WatchDecoder d(1024);
  std::vector<WatchEvent> out;
  std::string chunk(600, 'x');
  EXPECT_TRUE(d.feed(chunk, out).ok());
  auto r = d.feed(chunk, out);  // 1200 bytes without a newline
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("larger than"), std::string::npos);
}

TEST(WatchDecoder, SurvivesRandomGarbage) {
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 200, '\0');
    for (auto& c : junk) c = static_cast<char>(rng() % 256);
    WatchDecoder d(4096);
    std::vector<WatchEvent> out;
    (void)d.feed(junk, out);
    (void)d.finish(out);
  }
  SUCCEED();
}

TEST(ListDecoder, ReadsMetadataAndItems) {
  std::string body =
      R"({"kind":"SecretList","apiVersion":"v1","metadata":{"resourceVersion":"77","continue":"abc"},)"
      R"("items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]})";
  auto page = decode_list(body);
  ASSERT_TRUE(page.ok()) << page.error().message;
  EXPECT_EQ(page->resource_version, "77");
  EXPECT_EQ(page->continue_token, "abc");
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[1], R"({"metadata":{"name":"b"}})");
}

TEST(ListDecoder, NullItemsIsEmpty) {
  std::string body = R"({"metadata":{"resourceVersion":"5"},"items":null})";
  auto page = decode_list(body);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->items.empty());
  std::string bad = R"({"metadata":{},"items":{}})";
  EXPECT_FALSE(decode_list(bad).ok());
}

// Found by tests/fuzz/list_page_fuzz: on a malformed document (an unclosed
// object, a missing value) the decoder's by-name lookups rewound, which
// simdjson does not allow there (an assertion in debug builds, undefined
// behaviour in release ones).
TEST(ListDecoder, UnclosedObjectsAreErrors) {
  for (std::string body : {std::string("{"), std::string(R"({"metadata":{)"),
                           std::string(R"({"metadata":{"resourceVersion":)"),
                           std::string(R"({"metadata":{"resourceVersion":"1","continue":)")}) {
    auto page = decode_list(body);
    EXPECT_FALSE(page.ok()) << body;
  }
  // A missing value in a field the decoder skips goes unseen (On Demand does
  // not validate what it skips), but is read safely: nothing comes of it.
  std::string missing_value = R"({"metadata":{"":}}})";
  auto page = decode_list(missing_value);
  EXPECT_TRUE(!page.ok() || (page->items.empty() && page->resource_version.empty()));
}

}  // namespace
}  // namespace sto::kube
