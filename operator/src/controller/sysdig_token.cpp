#include "controller/sysdig_token.h"

#include <algorithm>
#include <cmath>

#include <simdjson.h>

#include "common/rfc3339.h"
#include "controller/names.h"
#include "controller/secret_template.h"
#include "ibm/endpoints.h"
#include "kube/json_meta.h"
#include "kube/validation.h"

namespace sto::controller {
namespace {

// Items a list of the spec may have (namespaces, selector terms, values).
constexpr std::size_t kMaxListItems = 1000;

using simdjson::ondemand::json_type;
using simdjson::ondemand::object;
using simdjson::ondemand::value;

// Each reader returns an error text naming the field, or empty.
std::string read_string(value v, std::string_view field, std::string& out) {
  std::string_view s;
  if (v.get_string().get(s)) return std::string(field) + " must be a string";
  out = std::string(s);
  return {};
}

std::string read_map(value v, std::string_view field, std::map<std::string, std::string>& out) {
  if (v.type() == json_type::null) return {};
  object o;
  if (v.get_object().get(o)) return std::string(field) + " must be a map of strings";
  for (auto f : o) {
    std::string_view k, s;
    if (f.unescaped_key().get(k) || f.value().get_string().get(s)) {
      return std::string(field) + " must be a map of strings";
    }
    out[std::string(k)] = std::string(s);
  }
  return {};
}

std::string read_target(value v, TargetSpec& t) {
  object o;
  if (v.type() == json_type::null) return {};
  if (v.get_object().get(o)) return "spec.target must be an object";
  for (auto f : o) {
    std::string_view k;
    if (f.unescaped_key().get(k)) return "spec.target: malformed key";
    std::string err;
    if (k == "name") {
      err = read_string(f.value(), "spec.target.name", t.name);
    } else if (k == "tokenKey") {
      err = read_string(f.value(), "spec.target.tokenKey", t.token_key);
      t.token_key_given = true;
    } else if (k == "includeConnectionInfo") {
      if (f.value().get_bool().get(t.include_connection_info))
        err = "spec.target.includeConnectionInfo must be a boolean";
    } else if (k == "labels") {
      err = read_map(f.value(), "spec.target.labels", t.labels);
    } else if (k == "annotations") {
      err = read_map(f.value(), "spec.target.annotations", t.annotations);
    } else if (k == "template") {
      object tmpl;
      if (f.value().type() == json_type::null) continue;
      if (f.value().get_object().get(tmpl)) return "spec.target.template must be an object";
      for (auto tf : tmpl) {
        std::string_view tk;
        if (tf.unescaped_key().get(tk)) return "spec.target.template: malformed key";
        if (tk == "data") {
          err = read_map(tf.value(), "spec.target.template.data", t.template_data);
          if (!err.empty()) return err;
        }
      }
    } else if (k == "deletionPolicy") {
      std::string policy;
      err = read_string(f.value(), "spec.target.deletionPolicy", policy);
      if (err.empty() && policy != "Delete" && policy != "Retain") {
        err = "spec.target.deletionPolicy must be Delete or Retain, not \"" + policy + "\"";
      }
      t.retain = policy == "Retain";
    }
    if (!err.empty()) return err;
  }
  return {};
}

// spec.trustedProfile: {id | name, serviceAccountName}. The ServiceAccount is
// always the resource's own namespace's: any other field (a namespace) is
// refused rather than ignored.
std::string read_trusted_profile(value v, SysdigTokenSpec& s) {
  object o;
  if (v.get_object().get(o)) return "spec.trustedProfile must be an object";
  s.has_trusted_profile = true;
  for (auto f : o) {
    std::string_view k;
    if (f.unescaped_key().get(k)) return "spec.trustedProfile: malformed key";
    std::string err;
    if (k == "id") {
      err = read_string(f.value(), "spec.trustedProfile.id", s.trusted_profile_id);
    } else if (k == "name") {
      err = read_string(f.value(), "spec.trustedProfile.name", s.trusted_profile_name);
    } else if (k == "serviceAccountName") {
      err = read_string(f.value(), "spec.trustedProfile.serviceAccountName",
                        s.service_account_name);
    } else {
      err = "spec.trustedProfile." + std::string(k) +
            " is not a field: the ServiceAccount is always one of this resource's namespace";
    }
    if (!err.empty()) return err;
  }
  return {};
}

// spec.rolloutRestartTargets: [{kind, name}]; kinds and names are checked by
// resolve_spec, so that a wrong one is reported without stopping the token.
std::string read_restart_targets(value v, std::vector<RestartTarget>& out) {
  if (v.type() == json_type::null) return {};
  simdjson::ondemand::array items;
  if (v.get_array().get(items)) return "spec.rolloutRestartTargets must be a list";
  for (auto item : items) {
    object o;
    if (item.get_object().get(o)) return "spec.rolloutRestartTargets[] must be objects";
    RestartTarget t;
    for (auto f : o) {
      std::string_view k;
      if (f.unescaped_key().get(k)) return "spec.rolloutRestartTargets[]: malformed key";
      std::string err;
      if (k == "kind") err = read_string(f.value(), "spec.rolloutRestartTargets[].kind", t.kind);
      if (k == "name") err = read_string(f.value(), "spec.rolloutRestartTargets[].name", t.name);
      if (!err.empty()) return err;
    }
    out.push_back(std::move(t));
  }
  return {};
}

std::string read_selector(value v, LabelSelector& sel);
std::string read_string_list(value v, std::string_view field, std::vector<std::string>& out);

// `cluster` is given for a ClusterSysdigToken: its selection is read too.
std::string read_spec(value v, SysdigTokenSpec& s, ClusterSysdigToken* cluster = nullptr) {
  object o;
  if (v.get_object().get(o)) return "spec must be an object";
  for (auto f : o) {
    std::string_view k;
    if (f.unescaped_key().get(k)) return "spec: malformed key";
    std::string err;
    if (k == "service") {
      std::string service;
      err = read_string(f.value(), "spec.service", service);
      if (err.empty() && service != "Monitoring" && service != "WorkloadProtection") {
        err = "spec.service must be Monitoring or WorkloadProtection, not \"" +
              service.substr(0, 64) + "\"";
      }
      s.service = service == "WorkloadProtection" ? Service::WorkloadProtection : Service::Monitoring;
    } else if (k == "rolloutRestartTargets") {
      err = read_restart_targets(f.value(), s.restart_targets);
    } else if (k == "instanceID") {
      err = read_string(f.value(), "spec.instanceID", s.instance_id);
    } else if (k == "teamID") {
      std::int64_t id = 0;
      if (f.value().get_int64().get(id)) {
        err = "spec.teamID must be an integer";
      } else {
        s.team_id = id;
      }
    } else if (k == "teamName") {
      err = read_string(f.value(), "spec.teamName", s.team_name);
    } else if (k == "region") {
      err = read_string(f.value(), "spec.region", s.region);
    } else if (k == "endpointType") {
      err = read_string(f.value(), "spec.endpointType", s.endpoint_type);
    } else if (k == "endpoint") {
      err = read_string(f.value(), "spec.endpoint", s.endpoint);
    } else if (k == "iamEndpoint") {
      err = read_string(f.value(), "spec.iamEndpoint", s.iam_endpoint);
    } else if (k == "refreshInterval") {
      err = read_string(f.value(), "spec.refreshInterval", s.refresh_interval);
    } else if (k == "apiKeySecretRef") {
      object ref;
      if (f.value().get_object().get(ref)) return "spec.apiKeySecretRef must be an object";
      s.has_api_key_secret_ref = true;
      for (auto rf : ref) {
        std::string_view rk;
        if (rf.unescaped_key().get(rk)) return "spec.apiKeySecretRef: malformed key";
        if (rk == "name")
          err = read_string(rf.value(), "spec.apiKeySecretRef.name", s.api_key_secret_name);
        if (rk == "key")
          err = read_string(rf.value(), "spec.apiKeySecretRef.key", s.api_key_secret_key);
        if (rk == "namespace" && cluster)
          err = read_string(rf.value(), "spec.apiKeySecretRef.namespace",
                            s.api_key_secret_namespace);
        if (!err.empty()) return err;
      }
    } else if (k == "trustedProfile") {
      if (cluster) {
        return "spec.trustedProfile is not supported by a ClusterSysdigToken: use "
               "spec.apiKeySecretRef with its namespace";
      }
      err = read_trusted_profile(f.value(), s);
    } else if (k == "namespaceSelector" && cluster) {
      if (f.value().type() == json_type::null) continue;
      cluster->namespace_selector.emplace();
      err = read_selector(f.value(), *cluster->namespace_selector);
    } else if (k == "namespaces" && cluster) {
      err = read_string_list(f.value(), "spec.namespaces", cluster->namespaces);
    } else if (k == "target") {
      err = read_target(f.value(), s.target);
    }
    if (!err.empty()) return err;
  }
  if (!s.target.token_key_given && s.service == Service::WorkloadProtection)
    s.target.token_key = std::string(kSecureTokenKey);
  return {};
}

// The Ready and WorkloadsRestarted conditions of a status.
void read_conditions(value fv, SysdigTokenStatus& st) {
  simdjson::ondemand::array conditions;
  if (fv.get_array().get(conditions)) return;
  for (auto c : conditions) {
    object co;
    if (c.get_object().get(co)) continue;
    Condition cond;
    for (auto cf : co) {
      std::string_view ck;
      if (cf.unescaped_key().get(ck)) continue;
      value cv = cf.value();
      if (ck == "type")
        (void)read_string(cv, "", cond.type);
      else if (ck == "status")
        (void)read_string(cv, "", cond.status);
      else if (ck == "reason")
        (void)read_string(cv, "", cond.reason);
      else if (ck == "message")
        (void)read_string(cv, "", cond.message);
      else if (ck == "lastTransitionTime")
        (void)read_string(cv, "", cond.last_transition_time);
      else if (ck == "observedGeneration") {
        if (cv.get_int64().get(cond.observed_generation)) cond.observed_generation = 0;
      }
    }
    if (cond.type == condition::kReady) st.ready = cond;
    if (cond.type == condition::kWorkloadsRestarted) st.restarted = cond;
  }
}

// A status field both kinds have; false when `k` is not one of them.
template <typename Status>
bool read_common_status(std::string_view k, value fv, Status& st) {
  auto str = [&](std::string& out) { (void)read_string(fv, "status", out); };
  auto num = [&](std::int64_t& out) {
    if (fv.get_int64().get(out)) out = 0;
  };
  if (k == "observedGeneration")
    num(st.observed_generation);
  else if (k == "secretName")
    str(st.secret_name);
  else if (k == "teamID")
    num(st.team_id);
  else if (k == "tokenFingerprint")
    str(st.token_fingerprint);
  else if (k == "revision")
    num(st.revision);
  else if (k == "lastSyncTime")
    str(st.last_sync_time);
  else if (k == "lastRotationTime")
    str(st.last_rotation_time);
  else if (k == "lastHandledReset")
    str(st.last_handled_reset);
  else
    return false;
  return true;
}

std::string read_status(value v, SysdigTokenStatus& st) {
  object o;
  if (v.type() == json_type::null) return {};
  if (v.get_object().get(o)) return "status must be an object";
  for (auto f : o) {
    std::string_view k;
    if (f.unescaped_key().get(k)) return "status: malformed key";
    value fv = f.value();
    auto str = [&](std::string& out) { (void)read_string(fv, "status", out); };
    auto num = [&](std::int64_t& out) {
      if (fv.get_int64().get(out)) out = 0;
    };
    if (read_common_status(k, fv, st))
      continue;
    else if (k == "nextRefreshTime")
      str(st.next_refresh_time);
    else if (k == "lastResetOutcome")
      str(st.last_reset_outcome);
    else if (k == "resetCheckUntil")
      str(st.reset_check_until);
    else if (k == "failedAttempts")
      num(st.failed_attempts);
    else if (k == "nextRetryTime")
      str(st.next_retry_time);
    else if (k == "restartedRevision")
      num(st.restarted_revision);
    else if (k == "lastRestartTime")
      str(st.last_restart_time);
    else if (k == "conditions")
      read_conditions(fv, st);
  }
  return {};
}

std::string read_string_list(value v, std::string_view field, std::vector<std::string>& out) {
  simdjson::ondemand::array a;
  if (v.type() == json_type::null) return {};
  if (v.get_array().get(a)) return std::string(field) + " must be a list of strings";
  for (auto item : a) {
    std::string_view s;
    if (item.get_string().get(s)) return std::string(field) + " must be a list of strings";
    if (out.size() >= kMaxListItems)
      return std::string(field) + " has more than " + std::to_string(kMaxListItems) + " items";
    out.emplace_back(s);
  }
  return {};
}

std::string read_selector(value v, LabelSelector& sel) {
  object o;
  if (v.get_object().get(o)) return "spec.namespaceSelector must be an object";
  for (auto f : o) {
    std::string_view k;
    if (f.unescaped_key().get(k)) return "spec.namespaceSelector: malformed key";
    std::string err;
    if (k == "matchLabels") {
      err = read_map(f.value(), "spec.namespaceSelector.matchLabels", sel.match_labels);
    } else if (k == "matchExpressions") {
      simdjson::ondemand::array a;
      if (f.value().type() == json_type::null) continue;
      if (f.value().get_array().get(a))
        return "spec.namespaceSelector.matchExpressions must be a list";
      for (auto item : a) {
        object e;
        if (item.get_object().get(e))
          return "spec.namespaceSelector.matchExpressions[] must be objects";
        if (sel.match_expressions.size() >= kMaxListItems)
          return "spec.namespaceSelector.matchExpressions has too many items";
        LabelSelector::Requirement r;
        for (auto ef : e) {
          std::string_view ek;
          if (ef.unescaped_key().get(ek)) return "spec.namespaceSelector: malformed key";
          if (ek == "key") {
            err = read_string(ef.value(), "spec.namespaceSelector.matchExpressions[].key", r.key);
          } else if (ek == "operator") {
            err = read_string(ef.value(), "spec.namespaceSelector.matchExpressions[].operator",
                              r.op);
          } else if (ek == "values") {
            err = read_string_list(ef.value(), "spec.namespaceSelector.matchExpressions[].values",
                                   r.values);
          }
          if (!err.empty()) return err;
        }
        sel.match_expressions.push_back(std::move(r));
      }
    }
    if (!err.empty()) return err;
  }
  return {};
}

// What the schema checks, checked again: a selection the operator can act on.
std::string check_selection(const ClusterSysdigToken& c) {
  if (c.namespace_selector.has_value() == !c.namespaces.empty())
    return "set exactly one of spec.namespaceSelector or spec.namespaces";
  for (const auto& ns : c.namespaces) {
    if (!kube::is_dns1123_label(ns))
      return "spec.namespaces: \"" + ns.substr(0, 64) + "\" is not a namespace name";
  }
  if (!c.namespace_selector) return {};
  const auto label_key = [](const std::string& k) { return !k.empty() && k.size() <= 317; };
  for (const auto& [k, v] : c.namespace_selector->match_labels) {
    if (!label_key(k) || v.size() > 63)
      return "spec.namespaceSelector.matchLabels: \"" + k.substr(0, 64) + "\" is not a label";
  }
  for (const auto& r : c.namespace_selector->match_expressions) {
    const std::string where = "spec.namespaceSelector.matchExpressions[key " + r.key.substr(0, 64) + "]";
    if (!label_key(r.key)) return "spec.namespaceSelector.matchExpressions[].key is required";
    if (r.op == "In" || r.op == "NotIn") {
      if (r.values.empty()) return where + ": operator " + r.op + " needs values";
    } else if (r.op == "Exists" || r.op == "DoesNotExist") {
      if (!r.values.empty()) return where + ": operator " + r.op + " takes no values";
    } else {
      return where + ": operator must be In, NotIn, Exists or DoesNotExist, not \"" +
             r.op.substr(0, 32) + "\"";
    }
  }
  return {};
}

bool is_secret_key(std::string_view k) {
  if (k.empty() || k.size() > 253) return false;
  for (unsigned char c : k) {
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

// A trusted profile ID or name IAM could know: printable, no spaces, short.
bool is_profile_ref(std::string_view v) {
  if (v.empty() || v.size() > 256) return false;
  return std::all_of(v.begin(), v.end(),
                     [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

// Exactly one of spec.apiKeySecretRef or spec.trustedProfile, each complete.
std::string check_credentials(const SysdigTokenSpec& s) {
  if (s.has_api_key_secret_ref && s.has_trusted_profile)
    return "spec.apiKeySecretRef and spec.trustedProfile are exclusive: set exactly one";
  if (!s.has_trusted_profile) {
    if (s.api_key_secret_name.empty())
      return "one of spec.apiKeySecretRef.name or spec.trustedProfile is required";
    if (!kube::is_dns1123_subdomain(s.api_key_secret_name))
      return "spec.apiKeySecretRef.name \"" + s.api_key_secret_name +
             "\" is not a valid Secret name";
    if (!is_secret_key(s.api_key_secret_key))
      return "spec.apiKeySecretRef.key \"" + s.api_key_secret_key + "\" is not a valid Secret key";
    return {};
  }
  const bool id = !s.trusted_profile_id.empty(), name = !s.trusted_profile_name.empty();
  if (id == name) return "spec.trustedProfile needs exactly one of id or name";
  const std::string& ref = id ? s.trusted_profile_id : s.trusted_profile_name;
  if (!is_profile_ref(ref)) {
    return std::string(id ? "spec.trustedProfile.id" : "spec.trustedProfile.name") +
           " must be 1 to 256 printable characters without spaces";
  }
  const std::string& sa = s.service_account_name;
  if (sa.empty()) return "spec.trustedProfile.serviceAccountName is required";
  if (!kube::is_dns1123_subdomain(sa)) {
    return "spec.trustedProfile.serviceAccountName \"" + sa.substr(0, 64) +
           "\" is not a ServiceAccount name of this namespace (a DNS-1123 subdomain; no "
           "namespace/ prefix: other namespaces cannot be named)";
  }
  return {};
}

}  // namespace

namespace {

// A SysdigToken or ClusterSysdigToken (T): metadata and the reset
// annotation; spec and status through the readers given.
template <typename T, typename ReadSpec, typename ReadStatus>
Result<std::shared_ptr<T>, std::string> decode_token(std::string_view json, ReadSpec&& read_spec_into,
                                                     ReadStatus&& read_status_into) {
  kube::JsonDocument parsed(json);
  if (!parsed.error().empty()) return fail(parsed.error());
  auto token = std::make_shared<T>();
  object root;
  if (parsed.doc().get_object().get(root)) return fail(std::string("not an object"));
  bool have_meta = false;
  for (auto field : root) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return fail(std::string("malformed key"));
    if (key == "metadata") {
      object meta;
      if (field.value().get_object().get(meta))
        return fail(std::string("metadata is not an object"));
      auto ignore = [](std::string_view, std::string_view) {};
      auto on_annotation = [&](std::string_view k, std::string_view v) {
        if (k == kResetAnnotation) token->reset_value = std::string(v);
      };
      if (auto err = kube::decode_object_meta(meta, token->meta, ignore, on_annotation);
          !err.empty()) {
        return fail(std::move(err));
      }
      have_meta = true;
    } else if (key == "spec") {
      token->spec_error = read_spec_into(field.value(), *token);
    } else if (key == "status") {
      if (auto err = read_status_into(field.value(), token->status); !err.empty())
        token->status = {};
    }
  }
  if (!have_meta) return fail(std::string("object without metadata"));
  return token;
}

Result<kube::ObjectPtr, std::string> decode_sysdig_token(std::string_view json) {
  auto spec = [](value v, SysdigToken& t) { return read_spec(v, t.spec); };
  auto status = [](value v, SysdigTokenStatus& st) { return read_status(v, st); };
  auto decoded = decode_token<SysdigToken>(json, spec, status);
  if (!decoded) return fail(std::move(decoded.error()));
  return kube::ObjectPtr(std::move(decoded.value()));
}

}  // namespace

namespace {

std::string read_cluster_status(value v, ClusterSysdigTokenStatus& st) {
  object o;
  if (v.type() == json_type::null) return {};
  if (v.get_object().get(o)) return "status must be an object";
  for (auto f : o) {
    std::string_view k;
    if (f.unescaped_key().get(k)) return "status: malformed key";
    value fv = f.value();
    if (read_common_status(k, fv, st)) {
      continue;
    } else if (k == "provisionedNamespaces") {
      // As written, however long (the spec's limit is for input).
      simdjson::ondemand::array a;
      if (fv.get_array().get(a)) continue;
      for (auto item : a) {
        std::string_view ns;
        if (!item.get_string().get(ns)) st.provisioned_namespaces.emplace_back(ns);
      }
    } else if (k == "failedNamespaces") {
      simdjson::ondemand::array a;
      if (fv.get_array().get(a)) continue;
      for (auto item : a) {
        object fo;
        if (item.get_object().get(fo)) continue;
        ClusterSysdigTokenStatus::Failed failed;
        for (auto ff : fo) {
          std::string_view fk;
          if (ff.unescaped_key().get(fk)) continue;
          if (fk == "namespace") (void)read_string(ff.value(), "", failed.ns);
          if (fk == "reason") (void)read_string(ff.value(), "", failed.reason);
          if (fk == "message") (void)read_string(ff.value(), "", failed.message);
        }
        st.failed_namespaces.push_back(std::move(failed));
      }
    } else if (k == "conditions") {
      SysdigTokenStatus conditions;
      read_conditions(fv, conditions);
      st.ready = conditions.ready;
    }
  }
  return {};
}

Result<kube::ObjectPtr, std::string> decode_cluster_sysdig_token(std::string_view json) {
  auto spec = [](value v, ClusterSysdigToken& t) { return read_spec(v, t.spec, &t); };
  auto status = [](value v, ClusterSysdigTokenStatus& st) { return read_cluster_status(v, st); };
  auto decoded = decode_token<ClusterSysdigToken>(json, spec, status);
  if (!decoded) return fail(std::move(decoded.error()));
  auto& token = decoded.value();
  // A cluster-scoped object has no namespace (nor may its key have one).
  token->meta.ns.clear();
  if (token->spec_error.empty()) token->spec_error = check_selection(*token);
  return kube::ObjectPtr(std::move(token));
}

Result<kube::ObjectPtr, std::string> decode_namespace(std::string_view json) {
  kube::JsonDocument parsed(json);
  if (!parsed.error().empty()) return fail(parsed.error());
  auto ns = std::make_shared<NamespaceObject>();
  object root;
  if (parsed.doc().get_object().get(root)) return fail(std::string("not an object"));
  for (auto field : root) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return fail(std::string("malformed key"));
    if (key != "metadata") continue;
    object meta;
    if (field.value().get_object().get(meta)) return fail(std::string("metadata is not an object"));
    auto on_label = [&](std::string_view k, std::string_view v) {
      ns->labels.emplace(std::string(k), std::string(v));
    };
    auto ignore = [](std::string_view, std::string_view) {};
    if (auto err = kube::decode_object_meta(meta, ns->meta, on_label, ignore); !err.empty())
      return fail(std::move(err));
    ns->meta.ns.clear();
    return kube::ObjectPtr(std::move(ns));
  }
  return fail(std::string("object without metadata"));
}

}  // namespace

Condition next_condition(std::string type, std::string status, std::string reason,
                         std::string message, std::int64_t observed_generation,
                         const std::optional<Condition>& old,
                         std::chrono::system_clock::time_point now) {
  Condition c;
  c.type = std::move(type);
  c.status = std::move(status);
  c.reason = std::move(reason);
  c.message = std::move(message);
  c.observed_generation = observed_generation;
  c.last_transition_time = old && old->status == c.status && !old->last_transition_time.empty()
                               ? old->last_transition_time
                               : format_rfc3339(now);
  return c;
}

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& r : match_expressions) {
    auto it = labels.find(r.key);
    const bool has = it != labels.end();
    const bool listed =
        has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    if (r.op == "In" && !listed) return false;
    if (r.op == "NotIn" && listed) return false;
    if (r.op == "Exists" && !has) return false;
    if (r.op == "DoesNotExist" && has) return false;
    if (r.op != "In" && r.op != "NotIn" && r.op != "Exists" && r.op != "DoesNotExist")
      return false;
  }
  return true;
}

bool ClusterSysdigToken::selects(const std::string& ns,
                                 const std::map<std::string, std::string>& labels) const {
  if (!spec_error.empty()) return false;
  if (namespace_selector) return namespace_selector->matches(labels);
  return std::find(namespaces.begin(), namespaces.end(), ns) != namespaces.end();
}

Result<kube::ObjectPtr, std::string> project_cluster_sysdig_token(std::string_view json) {
  try {
    return decode_cluster_sysdig_token(json);
  } catch (const simdjson::simdjson_error& e) {
    return fail(std::string("malformed JSON: ") + e.what());
  }
}

Result<kube::ObjectPtr, std::string> project_namespace(std::string_view json) {
  try {
    return decode_namespace(json);
  } catch (const simdjson::simdjson_error& e) {
    return fail(std::string("malformed JSON: ") + e.what());
  }
}

Result<kube::ObjectPtr, std::string> project_sysdig_token(std::string_view json) {
  try {
    return decode_sysdig_token(json);
  } catch (const simdjson::simdjson_error& e) {
    return fail(std::string("malformed JSON: ") + e.what());
  }
}

std::optional<std::chrono::milliseconds> parse_go_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double total_ms = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (start == i) return std::nullopt;
    std::string_view digits = text.substr(start, i - start);
    if (digits.find('.') != digits.rfind('.') || digits.front() == '.' || digits.back() == '.') {
      return std::nullopt;
    }
    double number = 0;
    try {
      std::size_t used = 0;
      number = std::stod(std::string(digits), &used);
      if (used != digits.size()) return std::nullopt;
    } catch (...) {
      return std::nullopt;
    }
    std::size_t unit_start = i;
    while (i < text.size() && !std::isdigit(static_cast<unsigned char>(text[i])) && text[i] != '.')
      ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double factor = 0;
    if (unit == "h")
      factor = 3600e3;
    else if (unit == "m")
      factor = 60e3;
    else if (unit == "s")
      factor = 1e3;
    else if (unit == "ms")
      factor = 1;
    else if (unit == "us" || unit == "\xC2\xB5s")
      factor = 1e-3;
    else if (unit == "ns")
      factor = 1e-6;
    else
      return std::nullopt;
    total_ms += number * factor;
  }
  if (!std::isfinite(total_ms) || total_ms > 1e13) return std::nullopt;
  return std::chrono::milliseconds(static_cast<long long>(total_ms));
}

Result<ResolvedSpec, std::string> resolve_spec(const SysdigToken& token) {
  const auto& s = token.spec;
  if (!token.spec_error.empty()) return fail(token.spec_error);
  ResolvedSpec r;
  static const std::string guid_chars = "0123456789abcdefABCDEF";
  auto& id = s.instance_id;
  bool guid = id.size() == 36;
  for (std::size_t i = 0; guid && i < id.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    guid = dash ? id[i] == '-' : guid_chars.find(id[i]) != std::string::npos;
  }
  if (id.empty()) return fail(std::string("spec.instanceID is required"));
  if (!guid) return fail("spec.instanceID \"" + id.substr(0, 64) + "\" is not a GUID");
  if (!s.team_id && s.team_name.empty())
    return fail(std::string("one of spec.teamID or spec.teamName is required"));
  if (s.team_id && *s.team_id < 1)
    return fail(std::string("spec.teamID must be a positive integer"));
  if (s.endpoint_type != "public" && s.endpoint_type != "private") {
    return fail("spec.endpointType must be public or private, not \"" + s.endpoint_type + "\"");
  }
  auto type = s.endpoint_type == "private" ? ibm::EndpointType::Private : ibm::EndpointType::Public;
  const bool secure = s.service == Service::WorkloadProtection;
  if (!s.endpoint.empty()) {
    auto e = ibm::normalize_monitoring_endpoint(s.endpoint);
    if (!e) return fail("spec.endpoint: " + e.error());
    r.monitoring_endpoint = std::move(e.value());
    r.region = s.region.empty() ? ibm::region_of(r.monitoring_endpoint) : s.region;
  } else if (!s.region.empty()) {
    auto e = secure ? ibm::workload_protection_endpoint(s.region, type)
                    : ibm::monitoring_endpoint(s.region, type);
    if (!e) return fail("spec.region: " + e.error());
    r.monitoring_endpoint = std::move(e.value());
    r.region = s.region;
  } else {
    return fail(std::string("one of spec.region or spec.endpoint is required"));
  }
  if (!s.iam_endpoint.empty()) {
    auto e = ibm::normalize_endpoint(s.iam_endpoint);
    if (!e) return fail("spec.iamEndpoint: " + e.error());
    r.iam_endpoint = std::move(e.value());
  } else {
    r.iam_endpoint = std::string(ibm::iam_endpoint(type));
  }
  if (auto err = check_credentials(s); !err.empty()) return fail(std::move(err));
  if (token.cluster_scoped && !kube::is_dns1123_label(s.api_key_secret_namespace)) {
    return fail(s.api_key_secret_namespace.empty()
                    ? std::string("spec.apiKeySecretRef.namespace is required: the namespace of "
                                  "the API key Secret")
                    : "spec.apiKeySecretRef.namespace \"" + s.api_key_secret_namespace.substr(0, 64) +
                          "\" is not a namespace name");
  }
  r.trusted_profile = s.has_trusted_profile;
  auto interval = parse_go_duration(s.refresh_interval);
  if (!interval)
    return fail("spec.refreshInterval \"" + s.refresh_interval +
                "\" is not a duration such as 1h or 30m");
  if (*interval < std::chrono::minutes(1)) return fail("spec.refreshInterval must be at least 1m");
  // Longer intervals overflow the clock arithmetic and make no sense for a
  // token that can be reset at any time.
  if (*interval > std::chrono::hours(8760))
    return fail("spec.refreshInterval must be at most 8760h (one year)");
  r.refresh_interval = std::chrono::duration_cast<std::chrono::seconds>(*interval);
  r.target_name = s.target.name.empty() ? token.meta.name : s.target.name;
  if (!kube::is_dns1123_subdomain(r.target_name)) {
    return fail("spec.target.name \"" + r.target_name + "\" is not a valid Secret name");
  }
  if (!is_secret_key(s.target.token_key)) {
    return fail("spec.target.tokenKey \"" + s.target.token_key + "\" is not a valid Secret key");
  }
  r.url_key = secure ? kSecureUrlKey : kUrlKey;
  r.team_id_key = secure ? kSecureTeamIdKey : kTeamIdKey;
  const bool info = s.target.include_connection_info;
  if (info && (s.target.token_key == r.url_key || s.target.token_key == r.team_id_key ||
               s.target.token_key == kInstanceIdKey)) {
    return fail("spec.target.tokenKey \"" + s.target.token_key +
                "\" collides with a connection info key");
  }
  const std::string_view none;
  auto err = check_template_data(
      s.target.template_data, {s.target.token_key, info ? r.url_key : none,
                               info ? r.team_id_key : none, info ? kInstanceIdKey : none});
  if (!err.empty()) return fail(std::move(err));
  for (const auto& [k, v] : s.target.labels) {
    if (k == kManagedByLabel || k == kOwnerLabel || k == kClusterOwnerLabel)
      return fail("spec.target.labels must not set " + k);
  }
  for (const auto& [k, v] : s.target.annotations) {
    if (k.starts_with(kAnnotationPrefix))
      return fail("spec.target.annotations must not set " + k);
  }
  return r;
}

}  // namespace sto::controller
