#include "controller/kube_gateway.h"

#include <boost/asio/this_coro.hpp>
#include <nlohmann/json.hpp>

#include "common/secure_string.h"
#include "controller/desired_secret.h"
#include "controller/names.h"
#include "ibm/single_flight.h"

namespace sto::controller {

namespace asio = boost::asio;
using json = nlohmann::json;

kube::Resource sysdig_tokens() {
  return {std::string(kGroup), "v1alpha1", "sysdigtokens", std::string(kKind), true};
}

namespace {

// The fields a SysdigToken's and a ClusterSysdigToken's status share.
template <typename Status>
json common_status(const Status& s, std::initializer_list<const std::optional<Condition>*> conds) {
  json st;
  auto opt = [&](const char* k, const std::string& v) {
    st[k] = v.empty() ? json(nullptr) : json(v);
  };
  st["observedGeneration"] = s.observed_generation;
  json conditions = json::array();
  for (const auto* c : conds) {
    if (!*c) continue;
    conditions.push_back({{"type", (*c)->type},
                          {"status", (*c)->status},
                          {"reason", (*c)->reason},
                          {"message", (*c)->message},
                          {"observedGeneration", (*c)->observed_generation},
                          {"lastTransitionTime", (*c)->last_transition_time}});
  }
  if (!conditions.empty()) st["conditions"] = std::move(conditions);
  opt("secretName", s.secret_name);
  st["teamID"] = s.team_id == 0 ? json(nullptr) : json(s.team_id);
  opt("tokenFingerprint", s.token_fingerprint);
  st["revision"] = s.revision;
  opt("lastSyncTime", s.last_sync_time);
  opt("lastRotationTime", s.last_rotation_time);
  opt("lastHandledReset", s.last_handled_reset);
  return st;
}

}  // namespace

std::string status_patch(const SysdigTokenStatus& s) {
  json st = common_status(s, {&s.ready, &s.restarted});
  auto opt = [&](const char* k, const std::string& v) {
    st[k] = v.empty() ? json(nullptr) : json(v);
  };
  opt("nextRefreshTime", s.next_refresh_time);
  opt("lastResetOutcome", s.last_reset_outcome);
  opt("resetCheckUntil", s.reset_check_until);
  st["failedAttempts"] = s.failed_attempts;
  opt("nextRetryTime", s.next_retry_time);
  st["restartedRevision"] = s.restarted_revision == 0 ? json(nullptr) : json(s.restarted_revision);
  opt("lastRestartTime", s.last_restart_time);
  return json{{"status", st}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string cluster_status_patch(const ClusterSysdigTokenStatus& s) {
  json st = common_status(s, {&s.ready});
  st["provisionedNamespaces"] = s.provisioned_namespaces;
  json failed = json::array();
  for (const auto& f : s.failed_namespaces)
    failed.push_back({{"namespace", f.ns}, {"reason", f.reason}, {"message", f.message}});
  st["failedNamespaces"] = std::move(failed);
  return json{{"status", st}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<std::string> field_ownership_patch(std::string_view object_json) {
  auto object = json::parse(object_json, nullptr, false);
  if (object.is_discarded() || !object.is_object()) return std::nullopt;
  const json* meta = object.contains("metadata") ? &object["metadata"] : nullptr;
  if (!meta || !meta->contains("managedFields") || !(*meta)["managedFields"].is_array())
    return std::nullopt;
  json entries = json::array();
  json applied;
  bool moved = false;
  for (const auto& e : (*meta)["managedFields"]) {
    bool ours = e.value("manager", "") == kFieldManager;
    std::string op = e.value("operation", "");
    if (!ours || (op != "Update" && op != "Apply") || e.value("subresource", "") != "") {
      entries.push_back(e);
      continue;
    }
    if (applied.is_null()) {
      applied = e;
      applied["operation"] = "Apply";
      applied["fieldsV1"] = e.value("fieldsV1", json::object());
    } else {
      applied["fieldsV1"].merge_patch(e.value("fieldsV1", json::object()));
    }
    moved = moved || op == "Update";
  }
  if (!moved) return std::nullopt;
  entries.push_back(std::move(applied));
  json patch = json::array(
      {{{"op", "test"}, {"path", "/metadata/resourceVersion"}, {"value", meta->value("resourceVersion", "")}},
       {{"op", "replace"}, {"path", "/metadata/managedFields"}, {"value", std::move(entries)}}});
  return patch.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string token_request_body() {
  json body = {{"apiVersion", "authentication.k8s.io/v1"},
               {"kind", "TokenRequest"},
               {"spec",
                {{"audiences", json::array({std::string(kServiceAccountTokenAudience)})},
                 {"expirationSeconds", kServiceAccountTokenSeconds}}}};
  return body.dump();
}

std::optional<std::string> token_of(std::string& token_request_json) {
  auto parsed = json::parse(token_request_json, nullptr, false);
  std::optional<std::string> out;
  if (parsed.is_object() && parsed.contains("status") && parsed["status"].is_object()) {
    auto& status = parsed["status"];
    if (auto t = status.find("token"); t != status.end() && t->is_string()) {
      out = std::move(t->get_ref<std::string&>());
    }
  }
  if (out && out->empty()) out.reset();
  return out;
}

bool created_fields_unwanted(std::string_view object_json, const DesiredSecret& desired) {
  auto object = json::parse(object_json, nullptr, false);
  if (object.is_discarded() || !object.is_object()) return false;
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return false;
  auto entries = meta->find("managedFields");
  if (entries == meta->end() || !entries->is_array()) return false;
  for (const auto& e : *entries) {
    if (!e.is_object() || e.value("manager", "") != kFieldManager ||
        e.value("operation", "") != "Update" || e.value("subresource", "") != "")
      continue;
    auto fields = e.find("fieldsV1");
    if (fields == e.end() || !fields->is_object()) continue;
    if (unwanted_fields(applied_fields_from(fields->dump()), desired, std::string()))
      return true;
  }
  return false;
}

namespace {

class KubeGateway final : public ClusterGateway {
 public:
  explicit KubeGateway(std::shared_ptr<kube::Client> client)
      : client_(std::move(client)), secrets_(kube::resources::secrets()), tokens_(sysdig_tokens()) {
    apply_.field_manager = std::string(kFieldManager);
    apply_.force = true;
  }

  // Resources that share an API key Secret share its reads: one GET in
  // flight per (namespace, name, key), and its answer is reused for
  // kApiKeyReuse (a burst of new resources reads each key Secret about once;
  // an edited key is seen a second later).
  Async<SecretValue> read_secret_value(const std::string& ns, const std::string& name,
                                       const std::string& key) override {
    if (!api_keys_) api_keys_.emplace(co_await asio::this_coro::executor, kApiKeyReuse);
    std::string flight_key = ns;
    flight_key.append(1, '\0').append(name).append(1, '\0').append(key);
    std::optional<std::chrono::steady_clock::duration> max_age = kApiKeyReuse;
    auto make = [client = client_, secrets = secrets_, ns, name, key] {
      return read_key(client, secrets, ns, name, key);
    };
    auto flight = api_keys_->run(std::move(flight_key), std::move(make), max_age);
    co_return co_await std::move(flight);
  }

  // Parameters by value: the read may outlive the reconcile that started it.
  static Async<SecretValue> read_key(std::shared_ptr<kube::Client> client, kube::Resource secrets,
                                     std::string ns, std::string name, std::string key) {
    auto got = co_await client->get(secrets, ns, name);
    SecretValue out;
    if (!got) {
      if (got.error().kind == kube::ApiErrorKind::NotFound) co_return out;
      co_return fail(std::move(got.error()));
    }
    CleanseOnExit wipe_answer(got.value());
    out.secret_found = true;
    out.value = secret_value(got.value(), key);
    co_return out;
  }

  Async<std::optional<std::string>> request_service_account_token(
      const std::string& ns, const std::string& name) override {
    const std::string path = service_accounts_.item_path(ns, name, "token");
    const std::string body = token_request_body();
    auto created = co_await client_->request("POST", path, body, "application/json");
    if (!created) {
      if (created.error().kind == kube::ApiErrorKind::NotFound)
        co_return std::optional<std::string>();
      co_return fail(std::move(created.error()));
    }
    // The answer holds the token: cleared once read.
    CleanseOnExit wipe_answer(created.value());
    auto token = token_of(created.value());
    if (!token) {
      kube::ApiError e;
      e.kind = kube::ApiErrorKind::Decode;
      e.message = "TokenRequest for ServiceAccount " + ns + "/" + name +
                  ": the answer has no status.token";
      co_return fail(std::move(e));
    }
    co_return std::move(token);
  }

  Async<std::optional<Fetched>> get_secret(const std::string& ns,
                                           const std::string& name) override {
    auto got = co_await client_->get(secrets_, ns, name);
    if (!got) {
      if (got.error().kind == kube::ApiErrorKind::NotFound) co_return std::optional<Fetched>{};
      co_return fail(std::move(got.error()));
    }
    auto projected = project_managed_secret(got.value());
    if (!projected) {
      kube::ApiError e;
      e.kind = kube::ApiErrorKind::Decode;
      e.message = "Secret " + ns + "/" + name + ": " + projected.error();
      co_return fail(std::move(e));
    }
    Fetched f;
    f.secret = std::static_pointer_cast<const ManagedSecret>(projected.value());
    f.json = std::move(got.value());
    co_return std::optional<Fetched>(std::move(f));
  }

  // One request: the fields the create wrote stay in its Update entry until
  // the first apply moves them into the Apply entry (own_fields).
  Async<std::string> create_secret(const DesiredSecret& secret) override {
    std::string body = secret.to_json();
    co_return co_await client_->create(secrets_, secret.ns, body);
  }

  Async<std::string> apply_secret(const DesiredSecret& secret,
                                  const std::string& resource_version) override {
    std::string body = secret.to_json(resource_version);
    auto applied = co_await client_->patch(secrets_, secret.ns, secret.name,
                                           kube::PatchType::Apply, body, apply_);
    if (!applied) co_return applied;
    co_return co_await own_fields(secret, std::move(applied).value());
  }

  Async<Ok> delete_secret(const std::string& ns, const std::string& name,
                          const std::string& uid) override {
    kube::DeleteOptions o;
    o.precondition_uid = uid;
    auto r = co_await client_->remove(secrets_, ns, name, o);
    if (!r) co_return fail(std::move(r.error()));
    co_return Ok{};
  }

  Async<Ok> release_secret(const std::string& ns, const std::string& name,
                           const std::string& resource_version) override {
    json patch = {
        {"metadata",
         {{"resourceVersion", resource_version},
          {"ownerReferences", nullptr},
          {"labels",
           {{std::string(kManagedByLabel), nullptr},
            {std::string(kOwnerLabel), nullptr},
            {std::string(kClusterOwnerLabel), nullptr}}},
          {"annotations",
           {{std::string(kOwnerUidAnnotation), nullptr},
            {std::string(kFingerprintAnnotation), nullptr},
            {std::string(kRevisionAnnotation), nullptr},
            {std::string(kResetHandledAnnotation), nullptr},
            {std::string(kResetOutcomeAnnotation), nullptr},
            {std::string(kTemplateDigestAnnotation), nullptr}}}}}};
    std::string body = patch.dump(-1, ' ', false, json::error_handler_t::replace);
    kube::PatchOptions none;
    auto r = co_await client_->patch(secrets_, ns, name, kube::PatchType::Merge, body, none);
    if (!r) co_return fail(std::move(r.error()));
    co_return Ok{};
  }

  Async<Ok> restart_workload(const std::string& kind, const std::string& ns,
                             const std::string& name, const std::string& restarted_at) override {
    std::string plural = kind == "Deployment"    ? "deployments"
                         : kind == "StatefulSet" ? "statefulsets"
                                                 : "daemonsets";
    const kube::Resource workloads{"apps", "v1", std::move(plural), kind, true};
    json patch = {
        {"spec",
         {{"template",
           {{"metadata", {{"annotations", {{std::string(kRestartedAtAnnotation), restarted_at}}}}}}}}}};
    std::string body = patch.dump(-1, ' ', false, json::error_handler_t::replace);
    kube::PatchOptions options;
    options.field_manager = std::string(kFieldManager);
    auto r = co_await client_->patch(workloads, ns, name, kube::PatchType::Merge, body, options);
    if (!r) co_return fail(std::move(r.error()));
    co_return Ok{};
  }

  Async<std::string> write_status(const SysdigToken& token,
                                  const SysdigTokenStatus& status) override {
    std::string body = status_patch(status);
    kube::PatchOptions none;
    co_return co_await client_->patch(tokens_, token.meta.ns, token.meta.name,
                                      kube::PatchType::Merge, body, none, "status");
  }

 private:
  // Moves fields written by a POST into the Apply entry (see
  // field_ownership_patch) when the create owns one the Secret should no
  // longer have (so that the next apply removes it); the object as it is
  // after that. Fields both entries own need no move.
  Async<std::string> own_fields(const DesiredSecret& secret, std::string object) {
    if (!created_fields_unwanted(object, secret)) co_return object;
    auto patch = field_ownership_patch(object);
    if (!patch) co_return object;
    kube::PatchOptions none;
    co_return co_await client_->patch(secrets_, secret.ns, secret.name, kube::PatchType::Json,
                                      *patch, none);
  }

  static constexpr std::chrono::seconds kApiKeyReuse{1};

  std::shared_ptr<kube::Client> client_;
  std::optional<ibm::SingleFlight<std::string, Result<SecretValue, kube::ApiError>>> api_keys_;
  kube::Resource secrets_;
  kube::Resource tokens_;
  kube::Resource service_accounts_{"", "v1", "serviceaccounts", "ServiceAccount", true};
  kube::PatchOptions apply_;
};

class RecorderSink final : public EventSink {
 public:
  explicit RecorderSink(std::shared_ptr<kube::EventRecorder> recorder)
      : recorder_(std::move(recorder)) {}
  void emit(const SysdigToken& token, bool warning, std::string_view reason,
            const std::string& message) override {
    // A ClusterSysdigToken's events are its own, naming the namespace.
    const bool cluster = token.cluster_scoped;
    kube::ObjectRef ref{std::string(kApiVersion),
                        std::string(cluster ? kClusterKind : kKind),
                        cluster ? std::string() : token.meta.ns,
                        token.meta.name,
                        token.meta.uid,
                        token.meta.resource_version};
    // Failures (Warnings) and rotations are what a person looks for: never
    // dropped under load. First syncs and repairs may be.
    const bool important = reason == to_string(Reason::TokenRotated) ||
                           reason == condition::kRolloutRestarted;
    recorder_->record(ref, warning ? kube::EventType::Warning : kube::EventType::Normal,
                      std::string(reason), "Reconcile",
                      cluster && !token.meta.ns.empty() ? "namespace " + token.meta.ns + ": " + message
                                                      : message,
                      important ? kube::EventPriority::Important : kube::EventPriority::Normal);
  }

 private:
  std::shared_ptr<kube::EventRecorder> recorder_;
};

}  // namespace

std::shared_ptr<ClusterGateway> make_kube_gateway(std::shared_ptr<kube::Client> client) {
  return std::make_shared<KubeGateway>(std::move(client));
}

std::shared_ptr<EventSink> make_event_sink(std::shared_ptr<kube::EventRecorder> recorder) {
  return std::make_shared<RecorderSink>(std::move(recorder));
}

}  // namespace sto::controller
