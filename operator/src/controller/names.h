// The operator's names in one place: condition types and reasons, event
// reasons, labels and annotations, the field manager.
#pragma once

#include <string_view>

namespace sto::controller {

inline constexpr std::string_view kGroup = "monitoring.ibm.com";
inline constexpr std::string_view kApiVersion = "monitoring.ibm.com/v1alpha1";
inline constexpr std::string_view kKind = "SysdigToken";
inline constexpr std::string_view kFieldManager = "sysdig-token-operator";
inline constexpr std::string_view kControllerName = "sysdigtoken";

// On a SysdigToken: any new value means "the token was reset: rotate now".
inline constexpr std::string_view kResetAnnotation = "monitoring.ibm.com/reset-token";

// On a managed Secret.
inline constexpr std::string_view kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr std::string_view kManagedByValue = "sysdig-token-operator";
inline constexpr std::string_view kOwnerLabel = "monitoring.ibm.com/sysdigtoken";
inline constexpr std::string_view kOwnerUidAnnotation = "monitoring.ibm.com/owner-uid";
inline constexpr std::string_view kFingerprintAnnotation = "monitoring.ibm.com/token-fingerprint";
inline constexpr std::string_view kRevisionAnnotation = "monitoring.ibm.com/revision";
inline constexpr std::string_view kResetHandledAnnotation = "monitoring.ibm.com/reset-handled";
inline constexpr std::string_view kResetOutcomeAnnotation = "monitoring.ibm.com/reset-outcome";
inline constexpr std::string_view kSyncedAtAnnotation = "monitoring.ibm.com/synced-at";
// Until when Sysdig is asked again after a reset that returned the same token.
inline constexpr std::string_view kResetCheckUntilAnnotation = "monitoring.ibm.com/reset-check-until";
inline constexpr std::string_view kDataDigestAnnotation = "monitoring.ibm.com/data-digest";

// Connection info keys written with includeConnectionInfo.
inline constexpr std::string_view kUrlKey = "SYSDIG_MONITOR_URL";
inline constexpr std::string_view kTeamIdKey = "SYSDIG_MONITOR_TEAM_ID";
inline constexpr std::string_view kInstanceIdKey = "IBM_INSTANCE_ID";

namespace condition {
inline constexpr std::string_view kReady = "Ready";
}

namespace reason {
inline constexpr std::string_view kTokenSynced = "TokenSynced";
inline constexpr std::string_view kTokenRotated = "TokenRotated";
inline constexpr std::string_view kSecretRestored = "SecretRestored";
inline constexpr std::string_view kResetUnchanged = "ResetTokenUnchanged";
inline constexpr std::string_view kInvalidSpec = "InvalidSpec";
inline constexpr std::string_view kAPIKeySecretNotFound = "APIKeySecretNotFound";
inline constexpr std::string_view kSecretConflict = "SecretConflict";
inline constexpr std::string_view kKubernetesUnavailable = "KubernetesUnavailable";
}  // namespace reason

}  // namespace sto::controller
