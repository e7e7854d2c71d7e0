#include "net/connect_to.h"

#include <gtest/gtest.h>

#include <vector>

#include "net/http_client.h"

namespace sto::net {
namespace {

TEST(ConnectTo, ParsesHostPortAndWhereToConnect) {
  auto rule = parse_connect_to("US-South.Monitoring.Cloud.IBM.com:443:127.0.0.1:8443");
  ASSERT_TRUE(rule.ok()) << rule.error();
  EXPECT_EQ(rule->host, "us-south.monitoring.cloud.ibm.com");
  EXPECT_EQ(rule->port, 443);
  EXPECT_EQ(rule->to_host, "127.0.0.1");
  EXPECT_EQ(rule->to_port, 8443);
  EXPECT_EQ(rule->to_string(), "us-south.monitoring.cloud.ibm.com:443:127.0.0.1:8443");

  auto v6 = parse_connect_to("iam.cloud.ibm.com:443:[::1]:9000");
  ASSERT_TRUE(v6.ok()) << v6.error();
  EXPECT_EQ(v6->to_host, "::1");
  EXPECT_EQ(v6->to_string(), "iam.cloud.ibm.com:443:[::1]:9000");
}

TEST(ConnectTo, RefusesWhatItCannotUseNamingTheText) {
  for (const char* bad : {"", "iam.cloud.ibm.com", "iam.cloud.ibm.com:443",
                          "iam.cloud.ibm.com:443:127.0.0.1", "iam.cloud.ibm.com:443:127.0.0.1:",
                          ":443:127.0.0.1:1", "iam.cloud.ibm.com::127.0.0.1:1",
                          "iam.cloud.ibm.com:0:127.0.0.1:1", "iam.cloud.ibm.com:443:127.0.0.1:70000",
                          "iam.cloud.ibm.com:443:127.0.0.1:1:extra", "[::1:443:127.0.0.1:1",
                          "iam cloud:443:127.0.0.1:1", "iam.cloud.ibm.com:https:127.0.0.1:1"}) {
    auto rule = parse_connect_to(bad);
    ASSERT_FALSE(rule.ok()) << bad;
    EXPECT_NE(rule.error().find(std::string("\"") + bad + "\""), std::string::npos) << rule.error();
  }
}

TEST(ConnectTo, MatchesHostAndPortOfAUrl) {
  std::vector<ConnectTo> rules = {*parse_connect_to("iam.cloud.ibm.com:443:127.0.0.1:1"),
                                  *parse_connect_to("iam.cloud.ibm.com:8443:127.0.0.1:2")};
  auto match = [&](const char* url) {
    const ConnectTo* rule = find_connect_to(rules, *Url::parse(url));
    return rule == nullptr ? 0 : rule->to_port;
  };
  EXPECT_EQ(match("https://IAM.cloud.ibm.com"), 1);
  EXPECT_EQ(match("https://iam.cloud.ibm.com:8443/identity/token"), 2);
  EXPECT_EQ(match("https://iam.cloud.ibm.com:9443"), 0);
  EXPECT_EQ(match("https://private.iam.cloud.ibm.com"), 0);
}

}  // namespace
}  // namespace sto::net
