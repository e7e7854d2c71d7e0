// SysdigToken: what the controller keeps of a SysdigToken resource (its
// projection in the informer cache) and the decoded, validated spec.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "kube/store.h"

namespace sto::controller {

// The IBM Cloud service whose Sysdig token is kept (spec.service).
enum class Service { Monitoring, WorkloadProtection };

struct TargetSpec {
  std::string name;  // empty: metadata.name
  // The service's default unless given (token_key_given).
  std::string token_key = "SYSDIG_MONITOR_API_TOKEN";
  bool token_key_given = false;
  bool include_connection_info = true;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  bool retain = false;  // deletionPolicy: Retain
  // spec.target.template.data: extra keys rendered from templates.
  std::map<std::string, std::string> template_data;
};

// spec.rolloutRestartTargets[]: a workload of the resource's namespace.
struct RestartTarget {
  std::string kind;  // Deployment, StatefulSet or DaemonSet
  std::string name;
  bool operator==(const RestartTarget&) const = default;
};

struct SysdigTokenSpec {
  Service service = Service::Monitoring;
  std::string instance_id;
  std::optional<std::int64_t> team_id;
  std::string team_name;
  std::string region;
  std::string endpoint_type = "public";
  std::string endpoint;
  std::string iam_endpoint;
  std::string api_key_secret_name;
  std::string api_key_secret_key = "apikey";
  // ClusterSysdigToken only: the namespace of the API key Secret (a
  // namespaced SysdigToken reads its own namespace, whatever this says).
  std::string api_key_secret_namespace;
  bool has_api_key_secret_ref = false;
  // spec.trustedProfile: an IAM trusted profile that trusts a ServiceAccount
  // of this namespace, used instead of an API key.
  bool has_trusted_profile = false;
  std::string trusted_profile_id;
  std::string trusted_profile_name;
  std::string service_account_name;
  std::string refresh_interval = "1h";
  TargetSpec target;
  std::vector<RestartTarget> restart_targets;
};

struct Condition {
  std::string type;
  std::string status;  // True, False, Unknown
  std::string reason;
  std::string message;
  std::int64_t observed_generation = 0;
  std::string last_transition_time;
  bool operator==(const Condition&) const = default;
};

// A condition to store: its lastTransitionTime is `old`'s while the status
// stays the same, else now.
Condition next_condition(std::string type, std::string status, std::string reason,
                         std::string message, std::int64_t observed_generation,
                         const std::optional<Condition>& old,
                         std::chrono::system_clock::time_point now);

struct SysdigTokenStatus {
  std::int64_t observed_generation = 0;
  std::optional<Condition> ready;
  std::string secret_name;
  std::int64_t team_id = 0;
  std::string token_fingerprint;
  std::int64_t revision = 0;
  std::string last_sync_time;
  std::string last_rotation_time;
  std::string next_refresh_time;
  std::string last_handled_reset;
  std::string last_reset_outcome;
  std::string reset_check_until;
  std::int64_t failed_attempts = 0;
  std::string next_retry_time;
  // rolloutRestartTargets: the revision restarted for (or current when they
  // were set), when, and the WorkloadsRestarted condition.
  std::int64_t restarted_revision = 0;
  std::string last_restart_time;
  std::optional<Condition> restarted;
  bool operator==(const SysdigTokenStatus&) const = default;
};

struct SysdigToken : kube::CachedObject {
  SysdigTokenSpec spec;
  SysdigTokenStatus status;
  std::string reset_value;  // the reset annotation, empty when absent
  std::string spec_error;   // set when the spec could not be decoded
  // A ClusterSysdigToken's member in one namespace (meta.ns): named, owned
  // and evented as the ClusterSysdigToken; its status lives in memory.
  bool cluster_scoped = false;
};

// The informer projection: keeps metadata, the reset annotation, spec and
// status; a spec that does not decode is kept with spec_error set.
Result<kube::ObjectPtr, std::string> project_sysdig_token(std::string_view json);

// metav1.LabelSelector: matchLabels and matchExpressions (In, NotIn, Exists,
// DoesNotExist), all of which must hold; empty selects everything.
struct LabelSelector {
  struct Requirement {
    std::string key;
    std::string op;  // In, NotIn, Exists, DoesNotExist
    std::vector<std::string> values;
  };
  std::map<std::string, std::string> match_labels;
  std::vector<Requirement> match_expressions;
  bool matches(const std::map<std::string, std::string>& labels) const;
};

struct ClusterSysdigTokenStatus {
  std::int64_t observed_generation = 0;
  std::optional<Condition> ready;
  std::string secret_name;
  std::int64_t team_id = 0;
  std::string token_fingerprint;
  std::int64_t revision = 0;
  std::string last_sync_time;
  std::string last_rotation_time;
  std::string last_handled_reset;
  std::vector<std::string> provisioned_namespaces;  // sorted
  struct Failed {
    std::string ns, reason, message;
    bool operator==(const Failed&) const = default;
  };
  std::vector<Failed> failed_namespaces;  // sorted by namespace
  bool operator==(const ClusterSysdigTokenStatus&) const = default;
};

// A ClusterSysdigToken: the SysdigToken spec (credentials from an API key
// Secret of a named namespace) for every namespace its selection picks.
struct ClusterSysdigToken : kube::CachedObject {
  SysdigTokenSpec spec;
  std::string reset_value;
  std::string spec_error;
  std::optional<LabelSelector> namespace_selector;
  std::vector<std::string> namespaces;  // used when there is no selector
  ClusterSysdigTokenStatus status;
  // Whether the namespace with these labels is selected.
  bool selects(const std::string& ns, const std::map<std::string, std::string>& labels) const;
};

Result<kube::ObjectPtr, std::string> project_cluster_sysdig_token(std::string_view json);

// A Namespace: its labels.
struct NamespaceObject : kube::CachedObject {
  std::map<std::string, std::string> labels;
};
Result<kube::ObjectPtr, std::string> project_namespace(std::string_view json);

// A spec the controller can act on: endpoints resolved, durations parsed.
struct ResolvedSpec {
  std::string monitoring_endpoint;  // normalized base URL
  std::string iam_endpoint;
  std::string target_name;
  // The region for ${region}: spec.region, or the one an endpoint names.
  std::string region;
  // The connection info keys of the service.
  std::string_view url_key;
  std::string_view team_id_key;
  std::chrono::seconds refresh_interval{3600};
  bool trusted_profile = false;  // credentials from spec.trustedProfile, not an API key
};

// Checks what the CRD schema cannot (or an older API server did not) and
// resolves endpoints; the error names the field and what is wrong.
Result<ResolvedSpec, std::string> resolve_spec(const SysdigToken& token);

// Parses a Go duration such as "1h30m", "90s", "1.5h".
std::optional<std::chrono::milliseconds> parse_go_duration(std::string_view text);

}  // namespace sto::controller
