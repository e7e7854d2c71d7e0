#!/usr/bin/env bash
# SIGTERM with the work queue full, on a benchmark left running by
# `scripts/bench --keep` (N SysdigTokens, all Ready).
#
#   tests/bench/sigterm_queued.sh WORK OPERATOR_PID FAKE_URL
#
# WORK, OPERATOR_PID and FAKE_URL are what `scripts/bench --keep` printed.
# It stops the benchmark's operator, resets every team in the fake and
# annotates every SysdigToken with one new reset value, then starts the
# operator with leader election and `--reset-gather 0` (every resource is
# real work at once: a fetch, a Secret write, a status write), sends SIGTERM
# 3 s after the queue held most of them (workers busy, thousands still
# queued), and measures:
#   - how long the operator took to exit, and its exit code (0 wanted,
#     within --graceful-shutdown-timeout, default 25 s);
#   - whether the Lease was released (holderIdentity empty);
#   - nothing half-written: a second operator finishes the work, and then
#     every resource has handled the reset exactly once (status revision =
#     the revision before + 1, the Secret's revision annotation equal to
#     it, its fingerprint the team's new token's).
# Exits non-zero when any of these fails.
set -euo pipefail

die() { echo "sigterm_queued: $*" >&2; exit 1; }
(($# == 3)) || die "usage: $0 WORK OPERATOR_PID FAKE_URL"
WORK=$1 OP_PID=$2 FAKE_URL=$3
[[ -f "$WORK/controlplane/env" ]] || die "$WORK/controlplane/env: no benchmark control plane there"
# shellcheck disable=SC1091
source "$WORK/controlplane/env"
CA="$WORK/fake/ca.crt"
mapfile -d '' CMD <"/proc/$OP_PID/cmdline" || die "no operator with pid $OP_PID"
METRICS=$(printf '%s\n' "${CMD[@]}" | grep -A1 -x -- --metrics-bind-address | tail -n1)
now_ms() { date +%s%3N; }
depth() {
  { curl -sf --max-time 2 "http://$METRICS/metrics" 2>/dev/null || true; } |
    awk '/^workqueue_depth[{ ]/ { d += $NF } END { print d + 0 }'
}

kill -TERM "$OP_PID"
for _ in $(seq 1 300); do kill -0 "$OP_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$OP_PID" 2>/dev/null && die "the benchmark's operator did not stop"

# Before: each resource's revision; every team reset in the fake.
kubectl get sdt -A -o json |
  jq -r '.items[] | "\(.metadata.namespace)/\(.metadata.name) \(.status.revision) \(.spec.teamID)"' \
    >"$WORK/before.txt"
N=$(wc -l <"$WORK/before.txt")
: >"$WORK/team-fingerprints.txt"
guid=$(kubectl get sdt -A -o json | jq -r '.items[0].spec.instanceID')
for team in $(awk '{ print $3 }' "$WORK/before.txt" | sort -u); do
  token=$(curl -sS --fail --cacert "$CA" -X POST "$FAKE_URL/_fake/instances/$guid/teams/$team/reset" |
    jq -r .token)
  [[ -n "$token" && "$token" != null ]] || die "the fake did not reset team $team"
  echo "$team sha256:$(printf '%s' "$token" | sha256sum | cut -c1-16)" >>"$WORK/team-fingerprints.txt"
done
RESET="sigterm-$(date +%s)"
t0=$(now_ms)
kubectl get ns -o name | grep '^namespace/bench-' | cut -d/ -f2 |
  xargs -P 8 -I{} kubectl -n {} annotate sdt --all --overwrite "monitoring.ibm.com/reset-token=$RESET" >/dev/null
echo "sigterm_queued: $N SysdigTokens annotated in $(($(now_ms) - t0)) ms"

# An operator with leader election and a full queue.
start_operator() {
  SSL_CERT_FILE="$CA" "${CMD[@]}" --leader-elect --leader-election-namespace default --reset-gather 0 \
    >>"$WORK/sigterm-operator.log" 2>&1 &
  PID=$!
}
start_operator
max=0
for _ in $(seq 1 600); do
  d=$(depth)
  ((d > max)) && max=$d
  ((max >= N * 8 / 10)) && break
  sleep 0.05
done
((max >= N / 2)) || die "the queue never held half of the $N resources (max $max)"
# Stop in the middle of the work: workers busy, thousands still queued.
sleep 3
queued=$(depth)
t0=$(now_ms)
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
exit_ms=$(($(now_ms) - t0))
holder=$(kubectl -n default get lease sysdig-token-operator -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)
handled=$(kubectl get sdt -A -o json | jq --arg r "$RESET" '[.items[] | select(.status.lastHandledReset == $r)] | length')
echo "sigterm_queued: SIGTERM with $queued queued (max $max): exit code $rc after $exit_ms ms; Lease holder '${holder}'; $handled of $N handled before the stop"

# A second operator finishes; then every resource handled the reset once.
start_operator
deadline=$(($(date +%s) + 600))
while :; do
  handled=$(kubectl get sdt -A -o json | jq --arg r "$RESET" '[.items[] | select(.status.lastHandledReset == $r)] | length')
  ((handled == N)) && break
  (($(date +%s) < deadline)) || die "only $handled of $N handled the reset within 10 minutes"
  sleep 2
done
kill -TERM "$PID"
wait "$PID" || true
kubectl get sdt -A -o json |
  jq -r '.items[] | "\(.metadata.namespace)/\(.metadata.name) \(.status.revision) \(.status.lastResetOutcome)"' |
  sort >"$WORK/after.txt"
kubectl get secrets -A -l app.kubernetes.io/managed-by=sysdig-token-operator -o json |
  jq -r '.items[] | "\(.metadata.namespace)/\(.metadata.name) \(.metadata.annotations["monitoring.ibm.com/revision"]) \(.metadata.annotations["monitoring.ibm.com/token-fingerprint"])"' |
  sort >"$WORK/secrets.txt"
bad=$(join <(sort "$WORK/before.txt") "$WORK/after.txt" | join - "$WORK/secrets.txt" |
  awk 'NR == FNR { fp[$1] = $2; next }
       { if ($4 != $2 + 1 || $5 != "Rotated" || $6 != $4 || $7 != fp[$3]) { print; n++ } }
       END { exit n > 0 }' "$WORK/team-fingerprints.txt" - || true)
[[ -z "$bad" ]] || die "resources not handled exactly once:"$'\n'"$(head -n 5 <<<"$bad")"
((rc == 0)) || die "the operator exited with $rc after SIGTERM"
((exit_ms <= 25000)) || die "the operator took $exit_ms ms to exit (graceful timeout 25 s)"
[[ -z "$holder" ]] || die "the Lease still names $holder"
echo "sigterm_queued: ok: all $N rotated exactly once (revision +1, Secret and status agree, new fingerprints)"
