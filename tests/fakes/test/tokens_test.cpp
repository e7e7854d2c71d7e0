// Monitor API tokens and IAM access tokens.
#include "tokens.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "test_server.h"

namespace sto::fake {
namespace {

TEST(RandomToken, IsUuidShapedAndFresh) {
  static const std::regex kUuid(
      "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string token = random_token();
    EXPECT_TRUE(std::regex_match(token, kUuid)) << token;
    seen.insert(token);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(Base64Url, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    auto decoded = base64url_decode(base64url_encode(bytes));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, bytes);
    bytes += static_cast<char>(i * 37);
  }
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_FALSE(base64url_decode("ab+c"));
  EXPECT_FALSE(base64url_decode("a"));
}

TEST(AccessTokenIssuer, IssuesAThreePartJwtWithIamClaims) {
  AccessTokenIssuer issuer;
  std::string token = issuer.issue("IBMid-1", 1000, 3600);
  auto payload = testing::jwt_payload(token);
  EXPECT_EQ(payload["iam_id"], "IBMid-1");
  EXPECT_EQ(payload["sub"], "IBMid-1");
  EXPECT_EQ(payload["iat"], 1000);
  EXPECT_EQ(payload["exp"], 4600);
  auto header = base64url_decode(token.substr(0, token.find('.')));
  ASSERT_TRUE(header);
  EXPECT_EQ(nlohmann::json::parse(*header), (nlohmann::json{{"alg", "RS256"}, {"kid", "fake"}}));

  auto claims = issuer.verify(token, 1001);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->iam_id, "IBMid-1");
  EXPECT_EQ(claims->expires_at, 4600);
}

TEST(AccessTokenIssuer, RejectsExpiredTamperedForeignAndRevokedTokens) {
  AccessTokenIssuer issuer;
  std::string token = issuer.issue("IBMid-1", 1000, 60);
  EXPECT_EQ(issuer.verify(token, 1060).error(), AccessTokenProblem::Expired);

  std::string tampered = token;
  tampered[tampered.find('.') + 5] ^= 1;
  EXPECT_EQ(issuer.verify(tampered, 1001).error(), AccessTokenProblem::Malformed);
  EXPECT_EQ(issuer.verify("not-a-jwt", 1001).error(), AccessTokenProblem::Malformed);
  EXPECT_EQ(AccessTokenIssuer().verify(token, 1001).error(), AccessTokenProblem::Malformed);

  EXPECT_EQ(issuer.revoke_all(), 1u);
  EXPECT_EQ(issuer.verify(token, 1001).error(), AccessTokenProblem::Revoked);
  std::string fresh = issuer.issue("IBMid-1", 1001, 60);
  EXPECT_TRUE(issuer.verify(fresh, 1002));
}

}  // namespace
}  // namespace sto::fake
