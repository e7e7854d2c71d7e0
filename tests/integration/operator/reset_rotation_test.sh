#!/usr/bin/env bash
# operator.reset_rotation: the reset annotation, in both orders of the two
# steps. (a) Reset in the "UI" (the fake's reset), then annotate: the Secret
# gets the new token at once, revision 2, lastResetOutcome Rotated, a
# TokenRotated event. (b) The same annotation value again (and an unrelated
# annotation change) does nothing. (c) Annotate first: outcome Unchanged and a
# Warning event; the reset in the "UI" within the window is picked up by the
# 30 s check, with no second annotation.
#   reset_rotation_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

install_crd
new_namespace NS op-reset
GUID=$(new_guid)
TEAM=26055
TOKEN1=$(new_guid)
KEY=reset-api-key-$RAND
cat >"$WORK/fake.yaml" <<EOF
apiKeys:
  - {key: "$KEY", iamID: "IBMid-RESET"}
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$TOKEN1"}
EOF
start_fake "$WORK/fake.yaml"
api_key_secret ibm-api-key apikey "$KEY"
start_operator op
wait_operator_started op
apply_sdt ops "$(base_spec)"
wait_ready ops True TokenSynced 30
[[ "$(secret_token ops)" == "$TOKEN1" && "$(revision ops)" == 1 ]] || fail "first sync: revision $(revision ops)"
pass "synced: revision 1, $(secret_fingerprint ops)"

annotate() { kubectl annotate sdt ops -n "$NS" --overwrite "monitoring.ibm.com/reset-token=$1" >/dev/null; }
token_is() { [[ "$(secret_token ops)" == "$1" ]]; }

# (a) UI reset, then the annotation.
TOKEN2=$(fake_reset "$GUID" $TEAM)
fake_reset_counts
gen=$(sdt ops .metadata.generation)
t0=$(now_ms)
annotate r1
wait_for "the Secret to hold the new token" 30 token_is "$TOKEN2"
rotation_ms=$(($(now_ms) - t0))
wait_for "status revision 2" 20 sdt_is ops .status.revision 2
[[ "$(sdt ops .status.lastResetOutcome)" == Rotated ]] || fail "lastResetOutcome '$(sdt ops .status.lastResetOutcome)', want Rotated"
[[ "$(sdt ops .status.lastHandledReset)" == r1 ]] || fail "lastHandledReset '$(sdt ops .status.lastHandledReset)', want r1"
[[ "$(sdt ops .status.tokenFingerprint)" == "$(fingerprint_of "$TOKEN2")" ]] || fail "status fingerprint is not the new token's"
[[ "$(secret_revision ops)" == 2 ]] || fail "Secret revision annotation $(secret_revision ops)"
[[ "$(sdt ops .metadata.generation)" == "$gen" ]] || fail "the annotation bumped generation"
[[ "$(secret_jp ops '.metadata.annotations.monitoring\.ibm\.com/reset-handled')" == r1 ]] ||
  fail "the Secret does not record the handled reset: $(secret_jp ops .metadata.annotations)"
wait_for "a TokenRotated event" 20 has_event ops Normal TokenRotated
((1 == $(fake_count 'GET /api/token'))) || fail "GET /api/token for one reset: $(fake_counts)"
pass "reset then annotate: rotated in $rotation_ms ms; revision 2, lastResetOutcome Rotated, lastHandledReset r1, event '$(events ops | grep TokenRotated)'; 1 GET /api/token"

# (b) The same value again, and an unrelated annotation: nothing happens.
sleep 1
before="$(secret_rv ops) $(revision ops) $(fake_count 'GET /api/token' all) $(event_count ops Normal TokenRotated)"
annotate r1
kubectl annotate sdt ops -n "$NS" --overwrite example.com/unrelated=1 >/dev/null
sleep 4
after="$(secret_rv ops) $(revision ops) $(fake_count 'GET /api/token' all) $(event_count ops Normal TokenRotated)"
[[ "$before" == "$after" ]] || fail "the same reset value was handled again (Secret rv, revision, GET /api/token, TokenRotated events): $before -> $after"
[[ "$(sdt ops .status.lastResetOutcome)/$(ready ops)" == Rotated/True ]] || fail "status changed: $(sdt ops .status)"
pass "annotating with the same value (and an unrelated annotation) changes nothing: no request, no write, revision 2"

# (c) The annotation before the UI reset: Unchanged + Warning, then the 30 s check rotates.
fake_reset_counts
t0=$(now_ms)
annotate r2
wait_for "lastResetOutcome Unchanged" 30 sdt_is ops .status.lastResetOutcome Unchanged
unchanged_ms=$(($(now_ms) - t0))
[[ "$(sdt ops .status.lastHandledReset)" == r2 && "$(revision ops)" == 2 ]] ||
  fail "after an Unchanged reset: lastHandledReset $(sdt ops .status.lastHandledReset), revision $(revision ops)"
token_is "$TOKEN2" || fail "the Secret changed although Sysdig returned the same token"
[[ "$(ready ops)" == True ]] || fail "Ready is $(ready ops) after an Unchanged reset"
until_t=$(sdt ops .status.resetCheckUntil)
[[ -n "$until_t" ]] || fail "status.resetCheckUntil is not set after Unchanged"
window=$(($(date -d "$until_t" +%s) - $(date +%s)))
((window > 800 && window <= 900)) || fail "resetCheckUntil is $window s ahead, want about 15 min"
wait_for "a Warning event for the Unchanged reset" 20 event_matches ops '^Warning .*Monitoring UI'
pass "annotate before the UI reset: Unchanged after $unchanged_ms ms, revision stays 2, resetCheckUntil in ${window}s, event '$(events ops | grep '^Warning' | head -n1 | cut -c1-120)'"

sleep 5
TOKEN3=$(fake_reset "$GUID" $TEAM)
t_reset=$(now_ms)
wait_for "the 30 s check to rotate the token" 45 token_is "$TOKEN3"
picked_ms=$(($(now_ms) - t_reset))
since_annotation=$(($(now_ms) - t0))
((since_annotation <= 40000)) || fail "rotation $since_annotation ms after the annotation (want about 30 s + reconcile)"
wait_for "status revision 3" 20 sdt_is ops .status.revision 3
[[ "$(sdt ops .status.lastResetOutcome)" == Rotated ]] || fail "lastResetOutcome '$(sdt ops .status.lastResetOutcome)' after the late rotation, want Rotated"
[[ "$(sdt ops .status.lastHandledReset)" == r2 ]] || fail "lastHandledReset '$(sdt ops .status.lastHandledReset)', want r2"
[[ -z "$(sdt ops .status.resetCheckUntil)" ]] || fail "resetCheckUntil still set after the rotation: $(sdt ops .status.resetCheckUntil)"
wait_for "a TokenRotated event for revision 3" 20 event_matches ops '^Normal TokenRotated: .*revision 3'
gets=$(fake_count 'GET /api/token' all)
((gets >= 2 && gets <= 3)) || fail "GET /api/token between the annotation and the rotation: $gets, want 2 (annotation, one 30 s check)"
pass "a UI reset after an Unchanged reset is rotated by the 30 s check, ${picked_ms} ms after the UI reset ($since_annotation ms after the annotation): revision 3, Rotated, $gets GET /api/token"

# The window is over: no more checks every 30 s.
fake_reset_counts
sleep 33
((0 == $(fake_count 'GET /api/token' all))) || fail "the operator keeps checking after the rotation: $(fake_counts)"
pass "no further checks in the 33 s after the rotation"

check_no_leaks
