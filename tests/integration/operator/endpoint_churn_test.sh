#!/usr/bin/env bash
# operator.endpoint_churn: tenants point SysdigTokens at many distinct IBM
# Cloud endpoints (here: 100 ports of fake-ibm-cloud, each another origin for
# both spec.endpoint and spec.iamEndpoint). The operator must hold up: every
# resource syncs, its memory (VmRSS) grows by less than 8 MiB over the
# warmed-up baseline, the pool of IBM Cloud HTTP clients
# (sysdigtoken_ibm_http_clients) stays within its bound, and once the
# resources are deleted the pool drops its idle clients and the memory
# falls back.
# The operator trusts the system CA bundle plus the fake's CA, as a pod with
# the system store does (a context holding ~140 CAs is what costs memory).
#   endpoint_churn_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
# STO_CHURN_ENDPOINTS (default 100) and STO_CHURN_MAX_GROWTH_KIB (default
# 8192) change the load and the bound.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

N=${STO_CHURN_ENDPOINTS:-100}
MAX_GROWTH_KIB=${STO_CHURN_MAX_GROWTH_KIB:-8192}
POOL_BOUND=32 # GatewayOptions::max_clients
SYSTEM_CA=/etc/ssl/certs/ca-certificates.crt
[[ -s $SYSTEM_CA ]] || fail "$SYSTEM_CA is missing (Debian package ca-certificates)"
command -v python3 >/dev/null || fail "python3 is needed to pick a free port"

install_crd
new_namespace NS op-churn
GUID=$(new_guid)
TEAM=26055
KEY=churn-api-key-$RAND
cat >"$WORK/fake.yaml" <<EOF
apiKeys:
  - {key: "$KEY", iamID: "IBMid-CHURN"}
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$(new_guid)"}
EOF
# One fake, N + 1 listeners (the first is the one start_fake reports): the
# fake is started through a wrapper that adds the listeners.
{
  echo '#!/bin/sh'
  printf 'exec %q "$@"' "$FAKE_BIN"
  for _ in $(seq 0 "$N"); do printf ' --listen 127.0.0.1:0'; done
  printf ' --ports-file %q\n' "$WORK/fake/ports"
} >"$WORK/fake-many-ports"
chmod +x "$WORK/fake-many-ports"
FAKE_BIN="$WORK/fake-many-ports" start_fake "$WORK/fake.yaml"
mapfile -t PORTS < <(tail -n +2 "$WORK/fake/ports")
((${#PORTS[@]} == N)) || fail "the fake listens on ${#PORTS[@]} extra ports, want $N"
# The operator's trust store: the system bundle plus the fake's CA.
cat "$SYSTEM_CA" "$FAKE_CA" >"$WORK/ca-bundle.pem"
FAKE_CA=$WORK/ca-bundle.pem
api_key_secret ibm-api-key apikey "$KEY"

MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
OP_METRICS_ADDRESS="127.0.0.1:$MPORT" start_operator op
wait_operator_started op
# pool_clients: sysdigtoken_ibm_http_clients, or "none" when not exported.
pool_clients() {
  curl -sS --max-time 5 "http://127.0.0.1:$MPORT/metrics" |
    awk '/^sysdigtoken_ibm_http_clients / {print $2; found = 1} END {if (!found) print "none"}'
}
pool_at_most() { local n; n=$(pool_clients); [[ $n != none ]] && ((${n%.*} <= $1)); }
ready_count() {
  kubectl get sdt -n "$NS" -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    grep -c '^True$' || true
}
ready_count_is() { (($(ready_count) == $1)); }
# sdts FIRST LAST: SysdigTokens churn-FIRST..churn-LAST, one per port.
sdts() {
  local i
  for i in $(seq "$1" "$2"); do
    cat <<EOF
---
apiVersion: monitoring.ibm.com/v1alpha1
kind: SysdigToken
metadata: {name: churn-$i}
spec:
  instanceID: $GUID
  teamID: $TEAM
  endpoint: https://127.0.0.1:${PORTS[$((i - 1))]}
  iamEndpoint: https://127.0.0.1:${PORTS[$((i - 1))]}
  apiKeySecretRef: {name: ibm-api-key}
  target: {name: churn-$i}
EOF
  done
}

# 1. Warm-up: one resource on the main port, and a short churn of five
# endpoints created and deleted, so that the baseline has every code path
# (TLS, JSON, informers, status writes) warm.
apply_sdt steady "$(base_spec)
  target: {name: steady}"
wait_ready steady True TokenSynced 60
sdts 1 5 | kubectl apply -n "$NS" -f - >/dev/null
wait_for "the warm-up resources to sync" 60 ready_count_is 6
sdts 1 5 | kubectl delete -n "$NS" -f - --wait=true >/dev/null
sleep 3
BASE=$(op_rss_kib op)
info "baseline after warm-up: VmRSS $BASE KiB, $(pool_clients) IBM HTTP clients"

# 2. N resources, N distinct endpoints; the pool's size is sampled all along.
(while :; do
  pool_clients || true
  sleep 0.2
done) >"$WORK/pool-samples" 2>/dev/null &
SAMPLER=$!
EXTRA_PIDS+=("$SAMPLER")
t0=$(now_ms)
sdts 1 "$N" | kubectl apply -n "$NS" -f - >/dev/null
deadline=$(($(now_ms) + 180000))
until ready_count_is $((N + 1)); do
  (($(now_ms) < deadline)) || fail "only $(ready_count) of $((N + 1)) SysdigTokens became Ready within 180 s"
  sleep 0.5
done
pass "$N SysdigTokens on $N distinct endpoints created and synced in $(($(now_ms) - t0)) ms"
sleep 3
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
peak_pool=$(awk '$1 != "none" && $1 + 0 > max {max = $1 + 0} END {print max + 0}' "$WORK/pool-samples")
LOADED=$(op_rss_kib op)
LOADED_POOL=$(pool_clients)
GROWTH=$((LOADED - BASE))
info "with $N endpoints: VmRSS $LOADED KiB (+$GROWTH KiB), $LOADED_POOL IBM HTTP clients (peak seen $peak_pool in $(wc -l <"$WORK/pool-samples") samples)"
((GROWTH < MAX_GROWTH_KIB)) ||
  fail "VmRSS grew by $GROWTH KiB with $N distinct endpoints (want < $MAX_GROWTH_KIB KiB)"
pass "VmRSS grew by $GROWTH KiB (< $MAX_GROWTH_KIB KiB) with $N distinct endpoints"
[[ $LOADED_POOL != none ]] || fail "/metrics has no sysdigtoken_ibm_http_clients"
((peak_pool <= POOL_BOUND && ${LOADED_POOL%.*} <= POOL_BOUND)) ||
  fail "the IBM HTTP client pool held $peak_pool / $LOADED_POOL clients (bound $POOL_BOUND)"
pass "the IBM HTTP client pool stayed within its bound ($LOADED_POOL now, peak seen $peak_pool, bound $POOL_BOUND)"

# 3. Deleted: the idle clients go (idle timeout 2 min, swept every 30 s).
sdts 1 "$N" | kubectl delete -n "$NS" -f - --wait=true >/dev/null
t0=$(now_ms)
wait_for "the IBM HTTP client pool to drop its idle clients" 240 pool_at_most 1
pass "after deleting them the pool fell from $LOADED_POOL to $(pool_clients) clients in $(($(now_ms) - t0)) ms"
sleep 6 # the operator gives freed memory back every 5 s
AFTER=$(op_rss_kib op)
# The clients' memory goes back: at least a third of the growth is returned
# (measured: about half; the rest is allocator fragmentation).
WANT=$((LOADED - (LOADED - BASE) / 3))
((AFTER <= WANT)) ||
  fail "VmRSS stayed at $AFTER KiB after the clients went (baseline $BASE, loaded $LOADED; want <= $WANT)"
pass "VmRSS fell back to $AFTER KiB (baseline $BASE, loaded $LOADED)"
# The steady resource still works (its client is made again when needed).
wait_ready steady True TokenSynced 10

check_no_leaks
