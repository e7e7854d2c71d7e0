#include "controller/restarts.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/logging.h"
#include "common/rfc3339.h"
#include "controller/reconciler.h"
#include "kube/validation.h"

namespace sto::controller {

namespace asio = boost::asio;

namespace {

bool is_workload_kind(std::string_view kind) {
  return kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet";
}

// Errors a retry cannot mend: the workload is reported at once.
bool final_error(kube::ApiErrorKind kind) {
  using K = kube::ApiErrorKind;
  return kind == K::NotFound || kind == K::Forbidden || kind == K::Invalid ||
         kind == K::BadRequest || kind == K::MethodNotAllowed;
}

std::string explain(const std::string& shown, const std::string& ns, const kube::ApiError& e) {
  using K = kube::ApiErrorKind;
  if (e.kind == K::NotFound)
    return shown + " not found in namespace " + ns +
           " (spec.rolloutRestartTargets): the token was written; create the workload or "
           "remove it from the list";
  if (e.kind == K::Forbidden)
    return shown + ": the operator may not patch it (" + e.describe() +
           "): grant it get and patch on deployments, statefulsets and daemonsets";
  return shown + ": restart failed: " + e.describe();
}

}  // namespace

RestartScheduler::RestartScheduler(std::shared_ptr<ClusterGateway> cluster,
                                   std::chrono::milliseconds debounce,
                                   std::function<Clock::time_point()> clock, Requeue requeue)
    : cluster_(std::move(cluster)),
      debounce_(debounce),
      clock_(std::move(clock)),
      requeue_(std::move(requeue)) {}

void RestartScheduler::request(const asio::any_io_executor& ex, const std::string& key,
                               const std::string& ns, std::int64_t revision,
                               const std::vector<RestartTarget>& targets) {
  if (stopped_ || pending(key, revision)) return;
  Waiting& w = waiting_[key];
  w.revision = revision;
  w.outcome.revision = revision;
  std::vector<std::pair<std::string, std::string>> invalid;  // id, message
  for (const RestartTarget& t : targets) {
    const std::string shown = t.kind + " " + t.name;
    const std::string id = t.kind + "/" + ns + "/" + t.name;
    if (!is_workload_kind(t.kind) || !kube::is_dns1123_subdomain(t.name)) {
      w.remaining.insert(id);
      invalid.emplace_back(id, "\"" + shown.substr(0, 300) +
                                   "\" is not a workload the operator restarts (kind Deployment, "
                                   "StatefulSet or DaemonSet and a DNS-1123 name)");
      continue;
    }
    if (!w.remaining.insert(id).second) continue;
    auto [it, added] = workloads_.try_emplace(id);
    it->second.keys.insert(key);
    if (!added) continue;  // already waiting: this request joins it
    it->second.kind = t.kind;
    it->second.ns = ns;
    it->second.name = t.name;
    auto timer = std::make_shared<asio::steady_timer>(ex, debounce_);
    it->second.timer = timer;
    asio::co_spawn(ex, restart_after_debounce(id), asio::detached);
  }
  for (const auto& [id, message] : invalid) finish(key, id, {}, message);
}

bool RestartScheduler::pending(const std::string& key, std::int64_t revision) const {
  auto it = waiting_.find(key);
  return it != waiting_.end() && it->second.revision >= revision;
}

std::optional<RestartOutcome> RestartScheduler::take(const std::string& key) {
  auto it = done_.find(key);
  if (it == done_.end()) return std::nullopt;
  RestartOutcome out = std::move(it->second);
  done_.erase(it);
  return out;
}

void RestartScheduler::stop() {
  stopped_ = true;
  for (auto& [id, w] : workloads_) std::static_pointer_cast<asio::steady_timer>(w.timer)->cancel();
}

asio::awaitable<void> RestartScheduler::restart_after_debounce(std::string id) {
  auto self = shared_from_this();
  auto timer = std::static_pointer_cast<asio::steady_timer>(workloads_.at(id).timer);
  co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  if (stopped_) co_return;
  // Requests from now on wait for the next restart.
  auto node = workloads_.extract(id);
  Workload w = std::move(node.mapped());
  const std::string shown = w.kind + " " + w.name;
  std::string error;
  for (int attempt = 0;; ++attempt) {
    const std::string at = format_rfc3339(clock_());
    auto r = co_await cluster_->restart_workload(w.kind, w.ns, w.name, at);
    if (stopped_) co_return;
    if (r) break;
    if (final_error(r.error().kind) || attempt == 2) {
      error = explain(shown, w.ns, r.error());
      break;
    }
    timer->expires_after(std::chrono::seconds(1 << attempt));
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopped_) co_return;
  }
  if (error.empty()) {
    log::info("workload restarted for a new token", {{"workload", shown}, {"namespace", w.ns}});
  } else {
    log::warn("workload restart failed", {{"namespace", w.ns}, {"error", error}});
  }
  for (const std::string& key : w.keys) finish(key, id, shown, error);
}

void RestartScheduler::finish(const std::string& key, const std::string& id,
                              const std::string& shown, const std::string& error) {
  auto it = waiting_.find(key);
  if (it == waiting_.end() || !it->second.remaining.erase(id)) return;
  RestartOutcome& out = it->second.outcome;
  if (error.empty()) {
    out.restarted.push_back(shown);
    out.at = clock_();
  } else {
    out.failures.push_back(error);
  }
  if (!it->second.remaining.empty()) return;
  done_[key] = std::move(out);
  waiting_.erase(it);
  if (requeue_) requeue_(key);
}

}  // namespace sto::controller
