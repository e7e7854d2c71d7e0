#include "kube/store.h"

#include <gtest/gtest.h>

#include "kube/informer.h"

namespace sto::kube {
namespace {

ObjectPtr make(std::string ns, std::string name, std::string owner_uid = {}) {
  auto o = std::make_shared<CachedObject>();
  o->meta.ns = std::move(ns);
  o->meta.name = std::move(name);
  if (!owner_uid.empty()) o->meta.owners.push_back({"v1", "Owner", "o", owner_uid, true});
  return o;
}

TEST(Store, KeysByNamespaceAndName) {
  Store s;
  EXPECT_EQ(s.apply(make("a", "x")), nullptr);
  auto prev = s.apply(make("a", "x"));
  EXPECT_NE(prev, nullptr);
  s.apply(make("b", "x"));
  EXPECT_EQ(s.size(), 2u);
  EXPECT_NE(s.get("a/x"), nullptr);
  EXPECT_EQ(s.get("c/x"), nullptr);
  EXPECT_NE(s.remove("a/x"), nullptr);
  EXPECT_EQ(s.remove("a/x"), nullptr);
}

TEST(Store, OwnerIndexFollowsUpdatesAndDeletes) {
  Store s;
  s.add_index("owner", index_by_owner_uid);
  s.apply(make("n", "s1", "u1"));
  s.apply(make("n", "s2", "u1"));
  s.apply(make("n", "s3", "u2"));
  EXPECT_EQ(s.by_index("owner", "u1").size(), 2u);
  s.apply(make("n", "s2", "u2"));  // owner changed
  EXPECT_EQ(s.by_index("owner", "u1").size(), 1u);
  EXPECT_EQ(s.by_index("owner", "u2").size(), 2u);
  s.remove("n/s3");
  EXPECT_EQ(s.by_index("owner", "u2").size(), 1u);
  EXPECT_TRUE(s.by_index("owner", "nope").empty());
}

TEST(Projection, MetadataDropsEverythingElse) {
  auto o =
      project_metadata(R"({"metadata":{"name":"n","namespace":"ns","uid":"u","resourceVersion":"3",
    "generation":2,"managedFields":[{"manager":"x"}],"ownerReferences":[{"apiVersion":"v1","kind":"K","name":"o","uid":"ou","controller":true}]},
    "data":{"k":"dmFsdWU="}})");
  ASSERT_TRUE(o.ok()) << o.error();
  EXPECT_EQ((*o)->meta.ns, "ns");
  EXPECT_EQ((*o)->meta.generation, 2);
  ASSERT_EQ((*o)->meta.owners.size(), 1u);
  EXPECT_TRUE((*o)->meta.owners[0].controller);
  EXPECT_FALSE(project_metadata(R"({"metadata":{"name":5}})").ok());
  EXPECT_FALSE(project_metadata(R"({"kind":"x"})").ok());
}

}  // namespace
}  // namespace sto::kube
