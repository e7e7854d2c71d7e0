#!/usr/bin/env bash
# operator.drift: the operator repairs its Secret — deleted, token edited,
# labels stripped (the operator's and the user's), connection info edited —
# within seconds, with a SecretRestored event and without bumping the
# revision (drift repair is not a rotation).
#   drift_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

one_team_setup drift
apply_sdt ops "$(base_spec)
  target: {name: ops-token, labels: {team: ops}}"
wait_ready ops True TokenSynced 30
S=ops-token
FP=$(fingerprint_of "$TOKEN")
pass "synced: revision $(revision ops), $FP"

# intact: the Secret is as the operator wrote it (one kubectl call, so that
# the repair times measured are not mostly polling).
UID_=$(sdt ops .metadata.uid)
WANT="$TOKEN $FP 1 sysdig-token-operator ops ops $UID_ $FAKE_URL $GUID"
intact() {
  local got
  got=$(kubectl get secret $S -n "$NS" -o go-template='{{index .data "SYSDIG_MONITOR_API_TOKEN" | base64decode}} {{index .metadata.annotations "monitoring.ibm.com/token-fingerprint"}} {{index .metadata.annotations "monitoring.ibm.com/revision"}} {{index .metadata.labels "app.kubernetes.io/managed-by"}} {{index .metadata.labels "monitoring.ibm.com/sysdigtoken"}} {{.metadata.labels.team}} {{(index .metadata.ownerReferences 0).uid}} {{index .data "SYSDIG_MONITOR_URL" | base64decode}} {{index .data "IBM_INSTANCE_ID" | base64decode}}' 2>/dev/null) &&
    [[ "$got" == "$WANT" ]]
}
# repaired WHAT T0: waits for the repair (REPAIR_MS: how long it took); checks
# the revision, the status and a new SecretRestored event.
n_restored=0
repaired() {
  local what=$1 t0=$2
  wait_for "the Secret to be repaired ($what)" 30 intact
  REPAIR_MS=$(($(now_ms) - t0))
  wait_for "a SecretRestored event ($what)" 20 event_total_above ops SecretRestored $n_restored
  n_restored=$(event_total ops SecretRestored)
  [[ "$(revision ops)" == 1 ]] || fail "$what: status.revision $(revision ops) after a repair, want 1"
  [[ "$(sdt ops .status.tokenFingerprint)" == "$FP" ]] || fail "$what: status fingerprint changed"
  [[ "$(ready ops)" == True ]] || fail "$what: Ready is $(ready ops)"
}

# 1. Secret deleted.
t0=$(now_ms)
kubectl delete secret $S -n "$NS" >/dev/null
repaired "deleted" "$t0"
pass "deleted Secret recreated in $REPAIR_MS ms, revision 1, SecretRestored event"

# 2. The token edited.
t0=$(now_ms)
kubectl patch secret $S -n "$NS" --type=merge -p "{\"data\":{\"SYSDIG_MONITOR_API_TOKEN\":\"$(printf 'tampered-token-value' | base64)\"}}" >/dev/null
repaired "token edited" "$t0"
pass "edited token restored in $REPAIR_MS ms, revision 1"

# 3. The connection info edited and a key deleted.
t0=$(now_ms)
kubectl patch secret $S -n "$NS" --type=json -p '[{"op":"replace","path":"/data/SYSDIG_MONITOR_URL","value":"aHR0cHM6Ly9ldmlsLmV4YW1wbGU="},{"op":"remove","path":"/data/IBM_INSTANCE_ID"}]' >/dev/null
repaired "connection info edited" "$t0"
[[ "$(secret_token $S IBM_INSTANCE_ID)" == "$GUID" ]] || fail "IBM_INSTANCE_ID was not restored"
pass "edited SYSDIG_MONITOR_URL and deleted IBM_INSTANCE_ID restored in $REPAIR_MS ms"

# 4. The user's label (target.labels) stripped.
t0=$(now_ms)
kubectl label secret $S -n "$NS" team- >/dev/null
repaired "target label stripped" "$t0"
pass "stripped target label restored in $REPAIR_MS ms"

# 5. The managed-by label stripped: the Secret leaves the operator's watch.
t0=$(now_ms)
kubectl label secret $S -n "$NS" app.kubernetes.io/managed-by- >/dev/null
repaired "managed-by label stripped" "$t0"
pass "stripped managed-by label restored in $REPAIR_MS ms"

# 6. All labels stripped (the owner reference still names this SysdigToken).
t0=$(now_ms)
kubectl label secret $S -n "$NS" app.kubernetes.io/managed-by- monitoring.ibm.com/sysdigtoken- team- >/dev/null
eventually 20 intact ||
  fail "all labels stripped from the managed Secret (its controller owner reference still names the SysdigToken): not restored within 20 s; Ready=$(ready ops)/$(reason ops): $(sdt ops '.status.conditions[0].message')"
repaired "all labels stripped" "$t0"
pass "all labels stripped: restored in $REPAIR_MS ms"

# 7. What the spec no longer asks for is removed (server-side apply owns it).
kubectl patch sdt ops -n "$NS" --type=merge -p '{"spec":{"target":{"labels":null,"includeConnectionInfo":false}}}' >/dev/null
pruned() {
  [[ -z "$(secret_jp $S '.metadata.labels.team')" && -z "$(secret_jp $S '.data.SYSDIG_MONITOR_URL')" &&
    -z "$(secret_jp $S '.data.IBM_INSTANCE_ID')" && -n "$(secret_jp $S '.data.SYSDIG_MONITOR_API_TOKEN')" ]]
}
wait_for "the label and the connection info dropped from the spec to leave the Secret" 20 pruned
pass "a label removed from spec.target.labels and includeConnectionInfo=false are removed from the Secret"

# Nothing of this was a rotation, and nothing is written afterwards.
[[ "$(revision ops)" == 1 && "$(event_count ops Normal TokenRotated)" == 0 ]] ||
  fail "drift repair counted as a rotation: revision $(revision ops), TokenRotated events $(event_count ops Normal TokenRotated)"
sleep 2
before="$(secret_rv $S) $(sdt_rv ops)"
sleep 4
[[ "$before" == "$(secret_rv $S) $(sdt_rv ops)" ]] || fail "writes after the repairs: $before -> $(secret_rv $S) $(sdt_rv ops)"
pass "revision stayed 1 through every repair; no TokenRotated event; no writes afterwards ($(fake_counts))"

check_no_leaks
