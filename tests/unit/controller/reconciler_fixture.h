// The reconciler under test, wired to the fakes the way the controller wires
// it to the API server: writes' answers flow back into the World's caches
// through observe_token/observe_secret, watches catch up when a test says
// so (sync), and a restart is a fresh Reconciler over a World rebuilt from
// what the cluster stores.
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "common/rfc3339.h"
#include "controller/names.h"
#include "controller/reconciler.h"
#include "fakes.h"
#include "run_coroutine.h"

namespace sto::controller_test {

using namespace std::chrono_literals;
using controller::ManagedSecret;
using controller::Outcome;
using controller::Reason;
using controller::ReconcileResult;
using controller::SysdigTokenStatus;

inline constexpr const char* kNs = "monitoring";
inline constexpr const char* kName = "ops-team";
inline constexpr const char* kKey = "monitoring/ops-team";
inline constexpr const char* kGuid = "7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c11";
inline constexpr std::int64_t kTeam = 26055;
inline const std::string kApiKey = "ibm-api-key-SECRET-0001";
inline const std::string kToken1 = "sysdig-token-VALUE-0001";
inline const std::string kToken2 = "sysdig-token-VALUE-0002";
inline const std::string kToken3 = "sysdig-token-VALUE-0003";
inline constexpr const char* kEndpoint = "https://us-south.monitoring.cloud.ibm.com";
inline constexpr const char* kIam = "https://iam.cloud.ibm.com";

// A SysdigToken as a user writes it (the API server adds uid, generation and
// resourceVersion).
inline Json token_json(const std::string& name = kName, const std::string& ns = kNs) {
  return Json{{"apiVersion", "monitoring.ibm.com/v1alpha1"},
              {"kind", "SysdigToken"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec",
               {{"instanceID", kGuid},
                {"teamID", kTeam},
                {"region", "us-south"},
                {"apiKeySecretRef", {{"name", "ibm-api-key"}, {"key", "apikey"}}},
                {"refreshInterval", "1h"}}}};
}

// metadata.<map>.<key> of a stored object ("labels", "annotations"), empty
// when absent.
inline std::string meta_entry(const Json* object, const std::string& map, const std::string& key) {
  if (!object) return "";
  auto m = object->find("metadata");
  if (m == object->end()) return "";
  auto entries = m->find(map);
  if (entries == m->end() || !entries->is_object()) return "";
  auto v = entries->find(key);
  return v == entries->end() || !v->is_string() ? "" : v->get<std::string>();
}

inline bool has_meta_entry(const Json* object, const std::string& map, const std::string& key) {
  if (!object) return false;
  auto m = object->find("metadata");
  if (m == object->end()) return false;
  auto entries = m->find(map);
  return entries != m->end() && entries->is_object() && entries->contains(key);
}

inline bool has_owner_references(const Json* object) {
  if (!object) return false;
  auto m = object->find("metadata");
  return m != object->end() && m->contains("ownerReferences") && !(*m)["ownerReferences"].empty();
}

inline std::chrono::system_clock::time_point start_time() {
  return *parse_rfc3339("2026-11-28T10:00:00Z");
}

class Reconciler : public ::testing::Test {
 protected:
  Reconciler() {
    clock.now = start_time();
    cluster->put_api_key(kNs, "ibm-api-key", "apikey", kApiKey);
    monitoring->set_token(kTeam, kApiKey, kToken1);
    options.clock = [this] { return clock.now; };
    options.failure_backoff = Backoff{5s, 10min, 0.0};
    options.refresh_jitter = 0.0;
    options.observe_token = [this](std::string_view json) { world->observe_token(json); };
    options.observe_secret = [this](std::string_view json) { world->observe_secret(json); };
    allowlist = ibm::HostAllowlist::parse(ibm::HostAllowlist::default_patterns()).value();
    restart();
  }

  // Adds a SysdigToken (default: ops-team) and lets the watch deliver it.
  void add_token(Json token = token_json()) {
    cluster->put_token(std::move(token));
    sync();
  }

  // The watches catch up with the cluster.
  void sync() { world->sync(*cluster); }

  // A new operator process: caches rebuilt from the stored objects.
  void restart() {
    world = std::make_unique<World>();
    sync();
    reconciler =
        std::make_unique<controller::Reconciler>(world->token_lookup(), world->secret_lookup(),
                                                 cluster, monitoring, allowlist, events, options);
  }

  // Runs one reconciler call to its end on the test's io_context.
  template <typename T>
  T run_coroutine(boost::asio::awaitable<T> call) {
    if (!until_idle) return sto::testing::run_until_done(io, std::move(call));
    return sto::testing::run_on(io, std::move(call));
  }
  // Reconciles run until the io_context is idle (false: until they return,
  // leaving debounced restarts waiting).
  bool until_idle = true;

  Result<ReconcileResult, kube::ApiError> try_reconcile(const std::string& key = kKey) {
    return run_coroutine(reconciler->reconcile(key));
  }

  // Reconciles and expects no Kubernetes API error.
  ReconcileResult reconcile(const std::string& key = kKey) {
    auto r = try_reconcile(key);
    if (!r) {
      ADD_FAILURE() << "reconcile " << key << ": " << r.error().describe();
      return {};
    }
    return r.value();
  }

  // A user edit of the SysdigToken, delivered by the watch.
  void edit_spec(const std::function<void(Json&)>& edit, const std::string& name = kName) {
    cluster->edit_token(
        kNs, name, [&](Json& t) { edit(t["spec"]); }, true);
    sync();
  }
  void annotate_reset(const std::string& value, const std::string& name = kName) {
    cluster->edit_token(
        kNs, name,
        [&](Json& t) {
          t["metadata"]["annotations"][std::string(controller::kResetAnnotation)] = value;
        },
        false);
    sync();
  }

  // The stored objects, through the real projections.
  SysdigTokenStatus status(const std::string& name = kName) const {
    const Json* t = cluster->token(kNs, name);
    if (!t) return {};
    auto p = controller::project_sysdig_token(t->dump());
    if (!p) return {};
    return std::static_pointer_cast<const controller::SysdigToken>(p.value())->status;
  }
  std::string token_rv(const std::string& name = kName) const {
    const Json* t = cluster->token(kNs, name);
    return t ? t->at("metadata").value("resourceVersion", "") : "";
  }
  std::string token_uid(const std::string& name = kName) const {
    const Json* t = cluster->token(kNs, name);
    return t ? t->at("metadata").value("uid", "") : "";
  }
  std::shared_ptr<const ManagedSecret> stored_secret(const std::string& name = kName) const {
    const Json* s = cluster->secret(kNs, name);
    if (!s) return nullptr;
    auto p = controller::project_managed_secret(s->dump());
    if (!p) return nullptr;
    return std::static_pointer_cast<const ManagedSecret>(p.value());
  }
  std::optional<std::string> stored_value(const std::string& key,
                                          const std::string& name = kName) const {
    const Json* s = cluster->secret(kNs, name);
    if (!s) return std::nullopt;
    return controller::secret_value(s->dump(), key);
  }
  std::string secret_rv(const std::string& name = kName) const {
    const Json* s = cluster->secret(kNs, name);
    return s ? s->at("metadata").value("resourceVersion", "") : "";
  }
  std::string ready_reason(const std::string& name = kName) const {
    auto s = status(name);
    return s.ready ? s.ready->reason : "";
  }
  std::string ready_status(const std::string& name = kName) const {
    auto s = status(name);
    return s.ready ? s.ready->status : "";
  }
  static std::string at(std::chrono::system_clock::time_point t) { return format_rfc3339(t); }

  boost::asio::io_context io;
  TestClock clock;
  std::shared_ptr<FakeCluster> cluster = std::make_shared<FakeCluster>();
  std::shared_ptr<FakeMonitoring> monitoring = std::make_shared<FakeMonitoring>();
  std::shared_ptr<FakeEvents> events = std::make_shared<FakeEvents>();
  ibm::HostAllowlist allowlist;
  controller::ReconcilerOptions options;
  std::unique_ptr<World> world;
  std::unique_ptr<controller::Reconciler> reconciler;
};

}  // namespace sto::controller_test
