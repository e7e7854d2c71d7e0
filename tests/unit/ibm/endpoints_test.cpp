#include "ibm/endpoints.h"

#include <gtest/gtest.h>

namespace sto::ibm {
namespace {

TEST(Endpoints, EveryRegionHasAPublicAndAPrivateMonitoringEndpoint) {
  const std::vector<std::string_view> expected = {"us-south", "us-east", "eu-de",  "eu-gb",
                                                  "eu-es",    "ca-mon",  "ca-tor", "jp-osa",
                                                  "jp-tok",   "br-sao",  "au-syd"};
  ASSERT_EQ(std::vector<std::string_view>(monitoring_regions().begin(), monitoring_regions().end()),
            expected);
  for (auto region : expected) {
    auto pub = monitoring_endpoint(region, EndpointType::Public);
    auto priv = monitoring_endpoint(region, EndpointType::Private);
    ASSERT_TRUE(pub.ok() && priv.ok()) << region;
    EXPECT_EQ(*pub, "https://" + std::string(region) + ".monitoring.cloud.ibm.com");
    EXPECT_EQ(*priv, "https://private." + std::string(region) + ".monitoring.cloud.ibm.com");
  }
}

TEST(Endpoints, UnknownRegionIsRejectedNamingTheKnownOnes) {
  auto endpoint = monitoring_endpoint("mars-north", EndpointType::Public);
  ASSERT_FALSE(endpoint.ok());
  EXPECT_NE(endpoint.error().find("mars-north"), std::string::npos);
  EXPECT_NE(endpoint.error().find("us-south"), std::string::npos);
  EXPECT_FALSE(is_monitoring_region("US-SOUTH"));
  EXPECT_TRUE(is_monitoring_region("ca-mon"));
  // Chennai is not on IBM's list of Monitoring regions.
  EXPECT_FALSE(is_monitoring_region("in-che"));
}

TEST(Endpoints, IamEndpoints) {
  EXPECT_EQ(iam_endpoint(EndpointType::Public), "https://iam.cloud.ibm.com");
  EXPECT_EQ(iam_endpoint(EndpointType::Private), "https://private.iam.cloud.ibm.com");
}

TEST(Endpoints, NormalizesExplicitEndpointUrls) {
  EXPECT_EQ(*normalize_endpoint("https://us-south.monitoring.cloud.ibm.com"),
            "https://us-south.monitoring.cloud.ibm.com");
  EXPECT_EQ(*normalize_endpoint("HTTPS://IAM.Cloud.IBM.com/"), "https://iam.cloud.ibm.com");
  EXPECT_EQ(*normalize_endpoint("https://iam.cloud.ibm.com:443"), "https://iam.cloud.ibm.com");
  EXPECT_EQ(*normalize_endpoint("https://iam.cloud.ibm.com.:443/"), "https://iam.cloud.ibm.com");
  EXPECT_EQ(*normalize_endpoint("https://127.0.0.1:8443"), "https://127.0.0.1:8443");
  EXPECT_EQ(*normalize_endpoint("https://[::1]:8443/"), "https://[::1]:8443");
}

TEST(Endpoints, RejectsEndpointsThatAreNotPlainHttpsBaseUrls) {
  for (const char* bad :
       {"", "http://iam.cloud.ibm.com", "iam.cloud.ibm.com", "ftp://iam.cloud.ibm.com",
        "https://user:pass@iam.cloud.ibm.com", "https://iam.cloud.ibm.com/identity",
        "https://iam.cloud.ibm.com/?x=1", "https://iam.cloud.ibm.com#top",
        "https://iam.cloud.ibm.com:0", "https://iam.cloud.ibm.com:99999", "https://",
        "https://iam cloud.ibm.com", "https://iam.cloud.ibm.com\r\nX: y"}) {
    auto endpoint = normalize_endpoint(bad);
    EXPECT_FALSE(endpoint.ok()) << bad;
  }
  auto err = normalize_endpoint("http://iam.cloud.ibm.com");
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().find("https"), std::string::npos) << err.error();
  err = normalize_endpoint("https://us-south.monitoring.cloud.ibm.com/api");
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().find("path"), std::string::npos) << err.error();
}

TEST(Endpoints, AMonitoringEndpointMayEndInApiAsIbmsDocsWriteIt) {
  for (const char* spelling :
       {"https://us-south.monitoring.cloud.ibm.com/api", "https://us-south.monitoring.cloud.ibm.com/api/",
        "https://US-South.monitoring.cloud.ibm.com:443/api", "https://us-south.monitoring.cloud.ibm.com/"}) {
    auto endpoint = normalize_monitoring_endpoint(spelling);
    ASSERT_TRUE(endpoint.ok()) << spelling << ": " << endpoint.error();
    EXPECT_EQ(*endpoint, "https://us-south.monitoring.cloud.ibm.com") << spelling;
  }
  EXPECT_EQ(*normalize_monitoring_endpoint("https://127.0.0.1:8443/api"), "https://127.0.0.1:8443");
  // Only the API's own path: anything else is still refused, naming the path.
  for (const char* bad : {"https://us-south.monitoring.cloud.ibm.com/api/token",
                          "https://us-south.monitoring.cloud.ibm.com/apis",
                          "https://us-south.monitoring.cloud.ibm.com/v1/api", "https:///api",
                          "/api", "http://us-south.monitoring.cloud.ibm.com/api"}) {
    auto endpoint = normalize_monitoring_endpoint(bad);
    EXPECT_FALSE(endpoint.ok()) << bad;
  }
  auto err = normalize_monitoring_endpoint("https://us-south.monitoring.cloud.ibm.com/apis");
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().find("path"), std::string::npos) << err.error();
}

}  // namespace
}  // namespace sto::ibm
