#include "ibm/monitoring_client.h"

#include <algorithm>
#include <compare>
#include <functional>
#include <utility>

#include "common/encoding.h"
#include "common/secure_string.h"
#include "ibm/endpoints.h"
#include "ibm/http_gateway.h"
#include "ibm/iam_token_source.h"
#include "ibm/monitoring_api.h"
#include "ibm/single_flight.h"
#include "ibm/wire_text.h"

namespace sto::ibm {
namespace {

constexpr std::size_t kMaxInstanceIdSize = 128;
constexpr std::size_t kMaxTeamNameSize = 256;

// A checked InstanceRef: normalized endpoints.
struct Instance {
  std::string endpoint;
  std::string iam_endpoint;
  std::string instance_id;
  auto operator<=>(const Instance&) const = default;
};

struct TokenKey {
  Instance instance;
  std::int64_t team_id = 0;
  std::string key_digest;
  auto operator<=>(const TokenKey&) const = default;
};

struct TeamNameKey {
  Instance instance;
  std::string team_name;
  std::string key_digest;
  auto operator<=>(const TeamNameKey&) const = default;
};

Result<Instance, IbmError> check_instance(const InstanceRef& ref) {
  auto endpoint = normalize_endpoint(ref.endpoint);
  if (!endpoint) {
    return fail(make_error(IbmErrorKind::InvalidSpec, "Monitoring endpoint: " + endpoint.error()));
  }
  auto iam_endpoint = normalize_endpoint(ref.iam_endpoint);
  if (!iam_endpoint) {
    return fail(make_error(IbmErrorKind::InvalidSpec, "IAM endpoint: " + iam_endpoint.error()));
  }
  if (!is_header_safe(ref.instance_id, kMaxInstanceIdSize)) {
    return fail(make_error(IbmErrorKind::InvalidSpec,
                           "instance ID must be 1 to 128 printable characters without spaces"));
  }
  return Instance{std::move(endpoint).value(), std::move(iam_endpoint).value(), ref.instance_id};
}

// The answer to an authorized call and the IAM token it carried (to redact).
struct Authorized {
  net::HttpResponse response;
  std::string access_token;
};

using BuildRequest = std::function<net::HttpRequest(std::string_view access_token)>;

class MonitoringClientImpl final : public MonitoringClient,
                                   public std::enable_shared_from_this<MonitoringClientImpl> {
 public:
  MonitoringClientImpl(std::shared_ptr<HttpGateway> gateway, std::shared_ptr<IamTokenSource> iam)
      : gateway_(std::move(gateway)),
        iam_(std::move(iam)),
        token_flights_(gateway_->executor(), kMaxShareAge),
        team_flights_(gateway_->executor(), kMaxShareAge) {}

  boost::asio::awaitable<Result<std::string, IbmError>> fetch_token(
      const TeamRef& team, const Credential& credential,
      std::chrono::milliseconds max_age) override {
    auto instance = check_instance(team.instance);
    if (!instance) co_return fail(std::move(instance.error()));
    if (team.team_id <= 0) {
      co_return fail(make_error(IbmErrorKind::InvalidSpec, "team ID must be a positive integer"));
    }
    TokenKey key{*instance, team.team_id, credential.identity()};
    auto self = shared_from_this();
    auto make = [self, instance = *instance, team_id = team.team_id, credential] {
      return self->fetch_token_now(instance, team_id, credential);
    };
    std::optional<std::chrono::steady_clock::duration> age = max_age;
    auto flight = token_flights_.run(std::move(key), std::move(make), age);
    co_return co_await std::move(flight);
  }

  boost::asio::awaitable<Result<std::int64_t, IbmError>> find_team_id(
      const InstanceRef& instance_ref, const std::string& team_name,
      const Credential& credential, std::chrono::milliseconds max_age) override {
    auto instance = check_instance(instance_ref);
    if (!instance) co_return fail(std::move(instance.error()));
    if (team_name.empty() || team_name.size() > kMaxTeamNameSize ||
        std::any_of(team_name.begin(), team_name.end(),
                    [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
      co_return fail(
          make_error(IbmErrorKind::InvalidSpec,
                     "team name must be 1 to 256 characters without control characters"));
    }
    TeamNameKey key{*instance, team_name, credential.identity()};
    auto self = shared_from_this();
    auto make = [self, instance = *instance, team_name, credential] {
      return self->find_team_id_now(instance, team_name, credential);
    };
    std::optional<std::chrono::steady_clock::duration> age = max_age;
    auto flight = team_flights_.run(std::move(key), std::move(make), age);
    co_return co_await std::move(flight);
  }

 private:
  boost::asio::awaitable<Result<std::string, IbmError>> fetch_token_now(Instance instance,
                                                                        std::int64_t team_id,
                                                                        Credential credential) {
    BuildRequest build = [&instance, team_id](std::string_view access_token) {
      return monitor_token_request(access_token, instance.instance_id, team_id);
    };
    auto answer = co_await call(instance, credential, std::move(build));
    if (!answer) co_return fail(std::move(answer.error()));
    // The answer holds the team's token: cleared once read.
    CleanseOnExit wipe_answer(answer->response.body);
    const std::string subject =
        "team " + std::to_string(team_id) + " of instance " + instance.instance_id;
    MonitoringCall context{instance.endpoint, subject, credential.api_key(),
                           answer->access_token};
    co_return read_monitor_token_response(answer->response, context);
  }

  boost::asio::awaitable<Result<std::int64_t, IbmError>> find_team_id_now(Instance instance,
                                                                          std::string team_name,
                                                                          Credential credential) {
    BuildRequest build = [&instance, &team_name](std::string_view access_token) {
      return team_by_name_request(access_token, instance.instance_id, team_name);
    };
    auto answer = co_await call(instance, credential, std::move(build));
    if (!answer) co_return fail(std::move(answer.error()));
    const std::string subject =
        "team named \"" + team_name + "\" in instance " + instance.instance_id;
    MonitoringCall context{instance.endpoint, subject, credential.api_key(),
                           answer->access_token};
    co_return read_team_response(answer->response, context);
  }

  // Sends the request built with an IAM token for `credential`; on 401
  // drops that token and tries once more with a fresh one.
  boost::asio::awaitable<Result<Authorized, IbmError>> call(const Instance& instance,
                                                            const Credential& credential,
                                                            BuildRequest build) {
    // Both hosts must be allowed before anything is sent to either.
    if (auto allowed = gateway_->check_allowed(instance.endpoint, Service::Monitoring); !allowed) {
      co_return fail(std::move(allowed.error()));
    }
    if (auto allowed = gateway_->check_allowed(instance.iam_endpoint, Service::Iam); !allowed) {
      co_return fail(std::move(allowed.error()));
    }
    // A Retry-After from Monitoring holds back this credential only.
    const std::string caller = credential.identity();
    for (int attempt = 0;; ++attempt) {
      auto token = co_await iam_->token(instance.iam_endpoint, credential);
      if (!token) co_return fail(std::move(token.error()));
      auto request = build(token->access_token);
      auto response = co_await gateway_->send(instance.endpoint, std::move(request),
                                              Service::Monitoring, caller);
      if (!response) co_return fail(std::move(response.error()));
      if (response->status == 401 && attempt == 0) {
        iam_->invalidate(instance.iam_endpoint, credential, token->access_token);
        continue;
      }
      Authorized out{std::move(response).value(), std::move(token->access_token)};
      co_return out;
    }
  }

  std::shared_ptr<HttpGateway> gateway_;
  std::shared_ptr<IamTokenSource> iam_;
  SingleFlight<TokenKey, Result<std::string, IbmError>> token_flights_;
  SingleFlight<TeamNameKey, Result<std::int64_t, IbmError>> team_flights_;
};

}  // namespace

std::shared_ptr<MonitoringClient> make_monitoring_client(std::shared_ptr<HttpGateway> gateway,
                                                         std::shared_ptr<IamTokenSource> iam) {
  return std::make_shared<MonitoringClientImpl>(std::move(gateway), std::move(iam));
}

}  // namespace sto::ibm
