#!/usr/bin/env bash
# operator.deletion_policy: target.deletionPolicy with the real garbage
# collector (kube-controller-manager of the fixture).
#   Delete: deleting the SysdigToken garbage-collects its Secret (owner reference);
#   Retain: the Secret (which never had an owner reference) stays, token intact;
#   changing target.name deletes the old Secret (Delete) or unlabels and
#   leaves it (Retain); the new Secret gets the token without a new revision.
#   deletion_policy_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

one_team_setup delete

apply_sdt del "$(base_spec)
  target: {name: del-token, deletionPolicy: Delete}"
apply_sdt keep "$(base_spec)
  target: {name: keep-token, deletionPolicy: Retain}"
wait_ready del True TokenSynced 30
wait_ready keep True TokenSynced 30
[[ "$(secret_jp del-token '.metadata.ownerReferences[0].uid')" == "$(sdt del .metadata.uid)" ]] ||
  fail "Delete: the Secret has no owner reference to the SysdigToken"
[[ -z "$(secret_jp keep-token .metadata.ownerReferences)" ]] || fail "Retain: the Secret has an owner reference: $(secret_jp keep-token .metadata.ownerReferences)"
[[ "$(secret_jp keep-token '.metadata.annotations.monitoring\.ibm\.com/owner-uid')" == "$(sdt keep .metadata.uid)" ]] ||
  fail "Retain: the Secret does not record its owner's UID in an annotation: $(secret_jp keep-token .metadata.annotations)"
pass "Delete: Secret with a controller owner reference; Retain: no owner reference, owner-uid annotation"

# 1. Changing target.name.
kubectl patch sdt del -n "$NS" --type=merge -p '{"spec":{"target":{"name":"del-token-2"}}}' >/dev/null
kubectl patch sdt keep -n "$NS" --type=merge -p '{"spec":{"target":{"name":"keep-token-2"}}}' >/dev/null
wait_for "Secret del-token-2" 30 secret_exists del-token-2
wait_for "the old Secret del-token to be deleted" 30 secret_gone del-token
wait_for "Secret keep-token-2" 30 secret_exists keep-token-2
wait_for "status.secretName keep-token-2" 30 sdt_is keep .status.secretName keep-token-2
released() { [[ -z "$(secret_jp keep-token '.metadata.labels.app\.kubernetes\.io/managed-by')" ]]; }
wait_for "the old Secret keep-token to lose the managed-by label" 30 released
[[ "$(secret_token keep-token)" == "$TOKEN" ]] || fail "Retain: the released Secret lost its token"
labels=$(secret_jp keep-token .metadata.labels)
[[ "$labels" != *monitoring.ibm.com* ]] || fail "Retain: the released Secret keeps the operator's labels: $labels"
ann=$(secret_jp keep-token .metadata.annotations)
[[ "$ann" != *owner-uid* ]] || fail "Retain: the released Secret keeps the owner-uid annotation: $ann"
for s in del-token-2 keep-token-2; do
  [[ "$(secret_token $s)" == "$TOKEN" ]] || fail "$s does not hold the token"
done
[[ "$(revision del)/$(revision keep)" == 1/1 ]] || fail "a renamed target bumped the revision: $(revision del)/$(revision keep)"
[[ "$(sdt del .status.secretName)" == del-token-2 ]] || fail "status.secretName of del: $(sdt del .status.secretName)"
pass "target.name changed: Delete removed del-token; Retain released keep-token (token kept, labels now '${labels:-none}', annotations without owner-uid); new Secrets hold the token; revisions stay 1"
sleep 3
secret_exists keep-token || fail "the released Secret keep-token was deleted afterwards"
[[ -z "$(secret_jp keep-token '.metadata.labels.app\.kubernetes\.io/managed-by')" ]] || fail "the released Secret was taken back"

# 2. Deleting the SysdigTokens.
kubectl delete sdt del -n "$NS" >/dev/null
t0=$(now_ms)
wait_for "the garbage collector to delete del-token-2" 60 secret_gone del-token-2
pass "Delete: deleting the SysdigToken garbage-collected its Secret in $(($(now_ms) - t0)) ms"
kubectl delete sdt keep -n "$NS" >/dev/null
sleep 5
secret_exists keep-token-2 || fail "Retain: the Secret was deleted with the SysdigToken"
[[ "$(secret_token keep-token-2)" == "$TOKEN" ]] || fail "Retain: the Secret lost its token"
[[ -z "$(secret_jp keep-token-2 .metadata.ownerReferences)" ]] || fail "Retain: the Secret has owner references"
pass "Retain: deleting the SysdigToken leaves its Secret in place, token intact, without owner reference"

# 3. The same SysdigToken created again after a Retain deletion.
apply_sdt keep "$(base_spec)
  target: {name: keep-token-2, deletionPolicy: Retain}"
wait_ready keep True TokenSynced 20
[[ "$(secret_token keep-token-2)" == "$TOKEN" ]] || fail "the adopted Secret lost its token"
[[ "$(secret_jp keep-token-2 '.metadata.annotations.monitoring\.ibm\.com/owner-uid')" == "$(sdt keep .metadata.uid)" ]] ||
  fail "the adopted Secret does not name the new SysdigToken's UID"
pass "a re-created SysdigToken adopts the Secret its namesake retained"

# 4. Switching the policy of a live SysdigToken: the owner reference goes
# with Retain and comes back with Delete (server-side apply removes it).
apply_sdt flip "$(base_spec)
  target: {name: flip-token, deletionPolicy: Delete}"
wait_ready flip True TokenSynced 30
kubectl patch sdt flip -n "$NS" --type=merge -p '{"spec":{"target":{"deletionPolicy":"Retain"}}}' >/dev/null
no_owner_refs() { [[ -z "$(secret_jp flip-token .metadata.ownerReferences)" ]]; }
wait_for "Delete -> Retain to drop the owner reference" 20 no_owner_refs
kubectl patch sdt flip -n "$NS" --type=merge -p '{"spec":{"target":{"deletionPolicy":"Delete"}}}' >/dev/null
owner_ref_back() { [[ "$(secret_jp flip-token '.metadata.ownerReferences[0].uid')" == "$(sdt flip .metadata.uid)" ]]; }
owner_uid_gone() { [[ -z "$(secret_jp flip-token '.metadata.annotations.monitoring\.ibm\.com/owner-uid')" ]]; }
wait_for "Retain -> Delete to restore the owner reference" 20 owner_ref_back
wait_for "Retain -> Delete to drop the owner-uid annotation" 20 owner_uid_gone
pass "deletionPolicy Delete -> Retain -> Delete on a live SysdigToken: owner reference removed and restored"

check_no_leaks
