#!/usr/bin/env bash
# operator.cluster_tokens: ClusterSysdigToken (cluster-scoped, DESIGN §8) with
# a cluster-wide operator (no --namespace) on the real API server.
#   1. A namespaceSelector matching 50 namespaces: 50 Secrets with the team's
#      token, one GET /api/token and one IAM token request, Ready True with the
#      50 in provisionedNamespaces.
#   2. A namespace that starts matching gets the Secret within seconds; one
#      that stops matching loses it (Delete) or keeps it without the
#      operator's labels (Retain).
#   3. The reset annotation rolls the UI-reset token out to every namespace
#      with one GET /api/token: revision 2 everywhere.
#   4. A deleted member Secret comes back.
#   5. Collisions with a SysdigToken's Secret, both ways: whoever created the
#      Secret keeps it, the other side reports SecretConflict, nothing flaps.
#   6. spec.namespaces naming a missing namespace: NamespaceNotFound for it,
#      the others provisioned; it gets the Secret once created.
#   7. Events about the ClusterSysdigToken, in namespace default, name the
#      namespace.
#   8. An operator restart fetches and writes nothing, and Ready stays True.
# A cluster-wide operator would also reconcile other tests' SysdigTokens, so
# this test runs alone (RUN_SERIAL).
#   cluster_tokens_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

install_cluster_crd
# The administrator's namespace (NS) holds the API key Secret; the operator
# runs cluster-wide.
OP_ALL_NAMESPACES=1 one_team_setup csdt-admin
op_logged op 'ClusterSysdigTokens are not handled' && fail "the operator started without --namespace does not handle ClusterSysdigTokens"
ADMIN=$NS
LABEL=sto-test-csdt

# apply_csdt NAME SPEC_LINES: creates or updates a ClusterSysdigToken of team
# $TEAM (API key Secret ibm-api-key in $ADMIN) with more spec lines (indented
# by two: the selection, the target); deleted on exit.
apply_csdt() {
  kubectl apply -f - >/dev/null <<EOF
apiVersion: monitoring.ibm.com/v1alpha1
kind: ClusterSysdigToken
metadata: {name: $1}
spec:
  instanceID: $GUID
  teamID: $TEAM
  endpoint: $FAKE_URL
  iamEndpoint: $FAKE_URL
  apiKeySecretRef: {name: ibm-api-key, namespace: $ADMIN}
$2
EOF
  [[ " ${CLUSTER_OBJECTS[*]} " == *" clustersysdigtoken/$1 "* ]] || CLUSTER_OBJECTS+=("clustersysdigtoken/$1")
}
csdt() { kubectl get clustersysdigtoken "$1" -o jsonpath="{$2}" 2>/dev/null; }
csdt_is() { [[ "$(csdt "$1" "$2")" == "$3" ]]; }
csdt_ready() { csdt "$1" '.status.conditions[?(@.type=="Ready")].status'; }
csdt_reason() { csdt "$1" '.status.conditions[?(@.type=="Ready")].reason'; }
csdt_ready_is() { [[ "$(csdt_ready "$1")/$(csdt_reason "$1")" == "$2/$3" ]]; }
# wait_csdt_ready NAME STATUS REASON [TIMEOUT]
wait_csdt_ready() {
  eventually "${4:-30}" csdt_ready_is "$1" "$2" "$3" ||
    fail "timed out after ${4:-30}s waiting for ClusterSysdigToken $1 to be Ready=$2 ($3); it is $(csdt_ready "$1")/$(csdt_reason "$1"): $(csdt "$1" '.status.conditions[0].message')"
}
provisioned() { csdt "$1" '.status.provisionedNamespaces[*]'; }
provisioned_is() { [[ "$(provisioned "$1")" == "$2" ]]; }
failed_reason() { csdt "$1" ".status.failedNamespaces[?(@.namespace==\"$2\")].reason"; }
failed_reason_is() { [[ "$(failed_reason "$1" "$2")" == "$3" ]]; }
# sorted NAME...: the names as the operator sorts them, space-separated.
sorted() { printf '%s\n' "$@" | LC_ALL=C sort | paste -sd ' '; }
# members NAME: "namespace secret token revision" of every Secret labelled as
# ClusterSysdigToken NAME's, all namespaces, one kubectl call.
members() {
  kubectl get secrets -A -l "monitoring.ibm.com/clustersysdigtoken=$1" -o go-template='{{range .items}}{{.metadata.namespace}} {{.metadata.name}} {{with index .data "SYSDIG_MONITOR_API_TOKEN"}}{{base64decode .}}{{end}} {{index .metadata.annotations "monitoring.ibm.com/revision"}}{{"\n"}}{{end}}' 2>/dev/null
}
# members_with NAME SECRET TOKEN REVISION: how many of them hold that token.
members_with() { members "$1" | grep -c " $2 $3 $4\$" || true; }
members_are() { (($(members_with "$1" "$2" "$3" "$4") == $5)) && (($(members "$1" | wc -l) == $5)); }
# In namespace NS (as the lib's helpers): the Secret's token, its labels.
ns_token_is() { [[ "$(NS=$1 secret_token "$2")" == "$3" ]]; }
ns_secret_gone() { NS=$1 secret_gone "$2"; }
csdt_events() {
  kubectl get events -n default --field-selector "involvedObject.kind=ClusterSysdigToken,involvedObject.name=$1" \
    -o jsonpath='{range .items[*]}{.type} {.reason}: {.message}{"\n"}{end}' 2>/dev/null
}
csdt_has_event() { csdt_events "$1" | grep -q -- "$2"; }
# op_alive WHEN: fails at once when the operator has exited.
op_alive() { operator_alive op || fail "the operator exited $1: $(op_log op | tail -n 3)"; }

# 1. 50 labelled namespaces, one ClusterSysdigToken selecting them.
new_namespaces FIFTY op-csdt 50 "$LABEL=$RAND"
MAIN=csdt-main-$RAND
fake_reset_counts
t0=$(now_ms)
apply_csdt "$MAIN" "  namespaceSelector: {matchLabels: {$LABEL: \"$RAND\"}}"
t1=$(now_ms)
eventually 120 members_are "$MAIN" "$MAIN" "$TOKEN" 1 50 ||
  fail "after 120 s $(members_with "$MAIN" "$MAIN" "$TOKEN" 1) of 50 namespaces have Secret $MAIN with the team's token (revision 1); $(members "$MAIN" | wc -l) Secrets are labelled for it"
secrets_ms=$(($(now_ms) - t1))
wait_csdt_ready "$MAIN" True TokenSynced 30
ready_ms=$(($(now_ms) - t1))
gets=$(fake_count 'GET /api/token' all)
iam=$(fake_count 'POST /identity/token' all)
((gets == 1)) || fail "50 namespaces of one team and one API key made $gets GET /api/token (want 1): $(fake_counts)"
((iam == 1)) || fail "50 namespaces with one API key made $iam IAM token requests (want 1): $(fake_counts)"
want=$(sorted "${FIFTY[@]}")
wait_for "provisionedNamespaces to list the 50 namespaces" 10 provisioned_is "$MAIN" "$want"
[[ "$(csdt "$MAIN" .status.teamID)" == "$TEAM" ]] || fail "status.teamID is '$(csdt "$MAIN" .status.teamID)', want $TEAM"
[[ "$(csdt "$MAIN" .status.tokenFingerprint)" == "$(fingerprint_of "$TOKEN")" ]] || fail "status.tokenFingerprint is not the token's"
[[ "$(csdt "$MAIN" .status.revision)/$(csdt "$MAIN" .status.secretName)" == "1/$MAIN" ]] ||
  fail "status revision/secretName: $(csdt "$MAIN" .status.revision)/$(csdt "$MAIN" .status.secretName)"
[[ "$(csdt "$MAIN" .status.observedGeneration)" == "$(csdt "$MAIN" .metadata.generation)" ]] || fail "status.observedGeneration is not the generation"
[[ -z "$(csdt "$MAIN" '.status.failedNamespaces[*]')" ]] || fail "failedNamespaces: $(csdt "$MAIN" .status.failedNamespaces)"
# One member as a SysdigToken's Secret looks, owned by the ClusterSysdigToken.
MAIN_UID=$(csdt "$MAIN" .metadata.uid)
got=$(kubectl get secret "$MAIN" -n "${FIFTY[16]}" -o go-template='{{index .metadata.labels "app.kubernetes.io/managed-by"}} {{index .metadata.labels "monitoring.ibm.com/clustersysdigtoken"}} {{index .metadata.annotations "monitoring.ibm.com/token-fingerprint"}} {{range .metadata.ownerReferences}}{{.kind}}/{{.name}}/{{.uid}}/{{.controller}} {{end}}')
[[ "$got" == "sysdig-token-operator $MAIN $(fingerprint_of "$TOKEN") ClusterSysdigToken/$MAIN/$MAIN_UID/true " ]] ||
  fail "member Secret in ${FIFTY[16]}: labels, fingerprint and owner references are '$got'"
pass "50 namespaces selected: all 50 Secrets hold the team's token $secrets_ms ms after kubectl apply returned ($((t1 - t0)) ms for the apply), Ready True after $ready_ms ms; 1 GET /api/token, 1 IAM token request; provisionedNamespaces has the 50, teamID $TEAM; Secrets labelled and owned (controller) by the ClusterSysdigToken"

# 2. Selection changes.
new_namespaces LATE op-csdt-late 1
N51=${LATE[0]}
sleep 1
NS=$N51 secret_exists "$MAIN" && fail "unlabelled namespace $N51 got Secret $MAIN"
t0=$(now_ms)
kubectl label namespace "$N51" "$LABEL=$RAND" >/dev/null
wait_for "the 51st namespace, just labelled, to get Secret $MAIN" 30 ns_token_is "$N51" "$MAIN" "$TOKEN"
join_ms=$(($(now_ms) - t0))
wait_for "provisionedNamespaces to list 51 namespaces" 15 provisioned_is "$MAIN" "$(sorted "${FIFTY[@]}" "$N51")"
pass "a namespace labelled afterwards got its Secret in $join_ms ms (and is listed in provisionedNamespaces, 51)"

GONE=${FIFTY[0]}
t0=$(now_ms)
kubectl label namespace "$GONE" "$LABEL-" >/dev/null
wait_for "Secret $MAIN to be deleted from $GONE, unlabelled" 30 ns_secret_gone "$GONE" "$MAIN"
leave_ms=$(($(now_ms) - t0))
sleep 1
op_alive "after deleting the Secret of a namespace that left the selection"
wait_for "provisionedNamespaces to drop $GONE" 15 provisioned_is "$MAIN" "$(sorted "${FIFTY[@]:1}" "$N51")"
wait_csdt_ready "$MAIN" True TokenSynced 10
pass "a namespace unlabelled (deletionPolicy Delete) lost its Secret in $leave_ms ms; 50 provisioned, Ready True"

KEEP=csdt-keep-$RAND
K1=${FIFTY[1]}
K2=${FIFTY[2]}
kubectl label namespace "$K1" "$K2" "$LABEL-keep=$RAND" >/dev/null
apply_csdt "$KEEP" "  namespaceSelector: {matchLabels: {$LABEL-keep: \"$RAND\"}}
  target: {name: keep-token, deletionPolicy: Retain}"
wait_for "Secret keep-token in $K1 and $K2" 30 members_are "$KEEP" keep-token "$TOKEN" 1 2
wait_csdt_ready "$KEEP" True TokenSynced 15
KEEP_UID=$(csdt "$KEEP" .metadata.uid)
[[ -z "$(NS=$K1 secret_jp keep-token .metadata.ownerReferences)" ]] || fail "Retain: the Secret has an owner reference: $(NS=$K1 secret_jp keep-token .metadata.ownerReferences)"
[[ "$(NS=$K1 secret_jp keep-token '.metadata.annotations.monitoring\.ibm\.com/owner-uid')" == "$KEEP_UID" ]] ||
  fail "Retain: the Secret does not record its owner's UID: $(NS=$K1 secret_jp keep-token .metadata.annotations)"
t0=$(now_ms)
kubectl label namespace "$K1" "$LABEL-keep-" >/dev/null
released() {
  local labels
  labels=$(NS=$K1 secret_jp keep-token .metadata.labels) || return 1
  NS=$K1 secret_exists keep-token && [[ "$labels" != *monitoring.ibm.com* && "$labels" != *managed-by* ]]
}
wait_for "the Secret in unlabelled $K1 to be released (Retain)" 30 released
release_ms=$(($(now_ms) - t0))
sleep 3
op_alive "after releasing the Secret of a namespace that left the selection"
NS=$K1 secret_exists keep-token || fail "Retain: the released Secret in $K1 was deleted"
labels=$(NS=$K1 secret_jp keep-token .metadata.labels)
ann=$(NS=$K1 secret_jp keep-token .metadata.annotations)
[[ "$labels" != *monitoring.ibm.com* && "$labels" != *managed-by* ]] || fail "Retain: the released Secret keeps the operator's labels: $labels"
[[ "$ann" != *owner-uid* ]] || fail "Retain: the released Secret keeps the owner-uid annotation: $ann"
[[ -z "$(NS=$K1 secret_jp keep-token .metadata.ownerReferences)" ]] || fail "Retain: the released Secret has owner references"
ns_token_is "$K1" keep-token "$TOKEN" || fail "Retain: the released Secret lost its token"
wait_for "$KEEP's provisionedNamespaces to be $K2 alone" 15 provisioned_is "$KEEP" "$K2"
pass "deletionPolicy Retain: unlabelled namespace's Secret released in $release_ms ms (token kept, labels '${labels:-none}', no owner-uid, no owner reference); Secret still there 3 s later"

# 3. Reset: the token reset in the "UI", then the annotation.
TOKEN2=$(fake_reset "$GUID" $TEAM)
fake_reset_counts
gen=$(csdt "$MAIN" .metadata.generation)
t0=$(now_ms)
kubectl annotate clustersysdigtoken "$MAIN" --overwrite monitoring.ibm.com/reset-token=r1 >/dev/null
eventually 60 members_are "$MAIN" "$MAIN" "$TOKEN2" 2 50 ||
  fail "60 s after the reset annotation $(members_with "$MAIN" "$MAIN" "$TOKEN2" 2) of 50 Secrets hold the new token with revision 2: $(fake_counts)"
reset_ms=$(($(now_ms) - t0))
wait_for "status revision 2 and lastHandledReset r1" 15 csdt_is "$MAIN" '.status.revision}/{.status.lastHandledReset' 2/r1
[[ "$(csdt "$MAIN" .status.tokenFingerprint)" == "$(fingerprint_of "$TOKEN2")" ]] || fail "status.tokenFingerprint is not the new token's"
wait_csdt_ready "$MAIN" True TokenSynced 10
[[ "$(csdt "$MAIN" .metadata.generation)" == "$gen" ]] || fail "the annotation bumped the generation"
[[ -n "$(csdt "$MAIN" .status.lastRotationTime)" ]] || fail "status.lastRotationTime is not set"
gets=$(fake_count 'GET /api/token' all)
((gets == 1)) || fail "the reset of 50 namespaces made $gets GET /api/token (want 1): $(fake_counts)"
wait_for "a TokenRotated event about $MAIN" 20 csdt_has_event "$MAIN" '^Normal TokenRotated: namespace '
pass "reset: all 50 Secrets hold the new token with revision 2 in $reset_ms ms; status revision 2, lastHandledReset r1, the new fingerprint; 1 GET /api/token; TokenRotated events"

# 4. Drift: a member Secret deleted comes back.
D=${FIFTY[9]}
t0=$(now_ms)
kubectl delete secret "$MAIN" -n "$D" >/dev/null
back() { [[ "$(NS=$D secret_token "$MAIN") $(NS=$D secret_revision "$MAIN")" == "$TOKEN2 2" ]]; }
wait_for "the deleted Secret in $D to come back" 30 back
drift_ms=$(($(now_ms) - t0))
[[ "$(csdt "$MAIN" .status.revision)" == 2 ]] || fail "drift repair bumped status.revision to $(csdt "$MAIN" .status.revision)"
members_are "$MAIN" "$MAIN" "$TOKEN2" 2 50 || fail "after the repair: $(members_with "$MAIN" "$MAIN" "$TOKEN2" 2) of 50 Secrets current"
pass "a deleted member Secret came back in $drift_ms ms with the current token and revision 2; status revision stays 2"

# 5. Collisions with a SysdigToken's Secret "shared".
new_namespace A op-csdt-a
new_namespace B op-csdt-b
new_namespace C op-csdt-c
for ns in "$A" "$C"; do NS=$ns api_key_secret ibm-api-key apikey "$KEY"; done
# (a) The SysdigToken's Secret exists first.
NS=$A apply_sdt owner "$(base_spec)
  target: {name: shared}"
NS=$A wait_ready owner True TokenSynced 30
CONFLICT=csdt-conflict-$RAND
apply_csdt "$CONFLICT" "  namespaces: [$A, $B, $C]
  target: {name: shared}"
wait_for "$CONFLICT to report SecretConflict for $A" 30 failed_reason_is "$CONFLICT" "$A" SecretConflict
wait_for "$CONFLICT to provision $B and $C" 30 provisioned_is "$CONFLICT" "$(sorted "$B" "$C")"
wait_csdt_ready "$CONFLICT" False SecretConflict 10
msg_a=$(csdt "$CONFLICT" ".status.failedNamespaces[?(@.namespace==\"$A\")].message")
[[ "$(NS=$A secret_jp shared '.metadata.labels.monitoring\.ibm\.com/sysdigtoken')" == owner ]] || fail "the SysdigToken's Secret in $A changed hands: $(NS=$A secret_jp shared .metadata.labels)"
[[ -z "$(NS=$A secret_jp shared '.metadata.labels.monitoring\.ibm\.com/clustersysdigtoken')" ]] || fail "the SysdigToken's Secret in $A got the ClusterSysdigToken's label"
NS=$A ready_is owner True TokenSynced || fail "the SysdigToken in $A is $(NS=$A ready owner)/$(NS=$A reason owner) after the collision"
for ns in "$B" "$C"; do ns_token_is "$ns" shared "$TOKEN2" || fail "Secret shared in $ns does not hold the token"; done
wait_for "a Warning SecretConflict event about $CONFLICT naming $A" 20 csdt_has_event "$CONFLICT" "^Warning SecretConflict: namespace $A: "
pass "SysdigToken first: $A in failedNamespaces (SecretConflict: ${msg_a:0:110}), $B and $C provisioned, Ready False/SecretConflict; the SysdigToken stays Ready True and keeps its Secret"
# (b) The ClusterSysdigToken's Secret exists first (in C).
NS=$C apply_sdt late "$(base_spec)
  target: {name: shared}"
NS=$C wait_ready late False SecretConflict 30
msg_c=$(NS=$C sdt late '.status.conditions[?(@.type=="Ready")].message')
[[ "$msg_c" == *"ClusterSysdigToken $CONFLICT"* ]] || fail "the SysdigToken's SecretConflict message does not name ClusterSysdigToken $CONFLICT: $msg_c"
[[ "$(NS=$C secret_jp shared '.metadata.labels.monitoring\.ibm\.com/clustersysdigtoken')" == "$CONFLICT" ]] || fail "the ClusterSysdigToken's Secret in $C changed hands: $(NS=$C secret_jp shared .metadata.labels)"
provisioned_is "$CONFLICT" "$(sorted "$B" "$C")" || fail "$C left provisionedNamespaces: $(provisioned "$CONFLICT")"
[[ -z "$(failed_reason "$CONFLICT" "$C")" ]] || fail "$C is in failedNamespaces: $(failed_reason "$CONFLICT" "$C")"
pass "ClusterSysdigToken first: the SysdigToken in $C is Ready False/SecretConflict (${msg_c:0:120}); $C stays provisioned"
# Neither side flaps: no write to the Secrets, their owners stay, and so do
# the winner SysdigToken and the ClusterSysdigToken. (The losing SysdigToken
# retries with backoff, as for any SecretConflict: its status counts attempts.)
snapshot() {
  echo "$(NS=$A secret_rv shared) $(NS=$C secret_rv shared) $(NS=$B secret_rv shared)" \
    "$(NS=$A secret_jp shared '.metadata.labels.monitoring\.ibm\.com/sysdigtoken')" \
    "$(NS=$C secret_jp shared '.metadata.labels.monitoring\.ibm\.com/clustersysdigtoken')" \
    "$(NS=$A sdt_rv owner) $(csdt "$CONFLICT" .metadata.resourceVersion)"
}
sleep 2
before=$(snapshot)
sleep 10
after=$(snapshot)
[[ "$before" == "$after" ]] ||
  fail "writes while in conflict (resourceVersions of Secret shared in $A, $C, $B, their owner labels in $A and $C, resourceVersions of SysdigToken owner and ClusterSysdigToken $CONFLICT): $before -> $after"
NS=$A ready_is owner True TokenSynced && NS=$C ready_is late False SecretConflict && csdt_ready_is "$CONFLICT" False SecretConflict ||
  fail "conditions changed: owner $(NS=$A ready owner)/$(NS=$A reason owner), late $(NS=$C ready late)/$(NS=$C reason late), $CONFLICT $(csdt_ready "$CONFLICT")/$(csdt_reason "$CONFLICT")"
pass "no flapping over 10 s: the Secrets in $A, $B, $C, their owners, SysdigToken owner and the ClusterSysdigToken stay as they were ($before); the losing SysdigToken is at failedAttempts $(NS=$C sdt late .status.failedAttempts)"

# 6. spec.namespaces with a namespace that does not exist.
new_namespace DNS op-csdt-d
MISSING=op-csdt-missing-$RAND
LISTED=csdt-listed-$RAND
apply_csdt "$LISTED" "  namespaces: [$B, $DNS, $MISSING]
  target: {name: listed-token}"
wait_for "$LISTED to report NamespaceNotFound for $MISSING" 30 failed_reason_is "$LISTED" "$MISSING" NamespaceNotFound
wait_for "$LISTED to provision $B and $DNS" 30 provisioned_is "$LISTED" "$(sorted "$B" "$DNS")"
wait_csdt_ready "$LISTED" False NamespacesFailed 10
for ns in "$B" "$DNS"; do ns_token_is "$ns" listed-token "$TOKEN2" || fail "Secret listed-token in $ns does not hold the token"; done
pass "spec.namespaces: missing $MISSING in failedNamespaces (NamespaceNotFound), $B and $DNS provisioned, Ready False/NamespacesFailed"
t0=$(now_ms)
new_namespace MISSING op-csdt-missing
wait_for "the listed namespace, once created, to get Secret listed-token" 30 ns_token_is "$MISSING" listed-token "$TOKEN2"
created_ms=$(($(now_ms) - t0))
wait_csdt_ready "$LISTED" True TokenSynced 15
provisioned_is "$LISTED" "$(sorted "$B" "$DNS" "$MISSING")" || fail "provisionedNamespaces after the creation: $(provisioned "$LISTED")"
pass "the missing namespace, created, got its Secret in $created_ms ms; $LISTED Ready True with 3 namespaces"

# 7. Events: about the ClusterSysdigToken, in namespace default.
synced=$(csdt_events "$MAIN" | grep -c '^Normal TokenSynced: namespace ' || true)
((synced > 0)) || fail "no Normal TokenSynced event about $MAIN in namespace default starting 'namespace ': $(csdt_events "$MAIN" | head -n 5)"
n_events=$(csdt_events "$MAIN" | wc -l)
pass "Events in namespace default about ClusterSysdigToken $MAIN: $n_events, $synced of them Normal TokenSynced, e.g. '$(csdt_events "$MAIN" | grep -m1 '^Normal TokenSynced' | cut -c1-120)'"

# 8. An operator restart: nothing is fetched or written again, no first-sync
# Event, and Ready does not flap.
lts=$(csdt "$MAIN" '.status.conditions[?(@.type=="Ready")].lastTransitionTime')
main_rv=$(csdt "$MAIN" .metadata.resourceVersion)
synced_before=$(csdt_events "$MAIN" | grep -c '^Normal TokenSynced' || true)
stop_operator op TERM
fake_reset_counts
OP_ALL_NAMESPACES=1 start_operator op
wait_operator_started op
flaps=0
for _ in $(seq 1 50); do
  csdt_ready_is "$MAIN" True TokenSynced || flaps=$((flaps + 1))
  sleep 0.1
done
sleep 2
((flaps == 0)) || fail "after a restart $MAIN was not Ready True in $flaps of 50 looks: $(csdt_ready "$MAIN")/$(csdt_reason "$MAIN")"
gets=$(fake_count 'GET /api/token' all)
((gets == 0)) || fail "after a restart the operator fetched again: $gets GET /api/token ($(fake_counts))"
[[ "$(csdt "$MAIN" '.status.conditions[?(@.type=="Ready")].lastTransitionTime')" == "$lts" ]] ||
  fail "Ready's lastTransitionTime changed across the restart"
synced_after=$(csdt_events "$MAIN" | grep -c '^Normal TokenSynced' || true)
((synced_after == synced_before)) || fail "the restart reported first syncs again: TokenSynced events $synced_before -> $synced_after"
pass "operator restarted: $MAIN stayed Ready True (50 looks over 5 s), 0 GET /api/token, no new TokenSynced event (status resourceVersion $main_rv -> $(csdt "$MAIN" .metadata.resourceVersion))"

op_alive "at the end"
check_no_leaks
