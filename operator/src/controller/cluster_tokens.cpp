#include "controller/cluster_tokens.h"

#include <algorithm>

#include "controller/names.h"
#include "controller/reasons.h"

namespace sto::controller {

kube::Resource cluster_sysdig_tokens() {
  return {std::string(kGroup), "v1alpha1", "clustersysdigtokens", std::string(kClusterKind), false};
}

std::string summary_key(std::string_view name) {
  return std::string(kClusterKeyPrefix) + std::string(name);
}

std::string member_key(std::string_view ns, std::string_view name) {
  return std::string(kClusterKeyPrefix) + std::string(ns) + "/" + std::string(name);
}

std::optional<ClusterKey> parse_cluster_key(std::string_view key) {
  if (!key.starts_with(kClusterKeyPrefix)) return std::nullopt;
  key.remove_prefix(kClusterKeyPrefix.size());
  auto slash = key.find('/');
  if (slash == std::string_view::npos) {
    if (key.empty()) return std::nullopt;
    return ClusterKey{{}, std::string(key)};
  }
  if (slash == 0 || slash + 1 == key.size()) return std::nullopt;
  return ClusterKey{std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

std::shared_ptr<SysdigToken> make_member(const ClusterSysdigToken& token, const std::string& ns,
                                         const SysdigTokenStatus* status) {
  auto m = std::make_shared<SysdigToken>();
  m->meta = token.meta;
  m->meta.ns = ns;
  m->observed_at = token.observed_at;
  m->spec = token.spec;
  m->reset_value = token.reset_value;
  m->spec_error = token.spec_error;
  m->cluster_scoped = true;
  if (status) m->status = *status;
  return m;
}

namespace {

Condition condition_of(const ClusterSysdigToken& token, std::string status, std::string reason,
                       std::string message, std::chrono::system_clock::time_point now) {
  return next_condition(std::string(condition::kReady), std::move(status), std::move(reason),
                        std::move(message), token.meta.generation, token.status.ready, now);
}

// The later of two RFC 3339 times (both from this operator: same format).
void keep_latest(std::string& into, const std::string& candidate) {
  if (candidate > into) into = candidate;
}

}  // namespace

ClusterSysdigTokenStatus summarize(const ClusterSysdigToken& token,
                                   const std::vector<MemberView>& members,
                                   const std::string& spec_error,
                                   std::chrono::system_clock::time_point now) {
  ClusterSysdigTokenStatus s;
  s.observed_generation = token.meta.generation;
  s.secret_name = token.spec.target.name.empty() ? token.meta.name : token.spec.target.name;
  if (!spec_error.empty()) {
    // What was provisioned stays as it was: nothing is done until it is fixed.
    s = token.status;
    s.observed_generation = token.meta.generation;
    s.ready = condition_of(token, "False", std::string(to_string(Reason::InvalidSpec)),
                           spec_error, now);
    return s;
  }
  std::size_t pending = 0;
  // The reset is handled once every namespace holding the token handled it.
  bool reset_handled = !token.reset_value.empty();
  for (const auto& m : members) {
    if (!m.exists) {
      s.failed_namespaces.push_back(
          {m.ns, "NamespaceNotFound", "namespace " + m.ns + " (spec.namespaces) does not exist"});
      continue;
    }
    if (!m.status || !m.status->ready) {
      // Not reported since the operator started: what the status said of it
      // stands (so a restart does not make Ready flap), else it is pending.
      const auto& before = token.status.provisioned_namespaces;
      if (std::binary_search(before.begin(), before.end(), m.ns)) {
        s.provisioned_namespaces.push_back(m.ns);
        s.revision = std::max(s.revision, token.status.revision);
        if (s.token_fingerprint.empty()) s.token_fingerprint = token.status.token_fingerprint;
        if (s.team_id == 0) s.team_id = token.status.team_id;
        reset_handled = reset_handled && token.status.last_handled_reset == token.reset_value;
        continue;
      }
      ++pending;
      continue;
    }
    const SysdigTokenStatus& st = *m.status;
    if (st.ready->status != "True") {
      s.failed_namespaces.push_back({m.ns, st.ready->reason, st.ready->message});
      continue;
    }
    s.provisioned_namespaces.push_back(m.ns);
    if (st.revision >= s.revision) {
      s.revision = st.revision;
      s.token_fingerprint = st.token_fingerprint;
      s.team_id = st.team_id;
    }
    keep_latest(s.last_sync_time, st.last_sync_time);
    keep_latest(s.last_rotation_time, st.last_rotation_time);
    reset_handled = reset_handled && st.last_handled_reset == token.reset_value;
  }
  // With no namespace selected there is nothing to rotate: handled.
  s.last_handled_reset = (reset_handled && !s.provisioned_namespaces.empty()) ||
                                 (members.empty() && !token.reset_value.empty())
                             ? token.reset_value
                             : token.status.last_handled_reset;
  std::sort(s.provisioned_namespaces.begin(), s.provisioned_namespaces.end());
  std::sort(s.failed_namespaces.begin(), s.failed_namespaces.end(),
            [](const auto& a, const auto& b) { return a.ns < b.ns; });
  // A member that has not reported yet keeps the earlier sums of time.
  if (s.last_sync_time.empty()) s.last_sync_time = token.status.last_sync_time;
  if (s.last_rotation_time.empty()) s.last_rotation_time = token.status.last_rotation_time;

  const std::size_t total = members.size();
  const std::string provisioned = std::to_string(s.provisioned_namespaces.size()) + " of " +
                                  std::to_string(total) + " namespaces";
  if (!s.failed_namespaces.empty()) {
    std::string list;
    std::size_t shown = 0;
    for (const auto& f : s.failed_namespaces) {
      if (shown++ == 5) {
        list += ", ...";
        break;
      }
      list += (list.empty() ? "" : ", ") + f.ns + " (" + f.reason + ")";
    }
    const std::string reason = s.failed_namespaces.size() == 1 && s.failed_namespaces[0].reason !=
                                                                       "NamespaceNotFound"
                                   ? s.failed_namespaces[0].reason
                                   : "NamespacesFailed";
    s.ready = condition_of(token, "False", reason,
                           "Secret " + s.secret_name + " is missing or stale in " +
                               std::to_string(s.failed_namespaces.size()) + " namespaces: " +
                               list + "; provisioned in " + provisioned +
                               " (status.failedNamespaces has the messages)",
                           now);
  } else if (total == 0) {
    s.ready = condition_of(token, "False", "NoNamespacesSelected",
                           token.namespace_selector
                               ? "no namespace matches spec.namespaceSelector"
                               : "spec.namespaces lists no namespace",
                           now);
  } else if (pending > 0) {
    s.ready = condition_of(token, "Unknown", "Provisioning", "provisioned in " + provisioned, now);
  } else {
    s.ready = condition_of(token, "True", std::string(to_string(Reason::TokenSynced)),
                           "Secret " + s.secret_name + " holds the token of team " +
                               std::to_string(s.team_id) + " in " + provisioned + " (revision " +
                               std::to_string(s.revision) + ")",
                           now);
  }
  return s;
}

}  // namespace sto::controller
