#include "common/string_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

namespace sto {
namespace {

std::string listing(const StringTable& t) {
  std::string out;
  for (const auto& [k, v] : t) out.append(k).append("=").append(v).append(";");
  return out;
}

TEST(StringTable, KeepsEntriesSortedByKeyAndTheFirstValueOfAKey) {
  StringTable t;
  EXPECT_TRUE(t.empty());
  EXPECT_TRUE(t.emplace("b", "2"));
  EXPECT_TRUE(t.emplace("a", "1"));
  EXPECT_TRUE(t.emplace("c", ""));
  EXPECT_FALSE(t.emplace("b", "other"));
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(listing(t), "a=1;b=2;c=;");
  EXPECT_EQ(t.find("b"), std::optional<std::string_view>("2"));
  EXPECT_EQ(t.find("c"), std::optional<std::string_view>(""));
  EXPECT_EQ(t.find("d"), std::nullopt);
  EXPECT_EQ(t.find(""), std::nullopt);
  EXPECT_TRUE(t.contains("c"));
  EXPECT_FALSE(t.contains("ab"));
  EXPECT_EQ(t.get("a"), "1");
  EXPECT_EQ(t.get("zz"), "");
}

TEST(StringTable, HoldsAnyBytesAndLongValues) {
  StringTable t;
  const std::string binary("k\0ey", 4);
  const std::string value(70000, '\0');
  EXPECT_TRUE(t.emplace(binary, value));
  EXPECT_TRUE(t.emplace("k", "short"));
  EXPECT_EQ(t.find(binary)->size(), 70000u);
  EXPECT_EQ(t.get("k"), "short");
  EXPECT_FALSE(t.contains(std::string_view("k\0", 2)));
}

TEST(StringTable, EqualityIsOfTheEntriesWhateverTheOrderOfInsertion) {
  StringTable a, b;
  a.emplace("x", "1");
  a.emplace("y", "2");
  b.emplace("y", "2");
  b.emplace("x", "1");
  EXPECT_EQ(a, b);
  b.shrink_to_fit();
  EXPECT_EQ(a, b);
  StringTable c;
  c.emplace("x", "1");
  c.emplace("y", "3");
  EXPECT_FALSE(a == c);
}

TEST(StringTable, MergeAddsOnlyMissingKeys) {
  StringTable a, b;
  a.emplace("x", "1");
  b.emplace("x", "other");
  b.emplace("w", "0");
  a.merge(b);
  EXPECT_EQ(listing(a), "w=0;x=1;");
}

TEST(StringTable, AgreesWithStdMapOnRandomInserts) {
  std::mt19937 rng(7);
  StringTable t;
  std::map<std::string, std::string> m;
  for (int i = 0; i < 500; ++i) {
    std::string k(1 + rng() % 4, 'a');
    for (auto& ch : k) ch = static_cast<char>('a' + rng() % 3);
    std::string v = std::to_string(rng() % 1000);
    EXPECT_EQ(t.emplace(k, v), m.emplace(k, v).second);
  }
  ASSERT_EQ(t.size(), m.size());
  std::string expected;
  for (const auto& [k, v] : m) expected.append(k).append("=").append(v).append(";");
  EXPECT_EQ(listing(t), expected);
  for (const auto& [k, v] : m) EXPECT_EQ(t.get(k), v);
}

}  // namespace
}  // namespace sto
