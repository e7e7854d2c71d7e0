#include <gtest/gtest.h>

#include "net/http_client.h"

namespace sto::net {
namespace {

TEST(Url, ParsesSchemeHostPortAndPath) {
  auto u = Url::parse("https://Us-South.Monitoring.Cloud.IBM.com/api/token?x=1#frag");
  ASSERT_TRUE(u.ok()) << u.error();
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "us-south.monitoring.cloud.ibm.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/api/token?x=1");
  EXPECT_EQ(u->origin(), "https://us-south.monitoring.cloud.ibm.com:443");
  EXPECT_EQ(u->host_header(), "us-south.monitoring.cloud.ibm.com");
}

TEST(Url, DefaultsAndExplicitPorts) {
  auto plain = Url::parse("http://127.0.0.1:8080");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->port, 8080);
  EXPECT_EQ(plain->path, "/");
  EXPECT_EQ(plain->host_header(), "127.0.0.1:8080");
  auto v6 = Url::parse("https://[::1]:6443/x");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->origin(), "https://[::1]:6443");
}

TEST(Url, RejectsWhatItCannotUse) {
  for (const char* bad : {"iam.cloud.ibm.com", "ftp://x", "https://", "https://:443",
                          "https://host:0", "https://host:70000", "https://host:12ab",
                          "https://user:pw@host", "https://[::1", "https://ho st/"}) {
    EXPECT_FALSE(Url::parse(bad).ok()) << bad;
  }
}

TEST(Headers, LookupIgnoresCase) {
  Headers h{{"Content-Type", "application/json"}, {"retry-after", "3"}};
  EXPECT_EQ(find_header(h, "content-type"), "application/json");
  EXPECT_EQ(find_header(h, "Retry-After"), "3");
  EXPECT_FALSE(find_header(h, "missing"));
}

}  // namespace
}  // namespace sto::net
