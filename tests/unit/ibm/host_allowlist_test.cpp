#include "ibm/host_allowlist.h"

#include <gtest/gtest.h>

namespace sto::ibm {
namespace {

TEST(HostAllowlist, DefaultsAllowIbmCloudOnly) {
  auto list = HostAllowlist::parse(HostAllowlist::default_patterns());
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->allows("us-south.monitoring.cloud.ibm.com"));
  EXPECT_TRUE(list->allows("private.eu-de.monitoring.cloud.ibm.com"));
  EXPECT_TRUE(list->allows("IAM.cloud.ibm.com"));
  EXPECT_TRUE(list->allows("private.iam.cloud.ibm.com"));
  EXPECT_FALSE(list->allows("monitoring.cloud.ibm.com"));
  EXPECT_FALSE(list->allows("evil.com"));
  EXPECT_FALSE(list->allows("iam.cloud.ibm.com.evil.com"));
  EXPECT_FALSE(list->allows("evilmonitoring.cloud.ibm.com"));
  EXPECT_FALSE(list->allows("127.0.0.1"));
}

TEST(HostAllowlist, IpAddressesMatchExactly) {
  auto list = HostAllowlist::parse({"127.0.0.1", "[::1]"});
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->allows("127.0.0.1"));
  EXPECT_TRUE(list->allows("::1"));
  EXPECT_TRUE(list->allows("[::1]"));
  EXPECT_FALSE(list->allows("127.0.0.2"));
}

TEST(HostAllowlist, RejectsPortsSchemesAndGarbage) {
  EXPECT_FALSE(HostAllowlist::parse({"iam.cloud.ibm.com:443"}).ok());
  EXPECT_FALSE(HostAllowlist::parse({"https://iam.cloud.ibm.com"}).ok());
  EXPECT_FALSE(HostAllowlist::parse({""}).ok());
  EXPECT_FALSE(HostAllowlist::parse({"*"}).ok());
  EXPECT_FALSE(HostAllowlist::parse({"a..b"}).ok());
  auto err = HostAllowlist::parse({"ok.com", "bad host"});
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().find("bad host"), std::string::npos);
}

TEST(HostAllowlist, IpAddressesMatchInAnySpellingButNeverAWildcard) {
  auto list = HostAllowlist::parse({"0:0:0:0:0:0:0:1", "*.0.0.1", "*.cloud.ibm.com"});
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->allows("::1"));
  EXPECT_TRUE(list->allows("[0::1]"));
  EXPECT_FALSE(list->allows("127.0.0.1"));  // "*.0.0.1" is a domain pattern
  EXPECT_TRUE(list->allows("x.0.0.1"));
  EXPECT_FALSE(list->allows(""));
  EXPECT_FALSE(list->allows("."));
  EXPECT_FALSE(HostAllowlist::parse({"::g"}).ok());
}

TEST(HostAllowlist, TrailingDotsAndCaseDoNotMatter) {
  auto list = HostAllowlist::parse({"IAM.cloud.ibm.com"});
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->allows("iam.cloud.ibm.com."));
  EXPECT_TRUE(list->allows("Iam.Cloud.Ibm.Com"));
  EXPECT_FALSE(list->allows("xiam.cloud.ibm.com"));
}

}  // namespace
}  // namespace sto::ibm
