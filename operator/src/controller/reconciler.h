// Reconciler: brings one SysdigToken's Secret and status in line with IBM
// Cloud — the only place that knows both Kubernetes and Sysdig. It reads the
// cached world, decides what is due from the status and the Secret (so a
// restart re-fetches nothing early and never handles a reset value twice),
// fetches the token only when needed, writes only what changed, and reports
// failures as Ready=False with a reason, an event and a per-resource backoff
// kept in the status. I/O goes through the interfaces below, which the unit
// tests fake.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>

#include "common/backoff.h"
#include "common/result.h"
#include "controller/managed_secret.h"
#include "controller/reasons.h"
#include "controller/recorded_state.h"
#include "controller/sysdig_token.h"
#include "ibm/host_allowlist.h"
#include "ibm/monitoring_client.h"
#include "kube/api_error.h"

namespace sto::controller {

// A Secret's data value, read when a resource reconciles (API key Secrets are
// not watched).
struct SecretValue {
  bool secret_found = false;
  std::optional<std::string> value;  // absent when the key is missing
};

// The Kubernetes reads and writes the reconciler makes beyond its caches.
// Arguments are references: callers keep them alive and co_await at once.
class ClusterGateway {
 public:
  virtual ~ClusterGateway() = default;
  template <typename T>
  using Async = boost::asio::awaitable<Result<T, kube::ApiError>>;

  virtual Async<SecretValue> read_secret_value(const std::string& ns, const std::string& name,
                                               const std::string& key) = 0;
  // A token of the ServiceAccount ns/name with audience "iam" that lives 10
  // minutes (TokenRequest), or nullopt when the ServiceAccount does not
  // exist. The token is a secret: the caller clears it after use.
  virtual Async<std::optional<std::string>> request_service_account_token(
      const std::string& ns, const std::string& name) = 0;
  // A fresh copy of a Secret (projection and its JSON), or nullopt.
  struct Fetched {
    std::shared_ptr<const ManagedSecret> secret;
    std::string json;
  };
  virtual Async<std::optional<Fetched>> get_secret(const std::string& ns,
                                                   const std::string& name) = 0;
  // Writes answer with the object as stored (JSON), which the reconciler
  // feeds back into its caches so that its next look is never older than
  // its own last write.
  virtual Async<std::string> create_secret(const DesiredSecret& secret) = 0;
  // Server-side apply conditional on resource_version.
  virtual Async<std::string> apply_secret(const DesiredSecret& secret,
                                          const std::string& resource_version) = 0;
  virtual Async<Ok> delete_secret(const std::string& ns, const std::string& name,
                                  const std::string& uid) = 0;
  // Removes the operator's labels, annotations and owner reference (Retain).
  virtual Async<Ok> release_secret(const std::string& ns, const std::string& name,
                                   const std::string& resource_version) = 0;
  virtual Async<std::string> write_status(const SysdigToken& token,
                                          const SysdigTokenStatus& status) = 0;
  // Restarts a Deployment, StatefulSet or DaemonSet as `kubectl rollout
  // restart` does: its pod template gets the restartedAt annotation.
  virtual Async<Ok> restart_workload(const std::string& kind, const std::string& ns,
                                     const std::string& name, const std::string& restarted_at) = 0;
};

class RestartScheduler;
class ResetGathering;

// Events on SysdigTokens (Normal or Warning). A message never holds a token
// or an API key.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void emit(const SysdigToken& token, bool warning, std::string_view reason,
                    const std::string& message) = 0;
};

struct ReconcilerOptions {
  std::function<std::chrono::system_clock::time_point()> clock;  // system_clock::now when empty
  Backoff failure_backoff{std::chrono::seconds(5), std::chrono::minutes(10), 0.1};
  double refresh_jitter = 0.1;  // up to +10 % on each refresh interval
  std::chrono::seconds reset_poll_interval{30};
  std::chrono::minutes reset_poll_window{15};
  // A token another resource of the same team and API key fetched at most
  // this long ago is taken as is (not for a reset or its checks, which ask
  // Sysdig again).
  std::chrono::milliseconds token_share_age{std::chrono::seconds(30)};
  // A reset fetches once no other reset of its fetch group has arrived for
  // reset_quiet, or reset_max_wait after it arrived (ResetGathering); 0
  // fetches at once.
  std::chrono::milliseconds reset_quiet{500};
  std::chrono::milliseconds reset_max_wait{std::chrono::seconds(10)};
  // Receive objects as the API server stored them after a write (to update
  // the informer caches at once).
  std::function<void(std::string_view json)> observe_token;
  std::function<void(std::string_view json)> observe_secret;
  // rolloutRestartTargets: rotations within this window restart a workload
  // once; `requeue` reconciles a key again when its restarts are done.
  std::chrono::milliseconds restart_debounce{std::chrono::seconds(10)};
  std::function<void(const std::string& key)> requeue;
  // Where the status of a ClusterSysdigToken's member goes (kept in memory
  // by the controller, which sums the members up in the ClusterSysdigToken's
  // status).
  std::function<void(const std::string& key, const SysdigTokenStatus& status)> member_status;
};

struct ReconcileResult {
  // Reconcile this key again after this long (nothing when only a change
  // should trigger it).
  std::optional<std::chrono::milliseconds> requeue_after;
  Outcome outcome = Outcome::UpToDate;
  // Set when the resource was reported Ready=False (outcome Failed).
  std::optional<Reason> reason;
  bool failed() const { return reason.has_value(); }
  // The reason when it failed, else the outcome: for logs and metrics.
  std::string_view label() const { return reason ? to_string(*reason) : to_string(outcome); }
};

class Reconciler {
 public:
  using TokenLookup = std::function<std::shared_ptr<const SysdigToken>(const std::string& key)>;
  using SecretLookup = std::function<std::shared_ptr<const ManagedSecret>(const std::string& ns,
                                                                          const std::string& name)>;

  Reconciler(TokenLookup tokens, SecretLookup secrets, std::shared_ptr<ClusterGateway> cluster,
             std::shared_ptr<ibm::MonitoringClient> monitoring, ibm::HostAllowlist allowlist,
             std::shared_ptr<EventSink> events, ReconcilerOptions options = {});

  // Reconciles the SysdigToken "namespace/name". An error is a Kubernetes API
  // failure to retry with the work queue's backoff.
  boost::asio::awaitable<Result<ReconcileResult, kube::ApiError>> reconcile(const std::string& key);

  // Reports an exception that escaped reconcile(): Ready=False with reason
  // InternalError (the message names only the exception's type of failure,
  // never bytes from outside), a Warning event and a backoff.
  boost::asio::awaitable<Result<ReconcileResult, kube::ApiError>> report_internal_error(
      const std::string& key, const std::string& what);

  // The informer delivered a reset value not yet handled (ResetGathering).
  void reset_arrived(const SysdigToken& token);

  // Drops restarts still waiting for their debounce (on shutdown or a lost
  // Lease): their revisions are not recorded, so the next leader makes them.
  void stop_restarts();

  // What the steps of a reconcile work with.
  struct Parts {
    TokenLookup tokens;
    SecretLookup secrets;
    std::shared_ptr<ClusterGateway> cluster;
    std::shared_ptr<ibm::MonitoringClient> monitoring;
    ibm::HostAllowlist allowlist;
    std::shared_ptr<EventSink> events;
    ReconcilerOptions options;
    // Fetches that found nothing new, by resource key (written nowhere).
    std::unordered_map<std::string, UnwrittenCheck> unwritten;
    std::shared_ptr<RestartScheduler> restarts;
    std::shared_ptr<ResetGathering> gathering;
  };

 private:
  Parts parts_;
};

}  // namespace sto::controller
