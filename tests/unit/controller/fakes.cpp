#include "fakes.h"

#include <algorithm>

#include "common/encoding.h"
#include "controller/kube_gateway.h"
#include "controller/names.h"

namespace sto::controller_test {

namespace {

std::string key_of(const std::string& ns, const std::string& name) { return ns + "/" + name; }

std::string key_of(const Json& object) {
  const auto& m = object.at("metadata");
  return key_of(m.value("namespace", ""), m.value("name", ""));
}

bool older(const std::string& candidate, const std::string& cached) {
  if (candidate.empty() || cached.empty()) return false;
  try {
    return std::stoll(candidate) < std::stoll(cached);
  } catch (...) {
    return false;
  }
}

// The reconciler's Secret writes, as fields a field manager owns.
std::set<std::string> fields_of(const Json& secret) {
  std::set<std::string> out;
  const auto& m = secret.at("metadata");
  for (const char* map : {"labels", "annotations"}) {
    if (m.contains(map) && m[map].is_object()) {
      for (const auto& [k, v] : m[map].items()) out.insert(std::string(map) + "/" + k);
    }
  }
  if (m.contains("ownerReferences")) out.insert("ownerReferences");
  if (secret.contains("data") && secret["data"].is_object()) {
    for (const auto& [k, v] : secret["data"].items()) out.insert("data/" + k);
  }
  return out;
}

void remove_field(Json& object, const std::string& field) {
  auto slash = field.find('/');
  if (slash == std::string::npos) {
    object["metadata"].erase(field);
    return;
  }
  std::string map = field.substr(0, slash);
  std::string key = field.substr(slash + 1);
  Json& parent = map == "data" ? object : object["metadata"];
  if (parent.contains(map) && parent[map].is_object()) parent[map].erase(key);
}

}  // namespace

kube::ApiError api_error(kube::ApiErrorKind kind, std::string message) {
  kube::ApiError e;
  e.kind = kind;
  e.message = std::move(message);
  switch (kind) {
    case kube::ApiErrorKind::NotFound:
      e.status = 404;
      break;
    case kube::ApiErrorKind::Conflict:
    case kube::ApiErrorKind::AlreadyExists:
      e.status = 409;
      break;
    case kube::ApiErrorKind::ServerError:
      e.status = 500;
      break;
    default:
      break;
  }
  e.reason = std::string(kube::to_string(kind));
  return e;
}

// --- FakeCluster -------------------------------------------------------------

void FakeCluster::put_token(Json token) {
  auto& m = token["metadata"];
  if (!m.contains("uid")) m["uid"] = next_uid();
  if (!m.contains("generation")) m["generation"] = 1;
  m["resourceVersion"] = next_rv();
  std::string key = key_of(token);
  tokens_[key] = std::move(token);
}

void FakeCluster::put_secret(Json secret) {
  auto& m = secret["metadata"];
  if (!m.contains("uid")) m["uid"] = next_uid();
  m["resourceVersion"] = next_rv();
  if (!secret.contains("type")) secret["type"] = "Opaque";
  std::string key = key_of(secret);
  owned_.erase(key);
  secrets_[key] = std::move(secret);
}

void FakeCluster::put_api_key(const std::string& ns, const std::string& name,
                              const std::string& key, const std::string& value) {
  Json s = {{"apiVersion", "v1"},
            {"kind", "Secret"},
            {"metadata", {{"namespace", ns}, {"name", name}}},
            {"data", {{key, base64_encode(value)}}}};
  put_secret(std::move(s));
}

void FakeCluster::edit_token(const std::string& ns, const std::string& name,
                             const std::function<void(Json&)>& edit, bool spec_change) {
  auto it = tokens_.find(key_of(ns, name));
  if (it == tokens_.end()) return;
  edit(it->second);
  auto& m = it->second["metadata"];
  if (spec_change) m["generation"] = m.value("generation", 0) + 1;
  m["resourceVersion"] = next_rv();
}

void FakeCluster::edit_secret(const std::string& ns, const std::string& name,
                              const std::function<void(Json&)>& edit) {
  auto it = secrets_.find(key_of(ns, name));
  if (it == secrets_.end()) return;
  edit(it->second);
  it->second["metadata"]["resourceVersion"] = next_rv();
  // Fields someone else removed are no longer anyone's.
  auto& owned = owned_[key_of(ns, name)];
  auto present = fields_of(it->second);
  std::erase_if(owned, [&](const std::string& f) { return !present.count(f); });
  render_managed_fields(key_of(ns, name));
}

void FakeCluster::remove_secret(const std::string& ns, const std::string& name) {
  secrets_.erase(key_of(ns, name));
  owned_.erase(key_of(ns, name));
}

void FakeCluster::remove_token(const std::string& ns, const std::string& name) {
  tokens_.erase(key_of(ns, name));
}

const Json* FakeCluster::token(const std::string& ns, const std::string& name) const {
  auto it = tokens_.find(key_of(ns, name));
  return it == tokens_.end() ? nullptr : &it->second;
}

const Json* FakeCluster::secret(const std::string& ns, const std::string& name) const {
  auto it = secrets_.find(key_of(ns, name));
  return it == secrets_.end() ? nullptr : &it->second;
}

void FakeCluster::fail_next(const std::string& verb, kube::ApiError error) {
  failures_[verb].push_back(std::move(error));
}

std::optional<kube::ApiError> FakeCluster::injected(const std::string& verb) {
  auto it = failures_.find(verb);
  if (it == failures_.end() || it->second.empty()) return std::nullopt;
  kube::ApiError e = std::move(it->second.front());
  it->second.pop_front();
  return e;
}

int FakeCluster::count(std::string_view verb) const {
  return static_cast<int>(
      std::count_if(calls_.begin(), calls_.end(), [&](const auto& c) { return c.verb == verb; }));
}

int FakeCluster::writes() const {
  return count("create_secret") + count("apply_secret") + count("delete_secret") +
         count("release_secret") + count("write_status");
}

void FakeCluster::put_service_account(const std::string& ns, const std::string& name) {
  service_accounts_.insert(key_of(ns, name));
}

FakeCluster::Async<std::optional<std::string>> FakeCluster::request_service_account_token(
    const std::string& ns, const std::string& name) {
  calls_.push_back({"request_service_account_token", key_of(ns, name), ""});
  if (auto e = injected("request_service_account_token")) co_return fail(std::move(*e));
  if (!service_accounts_.contains(key_of(ns, name))) co_return std::optional<std::string>();
  co_return std::optional<std::string>("sa-token-" + ns + "-" + name + "-" +
                                       std::to_string(++sa_tokens_));
}

FakeCluster::Async<controller::SecretValue> FakeCluster::read_secret_value(const std::string& ns,
                                                                           const std::string& name,
                                                                           const std::string& key) {
  calls_.push_back({"read_secret_value", key_of(ns, name), key});
  if (auto e = injected("read_secret_value")) co_return fail(std::move(*e));
  controller::SecretValue out;
  auto it = secrets_.find(key_of(ns, name));
  if (it == secrets_.end()) co_return out;
  out.secret_found = true;
  const Json& s = it->second;
  if (s.contains("data") && s["data"].is_object() && s["data"].contains(key)) {
    out.value = base64_decode(s["data"][key].get<std::string>());
  }
  co_return out;
}

FakeCluster::Async<std::optional<controller::ClusterGateway::Fetched>> FakeCluster::get_secret(
    const std::string& ns, const std::string& name) {
  calls_.push_back({"get_secret", key_of(ns, name), ""});
  if (auto e = injected("get_secret")) co_return fail(std::move(*e));
  auto it = secrets_.find(key_of(ns, name));
  if (it == secrets_.end()) co_return std::optional<Fetched>();
  Fetched f;
  f.json = it->second.dump();
  auto projected = controller::project_managed_secret(f.json);
  if (!projected) {
    co_return fail(api_error(kube::ApiErrorKind::Decode, projected.error()));
  }
  f.secret = std::static_pointer_cast<const controller::ManagedSecret>(projected.value());
  co_return std::optional<Fetched>(std::move(f));
}

FakeCluster::Async<std::string> FakeCluster::create_secret(
    const controller::DesiredSecret& secret) {
  std::string body = secret.to_json();
  std::string key = key_of(secret.ns, secret.name);
  calls_.push_back({"create_secret", key, body});
  if (auto e = injected("create_secret")) co_return fail(std::move(*e));
  if (secrets_.count(key)) {
    co_return fail(api_error(kube::ApiErrorKind::AlreadyExists,
                             "secrets \"" + secret.name + "\" already exists"));
  }
  Json s = Json::parse(body);
  if (s["metadata"].contains("resourceVersion")) {
    co_return fail(api_error(kube::ApiErrorKind::BadRequest,
                             "resourceVersion should not be set on objects to be created"));
  }
  s["metadata"]["uid"] = next_uid();
  s["metadata"]["resourceVersion"] = next_rv();
  owned_[key] = fields_of(s);
  secrets_[key] = s;
  render_managed_fields(key);
  co_return secrets_[key].dump();
}

void FakeCluster::apply_owned(const std::string& key, const Json& applied) {
  Json& object = secrets_[key];
  std::set<std::string> now = fields_of(applied);
  for (const auto& field : owned_[key]) {
    if (!now.count(field)) remove_field(object, field);
  }
  const auto& m = applied.at("metadata");
  for (const char* map : {"labels", "annotations"}) {
    if (m.contains(map) && m[map].is_object()) {
      for (const auto& [k, v] : m[map].items()) object["metadata"][map][k] = v;
    }
  }
  if (m.contains("ownerReferences")) object["metadata"]["ownerReferences"] = m["ownerReferences"];
  if (applied.contains("data") && applied["data"].is_object()) {
    for (const auto& [k, v] : applied["data"].items()) object["data"][k] = v;
  }
  if (applied.contains("type")) object["type"] = applied["type"];
  owned_[key] = std::move(now);
  render_managed_fields(key);
}

void FakeCluster::render_managed_fields(const std::string& key) {
  Json& m = secrets_[key]["metadata"];
  auto it = owned_.find(key);
  if (it == owned_.end() || it->second.empty()) {
    m.erase("managedFields");
    return;
  }
  Json fields = Json::object();
  for (const auto& field : it->second) {
    auto slash = field.find('/');
    if (slash == std::string::npos) {
      fields["f:metadata"]["f:" + field] = {{"k:{\"uid\":\"x\"}", Json::object()}};
      continue;
    }
    std::string map = field.substr(0, slash);
    std::string name = "f:" + field.substr(slash + 1);
    if (map == "data") {
      fields["f:data"][name] = Json::object();
    } else {
      fields["f:metadata"]["f:" + map][name] = Json::object();
    }
  }
  m["managedFields"] = Json::array({{{"manager", controller::kFieldManager},
                                     {"operation", "Apply"},
                                     {"apiVersion", "v1"},
                                     {"fieldsType", "FieldsV1"},
                                     {"fieldsV1", fields}}});
}

FakeCluster::Async<std::string> FakeCluster::apply_secret(const controller::DesiredSecret& secret,
                                                          const std::string& resource_version) {
  std::string body = secret.to_json(resource_version);
  std::string key = key_of(secret.ns, secret.name);
  calls_.push_back({"apply_secret", key, body});
  if (auto e = injected("apply_secret")) co_return fail(std::move(*e));
  Json applied = Json::parse(body);
  std::string sent_rv = applied["metadata"].value("resourceVersion", "");
  auto it = secrets_.find(key);
  if (it == secrets_.end()) {
    co_return fail(api_error(kube::ApiErrorKind::Conflict,
                             "the object has been modified; please apply your changes to the "
                             "latest version and try again"));
  }
  if (!sent_rv.empty() && sent_rv != it->second["metadata"].value("resourceVersion", "")) {
    co_return fail(api_error(kube::ApiErrorKind::Conflict,
                             "the object has been modified; please apply your changes to the "
                             "latest version and try again"));
  }
  apply_owned(key, applied);
  Json& object = secrets_[key];
  object["metadata"]["resourceVersion"] = next_rv();
  co_return object.dump();
}

FakeCluster::Async<Ok> FakeCluster::delete_secret(const std::string& ns, const std::string& name,
                                                  const std::string& uid) {
  std::string key = key_of(ns, name);
  calls_.push_back({"delete_secret", key, uid});
  if (auto e = injected("delete_secret")) co_return fail(std::move(*e));
  auto it = secrets_.find(key);
  if (it == secrets_.end()) {
    co_return fail(api_error(kube::ApiErrorKind::NotFound, "secrets \"" + name + "\" not found"));
  }
  if (!uid.empty() && it->second["metadata"].value("uid", "") != uid) {
    co_return fail(api_error(kube::ApiErrorKind::Conflict, "Precondition failed: UID mismatch"));
  }
  secrets_.erase(it);
  owned_.erase(key);
  co_return Ok{};
}

FakeCluster::Async<Ok> FakeCluster::release_secret(const std::string& ns, const std::string& name,
                                                   const std::string& resource_version) {
  std::string key = key_of(ns, name);
  calls_.push_back({"release_secret", key, resource_version});
  if (auto e = injected("release_secret")) co_return fail(std::move(*e));
  auto it = secrets_.find(key);
  if (it == secrets_.end()) {
    co_return fail(api_error(kube::ApiErrorKind::NotFound, "secrets \"" + name + "\" not found"));
  }
  Json& m = it->second["metadata"];
  if (!resource_version.empty() && m.value("resourceVersion", "") != resource_version) {
    co_return fail(api_error(kube::ApiErrorKind::Conflict, "the object has been modified"));
  }
  // The merge patch KubeGateway sends.
  m.erase("ownerReferences");
  for (auto label : {controller::kManagedByLabel, controller::kOwnerLabel}) {
    if (m.contains("labels")) m["labels"].erase(std::string(label));
  }
  for (auto a : {controller::kOwnerUidAnnotation, controller::kFingerprintAnnotation,
                 controller::kRevisionAnnotation, controller::kResetHandledAnnotation,
                 controller::kResetOutcomeAnnotation}) {
    if (m.contains("annotations")) m["annotations"].erase(std::string(a));
  }
  m["resourceVersion"] = next_rv();
  owned_.erase(key);
  render_managed_fields(key);
  co_return Ok{};
}

void FakeCluster::put_workload(const std::string& kind, const std::string& ns,
                               const std::string& name) {
  restarts_.try_emplace(kind + "/" + ns + "/" + name);
}

FakeCluster::Async<Ok> FakeCluster::restart_workload(const std::string& kind,
                                                     const std::string& ns,
                                                     const std::string& name,
                                                     const std::string& restarted_at) {
  const std::string id = kind + "/" + ns + "/" + name;
  calls_.push_back({"restart_workload", id, restarted_at});
  if (auto e = injected("restart_workload")) co_return fail(std::move(*e));
  auto it = restarts_.find(id);
  if (it == restarts_.end()) {
    co_return fail(api_error(kube::ApiErrorKind::NotFound, kind + " \"" + name + "\" not found"));
  }
  it->second.push_back(restarted_at);
  co_return Ok{};
}

FakeCluster::Async<std::string> FakeCluster::write_status(
    const controller::SysdigToken& token, const controller::SysdigTokenStatus& status) {
  std::string key = key_of(token.meta.ns, token.meta.name);
  std::string patch = controller::status_patch(status);
  calls_.push_back({"write_status", key, patch});
  if (auto e = injected("write_status")) co_return fail(std::move(*e));
  auto it = tokens_.find(key);
  if (it == tokens_.end()) {
    co_return fail(api_error(kube::ApiErrorKind::NotFound,
                             "sysdigtokens \"" + token.meta.name + "\" not found"));
  }
  it->second.merge_patch(Json::parse(patch));
  it->second["metadata"]["resourceVersion"] = next_rv();
  co_return it->second.dump();
}

// --- FakeMonitoring ----------------------------------------------------------

void FakeMonitoring::set_token(std::int64_t team_id, const std::string& api_key,
                               const std::string& token) {
  tokens_[{team_id, api_key}] = token;
}

void FakeMonitoring::set_team(const std::string& name, std::int64_t id) { teams_[name] = id; }

void FakeMonitoring::fail_fetch(ibm::IbmError error, int times) {
  for (int i = 0; i < times; ++i) fetch_failures_.push_back(error);
}

void FakeMonitoring::fail_find(ibm::IbmError error, int times) {
  for (int i = 0; i < times; ++i) find_failures_.push_back(error);
}

boost::asio::awaitable<Result<std::string, ibm::IbmError>> FakeMonitoring::credential_key(
    const ibm::Credential& credential) {
  if (!credential.is_trusted_profile()) co_return std::string(credential.api_key());
  const auto& p = credential.profile();
  auto cr = co_await credential.cr_token()();
  if (!cr) co_return fail(std::move(cr.error()));
  cr_tokens_.push_back(cr.value());
  co_return "profile:" + (p.id.empty() ? p.name : p.id) + ":" + p.ns + "/" + p.service_account;
}

boost::asio::awaitable<Result<std::string, ibm::IbmError>> FakeMonitoring::fetch_token(
    const ibm::TeamRef& team, const ibm::Credential& credential,
    std::chrono::milliseconds max_age) {
  ++fetches_;
  fetched_.push_back(team);
  fetch_ages_.push_back(max_age);
  auto key = co_await credential_key(credential);
  if (!key) co_return fail(std::move(key.error()));
  const std::string& api_key = key.value();
  api_keys_.push_back(api_key);
  if (!fetch_failures_.empty()) {
    ibm::IbmError e = std::move(fetch_failures_.front());
    fetch_failures_.pop_front();
    co_return fail(std::move(e));
  }
  auto it = tokens_.find({team.team_id, api_key});
  if (it == tokens_.end()) {
    co_return fail(ibm::make_error(ibm::IbmErrorKind::TeamNotFound,
                                   "team " + std::to_string(team.team_id) +
                                       " not found in instance " + team.instance.instance_id,
                                   404));
  }
  co_return it->second;
}

boost::asio::awaitable<Result<std::int64_t, ibm::IbmError>> FakeMonitoring::find_team_id(
    const ibm::InstanceRef& instance, const std::string& team_name,
    const ibm::Credential& credential, std::chrono::milliseconds /*max_age*/) {
  ++finds_;
  team_names_.push_back(team_name);
  auto key = co_await credential_key(credential);
  if (!key) co_return fail(std::move(key.error()));
  api_keys_.push_back(key.value());
  if (!find_failures_.empty()) {
    ibm::IbmError e = std::move(find_failures_.front());
    find_failures_.pop_front();
    co_return fail(std::move(e));
  }
  auto it = teams_.find(team_name);
  if (it == teams_.end()) {
    co_return fail(ibm::make_error(
        ibm::IbmErrorKind::TeamNotFound,
        "no team named \"" + team_name + "\" in instance " + instance.instance_id, 404));
  }
  co_return it->second;
}

// --- FakeEvents --------------------------------------------------------------

void FakeEvents::emit(const controller::SysdigToken& token, bool warning, std::string_view reason,
                      const std::string& message) {
  events_.push_back(
      {key_of(token.meta.ns, token.meta.name), warning, std::string(reason), message});
}

std::vector<RecordedEvent> FakeEvents::with_reason(std::string_view reason) const {
  std::vector<RecordedEvent> out;
  for (const auto& e : events_) {
    if (e.reason == reason) out.push_back(e);
  }
  return out;
}

// --- World -------------------------------------------------------------------

void World::sync(const FakeCluster& cluster) {
  tokens_.clear();
  for (const auto& [key, json] : cluster.tokens()) {
    auto projected = controller::project_sysdig_token(json.dump());
    if (projected) tokens_[key] = projected.value();
  }
  secrets_.clear();
  for (const auto& [key, json] : cluster.secrets()) {
    const auto& m = json.at("metadata");
    if (!m.contains("labels") || !m["labels"].is_object() ||
        m["labels"].value(std::string(controller::kManagedByLabel), "") !=
            controller::kManagedByValue) {
      continue;
    }
    auto projected = controller::project_managed_secret(json.dump());
    if (projected) secrets_[key] = projected.value();
  }
}

void World::observe_token(std::string_view json) {
  auto projected = controller::project_sysdig_token(json);
  if (!projected) return;
  std::string key = projected.value()->key();
  auto it = tokens_.find(key);
  if (it != tokens_.end() &&
      older(projected.value()->meta.resource_version, it->second->meta.resource_version))
    return;
  tokens_[key] = projected.value();
}

void World::observe_secret(std::string_view json) {
  auto projected = controller::project_managed_secret(json);
  if (!projected) return;
  std::string key = projected.value()->key();
  auto it = secrets_.find(key);
  if (it != secrets_.end() &&
      older(projected.value()->meta.resource_version, it->second->meta.resource_version))
    return;
  secrets_[key] = projected.value();
}

void World::put_token(std::string_view json) {
  auto projected = controller::project_sysdig_token(json);
  if (projected) tokens_[projected.value()->key()] = projected.value();
}

void World::received(const std::string& key, std::chrono::steady_clock::time_point at) {
  auto it = tokens_.find(key);
  if (it == tokens_.end()) return;
  // A copy: cached objects are immutable once shared.
  auto copy = std::make_shared<controller::SysdigToken>(
      *std::static_pointer_cast<const controller::SysdigToken>(it->second));
  copy->observed_at = at;
  it->second = std::move(copy);
}

void World::forget_secret(const std::string& ns, const std::string& name) {
  secrets_.erase(key_of(ns, name));
}

std::shared_ptr<const controller::SysdigToken> World::token(const std::string& key) const {
  auto it = tokens_.find(key);
  return it == tokens_.end() ? nullptr
                             : std::static_pointer_cast<const controller::SysdigToken>(it->second);
}

std::shared_ptr<const controller::ManagedSecret> World::secret(const std::string& ns,
                                                               const std::string& name) const {
  auto it = secrets_.find(key_of(ns, name));
  return it == secrets_.end()
             ? nullptr
             : std::static_pointer_cast<const controller::ManagedSecret>(it->second);
}

controller::Reconciler::TokenLookup World::token_lookup() {
  return [this](const std::string& key) { return token(key); };
}

controller::Reconciler::SecretLookup World::secret_lookup() {
  return [this](const std::string& ns, const std::string& name) { return secret(ns, name); };
}

}  // namespace sto::controller_test
