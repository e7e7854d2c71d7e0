#!/usr/bin/env bash
# operator.spoofed_secrets: a tenant puts the operator's managed-by label on
# 50 Secrets of its own, 1 MiB each. The operator caches a fixed projection of
# them (never their data): its RSS grows by less than 8 MiB, both while it
# runs and when it starts with them present; it still syncs a new
# SysdigToken within seconds, and it leaves the tenant's Secrets untouched.
#   spoofed_secrets_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

SPOOFED=50
LIMIT_KIB=$((8 * 1024))

one_team_setup spoof
apply_sdt first "$(base_spec)"
wait_ready first True TokenSynced 30
settle() { sleep 6; }  # the operator gives freed memory back every 5 s
settle
base=$(op_rss_kib op)
pass "operator synced one SysdigToken; RSS ${base} KiB"

# 1. 50 Secrets of 1 MiB (base64 of 760 KiB) with the operator's labels, one
#    naming an existing SysdigToken, the others made-up ones.
head -c $((760 * 1024)) /dev/urandom | base64 -w0 >"$WORK/blob"
for i in $(seq 1 $SPOOFED); do
  owner=ghost-$i
  ((i == 1)) && owner=first
  cat <<EOF
---
apiVersion: v1
kind: Secret
metadata:
  name: spoof-$i
  labels: {app.kubernetes.io/managed-by: sysdig-token-operator, monitoring.ibm.com/sysdigtoken: $owner}
data:
  token: $(cat "$WORK/blob")
EOF
done >"$WORK/spoof.yaml"
kubectl create -n "$NS" -f "$WORK/spoof.yaml" >/dev/null
# spoofed_rvs: "name=resourceVersion" of each spoofed Secret, one list.
spoofed_rvs() {
  kubectl get secrets -n "$NS" -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}' |
    grep '^spoof-' | sort
}
SPOOF_RVS=$(spoofed_rvs)
(($(wc -l <<<"$SPOOF_RVS") == SPOOFED)) || fail "listed $(wc -l <<<"$SPOOF_RVS") spoofed Secrets, want $SPOOFED"
pass "created $SPOOFED labelled Secrets of $(($(stat -c %s "$WORK/blob") / 1024)) KiB each"

# new_token_syncs NAME WHEN: a new SysdigToken (Secret NAME-token) is Ready
# within 10 s; then, once freed memory went back, the operator's RSS is less
# than LIMIT_KIB above the first run's.
new_token_syncs() {
  local t0 grown
  t0=$(now_ms)
  apply_sdt "$1" "$(base_spec)
  target: {name: $1-token}"
  wait_ready "$1" True TokenSynced 10
  pass "$2, a new SysdigToken was Ready $(($(now_ms) - t0)) ms after creation"
  settle
  grown=$(($(op_rss_kib op) - base))
  ((grown < LIMIT_KIB)) || fail "$2, RSS is $grown KiB above the first run's (want < $LIMIT_KIB KiB)"
  pass "$2, RSS is $grown KiB above the first run's (limit $LIMIT_KIB KiB)"
}

# 2. A new SysdigToken still syncs within seconds, and memory stays bounded.
new_token_syncs second "with $SPOOFED spoofed Secrets of 1 MiB watched"

# 3. A restart lists them all at once.
stop_operator op
start_operator op
wait_operator_started op
wait_ready second True TokenSynced 10
new_token_syncs third "after a restart that listed them"

# 4. The tenant's Secrets are left as they were; ours are intact.
[[ "$(spoofed_rvs)" == "$SPOOF_RVS" ]] || fail "the operator changed spoofed Secrets: $(diff <(echo "$SPOOF_RVS") <(spoofed_rvs) | head -5)"
for s in first second-token third-token; do
  [[ "$(secret_token "$s")" == "$TOKEN" ]] || fail "Secret $s does not hold the team's token"
done
pass "the spoofed Secrets are unchanged and the three managed Secrets hold the token"
check_no_leaks
