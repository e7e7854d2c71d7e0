#!/usr/bin/env bash
# operator.restart_idempotency: a restart re-fetches nothing that is not due
# and a reset annotation value is handled exactly once, whenever the operator
# dies:
#   A. restart (SIGTERM, then SIGKILL) without changes: no IBM request, no
#      write (Secret and SysdigToken resourceVersions unchanged), no event;
#   B. SIGKILL right after annotating;
#   C. SIGKILL right after the Secret changed;
#   D. SIGKILL between the Secret write and the status write (made certain by
#      a ValidatingAdmissionPolicy that refuses the status writes meanwhile):
#      the restart reads the handled reset from the Secret and fetches nothing;
#   E. SIGKILL while the Monitoring request is in flight (latency fault):
#      the restart handles the reset, once.
# In each case: revision goes up by exactly one and stays there.
#   restart_idempotency_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

install_crd
new_namespace NS op-restart
GUID=$(new_guid)
TEAM=26055
KEY=restart-api-key-$RAND
cat >"$WORK/fake.yaml" <<EOF
apiKeys:
  - {key: "$KEY", iamID: "IBMid-RESTART"}
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$(new_guid)"}
EOF
start_fake "$WORK/fake.yaml"
api_key_secret ibm-api-key apikey "$KEY"
start_operator op
wait_operator_started op
apply_sdt ops "$(base_spec)"
wait_ready ops True TokenSynced 30
wait_for "the TokenSynced event" 20 has_event ops Normal TokenSynced
pass "synced: revision $(revision ops)"

annotate() { kubectl annotate sdt ops -n "$NS" --overwrite "monitoring.ibm.com/reset-token=$1" >/dev/null; }
token_is() { [[ "$(secret_token ops)" == "$1" ]]; }
state() { echo "secret rv $(secret_rv ops), sdt rv $(sdt_rv ops), events $(events ops | wc -l)"; }
# quiet_restart HOW: restarts the operator (HOW = TERM or KILL) and checks that
# it makes no IBM request and no write in the 5 s after its workers start.
quiet_restart() {
  local how=$1 before after
  sleep 1
  before=$(state)
  fake_reset_counts
  if [[ $how == TERM ]]; then
    stop_operator op TERM
    [[ "$STOP_RC" == 0 ]] || fail "the operator exited with $STOP_RC on SIGTERM"
  else
    kill9_operator op
  fi
  start_operator op
  wait_operator_started op
  sleep 5
  after=$(state)
  [[ "$before" == "$after" ]] || fail "restart ($how) without changes wrote something: $before -> $after"
  [[ "$(fake_counts)" == '{}' ]] || fail "restart ($how) without changes made IBM requests: $(fake_counts)"
  pass "restart after SIG$how without changes: no IBM request, no write ($after) in 5 s"
}
# settled REVISION RESET TOKEN: the handled reset is reflected everywhere.
settled() {
  token_is "$3" && [[ "$(revision ops)" == "$1" && "$(secret_revision ops)" == "$1" &&
    "$(sdt ops .status.lastHandledReset)" == "$2" && "$(ready ops)" == True ]]
}
# no_more_fetches: nothing more is fetched in the next 5 s.
no_more_fetches() {
  fake_reset_counts
  sleep 5
  [[ "$(fake_counts)" == '{}' ]] || fail "$1: more IBM requests after the reset was handled: $(fake_counts)"
}

# A. Restarts without changes.
quiet_restart TERM
quiet_restart KILL

# B. SIGKILL right after annotating.
TOKEN=$(fake_reset "$GUID" $TEAM)
fake_reset_counts
annotate b
kill9_operator op
gets_before_restart=$(fake_count 'GET /api/token' all)
start_operator op
wait_for "reset b to be handled after the restart" 60 settled 2 b "$TOKEN"
gets=$(fake_count 'GET /api/token' all)
((gets >= 1 && gets <= 2)) || fail "B: GET /api/token for one reset: $gets"
no_more_fetches B
[[ "$(revision ops)" == 2 ]] || fail "B: revision $(revision ops), want 2"
pass "B. SIGKILL right after annotating: handled once after the restart (revision 2, $gets_before_restart GET /api/token before the kill, $gets in all)"

# C. SIGKILL as soon as the Secret holds the new token.
TOKEN=$(fake_reset "$GUID" $TEAM)
fake_reset_counts
annotate c
wait_for "the Secret to change" 30 token_is "$TOKEN"
kill9_operator op
status_at_kill="revision $(revision ops), lastHandledReset $(sdt ops .status.lastHandledReset)"
fake_reset_counts
start_operator op
wait_operator_started op
wait_for "reset c to be reflected after the restart" 30 settled 3 c "$TOKEN"
no_more_fetches C
[[ "$(revision ops)" == 3 ]] || fail "C: revision $(revision ops), want 3"
pass "C. SIGKILL right after the Secret changed (status then: $status_at_kill): the restart fetched nothing, revision 3"

# D. SIGKILL between the Secret write and the status write.
vap=op-restart-$RAND-deny-status
kubectl apply -f - >/dev/null <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: $vap}
spec:
  failurePolicy: Fail
  matchConstraints:
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: $NS}}
    resourceRules:
      - {apiGroups: [monitoring.ibm.com], apiVersions: ["*"], operations: [UPDATE], resources: [sysdigtokens/status]}
  validations:
    - {expression: "false", message: "status writes are blocked by the restart test"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: $vap}
spec: {policyName: $vap, validationActions: [Deny]}
EOF
CLUSTER_OBJECTS+=("validatingadmissionpolicybinding/$vap" "validatingadmissionpolicy/$vap")
status_write_refused() {
  ! kubectl patch sdt ops -n "$NS" --subresource=status --type=merge --dry-run=server \
    -p '{"status":{"failedAttempts":0}}' >/dev/null 2>&1
}
wait_for "the admission policy to refuse status writes" 30 status_write_refused
TOKEN=$(fake_reset "$GUID" $TEAM)
fake_reset_counts
annotate d
wait_for "the Secret to change" 30 token_is "$TOKEN"
# The operator reports the refused status write and retries it meanwhile.
wait_for "the operator to report the refused status write" 30 op_logged op 'reconcile failed'
[[ "$(secret_revision ops)" == 4 && "$(revision ops)" == 3 ]] ||
  fail "D: Secret revision $(secret_revision ops), status revision $(revision ops) (want 4 and 3: the status write is refused)"
gets=$(fake_count 'GET /api/token' all)
((gets == 1)) || fail "D: the operator fetched the token $gets times while its status write was refused (the Secret records reset d as handled)"
kill9_operator op
kubectl delete validatingadmissionpolicybinding "$vap" >/dev/null
kubectl delete validatingadmissionpolicy "$vap" >/dev/null
status_write_allowed() { ! status_write_refused; }
wait_for "status writes to be allowed again" 30 status_write_allowed
fake_reset_counts
start_operator op
wait_operator_started op
wait_for "reset d to be reflected in the status after the restart" 30 settled 4 d "$TOKEN"
no_more_fetches D
[[ "$(sdt ops .status.lastResetOutcome)" == Rotated ]] || fail "D: lastResetOutcome $(sdt ops .status.lastResetOutcome)"
pass "D. SIGKILL between the Secret write and the status write: 1 GET /api/token while the status write was refused, none after the restart; status caught up to revision 4, lastHandledReset d"
synced_at=$(secret_jp ops '.metadata.annotations.monitoring\.ibm\.com/synced-at')
last_sync=$(sdt ops .status.lastSyncTime)
last_rotation=$(sdt ops .status.lastRotationTime)
[[ -n "$synced_at" && "$last_rotation" == "$synced_at" && "$last_sync" == "$synced_at" ]] ||
  fail "after a SIGKILL between the Secret write and the status write, the recovered status has lastRotationTime $last_rotation and lastSyncTime $last_sync; the Secret says synced-at $synced_at"
pass "D. the recovered status has lastRotationTime = lastSyncTime = the Secret's synced-at ($synced_at)"

# E. SIGKILL while the Monitoring request is in flight.
TOKEN=$(fake_reset "$GUID" $TEAM)
fake_fault '{"pathPrefix":"/api/token","latencyMs":4000,"times":1}'
fake_reset_counts
annotate e
sleep 1.5
token_is "$TOKEN" && fail "E: the Secret changed although the Monitoring answer is delayed by 4 s"
kill9_operator op
fake_clear_faults
start_operator op
wait_for "reset e to be handled after the restart" 60 settled 5 e "$TOKEN"
sleep 3 # the delayed answer to the dead operator arrives meanwhile
gets=$(fake_count 'GET /api/token' all)
no_more_fetches E
[[ "$(revision ops)" == 5 ]] || fail "E: revision $(revision ops), want 5"
pass "E. SIGKILL during the Monitoring request: the restart handled the reset once (revision 5; $gets GET /api/token with the one that was cut off)"

# Finally, once more: a restart after all this changes nothing.
quiet_restart TERM

check_no_leaks
