// The reasons the controller reports are one list: the README's
// troubleshooting table and the CRD's description name the same ones, with
// the same words.
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "controller/reasons.h"

namespace sto::controller {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Reasons, EveryReportedReasonIsInTheReadmeTableWithItsMeaning) {
  const std::string readme = read(std::string(STO_SOURCE_DIR) + "/README.md");
  ASSERT_FALSE(readme.empty());
  for (const auto& r : all_reasons()) {
    if (!r.failure && !r.warning) continue;
    const std::string row = "| `" + std::string(r.name) + "` | " + std::string(r.meaning) + " |";
    EXPECT_NE(readme.find(row), std::string::npos) << "README lacks the row\n" << row;
  }
}

TEST(Reasons, TheCrdNamesEveryFailureReason) {
  const std::string crd =
      read(std::string(STO_SOURCE_DIR) + "/crds/monitoring.ibm.com_sysdigtokens.yaml");
  ASSERT_FALSE(crd.empty());
  for (const auto& r : all_reasons()) {
    if (!r.failure) continue;
    EXPECT_NE(crd.find(std::string(r.name)), std::string::npos) << r.name;
  }
}

TEST(Reasons, NamesRoundTripAndIbmKindsMapToTheirNamesake) {
  std::set<std::string_view> names;
  for (const auto& r : all_reasons()) {
    EXPECT_TRUE(names.insert(r.name).second) << "duplicate " << r.name;
    EXPECT_EQ(reason_from_string(r.name), r.reason);
    EXPECT_EQ(to_string(r.reason), r.name);
  }
  EXPECT_FALSE(reason_from_string("NoSuchReason"));
  for (auto kind : {ibm::IbmErrorKind::InvalidSpec, ibm::IbmErrorKind::APIKeyInvalid,
                    ibm::IbmErrorKind::AccessDenied, ibm::IbmErrorKind::TeamNotFound,
                    ibm::IbmErrorKind::EndpointNotAllowed, ibm::IbmErrorKind::IAMUnavailable,
                    ibm::IbmErrorKind::MonitoringUnavailable, ibm::IbmErrorKind::RateLimited,
                    ibm::IbmErrorKind::ServiceAccountTokenFailed}) {
    EXPECT_EQ(to_string(reason_for(kind)), ibm::to_string(kind));
  }
}

TEST(Reasons, OnlyAccessDeniedHasABackoffFloorAndSpecErrorsWaitForAChange) {
  EXPECT_EQ(info(Reason::AccessDenied).min_backoff, std::chrono::minutes(5));
  EXPECT_FALSE(info(Reason::InvalidSpec).retries);
  EXPECT_FALSE(info(Reason::EndpointNotAllowed).retries);
  EXPECT_TRUE(info(Reason::MonitoringUnavailable).retries);
  EXPECT_TRUE(info(Reason::ResetTokenUnchanged).warning);
  EXPECT_FALSE(info(Reason::ResetTokenUnchanged).failure);
  EXPECT_FALSE(info(Reason::TokenRotated).warning);
}

}  // namespace
}  // namespace sto::controller
