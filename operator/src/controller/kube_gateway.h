// KubeGateway: the ClusterGateway of the running operator, on kube::Client —
// Secrets created with POST and updated with server-side apply conditional on
// the checked resourceVersion, status through the status subresource — and
// the EventSink that turns reconciler events into Kubernetes Events.
#pragma once

#include <memory>

#include "controller/reconciler.h"
#include "kube/client.h"
#include "kube/event_recorder.h"

namespace sto::controller {

std::shared_ptr<ClusterGateway> make_kube_gateway(std::shared_ptr<kube::Client> client);
std::shared_ptr<EventSink> make_event_sink(std::shared_ptr<kube::EventRecorder> recorder);

// The status as the JSON merge patch the status subresource receives.
std::string status_patch(const SysdigTokenStatus& status);

// The kube::Resource of SysdigTokens.
kube::Resource sysdig_tokens();

}  // namespace sto::controller
