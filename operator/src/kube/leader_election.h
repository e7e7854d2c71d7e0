// LeaderElector: leader election on a coordination.k8s.io/v1 Lease, with
// client-go's semantics, so that one replica of the operator reconciles.
//
// A candidate reads the Lease; when it is absent it creates it, when its
// holder has not renewed it within the lease duration it takes it over (an
// update carrying the resourceVersion it read, so of two candidates only one
// wins). Expiry is judged by the local clock only: a record is expired one
// lease duration after this candidate last saw it change, whatever the
// timestamps in it say. The leader renews every retry period. When no renew
// succeeds within the renew deadline — measured from when the last
// successful renew was sent, so that it ends before any other candidate can
// consider the Lease expired — or when the Lease turns out to be held by
// someone else, it stops leading at once, even while a request hangs.
//
// release() hands the Lease over (holder "", duration 1 s, like client-go's
// ReleaseOnCancel), so the next candidate takes over at its next retry
// rather than after the lease duration. On SIGTERM: stop the work first,
// then release.
//
// Single-threaded: use from the executor's thread; is_leader() may be read
// from anywhere.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "kube/client.h"
#include "kube/error_report.h"

namespace sto::kube {

struct LeaderElectionConfig {
  std::string ns;    // namespace of the Lease
  std::string name;  // name of the Lease
  // Unique per candidate; default_identity() when empty.
  std::string identity;
  // How long a Lease stays valid without renewal (whole seconds: the Lease
  // records seconds).
  std::chrono::milliseconds lease_duration{std::chrono::seconds(15)};
  // How long the leader keeps trying to renew before it stops leading.
  std::chrono::milliseconds renew_deadline{std::chrono::seconds(10)};
  // Time between attempts to acquire or renew.
  std::chrono::milliseconds retry_period{std::chrono::seconds(2)};
};

// The part of a Lease's spec that leader election reads and writes (client-go's
// LeaderElectionRecord). Fields that are absent or mistyped read as empty/0.
struct LeaseRecord {
  std::string holder;
  int duration_seconds = 0;
  std::string acquire_time;
  std::string renew_time;
  int transitions = 0;
  bool operator==(const LeaseRecord&) const = default;
};

// The record of a Lease's JSON, as the elector reads it from the API server;
// nothing when the text is not a JSON object. Never throws.
std::optional<LeaseRecord> decode_lease_record(std::string_view json);

// lease_duration > renew_deadline > retry_period > 0, lease_duration whole
// seconds, namespace and name set. The error says which rule is broken.
Result<Ok, std::string> validate(const LeaderElectionConfig& config);

// "<hostname>_<random hex>": unique per process, recognisable per host.
std::string default_identity();

struct LeaderElectionCallbacks {
  // This candidate became the leader: start the work.
  std::function<void()> on_started_leading;
  // Leadership ended (lost, stop() or release()): stop the work at once.
  std::function<void()> on_stopped_leading;
  // The Lease is held by a (new) identity, ourselves included.
  std::function<void(const std::string& identity)> on_new_leader;
  // A failed request, an unexpected Lease or a lost lease (component
  // "leader-election", the Lease's path); log_errors() when empty.
  ErrorHandler on_error;
};

class LeaderElector {
 public:
  // Throws std::invalid_argument with validate()'s message when the
  // configuration is invalid. Destroy it only after run() has returned: the
  // callbacks are called until then.
  LeaderElector(std::shared_ptr<Client> client, LeaderElectionConfig config,
                LeaderElectionCallbacks callbacks);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Campaigns until this candidate leads, then renews until leadership is
  // lost or stop()/release() is called; returns then (after
  // on_stopped_leading, when it was leading). May be called again after a
  // loss; returns at once after stop().
  boost::asio::awaitable<void> run();
  // Stops campaigning or renewing; the Lease is left to expire.
  void stop();
  // Stops like stop(), waits for a request in flight, and then, when this
  // candidate holds the Lease, hands it over. Bounded by the renew deadline.
  boost::asio::awaitable<void> release();

  bool is_leader() const;
  const std::string& identity() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace sto::kube
