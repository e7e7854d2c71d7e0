#include "controller/controller.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>
#include <cstdlib>
#include <cxxabi.h>
#include <typeinfo>

#include "common/logging.h"
#include "common/wakeup.h"
#include "controller/cluster_tokens.h"
#include "controller/kube_gateway.h"
#include "controller/names.h"
#include "kube/error_report.h"
#include "kube/event_recorder.h"
#include "kube/informer.h"
#include "kube/leader_election.h"
#include "kube/work_queue.h"
#include "server/metrics.h"

namespace sto::controller {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// The controller's metrics, with controller-runtime's names.
struct Metrics {
  explicit Metrics(server::Registry& r)
      : registry(r),
        reconcile_total(r.counter("controller_runtime_reconcile_total",
                                  "Total number of reconciliations per controller",
                                  {"controller", "result"})),
        success(reconcile_total.with({kControllerName, "success"})),
        error(reconcile_total.with({kControllerName, "error"})),
        requeue_after(reconcile_total.with({kControllerName, "requeue_after"})),
        errors(r.counter("controller_runtime_reconcile_errors_total",
                         "Total number of reconciliation errors per controller", {"controller"})
                   .with({kControllerName})),
        time(r.histogram("controller_runtime_reconcile_time_seconds",
                         "Length of time per reconciliation per controller", {"controller"})
                 .with({kControllerName})),
        rotations(r.counter("sysdigtoken_rotations_total",
                            "Token rotations written to Secrets (a new token from Sysdig)")
                      .with()),
        panics(r.counter("controller_runtime_reconcile_panics_total",
                         "Total number of reconciliation panics per controller", {"controller"})
                   .with({kControllerName})),
        last_rotation(r.gauge("sysdigtoken_last_rotation_timestamp_seconds",
                              "Unix time of the last token rotation written to a Secret")
                          .with()),
        kube_errors(r.counter("sysdigtoken_kube_errors_total",
                              "Failed API server calls of the runtime itself (lists and "
                              "watches, Lease, Events), by component and HTTP status or "
                              "failure kind",
                              {"component", "code"})) {}

  server::Registry& registry;
  server::CounterFamily& reconcile_total;
  server::Counter& success;
  server::Counter& error;
  server::Counter& requeue_after;
  server::Counter& errors;
  server::Histogram& time;
  server::Counter& rotations;
  server::Counter& panics;
  server::Gauge& last_rotation;
  server::CounterFamily& kube_errors;
};

// Scrape-time metrics that read the controller's state.
constexpr std::string_view kCallbackMetrics[] = {
    "workqueue_depth", "workqueue_adds_total", "workqueue_retries_total",
    "leader_election_master_status", "sysdigtoken_resources", "sysdigtoken_reset_pending_seconds"};

class Controller::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(std::shared_ptr<kube::Client> client, ControllerOptions options)
      : client_(std::move(client)), options_(std::move(options)) {
    if (options_.metrics) metrics_ = std::make_unique<Metrics>(*options_.metrics);
    // Failures of the informers, the Lease and the Event recorder: a
    // rate-limited log line each, and a count in the metrics.
    on_kube_error_ = kube::log_errors(std::chrono::seconds(30), [this](const kube::ErrorReport& r) {
      if (metrics_) metrics_->kube_errors.with({r.component, r.code}).inc();
    });
  }
  ~Impl() {
    if (metrics_) {
      for (auto name : kCallbackMetrics) metrics_->registry.unregister(name);
    }
  }

  asio::awaitable<bool> run() {
    auto ex = co_await asio::this_coro::executor;
    wakeup_ = std::make_unique<Wakeup>(ex);
    queue_ = std::make_unique<kube::WorkQueue>(ex);
    kube::EventRecorderOptions recorder_options;
    recorder_options.on_error = on_kube_error_;
    recorder_ = std::make_shared<kube::EventRecorder>(
        client_, std::string(kReportingController),
        options_.identity.empty() ? kube::default_identity() : options_.identity, recorder_options);
    std::vector<std::string> namespaces = options_.namespaces;
    if (namespaces.empty()) namespaces.push_back("");
    for (const auto& ns : namespaces) add_informers(ns);
    // ClusterSysdigTokens need every namespace: only a cluster-wide operator
    // handles them.
    if (options_.namespaces.empty()) {
      add_cluster_informers();
    } else {
      log::info("ClusterSysdigTokens are not handled: the operator watches only some namespaces",
                {{"namespaces", join(options_.namespaces)}});
    }
    make_reconciler();
    register_callbacks();
    asio::co_spawn(ex, recorder_->run(), asio::detached);
    for (auto* inf : informers()) asio::co_spawn(ex, inf->run(), asio::detached);

    // Ready once every cache has synced.
    while (!stopped_ && !all_synced()) co_await wakeup_->wait();
    synced_ = true;
    if (!stopped_)
      log::info("caches synced",
                {{"namespaces", options_.namespaces.empty() ? "all" : join(options_.namespaces)}});
    if (options_.leader_elect && !stopped_) {
      elect(ex);
    } else if (!stopped_) {
      start_workers();
    }
    while (!stopped_) co_await wakeup_->wait();
    co_await shut_down();
    co_return !lost_;
  }

  // The caches of one namespace ("" for all): SysdigTokens, and the Secrets
  // carrying the managed-by label, each change queueing its SysdigToken.
  void add_informers(const std::string& ns) {
    kube::WatcherConfig tokens{sysdig_tokens(), ns};
    tokens.on_error = on_kube_error_;
    token_informers_.push_back(std::make_unique<kube::Informer>(
        client_, tokens, project_sysdig_token,
        kube::InformerHandlers{
            [this](const kube::ObjectPtr& o) { token_changed(o); },
            [this](const kube::ObjectPtr&, const kube::ObjectPtr& o) { token_changed(o); },
            [this](const kube::ObjectPtr& o) {
              reset_seen_.erase(o->key());
              queue_->add(o->key());
            },
            [this] { wakeup_->notify(); }}));
    kube::WatcherConfig secrets{kube::resources::secrets(), ns,
                                std::string(kManagedByLabel) + "=" + std::string(kManagedByValue)};
    secrets.on_error = on_kube_error_;
    auto enqueue_owner = [this](const kube::ObjectPtr& o) {
      if (auto k = owner_key(*std::static_pointer_cast<const ManagedSecret>(o)); !k.empty())
        queue_->add(k);
    };
    secret_informers_.push_back(std::make_unique<kube::Informer>(
        client_, secrets, project_managed_secret,
        kube::InformerHandlers{
            enqueue_owner,
            [enqueue_owner](const kube::ObjectPtr& old_object, const kube::ObjectPtr& o) {
              enqueue_owner(old_object);
              enqueue_owner(o);
            },
            enqueue_owner, [this] { wakeup_->notify(); }}));
  }

  // The SysdigToken (or ClusterSysdigToken member) a Secret belongs to: its
  // owner label, else (labels stripped, so the Secret just left this watch)
  // its controller owner.
  static std::string owner_key(const ManagedSecret& s) {
    if (auto cluster = s.label(kClusterOwnerLabel); !cluster.empty())
      return member_key(s.meta.ns, cluster);
    std::string owner = s.label(kOwnerLabel);
    if (owner.empty()) {
      for (const auto& ref : s.meta.owners) {
        if (!ref.controller || !ref.api_version.starts_with(kGroup)) continue;
        if (ref.kind == kClusterKind) return member_key(s.meta.ns, ref.name);
        if (ref.kind == kKind) owner = ref.name;
      }
    }
    return owner.empty() ? std::string() : kube::object_key(s.meta.ns, owner);
  }

  void token_changed(const kube::ObjectPtr& o) {
    const auto& t = static_cast<const SysdigToken&>(*o);
    if (note_reset(o->key(), t.reset_value, t.status.last_handled_reset) && reconciler_)
      reconciler_->reset_arrived(t);
    queue_->add(o->key());
  }

  // ClusterSysdigTokens and Namespaces (cluster-wide): a change of either
  // queues the members it may add or remove, and the summary.
  void add_cluster_informers() {
    kube::WatcherConfig tokens{cluster_sysdig_tokens(), ""};
    tokens.on_error = on_kube_error_;
    auto token_changed = [this](const kube::ObjectPtr& o) {
      const auto& t = static_cast<const ClusterSysdigToken&>(*o);
      note_reset(summary_key(o->meta.name), t.reset_value, t.status.last_handled_reset);
      queue_cluster_token(o->meta.name);
    };
    cluster_informer_ = std::make_unique<kube::Informer>(
        client_, tokens, project_cluster_sysdig_token,
        kube::InformerHandlers{token_changed,
                               [token_changed](const kube::ObjectPtr&, const kube::ObjectPtr& o) {
                                 token_changed(o);
                               },
                               [this](const kube::ObjectPtr& o) {
                                 reset_seen_.erase(summary_key(o->meta.name));
                                 queue_cluster_token(o->meta.name);
                               },
                               [this] { wakeup_->notify(); }});
    kube::WatcherConfig namespaces{kube::resources::namespaces(), ""};
    namespaces.on_error = on_kube_error_;
    auto ns_changed = [this](const kube::ObjectPtr& o) { queue_namespace(o->meta.name); };
    namespace_informer_ = std::make_unique<kube::Informer>(
        client_, namespaces, project_namespace,
        kube::InformerHandlers{
            ns_changed,
            [this](const kube::ObjectPtr& old_object, const kube::ObjectPtr& o) {
              // Only labels and deletion matter to a selection.
              const auto& a = static_cast<const NamespaceObject&>(*old_object);
              const auto& b = static_cast<const NamespaceObject&>(*o);
              if (a.labels != b.labels || a.meta.deleting != b.meta.deleting)
                queue_namespace(o->meta.name);
            },
            ns_changed, [this] { wakeup_->notify(); }});
  }

  // Every member a ClusterSysdigToken may have (each namespace, and those
  // it lists), and its summary.
  void queue_cluster_token(const std::string& name) {
    if (!queue_) return;
    for (const auto& ns : namespace_informer_->store().keys()) queue_->add(member_key(ns, name));
    if (auto t = cluster_token(name)) {
      for (const auto& ns : t->namespaces) queue_->add(member_key(ns, name));
    }
    queue_->add(summary_key(name));
  }

  void queue_namespace(const std::string& ns) {
    if (!queue_) return;
    for (const auto& name : cluster_informer_->store().keys()) {
      queue_->add(member_key(ns, name));
      queue_->add_after(summary_key(name), kSummaryDelay);
    }
  }

  std::shared_ptr<const ClusterSysdigToken> cluster_token(const std::string& name) const {
    if (!cluster_informer_) return nullptr;
    return std::static_pointer_cast<const ClusterSysdigToken>(cluster_informer_->store().get(name));
  }

  std::shared_ptr<const NamespaceObject> namespace_object(const std::string& ns) const {
    if (!namespace_informer_) return nullptr;
    return std::static_pointer_cast<const NamespaceObject>(namespace_informer_->store().get(ns));
  }

  // Whether the ClusterSysdigToken selects namespace `ns` now.
  bool selected(const ClusterSysdigToken& t, const std::string& ns) const {
    auto n = namespace_object(ns);
    return n && !n->meta.deleting && t.selects(ns, n->labels);
  }

  // The member "csdt:NS/NAME" as a SysdigToken of NS, while it is selected.
  std::shared_ptr<const SysdigToken> member(const ClusterKey& k, const std::string& key) {
    auto t = cluster_token(k.name);
    if (!t || !selected(*t, k.ns)) return nullptr;
    auto it = member_status_.find(key);
    if (it == member_status_.end()) it = member_status_.emplace(key, seed_status(*t, k.ns)).first;
    return make_member(*t, k.ns, &it->second);
  }

  // A member's status at its first look since the operator started: what
  // the summary and the member's Secret record (as for a SysdigToken whose
  // status is behind). So a restart neither fetches again for a spec that
  // did not change nor reports a first sync; a restart of rolloutRestartTargets
  // still waiting for its debounce when the operator stopped is not made.
  SysdigTokenStatus seed_status(const ClusterSysdigToken& t, const std::string& ns) const {
    SysdigTokenStatus s;
    s.observed_generation = t.status.observed_generation;
    const std::string target = t.spec.target.name.empty() ? t.meta.name : t.spec.target.name;
    auto secret = lookup_secret(ns, target);
    if (!secret || !secret->owned_by(t.meta.uid)) return s;
    s.secret_name = target;
    s.team_id = t.status.team_id;
    s.token_fingerprint = secret->annotation(kFingerprintAnnotation);
    const std::string revision = secret->annotation(kRevisionAnnotation);
    std::from_chars(revision.data(), revision.data() + revision.size(), s.revision);
    s.restarted_revision = s.revision;
    s.last_handled_reset = secret->annotation(kResetHandledAnnotation);
    return s;
  }

  using Reconciled = Result<ReconcileResult, kube::ApiError>;

  // A member: reconciled as a SysdigToken while selected; once not, its
  // Secret is deleted (Delete) or released (Retain). The summary follows.
  asio::awaitable<Reconciled> reconcile_member(const ClusterKey& k, const std::string& key) {
    if (!cluster_synced()) co_return waiting_for_sync();
    auto t = cluster_token(k.name);
    if (t && !t->meta.deleting && !t->spec_error.empty()) {
      // Nothing is done for a spec the operator cannot read (the summary
      // says why): its Secrets stay as they are.
      co_return ReconcileResult{};
    }
    if (t && !t->meta.deleting && selected(*t, k.ns)) {
      // A spec the members cannot act on is reported once, by the summary.
      auto m = make_member(*t, k.ns, nullptr);
      if (!resolve_spec(*m)) co_return ReconcileResult{};
      co_return co_await reconciler_->reconcile(key);
    }
    auto status = member_status_.find(key);
    std::string old_name = status == member_status_.end() ? std::string() : status->second.secret_name;
    if (!t || t->meta.deleting) {
      // Owner references do the rest; the reconciler forgets the member.
      member_status_.erase(key);
      co_return co_await reconciler_->reconcile(key);
    }
    // The Secret of the current target name, and of the one the member
    // last reported (a rename); a named list, kept alive across the awaits.
    std::vector<std::string> names{t->spec.target.name.empty() ? t->meta.name
                                                                : t->spec.target.name};
    if (!old_name.empty() && old_name != names.front()) names.push_back(old_name);
    for (const std::string& name : names) {
      // Looked at again after each await: the namespace may have come back.
      auto now = cluster_token(k.name);
      if (now && selected(*now, k.ns)) co_return ReconcileResult{};
      auto secret = lookup_secret(k.ns, name);
      if (!secret || !secret->owned_by(t->meta.uid)) continue;
      auto r = t->spec.target.retain
                   ? co_await gateway_->release_secret(k.ns, name, secret->meta.resource_version)
                   : co_await gateway_->delete_secret(k.ns, name, secret->meta.uid);
      if (!r && r.error().kind != kube::ApiErrorKind::NotFound) co_return fail(std::move(r.error()));
      log::info("namespace left a ClusterSysdigToken's selection",
                {{"clusterSysdigToken", k.name},
                 {"namespace", k.ns},
                 {"secret", name},
                 {"action", t->spec.target.retain ? "released" : "deleted"}});
    }
    // Done: the member's record goes (kept until here so that a retry still
    // knows an earlier Secret name), and the reconciler forgets it.
    member_status_.erase(key);
    co_return co_await reconciler_->reconcile(key);
  }

  // The summary: the ClusterSysdigToken's status from its members'.
  asio::awaitable<Reconciled> reconcile_summary(const std::string& name) {
    if (!cluster_synced()) co_return waiting_for_sync();
    ReconcileResult done;
    auto t = cluster_token(name);
    if (!t || t->meta.deleting) {
      done.outcome = Outcome::Deleted;
      co_return done;
    }
    std::string spec_error = t->spec_error;
    if (spec_error.empty()) {
      auto resolved = resolve_spec(*make_member(*t, "", nullptr));
      if (!resolved) spec_error = resolved.error();
    }
    std::vector<MemberView> members;
    for (const auto& o : namespace_informer_->store().list()) {
      const auto& n = static_cast<const NamespaceObject&>(*o);
      if (n.meta.deleting || !t->selects(n.meta.name, n.labels)) continue;
      auto it = member_status_.find(member_key(n.meta.name, name));
      members.push_back({n.meta.name, true, it == member_status_.end() ? nullptr : &it->second});
    }
    for (const auto& ns : t->namespaces) {
      if (!namespace_object(ns)) members.push_back({ns, false, nullptr});
    }
    auto status = summarize(*t, members, spec_error, std::chrono::system_clock::now());
    if (status == t->status) co_return done;
    if (!spec_error.empty() &&
        (!t->status.ready || t->status.ready->message != status.ready->message)) {
      events_->emit(*make_member(*t, "", nullptr), true, to_string(Reason::InvalidSpec), spec_error);
    }
    // Named, not temporaries: class prvalues passed to a coroutine are
    // destroyed twice under GCC 12.
    kube::PatchOptions none;
    const kube::Resource resource = cluster_sysdig_tokens();
    const std::string body = cluster_status_patch(status);
    auto written = co_await client_->patch(resource, "", name, kube::PatchType::Merge, body, none,
                                           "status");
    if (!written) {
      if (written.error().kind == kube::ApiErrorKind::NotFound) co_return done;
      co_return fail(std::move(written.error()));
    }
    cluster_informer_->observe(written.value());
    co_return done;
  }

  // Members and summaries are judged only on both caches complete (a
  // namespace missing from a cache that is still listing must not look like
  // one that left). They do not hold up readiness: without the
  // ClusterSysdigToken CRD, or the RBAC to list namespaces, SysdigTokens are
  // served all the same (the informers report their errors).
  bool cluster_synced() const {
    return cluster_informer_->has_synced() && namespace_informer_->has_synced();
  }
  static ReconcileResult waiting_for_sync() {
    ReconcileResult r;
    r.requeue_after = std::chrono::seconds(1);
    return r;
  }

  // One key of the queue: a SysdigToken, or a ClusterSysdigToken's member
  // or summary.
  asio::awaitable<Reconciled> reconcile_key(const std::string& key) {
    if (auto k = parse_cluster_key(key)) {
      if (!cluster_informer_) co_return ReconcileResult{};
      if (k->member()) {
        // The summary follows once the member's status is in (not before:
        // a member may take longer than the summary's delay).
        auto r = co_await reconcile_member(*k, key);
        queue_->add_after(summary_key(k->name), kSummaryDelay);
        co_return r;
      }
      co_return co_await reconcile_summary(k->name);
    }
    co_return co_await reconciler_->reconcile(key);
  }

  std::shared_ptr<const ManagedSecret> lookup_secret(const std::string& ns,
                                                     const std::string& name) const {
    std::string key = kube::object_key(ns, name);
    for (auto& inf : secret_informers_) {
      if (auto o = inf->store().get(key)) return std::static_pointer_cast<const ManagedSecret>(o);
    }
    return nullptr;
  }

  std::vector<kube::Informer*> informers() const {
    std::vector<kube::Informer*> out;
    for (auto& inf : token_informers_) out.push_back(inf.get());
    for (auto& inf : secret_informers_) out.push_back(inf.get());
    if (cluster_informer_) out.push_back(cluster_informer_.get());
    if (namespace_informer_) out.push_back(namespace_informer_.get());
    return out;
  }

  // The reconciler, reading the caches and feeding its writes back into them.
  void make_reconciler() {
    auto tokens = [this](const std::string& key) -> std::shared_ptr<const SysdigToken> {
      if (auto k = parse_cluster_key(key)) return k->member() ? member(*k, key) : nullptr;
      for (auto& inf : token_informers_) {
        if (auto o = inf->store().get(key)) return std::static_pointer_cast<const SysdigToken>(o);
      }
      return nullptr;
    };
    auto secrets = [this](const std::string& ns, const std::string& name) {
      return lookup_secret(ns, name);
    };
    auto reconciler_options = options_.reconciler;
    reconciler_options.observe_token = [this](std::string_view json) {
      for (auto& inf : token_informers_) inf->observe(json);
    };
    reconciler_options.observe_secret = [this](std::string_view json) {
      for (auto& inf : secret_informers_) inf->observe(json);
    };
    reconciler_options.requeue = [this](const std::string& key) {
      if (queue_ && !stopped_) queue_->add(key);
    };
    reconciler_options.member_status = [this](const std::string& key,
                                              const SysdigTokenStatus& status) {
      member_status_[key] = status;
    };
    gateway_ = make_kube_gateway(client_);
    events_ = make_event_sink(recorder_);
    reconciler_ = std::make_unique<Reconciler>(tokens, secrets, gateway_, options_.monitoring,
                                               options_.allowlist, events_, reconciler_options);
  }

  // Workers start when this replica holds the Lease; losing it stops all.
  void elect(const asio::any_io_executor& ex) {
    kube::LeaderElectionConfig lc;
    lc.ns = options_.lease_namespace;
    lc.name = options_.lease_name;
    lc.identity = options_.identity;
    kube::LeaderElectionCallbacks callbacks;
    callbacks.on_started_leading = [this] { start_workers(); };
    callbacks.on_stopped_leading = [this] {
      if (!stopped_) {
        lost_ = true;
        log::error("leadership lost: stopping");
        stop();
      }
    };
    callbacks.on_error = on_kube_error_;
    elector_ = std::make_unique<kube::LeaderElector>(
        options_.lease_client ? options_.lease_client : client_, lc, callbacks);
    asio::co_spawn(ex, elector_->run(), asio::detached);
  }

  // Shutdown: no new work, in-flight reconciles finish, then the Lease goes.
  asio::awaitable<void> shut_down() {
    if (reconciler_) reconciler_->stop_restarts();
    queue_->shut_down();
    co_await queue_->drain();
    while (running_workers_ > 0) co_await wakeup_->wait();
    if (elector_) co_await elector_->release();
    co_await recorder_->flush();
    recorder_->stop();
    for (auto* inf : informers()) inf->stop();
    client_->shutdown();
  }


  void stop() {
    stopped_ = true;
    if (reconciler_) reconciler_->stop_restarts();
    if (queue_) queue_->shut_down();
    if (wakeup_) wakeup_->notify();
  }

  ControllerStatus status() const {
    ControllerStatus st{synced_, leading_, {}};
    if (leading_ && queue_ && !stopped_) {
      const auto waiting = queue_->stats().depth;
      const auto idle = std::chrono::steady_clock::now() - last_progress_;
      if (waiting > 0 && idle > options_.stall_timeout) {
        st.stalled = "reconcile workers made no progress for " +
                     std::to_string(std::chrono::duration_cast<std::chrono::seconds>(idle).count()) +
                     "s with " + std::to_string(waiting) + " keys waiting";
      }
    }
    return st;
  }

 private:
  void register_callbacks() {
    if (!metrics_) return;
    auto& r = metrics_->registry;
    const std::string queue_name(kControllerName);
    r.gauge_callback("workqueue_depth", "Current depth of workqueue", {"name"},
                     [this, queue_name](server::SampleSink& s) {
                       s.add({queue_name}, static_cast<double>(queue_->stats().depth));
                     });
    r.counter_callback("workqueue_adds_total", "Total number of adds handled by workqueue",
                       {"name"}, [this, queue_name](server::SampleSink& s) {
                         s.add({queue_name}, static_cast<double>(queue_->stats().adds));
                       });
    r.counter_callback("workqueue_retries_total", "Total number of retries handled by workqueue",
                       {"name"}, [this, queue_name](server::SampleSink& s) {
                         s.add({queue_name}, static_cast<double>(queue_->stats().retries));
                       });
    r.gauge_callback("leader_election_master_status",
                     "Gauge of if the reporting system is master of the relevant lease, 0 "
                     "indicates backup, 1 indicates master",
                     {"name"}, [this](server::SampleSink& s) {
                       s.add({options_.lease_name}, leading_ ? 1.0 : 0.0);
                     });
    r.gauge_callback("sysdigtoken_resources", "SysdigTokens by the status of their Ready condition",
                     {"ready"}, [this](server::SampleSink& s) {
                       double yes = 0, no = 0, unknown = 0;
                       for (auto& inf : token_informers_) {
                         for (const auto& o : inf->store().list()) {
                           const auto& ready = std::static_pointer_cast<const SysdigToken>(o)->status.ready;
                           if (!ready) {
                             ++unknown;
                           } else if (ready->status == "True") {
                             ++yes;
                           } else if (ready->status == "False") {
                             ++no;
                           } else {
                             ++unknown;
                           }
                         }
                       }
                       s.add({"True"}, yes);
                       s.add({"False"}, no);
                       s.add({"Unknown"}, unknown);
                     });
    r.gauge_callback("sysdigtoken_reset_pending_seconds",
                     "Age of the oldest reset (monitoring.ibm.com/reset-token value) of a "
                     "SysdigToken or ClusterSysdigToken not handled yet; 0 when none waits",
                     [this] { return std::chrono::duration<double>(oldest_pending_reset()).count(); });
  }

  // A reset is pending from when the informer first saw its value until the
  // status records it handled (Rotated or Unchanged).
  static bool reset_pending(const std::string& value, const std::string& handled) {
    return !value.empty() && value != handled;
  }

  // Whether `value` is a reset not seen before.
  bool note_reset(const std::string& key, const std::string& value, const std::string& handled) {
    if (!reset_pending(value, handled)) {
      reset_seen_.erase(key);
      return false;
    }
    auto it = reset_seen_.find(key);
    if (it != reset_seen_.end() && it->second.first == value) return false;
    reset_seen_[key] = {value, std::chrono::steady_clock::now()};
    return true;
  }

  // The oldest reset still pending in the caches (the operator's own status
  // writes reach them without a watch event, so each is looked up again).
  std::chrono::steady_clock::duration oldest_pending_reset() {
    const auto now = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration oldest{0};
    for (auto it = reset_seen_.begin(); it != reset_seen_.end();) {
      const auto& [value, since] = it->second;
      std::string reset, handled;
      if (auto k = parse_cluster_key(it->first)) {
        if (auto t = cluster_token(k->name)) reset = t->reset_value, handled = t->status.last_handled_reset;
      } else {
        for (auto& inf : token_informers_) {
          if (auto o = inf->store().get(it->first)) {
            const auto& t = static_cast<const SysdigToken&>(*o);
            reset = t.reset_value;
            handled = t.status.last_handled_reset;
          }
        }
      }
      if (reset != value || !reset_pending(reset, handled)) {
        it = reset_seen_.erase(it);
        continue;
      }
      oldest = std::max(oldest, now - since);
      ++it;
    }
    return oldest;
  }

  // Reconciles one key; an exception that escapes (a bug, or input no
  // parser should have let through) is reported on that resource
  // (InternalError), counted and logged by type only (its text may quote
  // what was being parsed), and the worker goes on.
  asio::awaitable<Result<ReconcileResult, kube::ApiError>> reconcile_guarded(const std::string& k) {
    using Reconciled = Result<ReconcileResult, kube::ApiError>;
    // The reconcile runs as its own coroutine so that an exception arrives
    // here as a value (no co_await inside a try block).
    auto attempt = [this, &k](bool internal_error) -> asio::awaitable<std::optional<Reconciled>> {
      if (internal_error) co_return co_await reconciler_->report_internal_error(k, "internal error");
      co_return co_await reconcile_key(k);
    };
    auto ex = co_await asio::this_coro::executor;
    auto [error, result] =
        co_await asio::co_spawn(ex, attempt(false), asio::as_tuple(asio::use_awaitable));
    if (!error && result) co_return std::move(*result);
    std::string crashed = "unknown exception";
    try {
      if (error) std::rethrow_exception(error);
    } catch (const std::exception& e) {
      crashed = exception_type(e);
    } catch (...) {
    }
    if (metrics_) metrics_->panics.inc();
    log::error("reconcile threw; reported as InternalError",
               {{"resource", k}, {"exception", crashed}});
    auto [report_error, reported] =
        co_await asio::co_spawn(ex, attempt(true), asio::as_tuple(asio::use_awaitable));
    if (!report_error && reported) co_return std::move(*reported);
    kube::ApiError e;
    e.message = "reporting an internal error failed";
    co_return fail(std::move(e));
  }

  static std::string exception_type(const std::exception& e) {
    int status = 0;
    char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
    std::string out = status == 0 && name ? name : typeid(e).name();
    std::free(name);
    return out;
  }

  // Counts one reconcile in the metrics (r is null for a Kubernetes API error).
  void count(const ReconcileResult* r, std::chrono::microseconds took) {
    if (!metrics_) return;
    auto& m = *metrics_;
    m.time.observe(static_cast<double>(took.count()) / 1e6);
    if (!r || r->failed()) {
      m.error.inc();
      m.errors.inc();
    } else if (r && r->requeue_after) {
      m.requeue_after.inc();
    } else {
      m.success.inc();
    }
    if (r && r->outcome == Outcome::Rotated) {
      m.rotations.inc();
      m.last_rotation.set(std::chrono::duration<double>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
    }
  }

  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
  }

  bool all_synced() const {
    for (auto& inf : token_informers_) {
      if (!inf->has_synced()) return false;
    }
    for (auto& inf : secret_informers_) {
      if (!inf->has_synced()) return false;
    }
    return true;
  }

  void start_workers() {
    if (leading_ || stopped_) return;
    leading_ = true;
    last_progress_ = std::chrono::steady_clock::now();
    log::info("starting workers", {{"workers", std::to_string(options_.workers)}});
    // Every cached resource is reconciled once when work starts.
    for (auto& inf : token_informers_) {
      for (const auto& key : inf->store().keys()) queue_->add(key);
    }
    if (cluster_informer_) {
      for (const auto& name : cluster_informer_->store().keys()) queue_cluster_token(name);
    }
    auto self = shared_from_this();
    for (int i = 0; i < options_.workers; ++i) {
      asio::co_spawn(queue_executor(), worker(self), asio::detached);
    }
  }

  asio::any_io_executor queue_executor() { return client_executor_; }

  static asio::awaitable<void> worker(std::shared_ptr<Impl> self) {
    ++self->running_workers_;
    for (;;) {
      auto key = co_await self->queue_->get();
      if (!key) break;
      self->last_progress_ = std::chrono::steady_clock::now();
      const std::string k = *key;
      const auto started = std::chrono::steady_clock::now();
      auto result = co_await self->reconcile_guarded(k);
      const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - started);
      self->count(result ? &result.value() : nullptr, took);
      if (!result) {
        log::warn("reconcile failed", {{"resource", k}, {"error", result.error().describe()}});
        if (result.error().kind == kube::ApiErrorKind::Conflict) {
          self->queue_->add_after(k, std::chrono::milliseconds(100));
        } else {
          self->queue_->add_rate_limited(k);
        }
      } else {
        self->queue_->forget(k);
        const auto& r = result.value();
        const std::string label(r.label());
        if (r.failed()) {
          log::warn("reconcile", {{"resource", k}, {"reason", label}});
        } else if (r.outcome != Outcome::UpToDate && r.outcome != Outcome::Deleted &&
                   r.outcome != Outcome::BackingOff && r.outcome != Outcome::Gathering) {
          log::info("reconcile", {{"resource", k}, {"outcome", label}});
        }
        if (r.requeue_after) self->queue_->add_after(k, *r.requeue_after);
        if (log::enabled(log::Level::Debug)) {
          log::debug("reconciled",
                     {{"resource", k},
                      {"outcome", label},
                      {"durationMs", std::to_string(took.count() / 1000.0)},
                      {"requeueAfterMs",
                       r.requeue_after ? std::to_string(r.requeue_after->count()) : "none"}});
        }
      }
      self->queue_->done(k);
      self->last_progress_ = std::chrono::steady_clock::now();
    }
    --self->running_workers_;
    self->wakeup_->notify();
  }

 public:
  asio::any_io_executor client_executor_;

 private:
  std::shared_ptr<kube::Client> client_;
  ControllerOptions options_;
  std::unique_ptr<kube::WorkQueue> queue_;
  std::shared_ptr<kube::EventRecorder> recorder_;
  std::vector<std::unique_ptr<kube::Informer>> token_informers_;
  std::vector<std::unique_ptr<kube::Informer>> secret_informers_;
  std::unique_ptr<kube::Informer> cluster_informer_;
  std::unique_ptr<kube::Informer> namespace_informer_;
  // Resets not handled yet: key -> (reset value, when first seen).
  std::unordered_map<std::string, std::pair<std::string, std::chrono::steady_clock::time_point>>
      reset_seen_;
  // The statuses of ClusterSysdigToken members, by member key.
  std::unordered_map<std::string, SysdigTokenStatus> member_status_;
  // Member changes within this long update the summary once.
  static constexpr std::chrono::milliseconds kSummaryDelay{500};
  std::shared_ptr<ClusterGateway> gateway_;
  std::shared_ptr<EventSink> events_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<kube::LeaderElector> elector_;
  std::unique_ptr<Metrics> metrics_;
  kube::ErrorHandler on_kube_error_;
  // Wakes run() on stop, when a cache syncs and when a worker ends.
  std::unique_ptr<Wakeup> wakeup_;
  bool stopped_ = false;
  bool lost_ = false;
  bool synced_ = false;
  bool leading_ = false;
  int running_workers_ = 0;
  std::chrono::steady_clock::time_point last_progress_ = std::chrono::steady_clock::now();
};

Controller::Controller(std::shared_ptr<kube::Client> client, ControllerOptions options)
    : impl_(std::make_shared<Impl>(std::move(client), std::move(options))) {}
Controller::~Controller() = default;

asio::awaitable<bool> Controller::run() {
  impl_->client_executor_ = co_await asio::this_coro::executor;
  co_return co_await impl_->run();
}
void Controller::stop() { impl_->stop(); }
ControllerStatus Controller::status() const { return impl_->status(); }

}  // namespace sto::controller
