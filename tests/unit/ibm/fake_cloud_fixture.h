// Test support for the tests that run the IBM Cloud clients against the real
// fake-ibm-cloud: the seed, the clients wired as the operator wires them, and
// a check that no error message ever holds a credential.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "fake_cloud_ids.h"
#include "fake_ibm_cloud_process.h"
#include "ibm/errors.h"
#include "ibm/http_gateway.h"
#include "ibm/iam_token_source.h"
#include "ibm/monitoring_client.h"
#include "run_coroutine.h"

namespace sto::ibm::testing {

using sto::testing::FakeIbmCloudProcess;
using sto::testing::run_on;

inline constexpr std::string_view kGoodKey = "good-api-key-0001";
inline constexpr std::string_view kSecondKey = "second-api-key-0002";
inline constexpr std::string_view kDisabledKey = "disabled-api-key-0003";
inline constexpr std::string_view kUnknownKey = "unknown-api-key-9999";
using namespace sto::testing::fake_cloud;
inline constexpr std::string_view kLockedToken = "4b6e1f0a-locked-team-token-000000";

inline constexpr std::string_view kIamTokenEndpoint = "POST /identity/token";
inline constexpr std::string_view kMonitorTokenEndpoint = "GET /api/token";
inline constexpr std::string_view kTeamByNameEndpoint = "GET /api/v2/teams/light/name/{name}";

std::string seed_yaml(int token_ttl_seconds = 3600);

// A clock the test moves by hand.
struct ManualClock {
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now();
  void advance(std::chrono::steady_clock::duration by) { now += by; }
};

// An IamTokenSource that hands out what another one does and remembers the
// tokens, so that the test can look for them in error messages.
class RecordingTokenSource final : public IamTokenSource {
 public:
  explicit RecordingTokenSource(std::shared_ptr<IamTokenSource> inner) : inner_(std::move(inner)) {}
  boost::asio::awaitable<Result<IamToken, IbmError>> token(const std::string& iam_endpoint,
                                                           const Credential& credential) override;
  void invalidate(const std::string& iam_endpoint, const Credential& credential,
                  std::string_view rejected_access_token) override;
  const std::set<std::string>& handed_out() const { return handed_out_; }
  int invalidations() const { return invalidations_; }

 private:
  std::shared_ptr<IamTokenSource> inner_;
  std::set<std::string> handed_out_;
  int invalidations_ = 0;
};

class FakeCloudTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // The seed the fake starts from.
  virtual std::string seed() const { return seed_yaml(); }

  // The clients, built on first use with the current options.
  HttpGateway& gateway();
  IamTokenSource& iam();
  MonitoringClient& monitoring();

  // "https://127.0.0.1:PORT": the fake is both IAM and Monitoring.
  std::string url() const { return fake_->url(); }
  InstanceRef instance(std::string_view guid = kGuid) const;
  TeamRef team(std::int64_t id = kOpsTeam, std::string_view guid = kGuid) const;

  Result<IamToken, IbmError> get_iam_token(std::string_view api_key = kGoodKey);
  // max_age 0: an answer from a request sent after this call.
  Result<std::string, IbmError> fetch_token(const TeamRef& team,
                                            std::string_view api_key = kGoodKey,
                                            std::chrono::milliseconds max_age = {});
  Result<std::int64_t, IbmError> find_team(const std::string& name,
                                           std::string_view api_key = kGoodKey,
                                           std::chrono::milliseconds max_age = {});

  // Runs `count` calls of fetch_token (or of token()) at once.
  std::vector<Result<std::string, IbmError>> fetch_tokens_concurrently(
      const std::vector<std::pair<TeamRef, std::string>>& calls,
      std::chrono::milliseconds max_age = kMaxShareAge);
  std::vector<Result<IamToken, IbmError>> get_iam_tokens_concurrently(
      const std::vector<std::string>& api_keys);

  // Records `error` for the end-of-test scan and returns it.
  const IbmError& seen(const IbmError& error);
  // Fails unless `result` failed with `kind`; returns the error.
  template <typename T>
  IbmError expect_error(const Result<T, IbmError>& result, IbmErrorKind kind) {
    if (result.ok()) {
      ADD_FAILURE() << "expected " << to_string(kind) << ", got success";
      return {};
    }
    EXPECT_EQ(to_string(result.error().kind), to_string(kind)) << result.error().message;
    return seen(result.error());
  }

  boost::asio::io_context io_;
  std::unique_ptr<FakeIbmCloudProcess> fake_;
  ManualClock clock_;
  bool manual_clock_ = true;  // false: the token cache uses the real steady clock
  std::vector<std::string> allowed_hosts_ = {"127.0.0.1"};
  GatewayOptions gateway_options_;

 private:
  std::shared_ptr<HttpGateway> gateway_;
  std::shared_ptr<RecordingTokenSource> iam_;
  std::shared_ptr<MonitoringClient> monitoring_;
  std::vector<IbmError> errors_;
};

}  // namespace sto::ibm::testing
