# Shared helpers of the e2e.*install* tests: an install (Helm chart or
# deploy/) on the real kube-apiserver of the "controlplane" CTest fixture, and
# the operator binary run under the installed ServiceAccount's identity with
# the installed Deployment's args (the control plane has no kubelet, so the
# Deployment's pods never run). A test sources this file with its arguments:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/install_lib.sh" "$@"   # OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
#
# It sources tests/integration/operator/lib.sh (fake IBM Cloud, operator
# processes, SysdigToken helpers, cleanup of everything on exit) and adds:
#   CHART                               the chart folder
#   sa_kubeconfig NS SA FILE            a kubeconfig with a token of ServiceAccount NS/SA
#   deployment_args NS NAME             the Deployment's container args, one a line
#   start_installed_operator NAME KUBECONFIG ARGS...
#                                       the operator as installed: exactly ARGS, except
#                                       that the metrics and probe servers are off
#   can SUBJECT VERB RESOURCE [FLAGS]   kubectl auth can-i --as=SUBJECT ... says yes
#   expect_can / expect_cannot          the same, failing the test otherwise
#   expect_rules SUBJECT NS RULES...    its rules in NS (can-i --list) are exactly RULES
#   prove_reconcile OPERATOR NS         API key Secret + SysdigToken in NS: Secret, Ready, Event
#   prove_lease OPERATOR NS NAME        the Lease exists and names this operator's host
#   check_peak_memory OPERATOR LIMIT_MIB  peak RSS of the operator under the memory limit
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/../integration/operator/lib.sh" "$@"

CHART=$ROOT/helm/sysdig-token-operator
CONTROLPLANE=$ROOT/scripts/controlplane
command -v helm >/dev/null || fail "helm is not on PATH after sourcing $STO_CONTROLPLANE_DIR/env (scripts/controlplane bin builds it)"

# sa_kubeconfig NS SA FILE: a kubeconfig for ServiceAccount NS/SA (a bound
# token from the TokenRequest API, as a pod would get).
sa_kubeconfig() {
  "$CONTROLPLANE" kubeconfig-for "$STO_CONTROLPLANE_DIR" "$1" "$2" >"$3" ||
    fail "scripts/controlplane kubeconfig-for $1 $2 failed"
  chmod 600 "$3"
}

# deployment_args NS NAME: the operator container's args, one a line.
deployment_args() {
  kubectl get deployment "$2" -n "$1" \
    -o go-template='{{range .spec.template.spec.containers}}{{if eq .name "operator"}}{{range .args}}{{.}}{{"\n"}}{{end}}{{end}}{{end}}'
}

# start_installed_operator NAME KUBECONFIG ARGS...: starts the operator with
# the installed args under the installed identity, trusting the fake's CA.
# The metrics and health servers are turned off ("0"): they would listen on
# all interfaces at the chart's fixed ports, and are not what this checks.
start_installed_operator() {
  local name=$1 kubeconfig=$2 arg args=()
  shift 2
  for arg in "$@"; do
    case $arg in
      --metrics-bind-address=*) args+=(--metrics-bind-address=0) ;;
      --health-probe-bind-address=*) args+=(--health-probe-bind-address=0) ;;
      *) args+=("$arg") ;;
    esac
  done
  touch "$WORK/$name.log"
  OP_LINE[$name]=$(($(wc -l <"$WORK/$name.log") + 1))
  echo "{\"test\":\"start $name: ${args[*]}\"}" >>"$WORK/$name.log"
  SSL_CERT_FILE="$FAKE_CA" "$OPERATOR_BIN" --kubeconfig "$kubeconfig" "${args[@]}" >>"$WORK/$name.log" 2>&1 &
  OP_PID[$name]=$!
}

# can SUBJECT VERB RESOURCE [kubectl flags...]: kubectl auth can-i answers yes.
can() {
  local subject=$1
  shift
  [[ "$(kubectl auth can-i --as="$subject" "$@" 2>/dev/null)" == yes ]]
}
expect_can() {
  can "$@" || fail "$1 may not $(shift; echo "$*"), which the operator needs"
}

# expect_cluster_token_rbac SA: what a cluster-wide install grants for
# ClusterSysdigTokens: the objects, their status and finalizers, the
# namespaces they select, and their Events in default.
expect_cluster_token_rbac() {
  local verb
  for verb in get list watch; do
    expect_can "$1" "$verb" clustersysdigtokens.monitoring.ibm.com
    expect_can "$1" "$verb" namespaces
  done
  for verb in get update patch; do
    expect_can "$1" "$verb" clustersysdigtokens.monitoring.ibm.com --subresource=status
  done
  expect_can "$1" update clustersysdigtokens.monitoring.ibm.com --subresource=finalizers
  expect_can "$1" create events.events.k8s.io -n default
  expect_can "$1" patch events.events.k8s.io -n default
}
expect_cannot() {
  ! can "$@" || fail "$1 may $(shift; echo "$*"), which the operator does not need"
}

# rules_of SUBJECT NS: the resource rules SUBJECT has in NS
# (kubectl auth can-i --list), one normalized line each, sorted.
rules_of() {
  kubectl auth can-i --list --as="$1" -n "$2" | awk 'NR > 1 && $1 !~ /^\[/ {$1 = $1; print}' | sort
}
# expect_rules SUBJECT NS [RULE_LINE...]: beyond what every ServiceAccount
# may do (discovery, self reviews), SUBJECT has exactly these rules in NS,
# e.g. "secrets [] [] [get list watch create patch delete]".
expect_rules() {
  local subject=$1 ns=$2 baseline extra want
  shift 2
  baseline=$(rules_of "system:serviceaccount:$ns:nobody-$RAND" "$ns")
  [[ -n "$baseline" ]] || fail "kubectl auth can-i --list gave nothing for a ServiceAccount without bindings"
  extra=$(comm -23 <(rules_of "$subject" "$ns") <(echo "$baseline"))
  want=$(if (($# > 0)); then printf '%s\n' "$@" | sort; fi)
  [[ "$extra" == "$want" ]] ||
    fail "the rules of $subject in $ns are not exactly the operator's: $(diff <(echo "$want") <(echo "$extra") | grep '^[<>]' | sed -e 's/^</missing:/' -e 's/^>/extra:/' | tr '\n' ';')"
}
# --metrics-secure (chart and deploy/ default): token and access reviews,
# cluster-scoped, so seen in every namespace.
METRICS_AUTH_RULES=(
  "tokenreviews.authentication.k8s.io [] [] [create]"
  "subjectaccessreviews.authorization.k8s.io [] [] [create]"
)
# The operator's rules where it reconciles SysdigTokens, and those of its Lease.
OPERATOR_RULES=(
  "sysdigtokens.monitoring.ibm.com [] [] [get list watch]"
  "sysdigtokens.monitoring.ibm.com/status [] [] [patch]"
  "sysdigtokens.monitoring.ibm.com/finalizers [] [] [update]"
  "secrets [] [] [get list watch create patch delete]"
  "serviceaccounts/token [] [] [create]"
  "deployments.apps [] [] [get patch]"
  "statefulsets.apps [] [] [get patch]"
  "daemonsets.apps [] [] [get patch]"
  "events.events.k8s.io [] [] [create patch]"
  "${METRICS_AUTH_RULES[@]}"
)
# The operator's rules for ClusterSysdigTokens: only when it watches all
# namespaces (a ClusterRole, so seen in every namespace), never with
# watchNamespaces.
CLUSTER_RULES=(
  "clustersysdigtokens.monitoring.ibm.com [] [] [get list watch]"
  "clustersysdigtokens.monitoring.ibm.com/status [] [] [get update patch]"
  "clustersysdigtokens.monitoring.ibm.com/finalizers [] [] [update]"
  "namespaces [] [] [get list watch]"
)
lease_rules() { # LEASE_NAME
  echo "leases.coordination.k8s.io [] [] [create]"
  echo "leases.coordination.k8s.io [] [$1] [get update]"
}

# prove_reconcile OPERATOR NS: a fake-backed API key Secret and SysdigToken in
# NS (the fake must run); the token Secret appears with the team's token, the
# status says Ready=True, and a TokenSynced Event is recorded by the operator.
prove_reconcile() {
  local op=$1
  NS=$2 # lib.sh's SysdigToken helpers work in $NS
  # A refusal by RBAC is the likeliest cause of a failure here: say so. (Not
  # any 403: a cluster-wide operator may meet other tests' SysdigTokens in
  # namespaces being deleted, where creating a Secret is forbidden too.)
  refused() { grep -E 'forbidden: User .* cannot ' <<<"$(op_log "$op")" | head -n 3 | cut -c1-400; }
  expect() { # DESCRIPTION COMMAND...
    local what=$1
    shift
    eventually 30 "$@" && return 0
    [[ -z "$(refused)" ]] || fail "operator $op was refused by the API server (RBAC?) while waiting for $what: $(refused)"
    fail "timed out after 30s waiting for $what"
  }
  api_key_secret ibm-api-key apikey "$KEY"
  apply_sdt ops-team "$(base_spec)
  target: {name: sysdig-monitor-token}"
  expect "the Secret sysdig-monitor-token in $NS" secret_token_is sysdig-monitor-token "$TOKEN"
  expect "ops-team to be Ready=True (TokenSynced)" ready_is ops-team True TokenSynced
  expect "a TokenSynced Event about ops-team in $NS" has_event ops-team Normal TokenSynced
  local controller
  controller=$(kubectl get events -n "$NS" --field-selector involvedObject.name=ops-team,reason=TokenSynced \
    -o jsonpath='{.items[0].reportingComponent}')
  [[ "$controller" == monitoring.ibm.com/sysdig-token-operator ]] ||
    fail "the Event's reportingController is '$controller'"
  [[ -z "$(refused)" ]] || fail "operator $op was refused by the API server (RBAC?): $(refused)"
  pass "reconciled $NS/ops-team: Secret sysdig-monitor-token holds the team's token, Ready=True (TokenSynced), Event TokenSynced from $controller, no RBAC refusal in the log"
}

# prove_lease OPERATOR NS NAME: the Lease NS/NAME exists, is held by this
# host's operator (identity "<hostname>_<random>"), and is being renewed.
prove_lease() {
  local op=$1 ns=$2 name=$3 holder renew1 renew2
  lease_jp() { kubectl get lease "$name" -n "$ns" -o jsonpath="{$1}" 2>/dev/null; }
  wait_for "Lease $ns/$name" 30 lease_jp .spec.holderIdentity
  holder=$(lease_jp .spec.holderIdentity)
  [[ "$holder" == "$(hostname)_"* ]] || fail "Lease $ns/$name is held by '$holder', not by this host's operator ($(hostname)_...)"
  op_logged "$op" '"msg":"starting workers"' || fail "operator $op holds no Lease (no 'starting workers')"
  renew1=$(lease_jp .spec.renewTime)
  lease_renewed() { [[ "$(lease_jp .spec.renewTime)" != "$renew1" ]]; }
  wait_for "the Lease $ns/$name to be renewed" 20 lease_renewed
  renew2=$(lease_jp .spec.renewTime)
  [[ "$(lease_jp .spec.holderIdentity)" == "$holder" ]] || fail "the Lease changed holder: $(lease_jp .spec.holderIdentity)"
  pass "Lease $ns/$name is held by $holder and renewed ($renew1 -> $renew2)"
}

# release_lease_on_stop OPERATOR NS NAME: SIGTERM the operator; it exits 0 and
# releases the Lease (its holder is gone), which proves it was this process's.
release_lease_on_stop() {
  local op=$1 ns=$2 name=$3 holder
  stop_operator "$op" TERM
  ((STOP_RC == 0)) || fail "operator $op exited with $STOP_RC after SIGTERM: $(op_log "$op" | tail -n 5)"
  holder=$(kubectl get lease "$name" -n "$ns" -o jsonpath='{.spec.holderIdentity}')
  [[ -z "$holder" ]] || fail "after SIGTERM the Lease $ns/$name is still held by '$holder'"
  pass "SIGTERM: operator $op exited 0 and released the Lease $ns/$name"
}

# check_peak_memory OPERATOR LIMIT: the operator's peak RSS (VmHWM) so far is
# under LIMIT (a Kubernetes quantity in Mi) — else the pod would be OOM-killed.
# AddressSanitizer's shadow memory and quarantine multiply the footprint, so a
# sanitizer build is held to 4 times the limit.
check_peak_memory() {
  local op=$1 limit=$2 kib mib factor=1
  [[ "${STO_SANITIZED:-0}" == 1 ]] && factor=4
  [[ "$limit" =~ ^([0-9]+)Mi$ ]] || fail "check_peak_memory: limit '$limit' is not in Mi"
  kib=$(awk '/^VmHWM:/ {print $2}' "/proc/${OP_PID[$op]}/status" 2>/dev/null || true)
  [[ -n "$kib" ]] || fail "cannot read the peak memory of operator $op"
  mib=$(((kib + 1023) / 1024))
  ((kib < BASH_REMATCH[1] * 1024 * factor)) ||
    fail "operator $op peaked at $mib MiB, over the memory limit $limit (x$factor)"
  pass "operator $op peak RSS $mib MiB, under the memory limit $limit (x$factor)"
}

# write_fake_config: a fake IBM Cloud with one API key, instance and team;
# sets KEY, GUID, TEAM and TOKEN.
write_fake_config() {
  KEY=install-api-key-$RAND
  GUID=$(new_guid)
  TEAM=26055
  TOKEN=$(new_guid)
  cat >"$WORK/fake.yaml" <<EOF
apiKeys:
  - {key: "$KEY", iamID: "IBMid-INSTALL"}
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$TOKEN"}
EOF
}
