#include "fake_cloud_fixture.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace sto::ibm::testing {

namespace asio = boost::asio;

std::string seed_yaml(int token_ttl_seconds) {
  return "iam:\n"
         "  tokenTTLSeconds: " +
         std::to_string(token_ttl_seconds) +
         "\n"
         "apiKeys:\n"
         "  - {key: \"" +
         std::string(kGoodKey) +
         "\", iamID: \"IBMid-1000GOOD\", enabled: true}\n"
         "  - {key: \"" +
         std::string(kSecondKey) +
         "\", iamID: \"IBMid-2000SECOND\", enabled: true}\n"
         "  - {key: \"" +
         std::string(kDisabledKey) +
         "\", iamID: \"IBMid-3000OFF\", enabled: false}\n"
         "instances:\n"
         "  - guid: \"" +
         std::string(kGuid) +
         "\"\n"
         "    region: us-south\n"
         "    externalApiAuth: ANY\n"
         "    teams:\n"
         "      - {id: 26055, name: Ops, token: \"" +
         std::string(kOpsToken) +
         "\"}\n"
         "      - {id: 26056, name: \"Mon Ops\", token: \"" +
         std::string(kMonOpsToken) +
         "\"}\n"
         "  - guid: \"" +
         std::string(kIamOnlyGuid) +
         "\"\n"
         "    region: eu-de\n"
         "    externalApiAuth: IAM_ONLY\n"
         "    teams:\n"
         "      - {id: 100, name: Locked, token: \"" +
         std::string(kLockedToken) + "\"}\n";
}

boost::asio::awaitable<Result<IamToken, IbmError>> RecordingTokenSource::token(
    const std::string& iam_endpoint, const Credential& credential) {
  auto result = co_await inner_->token(iam_endpoint, credential);
  if (result) handed_out_.insert(result->access_token);
  co_return result;
}

void RecordingTokenSource::invalidate(const std::string& iam_endpoint,
                                      const Credential& credential,
                                      std::string_view rejected_access_token) {
  ++invalidations_;
  inner_->invalidate(iam_endpoint, credential, rejected_access_token);
}

void FakeCloudTest::SetUp() {
  try {
    fake_ = std::make_unique<FakeIbmCloudProcess>(seed());
  } catch (const std::exception& e) {
    FAIL() << "cannot start fake-ibm-cloud: " << e.what();
  }
  gateway_options_.tls.ca_pem = fake_->ca_pem();
  gateway_options_.request_timeout = std::chrono::seconds(10);
}

void FakeCloudTest::TearDown() {
  // No message may hold an API key, a team's token or an IAM access token.
  std::vector<std::string> secrets = {std::string(kGoodKey),     std::string(kSecondKey),
                                      std::string(kDisabledKey), std::string(kUnknownKey),
                                      std::string(kOpsToken),    std::string(kMonOpsToken),
                                      std::string(kLockedToken)};
  if (iam_) secrets.insert(secrets.end(), iam_->handed_out().begin(), iam_->handed_out().end());
  for (const auto& error : errors_) {
    for (const auto& secret : secrets) {
      EXPECT_EQ(error.message.find(secret), std::string::npos)
          << "a credential leaked into the message: " << error.message;
    }
  }
  monitoring_.reset();
  iam_.reset();
  if (gateway_) gateway_->shutdown();
  gateway_.reset();
  // Let the clients' sockets close before the io_context goes.
  io_.restart();
  io_.run();
}

HttpGateway& FakeCloudTest::gateway() {
  if (!gateway_) {
    auto allowlist = HostAllowlist::parse(allowed_hosts_);
    if (!allowlist) throw std::runtime_error(allowlist.error());
    auto created = HttpGateway::create(io_.get_executor(), *allowlist, gateway_options_);
    if (!created) throw std::runtime_error(created.error());
    gateway_ = *created;
  }
  return *gateway_;
}

IamTokenSource& FakeCloudTest::iam() {
  if (!iam_) {
    gateway();
    IamTokenCacheOptions options;
    if (manual_clock_) options.clock = [this] { return clock_.now; };
    iam_ = std::make_shared<RecordingTokenSource>(make_iam_token_cache(gateway_, options));
  }
  return *iam_;
}

MonitoringClient& FakeCloudTest::monitoring() {
  if (!monitoring_) {
    iam();
    monitoring_ = make_monitoring_client(gateway_, iam_);
  }
  return *monitoring_;
}

InstanceRef FakeCloudTest::instance(std::string_view guid) const {
  return InstanceRef{url(), url(), std::string(guid)};
}

TeamRef FakeCloudTest::team(std::int64_t id, std::string_view guid) const {
  return TeamRef{instance(guid), id};
}

const IbmError& FakeCloudTest::seen(const IbmError& error) {
  errors_.push_back(error);
  return error;
}

Result<IamToken, IbmError> FakeCloudTest::get_iam_token(std::string_view api_key) {
  auto& source = iam();
  const std::string endpoint = url();
  const Credential key(api_key);
  auto result = run_on(io_, source.token(endpoint, key));
  if (!result) seen(result.error());
  return result;
}

Result<std::string, IbmError> FakeCloudTest::fetch_token(const TeamRef& team,
                                                         std::string_view api_key,
                                                         std::chrono::milliseconds max_age) {
  auto& client = monitoring();
  const Credential key(api_key);
  auto result = run_on(io_, client.fetch_token(team, key, max_age));
  if (!result) seen(result.error());
  return result;
}

Result<std::int64_t, IbmError> FakeCloudTest::find_team(const std::string& name,
                                                        std::string_view api_key,
                                                        std::chrono::milliseconds max_age) {
  auto& client = monitoring();
  const Credential key(api_key);
  const InstanceRef where = instance();
  auto result = run_on(io_, client.find_team_id(where, name, key, max_age));
  if (!result) seen(result.error());
  return result;
}

std::vector<Result<std::string, IbmError>> FakeCloudTest::fetch_tokens_concurrently(
    const std::vector<std::pair<TeamRef, std::string>>& calls, std::chrono::milliseconds max_age) {
  auto& client = monitoring();
  std::vector<std::optional<Result<std::string, IbmError>>> slots(calls.size());
  for (std::size_t i = 0; i < calls.size(); ++i) {
    asio::co_spawn(
        io_,
        [&client, &calls, &slots, i, max_age]() -> asio::awaitable<void> {
          const auto& [team, api_key] = calls[i];
          const Credential key(api_key);
          auto result = co_await client.fetch_token(team, key, max_age);
          slots[i].emplace(std::move(result));
        },
        asio::detached);
  }
  io_.restart();
  io_.run();
  std::vector<Result<std::string, IbmError>> out;
  for (auto& slot : slots) {
    if (!slot) throw std::runtime_error("a fetch did not finish");
    if (!*slot) seen(slot->error());
    out.push_back(std::move(*slot));
  }
  return out;
}

std::vector<Result<IamToken, IbmError>> FakeCloudTest::get_iam_tokens_concurrently(
    const std::vector<std::string>& api_keys) {
  auto& source = iam();
  const std::string endpoint = url();
  std::vector<std::optional<Result<IamToken, IbmError>>> slots(api_keys.size());
  for (std::size_t i = 0; i < api_keys.size(); ++i) {
    asio::co_spawn(
        io_,
        [&source, &endpoint, &api_keys, &slots, i]() -> asio::awaitable<void> {
          const Credential key(api_keys[i]);
          auto result = co_await source.token(endpoint, key);
          slots[i].emplace(std::move(result));
        },
        asio::detached);
  }
  io_.restart();
  io_.run();
  std::vector<Result<IamToken, IbmError>> out;
  for (auto& slot : slots) {
    if (!slot) throw std::runtime_error("a token() did not finish");
    if (!*slot) seen(slot->error());
    out.push_back(std::move(*slot));
  }
  return out;
}

}  // namespace sto::ibm::testing
