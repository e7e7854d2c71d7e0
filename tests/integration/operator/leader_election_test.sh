#!/usr/bin/env bash
# operator.leader_election: several operator processes with --leader-elect
# and a Lease in the test's namespace. Only the leader starts its workers and
# reconciles; on SIGTERM the leader releases the Lease and another replica
# takes over at once; after a SIGKILL another takes over within the lease
# duration (15 s) plus the retry period (2 s), without re-fetching anything.
# Each new leader reconciles a new resource. A replica whose Lease is taken
# by someone else stops at once.
#   leader_election_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

install_crd
new_namespace NS op-leader
GUID=$(new_guid)
TEAM=26055
KEY=leader-api-key-$RAND
cat >"$WORK/fake.yaml" <<EOF
apiKeys:
  - {key: "$KEY", iamID: "IBMid-LEADER"}
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$(new_guid)"}
EOF
start_fake "$WORK/fake.yaml"
api_key_secret ibm-api-key apikey "$KEY"
LEASE_ARGS=(--leader-elect --leader-election-namespace "$NS" --leader-election-id sto-leader-test)

leading() { op_logged "$1" '"msg":"starting workers"'; }
reconciled() { op_logged "$1" "\"resource\":\"$NS/$2\""; }
holder() { kubectl get lease sto-leader-test -n "$NS" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
# wait_leader CANDIDATES...: waits for one of them to lead; sets LEADER.
wait_leader() {
  local deadline=$(($(now_ms) + 60000)) c
  LEADER=
  while [[ -z "$LEADER" ]]; do
    for c in "$@"; do leading "$c" && LEADER=$c; done
    (($(now_ms) < deadline)) || fail "none of $* became the leader within 60 s"
    [[ -n "$LEADER" ]] || sleep 0.1
  done
}

# 1. Two replicas: one leads.
start_operator a "${LEASE_ARGS[@]}"
start_operator b "${LEASE_ARGS[@]}"
wait_leader a b
if [[ $LEADER == a ]]; then FOLLOWER=b; else FOLLOWER=a; fi
sleep 4
leading $FOLLOWER && fail "both replicas started their workers"
holder_1=$(holder)
[[ -n "$holder_1" ]] || fail "the Lease has no holder"
apply_sdt r1 "$(base_spec)"
wait_ready r1 True TokenSynced 30
sleep 1
reconciled $LEADER r1 || fail "the leader $LEADER did not log the reconcile of r1"
reconciled $FOLLOWER r1 && fail "the follower $FOLLOWER reconciled r1"
op_logged $FOLLOWER '"msg":"reconcile"' && fail "the follower $FOLLOWER reconciled something"
pass "two replicas: $LEADER leads (Lease holder $holder_1) and reconciled r1; $FOLLOWER waits and reconciles nothing"

# 2. SIGTERM the leader: the Lease is released, the follower takes over at once.
OLD=$LEADER
t0=$(now_ms)
stop_operator $OLD TERM
[[ "$STOP_RC" == 0 ]] || fail "the leader exited with $STOP_RC on SIGTERM"
stop_ms=$(($(now_ms) - t0))
wait_for "$FOLLOWER to take over after SIGTERM" 30 leading $FOLLOWER
takeover_term=$(($(now_ms) - t0))
((takeover_term <= 6000)) || fail "takeover after SIGTERM took $takeover_term ms (the Lease should be released: want about the retry period, 2 s)"
LEADER=$FOLLOWER
new_holder() { [[ -n "$(holder)" && "$(holder)" != "$holder_1" ]]; }
wait_for "the Lease to name the new leader" 10 new_holder
holder_2=$(holder)
apply_sdt r2 "$(base_spec)"
wait_ready r2 True TokenSynced 30
reconciled $LEADER r2 || fail "the new leader $LEADER did not reconcile r2"
pass "SIGTERM: $OLD exited 0 in $stop_ms ms and released the Lease; $LEADER took over $takeover_term ms after the signal (Lease holder $holder_2) and reconciled r2"

# 3. SIGKILL the leader: a third replica takes over once the Lease expires.
start_operator c "${LEASE_ARGS[@]}"
sleep 4
leading c && fail "a third replica started its workers while $LEADER leads"
OLD=$LEADER
fake_reset_counts
t0=$(now_ms)
kill9_operator $OLD
wait_for "c to take over after SIGKILL" 30 leading c
takeover_kill=$(($(now_ms) - t0))
# The follower judges expiry from when it saw the last renewal (its polls are
# 2 s apart, so up to 2 s after the renewal), takes over at its first poll
# after 15 s from there: at most 18 s after the kill; 2 s slack for a loaded machine.
((takeover_kill <= 20000)) || fail "takeover after SIGKILL took $takeover_kill ms (want <= lease duration 15 s + retry period 2 s + 1 s, + 2 s slack)"
[[ "$(holder)" != "$holder_2" && -n "$(holder)" ]] || fail "the Lease still names the killed leader: $(holder)"
apply_sdt r3 "$(base_spec)"
wait_ready r3 True TokenSynced 30
reconciled c r3 || fail "the new leader c did not reconcile r3"
reconciled c r1 && fail "the new leader c fetched r1 again (nothing was due)"
counts=$(fake_counts)
[[ "$(fake_count 'GET /api/token' all)/$(fake_count 'POST /identity/token' all)" == 1/1 ]] ||
  fail "the takeover re-fetched tokens that were not due: $counts (want only r3's fetch and one IAM token)"
pass "SIGKILL: c took over $takeover_kill ms after the leader $OLD was killed (lease 15 s + retry 2 s) and reconciled r3; IBM requests since the kill: $counts (r3 only)"

# 4. The leader's SIGTERM while it leads and works: clean exit, Lease released.
t0=$(now_ms)
stop_operator c TERM
[[ "$STOP_RC" == 0 ]] || fail "c exited with $STOP_RC on SIGTERM"
[[ -z "$(holder)" ]] || fail "the last leader did not release the Lease: holder $(holder)"
pass "the last leader released the Lease on SIGTERM (exit 0 in $(($(now_ms) - t0)) ms)"

# 5. A replica whose Lease is taken stops reconciling at once (and exits).
start_operator d "${LEASE_ARGS[@]}"
wait_for "d to lead (the Lease was released)" 30 leading d
kubectl patch lease sto-leader-test -n "$NS" --type=merge \
  -p "{\"spec\":{\"holderIdentity\":\"thief\",\"leaseDurationSeconds\":60,\"renewTime\":\"$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)\"}}" >/dev/null
t0=$(now_ms)
operator_gone() { ! operator_alive "$1"; }
wait_for "d to stop after losing its Lease" 20 operator_gone d
lost_ms=$(($(now_ms) - t0))
stop_operator d KILL
((STOP_RC != 0)) || fail "d exited with 0 after losing its Lease (want a failure exit, so that it is restarted)"
op_logged d 'leadership lost' || fail "d did not log that it lost the leadership"
apply_sdt r4 "$(base_spec)"
sleep 3
[[ -z "$(ready r4)" ]] || fail "r4 was reconciled although no replica holds the Lease"
pass "a replica whose Lease was taken stopped $lost_ms ms later (exit code $STOP_RC, 'leadership lost'); nothing reconciles r4 while the thief holds the Lease"

check_no_leaks
