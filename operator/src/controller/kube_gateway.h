// KubeGateway: the ClusterGateway of the running operator, on kube::Client —
// API key Secrets read once per key for concurrent readers; Secrets created
// with POST (so an existing one is never overwritten) in one request, their
// fields handed to the operator's server-side apply entry at the first
// apply, and updated with server-side apply conditional on the checked
// resourceVersion; status
// through the status subresource — and the EventSink that turns reconciler
// events into Kubernetes Events.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "controller/reconciler.h"
#include "kube/client.h"
#include "kube/event_recorder.h"

namespace sto::controller {

std::shared_ptr<ClusterGateway> make_kube_gateway(std::shared_ptr<kube::Client> client);
std::shared_ptr<EventSink> make_event_sink(std::shared_ptr<kube::EventRecorder> recorder);

// The status as the JSON merge patch the status subresource receives.
std::string status_patch(const SysdigTokenStatus& status);
// A ClusterSysdigToken's status, likewise.
std::string cluster_status_patch(const ClusterSysdigTokenStatus& status);

// The JSON patch that moves the fields the operator's manager owns through
// Update operations (a POST create) into its Apply entry, so that a later
// apply without a field removes it; nothing when there is none to move.
std::optional<std::string> field_ownership_patch(std::string_view object_json);
// Whether the operator's Update entry (its POST) owns a field `desired` no
// longer has: only then does the move above have to happen.
bool created_fields_unwanted(std::string_view object_json, const DesiredSecret& desired);

// The TokenRequest the operator sends for a trusted profile's ServiceAccount:
// audience "iam", 10 minutes.
inline constexpr std::string_view kServiceAccountTokenAudience = "iam";
inline constexpr int kServiceAccountTokenSeconds = 600;
std::string token_request_body();
// status.token of a TokenRequest answer (moved out of the parsed copy), or
// nullopt.
std::optional<std::string> token_of(std::string& token_request_json);

// The kube::Resource of SysdigTokens.
kube::Resource sysdig_tokens();

}  // namespace sto::controller
