// The operator's names in one place: the API group and kind, the field
// manager, and every label and annotation key it owns. Reasons and outcomes
// are in reasons.h.
#pragma once

#include <string_view>

namespace sto::controller {

inline constexpr std::string_view kGroup = "monitoring.ibm.com";
inline constexpr std::string_view kApiVersion = "monitoring.ibm.com/v1alpha1";
inline constexpr std::string_view kKind = "SysdigToken";
// The cluster-scoped resource that fans one token out to many namespaces.
inline constexpr std::string_view kClusterKind = "ClusterSysdigToken";
inline constexpr std::string_view kFieldManager = "sysdig-token-operator";
inline constexpr std::string_view kControllerName = "sysdigtoken";
// The event source (reportingController) of the operator's events.
inline constexpr std::string_view kReportingController = "monitoring.ibm.com/sysdig-token-operator";
// Every annotation the operator reads or writes starts with this.
inline constexpr std::string_view kAnnotationPrefix = "monitoring.ibm.com/";

// On a SysdigToken: any new value means "the token was reset: rotate now".
inline constexpr std::string_view kResetAnnotation = "monitoring.ibm.com/reset-token";

// On a managed Secret.
inline constexpr std::string_view kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr std::string_view kManagedByValue = "sysdig-token-operator";
inline constexpr std::string_view kOwnerLabel = "monitoring.ibm.com/sysdigtoken";
// Instead of kOwnerLabel on the Secrets of a ClusterSysdigToken.
inline constexpr std::string_view kClusterOwnerLabel = "monitoring.ibm.com/clustersysdigtoken";
// Events about a cluster-scoped object are kept in this namespace.
inline constexpr std::string_view kClusterEventNamespace = "default";
inline constexpr std::string_view kOwnerUidAnnotation = "monitoring.ibm.com/owner-uid";
inline constexpr std::string_view kFingerprintAnnotation = "monitoring.ibm.com/token-fingerprint";
inline constexpr std::string_view kRevisionAnnotation = "monitoring.ibm.com/revision";
inline constexpr std::string_view kResetHandledAnnotation = "monitoring.ibm.com/reset-handled";
inline constexpr std::string_view kResetOutcomeAnnotation = "monitoring.ibm.com/reset-outcome";
inline constexpr std::string_view kSyncedAtAnnotation = "monitoring.ibm.com/synced-at";
// Until when Sysdig is asked again after a reset that returned the same token.
inline constexpr std::string_view kResetCheckUntilAnnotation = "monitoring.ibm.com/reset-check-until";

// The token key and connection info keys (includeConnectionInfo) of each
// service.
inline constexpr std::string_view kUrlKey = "SYSDIG_MONITOR_URL";
inline constexpr std::string_view kTeamIdKey = "SYSDIG_MONITOR_TEAM_ID";
inline constexpr std::string_view kSecureTokenKey = "SYSDIG_SECURE_API_TOKEN";
inline constexpr std::string_view kSecureUrlKey = "SYSDIG_SECURE_URL";
inline constexpr std::string_view kSecureTeamIdKey = "SYSDIG_SECURE_TEAM_ID";
inline constexpr std::string_view kInstanceIdKey = "IBM_INSTANCE_ID";

// On a managed Secret whose template data uses ${token}: a digest of the
// templates' inputs and of what was rendered, so that a look without the
// token can tell whether they still match.
inline constexpr std::string_view kTemplateDigestAnnotation = "monitoring.ibm.com/template-digest";

// rolloutRestartTargets: the pod template annotation a restart sets, and the
// condition that reports restarts.
inline constexpr std::string_view kRestartedAtAnnotation = "monitoring.ibm.com/restartedAt";

namespace condition {
inline constexpr std::string_view kReady = "Ready";
inline constexpr std::string_view kWorkloadsRestarted = "WorkloadsRestarted";
inline constexpr std::string_view kRolloutRestarted = "RolloutRestarted";  // its True reason
inline constexpr std::string_view kRestartFailed = "RestartFailed";        // its False reason
}  // namespace condition

// The annotations each write of the token sets on the Secret (not from the
// spec): the Secret's own record of what was handled.
inline constexpr std::string_view kSyncAnnotations[] = {
    kFingerprintAnnotation, kRevisionAnnotation,        kResetHandledAnnotation,
    kResetOutcomeAnnotation, kSyncedAtAnnotation, kResetCheckUntilAnnotation,
    kTemplateDigestAnnotation};

// Values of the reset-outcome annotation and status.lastResetOutcome.
inline constexpr std::string_view kResetRotated = "Rotated";
inline constexpr std::string_view kResetUnchanged = "Unchanged";

}  // namespace sto::controller
