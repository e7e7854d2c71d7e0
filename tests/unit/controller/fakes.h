// Fakes of the reconciler's seams, for its unit tests:
// - FakeCluster: the Kubernetes API as the reconciler sees it (ClusterGateway),
//   objects kept as JSON with resourceVersion counters; create answers
//   AlreadyExists, conditional writes answer Conflict on a stale
//   resourceVersion, the status write merges status_patch() into the stored
//   SysdigToken; every call is recorded.
// - FakeMonitoring: IBM Cloud Monitoring (MonitoringClient), a token per
//   (team, API key), teams by name, injectable failures, call counts. A
//   trusted profile counts as the key "profile:<id or name>:<ns>/<sa>"; its
//   ServiceAccount token is asked for on each call (as on a cache miss) and
//   recorded.
// - FakeEvents: the EventSink, recording (warning, reason, message).
// - World: the informer caches — what the watches deliver (every SysdigToken,
//   Secrets selected by the managed-by label) plus what the reconciler
//   observes after its own writes, both through the real projections.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/managed_secret.h"
#include "controller/reconciler.h"
#include "controller/sysdig_token.h"
#include "ibm/errors.h"
#include "ibm/monitoring_client.h"
#include "kube/api_error.h"

namespace sto::controller_test {

using Json = nlohmann::json;

// A wall clock that moves only when the test says so.
struct TestClock {
  std::chrono::system_clock::time_point now;
  void advance(std::chrono::seconds d) { now += d; }
};

// One call the reconciler made on the cluster.
struct ClusterCall {
  std::string verb;    // read_secret_value, get_secret, create_secret, apply_secret,
                       // delete_secret, release_secret, write_status
  std::string target;  // "namespace/name"
  std::string body;    // what was sent: the Secret's JSON, the status patch, a precondition
};

kube::ApiError api_error(kube::ApiErrorKind kind, std::string message);

class FakeCluster final : public controller::ClusterGateway {
 public:
  // Stores an object as the API server would: uid, resourceVersion (and for
  // SysdigTokens generation) are set when absent.
  void put_token(Json token);
  void put_secret(Json secret);
  void put_api_key(const std::string& ns, const std::string& name, const std::string& key,
                   const std::string& value);
  // A ServiceAccount whose TokenRequests answer "sa-token-<ns>-<name>-<n>".
  void put_service_account(const std::string& ns, const std::string& name);

  // Edits as a user would: the resourceVersion bumps; a spec edit bumps the
  // generation, metadata edits do not.
  void edit_token(const std::string& ns, const std::string& name,
                  const std::function<void(Json&)>& edit, bool spec_change);
  void edit_secret(const std::string& ns, const std::string& name,
                   const std::function<void(Json&)>& edit);
  void remove_secret(const std::string& ns, const std::string& name);
  void remove_token(const std::string& ns, const std::string& name);

  const Json* token(const std::string& ns, const std::string& name) const;
  const Json* secret(const std::string& ns, const std::string& name) const;
  const std::map<std::string, Json>& tokens() const { return tokens_; }
  const std::map<std::string, Json>& secrets() const { return secrets_; }

  // The next call of `verb` fails with this error (queued per verb).
  void fail_next(const std::string& verb, kube::ApiError error);

  const std::vector<ClusterCall>& calls() const { return calls_; }
  int count(std::string_view verb) const;
  // Writes of any kind: create, apply, delete, release, status.
  int writes() const;
  void clear_calls() { calls_.clear(); }

  Async<controller::SecretValue> read_secret_value(const std::string& ns, const std::string& name,
                                                   const std::string& key) override;
  Async<std::optional<std::string>> request_service_account_token(
      const std::string& ns, const std::string& name) override;
  Async<std::optional<Fetched>> get_secret(const std::string& ns, const std::string& name) override;
  Async<std::string> create_secret(const controller::DesiredSecret& secret) override;
  Async<std::string> apply_secret(const controller::DesiredSecret& secret,
                                  const std::string& resource_version) override;
  Async<Ok> delete_secret(const std::string& ns, const std::string& name,
                          const std::string& uid) override;
  Async<Ok> release_secret(const std::string& ns, const std::string& name,
                           const std::string& resource_version) override;
  Async<std::string> write_status(const controller::SysdigToken& token,
                                  const controller::SysdigTokenStatus& status) override;
  // Workloads restart_workload finds ("Deployment/ns/name"); it records the
  // restartedAt value it was given in `restarts`.
  void put_workload(const std::string& kind, const std::string& ns, const std::string& name);
  Async<Ok> restart_workload(const std::string& kind, const std::string& ns,
                             const std::string& name, const std::string& restarted_at) override;
  const std::map<std::string, std::vector<std::string>>& restarts() const { return restarts_; }

 private:
  std::optional<kube::ApiError> injected(const std::string& verb);
  std::string next_rv() { return std::to_string(++rv_); }
  std::string next_uid() { return "uid-" + std::to_string(++uid_); }
  // Server-side apply of the fields the operator's field manager sets.
  void apply_owned(const std::string& key, const Json& applied);
  // Shows owned_ as the operator's Apply entry in metadata.managedFields.
  void render_managed_fields(const std::string& key);

  std::map<std::string, Json> tokens_;
  std::map<std::string, Json> secrets_;
  std::set<std::string> service_accounts_;
  std::map<std::string, std::vector<std::string>> restarts_;  // workload -> restartedAt values
  int sa_tokens_ = 0;
  // Per Secret, the fields the operator's writes set ("labels/k",
  // "annotations/k", "data/k", "ownerReferences"): an apply that leaves one
  // out removes it, as server-side apply does for a field manager.
  std::map<std::string, std::set<std::string>> owned_;
  std::map<std::string, std::deque<kube::ApiError>> failures_;
  std::vector<ClusterCall> calls_;
  std::int64_t rv_ = 1000;
  int uid_ = 0;
};

class FakeMonitoring final : public ibm::MonitoringClient {
 public:
  void set_token(std::int64_t team_id, const std::string& api_key, const std::string& token);
  // ServiceAccount tokens handed to the fake by trusted-profile credentials.
  const std::vector<std::string>& cr_tokens() const { return cr_tokens_; }
  void set_team(const std::string& name, std::int64_t id);
  // The next `times` calls fail with this error.
  void fail_fetch(ibm::IbmError error, int times = 1);
  void fail_find(ibm::IbmError error, int times = 1);

  int fetches() const { return fetches_; }
  int finds() const { return finds_; }
  const std::vector<ibm::TeamRef>& fetched() const { return fetched_; }
  const std::vector<std::string>& api_keys() const { return api_keys_; }
  const std::vector<std::string>& team_names() const { return team_names_; }

  boost::asio::awaitable<Result<std::string, ibm::IbmError>> fetch_token(
      const ibm::TeamRef& team, const ibm::Credential& credential,
      std::chrono::milliseconds max_age) override;
  boost::asio::awaitable<Result<std::int64_t, ibm::IbmError>> find_team_id(
      const ibm::InstanceRef& instance, const std::string& team_name,
      const ibm::Credential& credential, std::chrono::milliseconds max_age) override;
  // The max_age of each fetch_token call.
  const std::vector<std::chrono::milliseconds>& fetch_ages() const { return fetch_ages_; }

 private:
  std::map<std::pair<std::int64_t, std::string>, std::string> tokens_;
  std::map<std::string, std::int64_t> teams_;
  std::deque<ibm::IbmError> fetch_failures_;
  std::deque<ibm::IbmError> find_failures_;
  int fetches_ = 0;
  int finds_ = 0;
  std::vector<ibm::TeamRef> fetched_;
  std::vector<std::chrono::milliseconds> fetch_ages_;
  std::vector<std::string> api_keys_;
  std::vector<std::string> cr_tokens_;
  std::vector<std::string> team_names_;
  // The key a credential counts as; a trusted profile's ServiceAccount token
  // is fetched first.
  boost::asio::awaitable<Result<std::string, ibm::IbmError>> credential_key(
      const ibm::Credential& credential);
};

struct RecordedEvent {
  std::string object;  // "namespace/name"
  bool warning = false;
  std::string reason;
  std::string message;
};

class FakeEvents final : public controller::EventSink {
 public:
  void emit(const controller::SysdigToken& token, bool warning, std::string_view reason,
            const std::string& message) override;
  const std::vector<RecordedEvent>& all() const { return events_; }
  std::vector<RecordedEvent> with_reason(std::string_view reason) const;
  void clear() { events_.clear(); }

 private:
  std::vector<RecordedEvent> events_;
};

// The informer caches the reconciler reads.
class World {
 public:
  // What the watches deliver once they catch up with the cluster: every
  // SysdigToken, and the Secrets carrying the managed-by label (the
  // selector of the Secret watch); objects gone from the cluster go.
  void sync(const FakeCluster& cluster);
  // A write's answer fed back, as Informer::observe does (an older
  // resourceVersion never replaces a newer one).
  void observe_token(std::string_view json);
  void observe_secret(std::string_view json);
  // For tests of a stale cache: replaces a cached SysdigToken; drops a
  // cached Secret the watch has not delivered yet.
  void put_token(std::string_view json);
  void forget_secret(const std::string& ns, const std::string& name);
  // Says when the cached version of a SysdigToken was received (the informer
  // stamps it; the fake leaves it unknown unless a test sets it).
  void received(const std::string& key, std::chrono::steady_clock::time_point at);

  std::shared_ptr<const controller::SysdigToken> token(const std::string& key) const;
  std::shared_ptr<const controller::ManagedSecret> secret(const std::string& ns,
                                                          const std::string& name) const;
  controller::Reconciler::TokenLookup token_lookup();
  controller::Reconciler::SecretLookup secret_lookup();

 private:
  std::map<std::string, kube::ObjectPtr> tokens_;
  std::map<std::string, kube::ObjectPtr> secrets_;
};

}  // namespace sto::controller_test
