// Proxy settings: proxy URLs (HTTPS_PROXY, kubeconfig proxy-url), NO_PROXY
// matching, and which proxy a host gets.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "net/proxy.h"

namespace sto::net {
namespace {

TEST(ProxyUrl, ParsesHostAndPort) {
  auto p = parse_proxy_url("http://Proxy.Corp.example:3128", "HTTPS_PROXY", 1080);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p->host, "proxy.corp.example");
  EXPECT_EQ(p->port, 3128);
  EXPECT_FALSE(p->has_credentials());
  EXPECT_EQ(p->display(), "http://proxy.corp.example:3128");
  EXPECT_EQ(p->authorization(), "");
}

TEST(ProxyUrl, DefaultPortAndTrailingPath) {
  auto curl = parse_proxy_url("http://proxy/", "HTTPS_PROXY", 1080);
  ASSERT_TRUE(curl.ok()) << curl.error();
  EXPECT_EQ(curl->port, 1080);
  auto go = parse_proxy_url("HTTP://proxy", "proxy-url", 80);
  ASSERT_TRUE(go.ok()) << go.error();
  EXPECT_EQ(go->port, 80);
}

TEST(ProxyUrl, AcceptsHostPortWithoutSchemeAsCurlDoes) {
  auto p = parse_proxy_url("10.0.0.1:8080", "HTTPS_PROXY", 1080);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p->host, "10.0.0.1");
  EXPECT_EQ(p->port, 8080);
}

TEST(ProxyUrl, Ipv6InBrackets) {
  auto p = parse_proxy_url("http://[fd00::1]:3128", "HTTPS_PROXY", 1080);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p->host, "fd00::1");
  EXPECT_EQ(p->display(), "http://[fd00::1]:3128");
}

TEST(ProxyUrl, PercentDecodesCredentials) {
  auto p = parse_proxy_url("http://us%20er:p%40ss%3Aw%25rd@proxy:3128", "HTTPS_PROXY", 1080);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p->username.str(), "us er");
  EXPECT_EQ(p->password.str(), "p@ss:w%rd");
  EXPECT_EQ(p->host, "proxy");
  // base64("us er:p@ss:w%rd")
  EXPECT_EQ(p->authorization(), "Basic dXMgZXI6cEBzczp3JXJk");
  EXPECT_EQ(p->display(), "http://proxy:3128");
}

TEST(ProxyUrl, AUserWithoutPassword) {
  auto p = parse_proxy_url("http://alice@proxy:3128", "HTTPS_PROXY", 1080);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_TRUE(p->has_credentials());
  EXPECT_EQ(p->authorization(), "Basic YWxpY2U6");  // "alice:"
}

TEST(ProxyUrl, RefusesOtherSchemesNamingTheVariable) {
  for (const char* url : {"https://proxy:3128", "socks5://proxy:1080", "socks5h://proxy"}) {
    auto p = parse_proxy_url(url, "HTTPS_PROXY", 1080);
    ASSERT_FALSE(p.ok()) << url;
    EXPECT_NE(p.error().find("HTTPS_PROXY"), std::string::npos) << p.error();
    EXPECT_NE(p.error().find("is not supported"), std::string::npos) << p.error();
  }
}

TEST(ProxyUrl, ErrorsNeverRepeatTheCredentials) {
  for (const char* url :
       {"http://alice:s3cr3t-pw@proxy:99999", "http://alice:s3cr3t-pw@", "http://alice:s3cr3t-pw@pro xy:1",
        "http://alice:s3cr3t-pw%zz@proxy:1", "socks5://alice:s3cr3t-pw@proxy:1",
        "http://alice:s3cr3t-pw@[::1:3128", "alice:s3cr3t-pw://@proxy:1",
        "al@ice:s3cr3t-pw://x@proxy:1"}) {
    auto p = parse_proxy_url(url, "HTTPS_PROXY", 1080);
    ASSERT_FALSE(p.ok()) << url;
    EXPECT_EQ(p.error().find("s3cr3t-pw"), std::string::npos) << p.error();
    EXPECT_EQ(p.error().find("alice"), std::string::npos) << p.error();
    EXPECT_NE(p.error().find("HTTPS_PROXY"), std::string::npos) << p.error();
  }
}

TEST(ProxyUrl, RefusesBadPortsAndHosts) {
  for (const char* url : {"http://proxy:0", "http://proxy:abc", "http://proxy:", "http://:3128",
                          "http://", "http://pro xy:1", "http://[::1"}) {
    EXPECT_FALSE(parse_proxy_url(url, "HTTPS_PROXY", 1080).ok()) << url;
  }
}

TEST(NoProxy, DomainsMatchThemselvesAndSubdomains) {
  auto list = NoProxy::parse("example.com, .corp.example ,*.svc.local");
  EXPECT_TRUE(list.matches("example.com", 443));
  EXPECT_TRUE(list.matches("iam.example.com", 443));
  EXPECT_TRUE(list.matches("IAM.Example.COM", 443));
  EXPECT_TRUE(list.matches("example.com.", 443));
  EXPECT_FALSE(list.matches("badexample.com", 443));
  EXPECT_TRUE(list.matches("corp.example", 443));
  EXPECT_TRUE(list.matches("a.b.corp.example", 443));
  EXPECT_TRUE(list.matches("svc.local", 443));
  EXPECT_TRUE(list.matches("kubernetes.svc.local", 443));
  EXPECT_FALSE(list.matches("example.org", 443));
  EXPECT_FALSE(list.matches("com", 443));
}

TEST(NoProxy, StarMatchesEverything) {
  EXPECT_TRUE(NoProxy::parse("*").matches("anything.example", 1));
  EXPECT_TRUE(NoProxy::parse("foo, *").matches("10.1.2.3", 1));
  EXPECT_FALSE(NoProxy::parse("").matches("10.1.2.3", 1));
  EXPECT_TRUE(NoProxy::parse("").empty());
}

TEST(NoProxy, IpAddressesAndPorts) {
  auto list = NoProxy::parse("127.0.0.1,::1,[fd00::5]:8443,iam.example:443,10.0.0.7:6443");
  EXPECT_TRUE(list.matches("127.0.0.1", 1234));
  EXPECT_FALSE(list.matches("127.0.0.2", 1234));
  EXPECT_FALSE(list.matches("localhost", 1234));  // names are never resolved
  EXPECT_TRUE(list.matches("::1", 443));
  EXPECT_TRUE(list.matches("[::1]", 443));
  EXPECT_TRUE(list.matches("fd00::5", 8443));
  EXPECT_FALSE(list.matches("fd00::5", 443));
  EXPECT_TRUE(list.matches("iam.example", 443));
  EXPECT_TRUE(list.matches("eu.iam.example", 443));
  EXPECT_FALSE(list.matches("iam.example", 8443));
  EXPECT_TRUE(list.matches("10.0.0.7", 6443));
  EXPECT_FALSE(list.matches("10.0.0.7", 443));
}

TEST(NoProxy, CidrRanges) {
  auto list = NoProxy::parse("10.96.0.0/12,192.168.1.0/24,fd00::/8,bogus/99,1.2.3.4/x");
  EXPECT_TRUE(list.matches("10.96.0.1", 443));
  EXPECT_TRUE(list.matches("10.111.255.255", 443));
  EXPECT_FALSE(list.matches("10.112.0.1", 443));
  EXPECT_TRUE(list.matches("192.168.1.200", 443));
  EXPECT_FALSE(list.matches("192.168.2.1", 443));
  EXPECT_TRUE(list.matches("fd12::1", 443));
  EXPECT_FALSE(list.matches("fe80::1", 443));
  EXPECT_FALSE(list.matches("1.2.3.4", 443));
  EXPECT_FALSE(list.matches("10.96.0.1.example", 443));
}

std::function<const char*(const char*)> env(std::map<std::string, std::string> values) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(values));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

TEST(ProxySettings, ReadsTheEnvironmentLowercaseFirst) {
  auto s = proxy_settings_from_environment(env({{"HTTPS_PROXY", "http://upper:1"},
                                                {"https_proxy", "http://lower:2"},
                                                {"NO_PROXY", "upper.example"},
                                                {"no_proxy", "lower.example"}}));
  ASSERT_TRUE(s.ok()) << s.error();
  ASSERT_TRUE(s->https);
  EXPECT_EQ(s->https->host, "lower");
  EXPECT_EQ(s->https_variable, "https_proxy");
  EXPECT_EQ(s->no_proxy.text(), "lower.example");
  EXPECT_EQ(s->no_proxy_variable, "no_proxy");
}

TEST(ProxySettings, UppercaseAloneAndEmptyValues) {
  auto s = proxy_settings_from_environment(
      env({{"HTTPS_PROXY", "http://upper:1"}, {"https_proxy", ""}, {"NO_PROXY", "x.example"}}));
  ASSERT_TRUE(s.ok()) << s.error();
  ASSERT_TRUE(s->https);
  EXPECT_EQ(s->https->host, "upper");
  EXPECT_EQ(s->https_variable, "HTTPS_PROXY");
  EXPECT_TRUE(s->no_proxy.matches("x.example", 443));
  auto none = proxy_settings_from_environment(env({}));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->https);
  EXPECT_FALSE(none->for_host("iam.cloud.ibm.com", 443));
}

TEST(ProxySettings, AnUnusableProxyFailsNamingTheVariable) {
  auto s = proxy_settings_from_environment(env({{"https_proxy", "socks5://p:1080"}}));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("https_proxy"), std::string::npos) << s.error();
}

TEST(ProxySettings, ChoosesAProxyPerHost) {
  auto s = proxy_settings_from_environment(
      env({{"HTTPS_PROXY", "http://proxy:3128"}, {"NO_PROXY", ".internal,10.0.0.0/8"}}));
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_TRUE(s->for_host("iam.cloud.ibm.com", 443));
  EXPECT_FALSE(s->for_host("iam.internal", 443));
  EXPECT_FALSE(s->for_host("10.1.1.1", 443));
  // curl: loopback goes through the proxy unless NO_PROXY names it.
  EXPECT_TRUE(s->for_host("127.0.0.1", 443));
  EXPECT_TRUE(s->for_host("localhost", 443));
  // Go's net/http (the API server): loopback goes direct.
  EXPECT_FALSE(s->for_host("127.0.0.1", 443, Loopback::Direct));
  EXPECT_FALSE(s->for_host("127.5.0.1", 443, Loopback::Direct));
  EXPECT_FALSE(s->for_host("::1", 443, Loopback::Direct));
  EXPECT_FALSE(s->for_host("localhost", 443, Loopback::Direct));
  EXPECT_TRUE(s->for_host("192.168.0.1", 443, Loopback::Direct));
}

}  // namespace
}  // namespace sto::net
