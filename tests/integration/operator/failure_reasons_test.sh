#!/usr/bin/env bash
# operator.failure_reasons: every Ready=False reason is reachable through the
# real API server, with a Warning event of that reason, status.failedAttempts
# > 0 and (for the ones that are retried) status.nextRetryTime; no Secret is
# written for a failing resource, an unmanaged Secret is never touched, two
# SysdigTokens naming one Secret do not flap, and a failure never blanks a
# Secret that holds a working token. Transient failures recover by themselves;
# failing resources back off; a huge (schema-valid) refreshInterval does not
# make the operator refresh in a loop.
#   failure_reasons_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

install_crd
new_namespace NS op-fail
GUID=$(new_guid)
GUID_IAM_ONLY=$(new_guid)
KEY=fail-api-key-$RAND
KEY2=fail-api-key2-$RAND
KEY3=fail-api-key3-$RAND
cat >"$WORK/fake.yaml" <<EOF
apiKeys:
  - {key: "$KEY", iamID: "IBMid-FAIL"}
  - {key: "$KEY2", iamID: "IBMid-FAIL2"}
  - {key: "$KEY3", iamID: "IBMid-FAIL3"}
instances:
  - guid: "$GUID"
    teams:
      - {id: 26055, name: Ops, token: "$(new_guid)"}
      - {id: 26056, name: Dev, token: "$(new_guid)"}
      - {id: 26057, name: Web, token: "$(new_guid)"}
      - {id: 26058, name: Data, token: "$(new_guid)"}
  - guid: "$GUID_IAM_ONLY"
    externalApiAuth: IAM_ONLY
    teams:
      - {id: 7, name: Locked, token: "$(new_guid)"}
EOF
start_fake "$WORK/fake.yaml"
TEAM=26055
api_key_secret ibm-api-key apikey "$KEY"
api_key_secret other-key-name not-apikey "$KEY"
api_key_secret unknown-api-key apikey "unknown-api-key-$RAND"
api_key_secret fresh-api-key apikey "$KEY2"
api_key_secret keeper-api-key apikey "$KEY3"
start_operator op
wait_operator_started op

# expect_failure NAME REASON RETRIED [SECRET]: Ready=False with REASON, a
# Warning event of REASON, failedAttempts > 0, nextRetryTime set when RETRIED
# (yes/no), no Secret named SECRET (default NAME; "-": do not check).
expect_failure() {
  local name=$1 want=$2 retried=$3 msg attempts next
  wait_ready "$name" False "$want" 30
  wait_for "a Warning $want event for $name" 20 has_event "$name" Warning "$want"
  msg=$(sdt "$name" '.status.conditions[?(@.type=="Ready")].message')
  [[ -n "$msg" ]] || fail "$name: Ready=False without a message"
  attempts=$(sdt "$name" .status.failedAttempts)
  ((attempts > 0)) || fail "$name: status.failedAttempts is '$attempts'"
  next=$(sdt "$name" .status.nextRetryTime)
  if [[ $retried == yes ]]; then
    [[ -n "$next" ]] || fail "$name ($want): status.nextRetryTime is not set"
  else
    [[ -z "$next" ]] || fail "$name ($want): nextRetryTime $next set for a failure that waits for a spec change"
  fi
  if [[ "${4:-$name}" != - ]] && secret_exists "${4:-$name}"; then
    fail "$name: a Secret was written although it failed"
  fi
  pass "$want ($name): failedAttempts $attempts, nextRetryTime ${next:-none}; \"$(cut -c1-150 <<<"$msg")\""
}

# 1. Failures that need no fault, all at once.
apply_sdt keeper "$(base_spec "$GUID" 26055 keeper-api-key)"
apply_sdt invalid-token-key "$(base_spec)
  target: {tokenKey: SYSDIG_MONITOR_URL}"
apply_sdt invalid-port "$(base_spec | sed "s|endpoint: .*|endpoint: https://127.0.0.1:99999|")"
apply_sdt no-api-key-secret "$(base_spec "$GUID" $TEAM missing-secret)"
apply_sdt no-api-key-key "$(base_spec "$GUID" $TEAM ibm-api-key | sed 's|apiKeySecretRef: .*|apiKeySecretRef: {name: other-key-name, key: apikey}|')"
apply_sdt bad-api-key "$(base_spec "$GUID" $TEAM unknown-api-key)"
apply_sdt iam-only "$(base_spec "$GUID_IAM_ONLY" 7)"
apply_sdt no-team-id "$(base_spec "$GUID" 99999)"
apply_sdt no-team-name "$(base_spec | sed 's/teamID: .*/teamName: No Such Team/')"
apply_sdt endpoint-not-allowed "$(base_spec | sed "s|endpoint: .*|endpoint: https://localhost:$FAKE_PORT|")"
apply_sdt iam-endpoint-not-allowed "$(base_spec | sed "s|iamEndpoint: .*|iamEndpoint: https://localhost:$FAKE_PORT|")"

expect_failure invalid-token-key InvalidSpec no
expect_failure invalid-port InvalidSpec no
expect_failure no-api-key-secret APIKeySecretNotFound yes
expect_failure no-api-key-key APIKeySecretNotFound yes
expect_failure bad-api-key APIKeyInvalid yes
expect_failure iam-only AccessDenied yes
expect_failure no-team-id TeamNotFound yes
expect_failure no-team-name TeamNotFound yes
expect_failure endpoint-not-allowed EndpointNotAllowed no
expect_failure iam-endpoint-not-allowed EndpointNotAllowed no
wait_ready keeper True TokenSynced 30
pass "keeper synced alongside the failing resources (revision $(revision keeper))"

# An InvalidSpec waits for a spec change; fixing the spec makes it Ready.
before="$(sdt invalid-token-key .status.failedAttempts) $(sdt endpoint-not-allowed .status.failedAttempts)"
sleep 3
after="$(sdt invalid-token-key .status.failedAttempts) $(sdt endpoint-not-allowed .status.failedAttempts)"
[[ "$after" == "$before" ]] ||
  fail "InvalidSpec / EndpointNotAllowed resources are attempted again without a spec change: failedAttempts $before -> $after in 3 s"
kubectl patch sdt invalid-token-key -n "$NS" --type=merge -p '{"spec":{"target":{"tokenKey":"token"}}}' >/dev/null
wait_ready invalid-token-key True TokenSynced 30
[[ "$(sdt invalid-token-key .status.failedAttempts)" == 0 && -z "$(sdt invalid-token-key .status.nextRetryTime)" ]] ||
  fail "after recovering: failedAttempts $(sdt invalid-token-key .status.failedAttempts), nextRetryTime $(sdt invalid-token-key .status.nextRetryTime)"
pass "InvalidSpec waits for a spec change; the fixed spec syncs and resets failedAttempts to 0"

# A failing resource backs off on its own (5 s, 10 s, 20 s ...): in 25 s a
# resource whose API key IAM rejects is attempted 3 times (at 0, ~5 and
# ~15 s), not again on the watch event of each of its own status writes.
# Ten such resources, each with its own rejected key (no coalescing).
kubectl delete sdt bad-api-key -n "$NS" >/dev/null
for i in $(seq 1 10); do api_key_secret "rejected-key-$i" apikey "rejected-api-key-$i-$RAND"; done
sleep 1
fake_reset_counts
for i in $(seq 1 10); do apply_sdt "backoff-$i" "$(base_spec "$GUID" $TEAM "rejected-key-$i")"; done
sleep 25
iam_400=$(fake_count 'POST /identity/token' 400)
attempts=$(kubectl get sdt -n "$NS" -o jsonpath='{range .items[*]}{.metadata.name} {.status.failedAttempts}{"\n"}{end}' | grep '^backoff-' | sort -k2 -n)
max=$(tail -n1 <<<"$attempts" | cut -d' ' -f2)
for i in $(seq 1 10); do kubectl delete sdt "backoff-$i" -n "$NS" --wait=false >/dev/null; done
((max <= 5 && iam_400 <= 50)) ||
  fail "failing SysdigTokens do not back off: 10 resources with rejected API keys made $iam_400 IAM requests in 25 s (want about 30 with the 5 s, 10 s backoff); failedAttempts up to $max ($(tr '\n' ' ' <<<"$attempts" | cut -c1-200))"
pass "backoff: 10 resources with rejected API keys made $iam_400 IAM requests in 25 s (at most $max attempts each)"

# 2. A failure never blanks a Secret that holds a working token.
OLD=$(secret_token keeper)
old_rv=$(secret_rv keeper)
NEW=$(fake_reset "$GUID" 26055)
fake_fault '{"pathPrefix":"/api/token","status":503}'
kubectl annotate sdt keeper -n "$NS" monitoring.ibm.com/reset-token=after-fault >/dev/null
wait_ready keeper False MonitoringUnavailable 30
[[ -n "$(sdt keeper .status.nextRetryTime)" && "$(sdt keeper .status.failedAttempts)" -gt 0 ]] ||
  fail "keeper: failedAttempts $(sdt keeper .status.failedAttempts), nextRetryTime '$(sdt keeper .status.nextRetryTime)'"
[[ "$(secret_token keeper)" == "$OLD" && "$(secret_rv keeper)" == "$old_rv" ]] || fail "the Secret was changed by a failed refetch"
pass "MonitoringUnavailable (503) on a reset refetch: the Secret keeps the old token, untouched (rv $old_rv)"
kubectl delete secret keeper-api-key -n "$NS" >/dev/null
kubectl annotate sdt keeper -n "$NS" --overwrite monitoring.ibm.com/reset-token=after-key-deleted >/dev/null
wait_ready keeper False APIKeySecretNotFound 30
[[ "$(secret_token keeper)" == "$OLD" && "$(secret_rv keeper)" == "$old_rv" ]] || fail "the Secret was changed when the API key Secret disappeared"
pass "APIKeySecretNotFound after a successful sync: the Secret keeps the old token, untouched"
api_key_secret keeper-api-key apikey "$KEY3"
fake_clear_faults
t0=$(now_ms)
wait_ready keeper True TokenSynced 60
wait_for "the keeper Secret to hold the new token" 20 secret_token_is keeper "$NEW"
[[ "$(revision keeper)" == 2 && "$(sdt keeper .status.lastHandledReset)" == after-key-deleted ]] ||
  fail "after recovering: revision $(revision keeper), lastHandledReset $(sdt keeper .status.lastHandledReset)"
pass "after the fault and the API key came back, the pending reset rotated the token $(($(now_ms) - t0)) ms later (revision 2)"

# 3. IAM and Monitoring unavailable, then recovering. (A fresh API key, so
# that no cached IAM token hides the IAM fault.)
fake_fault '{"pathPrefix":"/identity/token","status":503}'
apply_sdt iam-down "$(base_spec "$GUID" 26056 fresh-api-key)"
expect_failure iam-down IAMUnavailable yes
fake_clear_faults
wait_ready iam-down True TokenSynced 60
pass "IAMUnavailable recovers by itself once IAM answers (failedAttempts $(sdt iam-down .status.failedAttempts))"
fake_fault '{"pathPrefix":"/api/token","status":503}'
apply_sdt monitoring-down "$(base_spec "$GUID" 26057)"
expect_failure monitoring-down MonitoringUnavailable yes
fake_clear_faults
wait_ready monitoring-down True TokenSynced 60
pass "MonitoringUnavailable recovers by itself"

# 4. SecretConflict: an unmanaged Secret is never touched.
kubectl create secret generic taken -n "$NS" --from-literal=owner=someone-else >/dev/null
kubectl label secret taken -n "$NS" app=other >/dev/null
taken_rv=$(secret_rv taken)
apply_sdt wants-taken "$(base_spec)
  target: {name: taken}"
expect_failure wants-taken SecretConflict yes -
sleep 3
[[ "$(secret_rv taken)" == "$taken_rv" && "$(secret_token taken owner)" == someone-else ]] ||
  fail "the unmanaged Secret was modified (rv $taken_rv -> $(secret_rv taken))"
[[ -z "$(secret_jp taken .metadata.ownerReferences)" ]] || fail "the unmanaged Secret got an owner reference"
pass "the unmanaged Secret 'taken' stays untouched (rv $taken_rv, no owner reference, data as it was)"

# Two SysdigTokens naming one Secret: the second gets SecretConflict, no flapping.
apply_sdt twin-a "$(base_spec)
  target: {name: shared}"
wait_ready twin-a True TokenSynced 30
apply_sdt twin-b "$(base_spec "$GUID" 26056)
  target: {name: shared}"
expect_failure twin-b SecretConflict yes -
# and two created at the same moment
apply_sdt twin-c "$(base_spec)
  target: {name: shared2}" &
twin_c=$!
apply_sdt twin-d "$(base_spec "$GUID" 26056)
  target: {name: shared2}"
wait $twin_c
one_won() { [[ "$(ready twin-c)$(ready twin-d)" == TrueFalse || "$(ready twin-c)$(ready twin-d)" == FalseTrue ]]; }
wait_for "one of twin-c and twin-d to own Secret shared2" 30 one_won
if [[ "$(ready twin-c)" == True ]]; then winner=twin-c loser=twin-d; else winner=twin-d loser=twin-c; fi
wait_ready $loser False SecretConflict 30
sleep 2
rvs="$(secret_rv shared) $(secret_rv shared2) $(secret_jp shared '.metadata.labels.monitoring\.ibm\.com/sysdigtoken') $(secret_jp shared2 '.metadata.labels.monitoring\.ibm\.com/sysdigtoken')"
sleep 6
[[ "$rvs" == "$(secret_rv shared) $(secret_rv shared2) $(secret_jp shared '.metadata.labels.monitoring\.ibm\.com/sysdigtoken') $(secret_jp shared2 '.metadata.labels.monitoring\.ibm\.com/sysdigtoken')" ]] ||
  fail "Secrets shared by two SysdigTokens flap: $rvs -> $(secret_rv shared) $(secret_rv shared2) ..."
[[ "$(ready twin-a)/$(reason twin-b)/$(ready $winner)/$(reason $loser)" == True/SecretConflict/True/SecretConflict ]] ||
  fail "twins changed: twin-a $(ready twin-a), twin-b $(reason twin-b), $winner $(ready $winner), $loser $(reason $loser)"
[[ "$(secret_jp shared2 '.metadata.labels.monitoring\.ibm\.com/sysdigtoken')" == $winner ]] || fail "Secret shared2 is not labelled for $winner"
pass "two SysdigTokens, one Secret: the first keeps it, the second gets SecretConflict (also when created together: $winner won); no flapping in 6 s ($rvs)"

# 5. The largest refreshInterval the schema accepts (Go's maximum duration is
# 2562047h; 2500000h is about 285 years): either InvalidSpec, or one sync and
# then quiet — never a refresh loop.
fake_reset_counts
apply_sdt huge-interval "$(base_spec "$GUID" 26058)
  refreshInterval: 2500000h"
eventually 30 sdt_is huge-interval '.status.conditions[?(@.type=="Ready")].status' True ||
  eventually 1 ready_is huge-interval False InvalidSpec || true
sleep 5
huge_reason=$(reason huge-interval)
huge_next=$(sdt huge-interval .status.nextRefreshTime)
huge_gets=$(fake_count 'GET /api/token' all)
kubectl delete sdt huge-interval -n "$NS" >/dev/null
sleep 1
[[ "$huge_reason" == InvalidSpec ]] ||
  fail "refreshInterval 2500000h: want InvalidSpec, got reason '$huge_reason', nextRefreshTime $huge_next, $huge_gets GET /api/token in about 5 s"
pass "refreshInterval 2500000h: InvalidSpec"

# 6. RateLimited (last: Retry-After holds back this API key's requests to this origin).
fake_reset_counts
fake_fault '{"pathPrefix":"/api/token","status":429,"retryAfterSeconds":20,"times":1}'
apply_sdt rate-limited "$(base_spec "$GUID" 26058)"
t0=$(date +%s)
expect_failure rate-limited RateLimited yes
next=$(date -d "$(sdt rate-limited .status.nextRetryTime)" +%s)
((next - t0 >= 17)) || fail "nextRetryTime is only $((next - t0)) s ahead after Retry-After: 20"
sleep 8
((1 == $(fake_count 'GET /api/token' all))) || fail "requests during Retry-After: $(fake_counts)"
wait_ready rate-limited True TokenSynced 40
ok_after=$(($(date +%s) - t0))
if ((ok_after > 25)); then
  info "note: synced only $ok_after s after the 429 (Retry-After: 20); its events:"
  events rate-limited | sed 's/^/     /' | cut -c1-220
fi
((ok_after >= 18)) || fail "synced $ok_after s after a 429 with Retry-After: 20"
pass "RateLimited honours Retry-After: nextRetryTime $((next - t0)) s ahead, no request in the meantime, synced after $ok_after s ($(event_total rate-limited RateLimited) RateLimited events)"

# 7. SecretRejected: an admission policy refuses the Secret for good (as a
# quota or a policy engine would): Ready=False with the server's message, a
# Warning event, backoff (not a hot loop); the resource syncs once the
# policy is gone.
kubectl apply -f - >/dev/null <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: deny-blocked-secrets-$RAND}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [secrets]}
  validations:
    - expression: "!has(object.metadata.labels) || !('blocked' in object.metadata.labels)"
      message: "Secrets labelled blocked are not allowed here"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: deny-blocked-secrets-$RAND}
spec:
  policyName: deny-blocked-secrets-$RAND
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: $NS}
EOF
# The policy takes effect within a second or two: wait until it refuses.
policy_refuses() {
  ! kubectl apply --dry-run=server -f - >/dev/null 2>&1 <<EOP
apiVersion: v1
kind: Secret
metadata: {name: probe-blocked, namespace: $NS, labels: {blocked: "yes"}}
EOP
}
wait_for "the admission policy to refuse labelled Secrets" 30 policy_refuses
apply_sdt rejected "$(base_spec "$GUID" 26058)
  target: {labels: {blocked: \"yes\"}}"
expect_failure rejected SecretRejected yes
msg=$(sdt rejected '.status.conditions[?(@.type=="Ready")].message')
grep -q "not allowed here" <<<"$msg" || fail "SecretRejected message does not quote the server: $msg"
attempts0=$(sdt rejected .status.failedAttempts)
sleep 8
attempts1=$(sdt rejected .status.failedAttempts)
((attempts1 - attempts0 <= 2)) || fail "SecretRejected is retried in a hot loop: failedAttempts $attempts0 -> $attempts1 in 8 s"
pass "SecretRejected: \"$(cut -c1-120 <<<"$msg")\"; failedAttempts $attempts0 -> $attempts1 in 8 s (backoff)"
kubectl delete validatingadmissionpolicybinding "deny-blocked-secrets-$RAND" >/dev/null
kubectl delete validatingadmissionpolicy "deny-blocked-secrets-$RAND" >/dev/null
wait_ready rejected True TokenSynced 60
pass "after the policy is gone, the rejected resource syncs by itself"

check_no_leaks
