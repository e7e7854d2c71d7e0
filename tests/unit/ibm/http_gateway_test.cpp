// The gateway's checks that need no server (the rest is exercised through the
// IAM and Monitoring clients against the fake).
#include "ibm/http_gateway.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "run_coroutine.h"

namespace sto::ibm {
namespace {

namespace asio = boost::asio;

std::shared_ptr<HttpGateway> gateway_for(asio::io_context& io,
                                         const std::vector<std::string>& patterns) {
  auto allowlist = HostAllowlist::parse(patterns);
  EXPECT_TRUE(allowlist.ok());
  auto gateway = HttpGateway::create(io.get_executor(), *allowlist);
  EXPECT_TRUE(gateway.ok());
  return *gateway;
}

TEST(HttpGateway, RefusesAnInvalidExtraCa) {
  asio::io_context io;
  GatewayOptions options;
  options.tls.ca_pem =
      "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n";
  auto gateway = HttpGateway::create(
      io.get_executor(), *HostAllowlist::parse(HostAllowlist::default_patterns()), options);
  ASSERT_FALSE(gateway.ok());
  EXPECT_NE(gateway.error().find("CA"), std::string::npos) << gateway.error();
}

TEST(HttpGateway, ChecksHostsAgainstTheAllowlistBeforeAnythingElse) {
  asio::io_context io;
  auto gateway = gateway_for(io, HostAllowlist::default_patterns());
  EXPECT_TRUE(
      gateway->check_allowed("https://us-south.monitoring.cloud.ibm.com", Service::Monitoring)
          .ok());
  EXPECT_TRUE(gateway->check_allowed("https://iam.cloud.ibm.com", Service::Iam).ok());
  auto denied = gateway->check_allowed("https://169.254.169.254", Service::Monitoring);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().kind, IbmErrorKind::EndpointNotAllowed);
  EXPECT_NE(denied.error().message.find("--allowed-hosts"), std::string::npos);
  auto plain = gateway->check_allowed("http://iam.cloud.ibm.com", Service::Iam);
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().kind, IbmErrorKind::InvalidSpec);
}

TEST(HttpGateway, SendToAHostOffTheAllowlistFailsWithoutConnecting) {
  asio::io_context io;
  auto gateway = gateway_for(io, {"iam.cloud.ibm.com"});
  const std::string url = "https://127.0.0.1:1";
  net::HttpRequest request;
  const std::string caller;
  auto result = testing::run_on(io, gateway->send(url, request, Service::Iam, caller));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind, IbmErrorKind::EndpointNotAllowed);
  EXPECT_EQ(result.error().http_status, 0);
}

}  // namespace
}  // namespace sto::ibm
