#!/usr/bin/env bash
# operator.consumers: what makes a rotation reach the pods. (a)
# rolloutRestartTargets: nothing is restarted by the first sync; a new token
# restarts the Deployment (the real Deployment controller makes a new
# ReplicaSet), the StatefulSet and the DaemonSet once, after the debounce; a
# missing target is a Warning and a False WorkloadsRestarted condition while
# the token is still written; drift repair, an Unchanged reset and an
# operator restart restart nothing; five SysdigTokens rotating together
# restart their shared Deployment once. (b) target.template.data renders
# ${token} and friends, and an unknown placeholder is InvalidSpec naming the
# key. (c) spec.service WorkloadProtection syncs through IBM's
# security-compliance-secure host name (led to the fake by --connect-to, TLS
# verifying the name) into SYSDIG_SECURE_API_TOKEN and SYSDIG_SECURE_URL.
#   consumers_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

install_crd
new_namespace NS op-consumers
GUID=$(new_guid)
TEAM=26055
TOKEN1=$(new_guid)
KEY=consumers-api-key-$RAND
cat >"$WORK/fake.yaml" <<EOF
apiKeys:
  - {key: "$KEY", iamID: "IBMid-CONSUMERS"}
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$TOKEN1"}
EOF
HOSTS=(us-south.security-compliance-secure.cloud.ibm.com iam.cloud.ibm.com)
sans=() connect=()
for host in "${HOSTS[@]}"; do sans+=(--san "$host"); done
start_fake "$WORK/fake.yaml" 127.0.0.1 "${sans[@]}"
for host in "${HOSTS[@]}"; do connect+=(--connect-to "$host:443:127.0.0.1:$FAKE_PORT"); done
api_key_secret ibm-api-key apikey "$KEY"
DEBOUNCE=3
# The default allowlist (IBM's names, now with Workload Protection's) and the fake's address.
export OPERATOR_ALLOWED_HOSTS='127.0.0.1,*.monitoring.cloud.ibm.com,*.security-compliance-secure.cloud.ibm.com,iam.cloud.ibm.com'
start_operator op --restart-debounce "${DEBOUNCE}s" "${connect[@]}"
wait_operator_started op

# Workloads (no node runs their pods: the pod template is what a restart changes).
workload() { # KIND NAME
  local extra=""
  [[ $1 == StatefulSet ]] && extra="  serviceName: $2"
  [[ $1 == DaemonSet ]] || extra="$extra
  replicas: 1"
  kubectl apply -n "$NS" -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: $1
metadata: {name: $2}
spec:
$extra
  selector: {matchLabels: {app: $2}}
  template:
    metadata: {labels: {app: $2}}
    spec:
      containers: [{name: app, image: "app:test"}]
YAML
}
workload Deployment api
workload StatefulSet db
workload DaemonSet agent
restarted_at() { # KIND NAME
  kubectl get "$1" "$2" -n "$NS" -o jsonpath='{.spec.template.metadata.annotations.monitoring\.ibm\.com/restartedAt}'
}
generation() { kubectl get "$1" "$2" -n "$NS" -o jsonpath='{.metadata.generation}'; }
replicasets_of() { kubectl get rs -n "$NS" -l "app=$1" -o name | wc -l; }
rs_count_is() { [[ "$(replicasets_of "$1")" == "$2" ]]; }
wait_for "the Deployment controller to make api's first ReplicaSet" 30 rs_count_is api 1

apply_sdt ops "$(base_spec)
  rolloutRestartTargets:
  - {kind: Deployment, name: api}
  - {kind: StatefulSet, name: db}
  - {kind: DaemonSet, name: agent}
  - {kind: Deployment, name: missing}
  target:
    template:
      data:
        netrc: 'machine monitoring login apikey password \${token}'
        datasource.yaml: |
          url: \${url}
          team: \${teamID}
          key: \${token}
          literal: \$\${token}"
wait_ready ops True TokenSynced 30
wait_for "restartedRevision 1 (recorded, nothing restarted)" 20 sdt_is ops .status.restartedRevision 1
sleep $((DEBOUNCE + 1))
for w in "Deployment api" "StatefulSet db" "DaemonSet agent"; do
  # shellcheck disable=SC2086
  [[ -z "$(restarted_at $w)" ]] || fail "the first sync restarted $w"
done
[[ "$(secret_token ops netrc)" == "machine monitoring login apikey password $TOKEN1" ]] ||
  fail "netrc: '$(secret_token ops netrc)'"
want=$(printf 'url: %s\nteam: %s\nkey: %s\nliteral: ${token}' "$FAKE_URL" "$TEAM" "$TOKEN1")
[[ "$(secret_token ops datasource.yaml)" == "$want" ]] || fail "datasource.yaml: '$(secret_token ops datasource.yaml)'"
pass "first sync: templates rendered (netrc, datasource.yaml with \$\${ kept literal), restartedRevision 1, no workload restarted"

# (a) A new token: one restart of each target after the debounce.
TOKEN2=$(fake_reset "$GUID" $TEAM)
t0=$(now_ms)
kubectl annotate sdt ops -n "$NS" --overwrite monitoring.ibm.com/reset-token=r1 >/dev/null
wait_for "the Secret to hold the new token" 20 secret_token_is ops "$TOKEN2"
has_restart() { [[ -n "$(restarted_at "$1" "$2")" ]]; }
wait_for "api to be restarted" $((DEBOUNCE + 15)) has_restart Deployment api
restart_ms=$(($(now_ms) - t0))
((restart_ms >= DEBOUNCE * 1000 - 500)) || fail "api restarted after ${restart_ms} ms, before the ${DEBOUNCE}s debounce"
has_restart StatefulSet db || fail "db was not restarted"
has_restart DaemonSet agent || fail "agent was not restarted"
wait_for "the Deployment controller to roll out a new ReplicaSet" 30 rs_count_is api 2
wait_for "restartedRevision 2" 20 sdt_is ops .status.restartedRevision 2
cond() { sdt ops ".status.conditions[?(@.type==\"WorkloadsRestarted\")].$1"; }
[[ "$(cond status)/$(cond reason)" == False/RestartFailed ]] || fail "WorkloadsRestarted is $(cond status)/$(cond reason)"
grep -q "Deployment missing not found" <<<"$(cond message)" || fail "condition message: $(cond message)"
[[ "$(ready ops)" == True ]] || fail "Ready is $(ready ops) with a missing restart target"
[[ -n "$(sdt ops .status.lastRestartTime)" ]] || fail "status.lastRestartTime is not set"
wait_for "a RestartFailed Warning" 10 has_event ops Warning RestartFailed
[[ "$(secret_token ops netrc)" == "machine monitoring login apikey password $TOKEN2" ]] || fail "netrc was not rendered again"
G_API=$(generation Deployment api) G_DB=$(generation StatefulSet db) G_AGENT=$(generation DaemonSet agent)
pass "new token: api, db and agent restarted once after ${restart_ms} ms (debounce ${DEBOUNCE}s), new ReplicaSet; missing target: RestartFailed '$(cond message | cut -c1-120)…', Ready True"

unchanged() {
  [[ "$(generation Deployment api) $(generation StatefulSet db) $(generation DaemonSet agent)" == "$G_API $G_DB $G_AGENT" ]] ||
    fail "$1 restarted a workload: generations $(generation Deployment api) $(generation StatefulSet db) $(generation DaemonSet agent), were $G_API $G_DB $G_AGENT"
}
# Drift repair restarts nothing.
kubectl delete secret ops -n "$NS" >/dev/null
wait_for "the Secret to be restored" 20 secret_token_is ops "$TOKEN2"
sleep $((DEBOUNCE + 2))
unchanged "drift repair"
# A reset that finds the same token restarts nothing.
kubectl annotate sdt ops -n "$NS" --overwrite monitoring.ibm.com/reset-token=r2 >/dev/null
wait_for "lastResetOutcome Unchanged" 20 sdt_is ops .status.lastResetOutcome Unchanged
sleep $((DEBOUNCE + 2))
unchanged "an Unchanged reset"
# Nor does an operator restart.
stop_operator op
start_operator op --restart-debounce "${DEBOUNCE}s" "${connect[@]}"
wait_operator_started op
sleep $((DEBOUNCE + 3))
unchanged "an operator restart"
[[ "$(sdt ops .status.restartedRevision)" == 2 ]] || fail "restartedRevision $(sdt ops .status.restartedRevision)"
pass "drift repair, an Unchanged reset and an operator restart restart nothing"

# Five tokens rotating together restart their shared Deployment once.
workload Deployment shared
wait_for "shared's first ReplicaSet" 30 rs_count_is shared 1
names=()
for i in 1 2 3 4 5; do
  apply_sdt "t$i" "$(base_spec)
  rolloutRestartTargets: [{kind: Deployment, name: shared}]"
  names+=("t$i")
done
for n in "${names[@]}"; do wait_ready "$n" True TokenSynced 30; done
G_SHARED=$(generation Deployment shared)
TOKEN3=$(fake_reset "$GUID" $TEAM)
kubectl annotate sdt "${names[@]}" -n "$NS" --overwrite monitoring.ibm.com/reset-token=r3 >/dev/null
for n in "${names[@]}"; do wait_for "$n to hold the new token" 20 secret_token_is "$n" "$TOKEN3"; done
for n in "${names[@]}"; do wait_for "$n restartedRevision 2" $((DEBOUNCE + 15)) sdt_is "$n" .status.restartedRevision 2; done
sleep 2
G_NOW=$(generation Deployment shared)
((G_NOW == G_SHARED + 1)) || fail "shared was restarted $((G_NOW - G_SHARED)) times for five rotations"
wait_for "shared's second ReplicaSet" 30 rs_count_is shared 2
pass "five SysdigTokens rotating together: shared restarted once (generation $G_SHARED -> $G_NOW)"

# (b) An unknown placeholder.
apply_sdt bad "$(base_spec)
  target:
    template:
      data: {grafana.yaml: 'key: \${apikey}'}"
wait_ready bad False InvalidSpec 20
msg=$(sdt bad '.status.conditions[?(@.type=="Ready")].message')
{ grep -q 'grafana.yaml' <<<"$msg" && grep -qF '${apikey}' <<<"$msg"; } || fail "InvalidSpec message: $msg"
pass "unknown placeholder: InvalidSpec '$msg'"

# (c) Workload Protection by region: IBM's host names, led to the fake.
apply_sdt wp "  service: WorkloadProtection
  region: us-south
  instanceID: $GUID
  teamID: $TEAM
  apiKeySecretRef: {name: ibm-api-key}"
wait_ready wp True TokenSynced 30
[[ "$(secret_token wp SYSDIG_SECURE_API_TOKEN)" == "$TOKEN3" ]] || fail "wp's SYSDIG_SECURE_API_TOKEN is not the team's token"
[[ "$(secret_token wp SYSDIG_SECURE_URL)" == https://us-south.security-compliance-secure.cloud.ibm.com ]] ||
  fail "SYSDIG_SECURE_URL: $(secret_token wp SYSDIG_SECURE_URL)"
[[ -z "$(secret_token wp SYSDIG_MONITOR_API_TOKEN)" ]] || fail "wp also has a Monitor key"
hosts=$(fake_api GET /_fake/requests | grep -o '"host":"[^"]*"' | sed 's/"host"://' | sort -u | tr '\n' ' ')
grep -q 'us-south.security-compliance-secure.cloud.ibm.com' <<<"$hosts" || fail "the fake saw hosts: $hosts"
pass "WorkloadProtection: SYSDIG_SECURE_API_TOKEN and SYSDIG_SECURE_URL from https://us-south.security-compliance-secure.cloud.ibm.com (hosts seen: $hosts)"

check_no_leaks
