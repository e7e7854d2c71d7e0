#include "kube/validation.h"

#include <gtest/gtest.h>

#include <string>

namespace sto::kube {
namespace {

TEST(Dns1123, LabelsAndSubdomains) {
  EXPECT_TRUE(is_dns1123_label("monitoring"));
  EXPECT_TRUE(is_dns1123_label("a-1"));
  EXPECT_FALSE(is_dns1123_label("A"));
  EXPECT_FALSE(is_dns1123_label("a-"));
  EXPECT_FALSE(is_dns1123_label(std::string(64, 'a')));
  EXPECT_TRUE(is_dns1123_subdomain("sysdig-token-operator.lock"));
  EXPECT_FALSE(is_dns1123_subdomain("a..b"));
  EXPECT_FALSE(is_dns1123_subdomain("a."));
  EXPECT_FALSE(is_dns1123_subdomain(""));
}

}  // namespace
}  // namespace sto::kube
