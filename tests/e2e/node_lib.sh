# Shared helpers of the e2e.node_* tests: a real node (kubelet + containerd)
# of the "node" CTest fixture (scripts/controlplane up DIR --node), the
# operator image imported into it by the "node_image" fixture, and pods.
# A test sources this file with its arguments:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/node_lib.sh" "$@"   # OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
#
# It sources install_lib.sh (and with it tests/integration/operator/lib.sh:
# fail, wait_for, namespaces, the fake, SysdigToken helpers, cleanup) and adds:
#   NODE_IP, OPERATOR_IMAGE (REPOSITORY:TAG), BUSYBOX_IMAGE
#   start_fake_on_node CONFIG_YAML   the fake on the node bridge (pods reach it); sets
#                                    FAKE_URL, FAKE_CA, FAKE_PORT like start_fake
#   wait_pods_ready NS SELECTOR COUNT TIMEOUT
#                                    COUNT pods Ready; fails at once on a pod that cannot
#                                    start (image missing, crash loop, missing Secret)
#   pod_log_has NS POD TEXT          the pod's log has TEXT
#   CONSUMER_SCRIPT                  node_consumer.sh as one line, for a busybox pod's
#                                    `command: [/bin/sh, -c, '...']`
# On a failure, every pod of the test's namespaces is shown with its events
# and logs (current and previous container).
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/install_lib.sh" "$@"

[[ "${STO_NODE:-0}" == 1 ]] ||
  fail "$STO_CONTROLPLANE_DIR has no node (STO_NODE=1 is not in its env): the node fixture runs scripts/controlplane up DIR --node"
NODE_IP=$STO_NODE_IP
OPERATOR_IMAGE=$(cat "$STO_CONTROLPLANE_DIR/operator-image" 2>/dev/null) ||
  fail "no operator image was loaded into the node ($STO_CONTROLPLANE_DIR/operator-image is missing; the node_image fixture runs scripts/image build and load)"
BUSYBOX_IMAGE=$(cat "$STO_CONTROLPLANE_DIR/busybox-image" 2>/dev/null) ||
  fail "no busybox image was loaded into the node ($STO_CONTROLPLANE_DIR/busybox-image is missing)"

# Pods, their events and logs, then the node's state, on a failure.
eval "$(declare -f _diagnostics | sed '1s/_diagnostics/_lib_diagnostics/')"
_diagnostics() {
  _lib_diagnostics
  local ns pod c
  for ns in "${NAMESPACES[@]}"; do
    echo "--- pods of $ns ---" >&2
    kubectl get pods -n "$ns" -o wide >&2 2>&1 || true
    for pod in $(kubectl get pods -n "$ns" -o name 2>/dev/null); do
      echo "--- $ns/${pod#pod/}: events ---" >&2
      kubectl get events -n "$ns" --field-selector "involvedObject.name=${pod#pod/}" \
        -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message 2>&1 | tail -n 15 >&2 || true
      for c in $(kubectl get "$pod" -n "$ns" -o jsonpath='{.spec.containers[*].name}' 2>/dev/null); do
        echo "--- $ns/${pod#pod/} container $c: last log lines ---" >&2
        kubectl logs "$pod" -n "$ns" -c "$c" --tail 25 2>&1 | cut -c1-400 >&2 || true
        if kubectl logs "$pod" -n "$ns" -c "$c" --previous --tail 1 >/dev/null 2>&1; then
          echo "--- $ns/${pod#pod/} container $c: previous run ---" >&2
          kubectl logs "$pod" -n "$ns" -c "$c" --previous --tail 25 2>&1 | cut -c1-400 >&2 || true
        fi
      done
    done
  done
  echo "--- node ---" >&2
  kubectl get nodes -o wide >&2 2>&1 || true
  echo "--- kubelet: last errors ---" >&2
  grep -E '^E[0-9]{4}' "$STO_CONTROLPLANE_DIR/node/kubelet.log" 2>/dev/null | tail -n 10 | cut -c1-400 >&2 || true
}

# start_fake_on_node CONFIG_YAML: fake-ibm-cloud on the node bridge's address,
# with that address in its certificate, so that pods can call it.
start_fake_on_node() { start_fake "$1" "$NODE_IP"; }

# Reasons a container waits with that mean it will not start by itself.
STUCK_REASONS='ErrImageNeverPull|ErrImagePull|ImagePullBackOff|InvalidImageName|CrashLoopBackOff|CreateContainerConfigError|CreateContainerError|RunContainerError'

# pods_state NS SELECTOR: "name phase ready waiting-reasons" a line per pod.
pods_state() {
  kubectl get pods -n "$1" -l "$2" -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}} {{.status.phase}} {{range .status.conditions}}{{if eq .type "Ready"}}{{.status}}{{end}}{{end}} {{range .status.containerStatuses}}{{if .state.waiting}}{{.state.waiting.reason}},{{end}}{{if .lastState.terminated}}last:{{.lastState.terminated.reason}},{{end}}{{end}}{{"\n"}}{{end}}{{end}}' 2>/dev/null
}

# wait_pods_ready NS SELECTOR COUNT TIMEOUT_SECONDS: exactly COUNT pods match
# and all are Ready. Fails at once when one cannot start.
wait_pods_ready() {
  local ns=$1 sel=$2 count=$3 timeout=$4 deadline state stuck ready=0
  deadline=$(($(now_ms) + timeout * 1000))
  while :; do
    state=$(pods_state "$ns" "$sel")
    stuck=$(grep -E "$STUCK_REASONS" <<<"$state" || true)
    [[ -z "$stuck" ]] || fail "a pod in $ns ($sel) cannot start: $stuck"
    # Ready in two polls in a row (a container that exits at once can look
    # Ready for a moment).
    if [[ $(grep -c . <<<"$state") -eq $count && $(grep -c ' Running True ' <<<"$state") -eq $count ]]; then
      ((++ready < 2)) || return 0
    else
      ready=0
    fi
    (($(now_ms) < deadline)) || fail "timed out after ${timeout}s waiting for $count Ready pods in $ns ($sel); they are: $(tr '\n' ';' <<<"$state")"
    sleep 0.5
  done
}

# (The log is read whole first: grep -q would stop reading early, and with
# pipefail the writer's SIGPIPE would fail the check.)
pod_log_has() {
  local log
  log=$(kubectl logs -n "$1" "$2" 2>/dev/null) || return 1
  grep -qF -- "$3" <<<"$log"
}

CONSUMER_SCRIPT=$(grep -v '^#' "$ROOT/tests/e2e/node_consumer.sh" | tr '\n' ' ')
[[ "$CONSUMER_SCRIPT" != *"'"* ]] || fail "node_consumer.sh must not contain single quotes (it goes into a YAML '...' string)"
