// The gateway's checks that need no server (the rest is exercised through the
// IAM and Monitoring clients against the fake).
#include "ibm/http_gateway.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "fake_ibm_cloud_process.h"
#include "net/connect_to.h"
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

// --connect-to: the connection goes to the rule's address, while the
// request, the allowlist and TLS verification still name the endpoint's host.
TEST(HttpGateway, ConnectToSendsAnEndpointsConnectionsElsewhereAndStillVerifiesItsName) {
  testing::FakeIbmCloudProcess fake("apiKeys: []\n");
  asio::io_context io;
  GatewayOptions options;
  options.tls.ca_pem = fake.ca_pem();
  const std::string to = ":127.0.0.1:" + std::to_string(fake.port());
  // The fake's certificate names localhost; nothing listens on localhost:443.
  options.connect_to = {*net::parse_connect_to("localhost:443" + to),
                        *net::parse_connect_to("iam.test.example:443" + to)};
  auto gateway =
      HttpGateway::create(io.get_executor(), *HostAllowlist::parse({"localhost", "*.example"}),
                          options);
  ASSERT_TRUE(gateway.ok()) << gateway.error();
  const std::string caller = "test";
  net::HttpRequest request;
  request.target = "/api/teams";
  auto answer = testing::run_on(
      io, (*gateway)->send("https://localhost", request, Service::Monitoring, caller));
  ASSERT_TRUE(answer.ok()) << answer.error().message;
  EXPECT_EQ(answer->status, 401);  // the fake's Monitoring API, without an IAM token
  EXPECT_EQ(fake.count("GET /api/teams"), 1u);

  // A host the certificate does not name fails TLS verification, naming it.
  auto wrong_name = testing::run_on(
      io, (*gateway)->send("https://iam.test.example", request, Service::Iam, caller));
  ASSERT_FALSE(wrong_name.ok());
  EXPECT_NE(wrong_name.error().message.find("iam.test.example"), std::string::npos)
      << wrong_name.error().message;
  EXPECT_EQ(fake.count("GET /api/teams"), 1u);
}

}  // namespace
}  // namespace sto::ibm
