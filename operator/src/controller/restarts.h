// RestartScheduler: spec.rolloutRestartTargets. When a new token is written
// the reconciler asks for its targets to be restarted; each workload is
// restarted once per debounce window however many SysdigTokens asked (by
// patching its pod template annotation, as `kubectl rollout restart` does),
// and each SysdigToken learns when all of its targets were handled, so that
// its status records the revision (a restart is made once per revision, also
// across operator restarts: a revision not recorded is asked for again).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "controller/recorded_state.h"
#include "controller/sysdig_token.h"

namespace sto::controller {

class ClusterGateway;

// What became of one SysdigToken's restarts for a revision.
struct RestartOutcome {
  std::int64_t revision = 0;
  Clock::time_point at;                // when the last workload was patched
  std::vector<std::string> restarted;  // "Deployment api"
  std::vector<std::string> failures;   // what went wrong, naming the workload
};

class RestartScheduler : public std::enable_shared_from_this<RestartScheduler> {
 public:
  using Requeue = std::function<void(const std::string& key)>;
  RestartScheduler(std::shared_ptr<ClusterGateway> cluster, std::chrono::milliseconds debounce,
                   std::function<Clock::time_point()> clock, Requeue requeue);

  // Restarts the targets (of namespace ns) for the SysdigToken `key` at
  // `revision`: a workload already waiting is restarted once for all who
  // asked. A newer revision while an older one waits takes its place.
  void request(const boost::asio::any_io_executor& ex, const std::string& key,
               const std::string& ns, std::int64_t revision,
               const std::vector<RestartTarget>& targets);
  // Whether restarts for `key` at `revision` (or later) are under way.
  bool pending(const std::string& key, std::int64_t revision) const;
  // The outcome once all targets were handled (then requeue(key) was
  // called); taken once.
  std::optional<RestartOutcome> take(const std::string& key);
  // Restarts still waiting are dropped (a later start makes them, as their
  // revision was not recorded).
  void stop();

 private:
  struct Workload {
    std::string kind, ns, name;
    std::set<std::string> keys;  // SysdigTokens waiting for it
    std::shared_ptr<void> timer;
  };
  struct Waiting {
    std::int64_t revision = 0;
    std::set<std::string> remaining;  // workload ids
    RestartOutcome outcome;
  };
  boost::asio::awaitable<void> restart_after_debounce(std::string id);
  void finish(const std::string& key, const std::string& id, const std::string& shown,
              const std::string& error);

  std::shared_ptr<ClusterGateway> cluster_;
  std::chrono::milliseconds debounce_;
  std::function<Clock::time_point()> clock_;
  Requeue requeue_;
  bool stopped_ = false;
  std::map<std::string, Workload> workloads_;
  std::map<std::string, Waiting> waiting_;
  std::map<std::string, RestartOutcome> done_;
};

}  // namespace sto::controller
