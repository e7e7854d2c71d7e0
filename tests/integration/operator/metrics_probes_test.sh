#!/usr/bin/env bash
# operator.metrics_probes: the operator's /healthz, /readyz and /metrics.
#   - /healthz answers 200 at once; /readyz answers 503 while the informer
#     caches cannot sync (the API server is reached through a TCP relay that
#     holds every connection) and 200 once they have;
#   - /metrics, after a sync and a rotation, parses with the Prometheus
#     client library's exposition-format parser and carries controller-runtime's
#     names and the operator's own, with values that match what happened;
#   - no API key or token appears in the metrics (nor in logs, events, status).
#   metrics_probes_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

PY=/usr/bin/python3
$PY -c 'import prometheus_client.parser' 2>/dev/null ||
  fail "python3-prometheus-client is missing (scripts/test installs it)"

install_crd
new_namespace NS op-metrics
GUID=$(new_guid)
TEAM=26055
KEY=metrics-api-key-$RAND
cat >"$WORK/fake.yaml" <<YAML
apiKeys:
  - {key: "$KEY", iamID: "IBMid-METRICS"}
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$(new_guid)"}
YAML
start_fake "$WORK/fake.yaml"
api_key_secret ibm-api-key apikey "$KEY"

# A TCP relay to the API server that holds connections until $WORK/release exists.
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
hostport=${server#https://}
cat >"$WORK/relay.py" <<'PY'
import asyncio, os, sys
host, port, release, port_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
async def pipe(r, w):
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def handle(cr, cw):
    while not os.path.exists(release):
        await asyncio.sleep(0.05)
    sr, sw = await asyncio.open_connection(host, port)
    await asyncio.gather(pipe(cr, sw), pipe(sr, cw))
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.sockets[0].getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    async with srv:
        await srv.serve_forever()
asyncio.run(main())
PY
$PY "$WORK/relay.py" "${hostport%:*}" "${hostport##*:}" "$WORK/release" "$WORK/relay.port" &
EXTRA_PIDS+=($!)
relay_listening() { [[ -s "$WORK/relay.port" ]]; }
wait_for "the relay to listen" 10 relay_listening
kubectl config view --raw --minify >"$WORK/relay.kubeconfig"
KUBECONFIG="$WORK/relay.kubeconfig" kubectl config set-cluster "$(kubectl config view --minify -o jsonpath='{.clusters[0].name}')" \
  --server "https://127.0.0.1:$(cat "$WORK/relay.port")" >/dev/null

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MPORT=$(free_port)
HPORT=$(free_port)
OP_KUBECONFIG="$WORK/relay.kubeconfig" OP_METRICS_ADDRESS="127.0.0.1:$MPORT" \
  OP_HEALTH_ADDRESS="127.0.0.1:$HPORT" start_operator op
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1$2" || true; }
code_is() { [[ "$(code "$1" "$2")" == "$3" ]]; }
wait_for "/healthz to answer 200" 10 code_is $HPORT /healthz 200
for _ in 1 2 3 4 5; do
  got=$(code $HPORT /readyz)
  [[ "$got" == 503 ]] || fail "/readyz answered $got while the caches could not sync"
  sleep 0.3
done
body=$(curl -s --max-time 2 "http://127.0.0.1:$HPORT/readyz")
pass "/healthz 200 at once; /readyz 503 while the API server is unreachable ($body)"

touch "$WORK/release"
t0=$(now_ms)
wait_for "/readyz to answer 200 after the caches synced" 30 code_is $HPORT /readyz 200
pass "/readyz 200 $(($(now_ms) - t0)) ms after the API server became reachable"
wait_operator_started op

apply_sdt ops "$(base_spec)"
wait_ready ops True TokenSynced 30
NEW=$(fake_reset "$GUID" $TEAM)
kubectl annotate sdt ops -n "$NS" --overwrite monitoring.ibm.com/reset-token=one >/dev/null
wait_for "the rotation" 30 secret_token_is ops "$NEW"
sleep 1

curl -sS --fail --max-time 5 -D "$WORK/metrics.headers" "http://127.0.0.1:$MPORT/metrics" >"$WORK/metrics.txt" ||
  fail "GET /metrics failed"
grep -qi '^content-type: text/plain; version=0.0.4' "$WORK/metrics.headers" ||
  fail "/metrics content type: $(grep -i '^content-type' "$WORK/metrics.headers")"
[[ "$(code $HPORT /metrics)" == 404 ]] || fail "the probe port serves /metrics"

$PY - "$WORK/metrics.txt" <<'PY' || fail "the metrics checks failed (see above)"
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
families = {f.name: f for f in text_string_to_metric_families(text)}
samples = {}
for f in families.values():
    for s in f.samples:
        samples.setdefault(s.name, []).append(s)
errors = []
def value(metric, **labels):
    total, found = 0.0, False
    for s in samples.get(metric, []):
        if all(s.labels.get(k) == v for k, v in labels.items()):
            total += s.value
            found = True
    if not found:
        errors.append(f"no sample {metric}{labels}")
    return total
def expect(cond, text):
    if not cond:
        errors.append(text)
# The parser names counter families without _total.
for name, kind in [("controller_runtime_reconcile", "counter"),
                   ("controller_runtime_reconcile_errors", "counter"),
                   ("controller_runtime_reconcile_time_seconds", "histogram"),
                   ("workqueue_depth", "gauge"), ("workqueue_adds", "counter"),
                   ("workqueue_retries", "counter"), ("leader_election_master_status", "gauge"),
                   ("rest_client_requests", "counter"), ("sysdigtoken_rotations", "counter"),
                   ("sysdigtoken_last_rotation_timestamp_seconds", "gauge"),
                   ("sysdigtoken_ibm_requests", "counter"), ("sysdigtoken_resources", "gauge"),
                   ("process_resident_memory_bytes", "gauge")]:
    f = families.get(name)
    expect(f is not None and f.type == kind, f"family {name} of type {kind}: {f and f.type}")
ok = value("controller_runtime_reconcile_total", controller="sysdigtoken")
expect(ok >= 2, f"reconcile_total {ok}")
count = value("controller_runtime_reconcile_time_seconds_count", controller="sysdigtoken")
expect(count == ok, f"reconcile_time_seconds_count {count} != reconcile_total {ok}")
inf = value("controller_runtime_reconcile_time_seconds_bucket", controller="sysdigtoken", le="+Inf")
expect(inf == count, f"+Inf bucket {inf} != count {count}")
expect(value("workqueue_adds_total", name="sysdigtoken") >= 2, "workqueue_adds_total")
expect(value("leader_election_master_status", name="sysdig-token-operator") == 1, "leader_election_master_status")
expect(value("rest_client_requests_total", method="PATCH", code="200") >= 2, "PATCH 200 requests")
expect(value("rest_client_requests_total", method="GET") >= 1, "GET requests")
expect(value("sysdigtoken_rotations_total") == 1, f"rotations {value('sysdigtoken_rotations_total')}")
expect(value("sysdigtoken_last_rotation_timestamp_seconds") > 1.7e9, "last rotation timestamp")
expect(value("sysdigtoken_ibm_requests_total", api="iam", code="200") == 1, "one IAM request")
expect(value("sysdigtoken_ibm_requests_total", api="monitoring", code="200") == 2, "two Monitoring requests")
expect(value("sysdigtoken_resources", ready="True") == 1, "one Ready resource")
expect(value("sysdigtoken_resources", ready="False") == 0, "no failing resource")
expect(value("process_resident_memory_bytes") > 0, "resident memory")
for e in errors:
    print("metrics:", e)
print(f"parsed {len(families)} families, {sum(len(v) for v in samples.values())} samples")
sys.exit(1 if errors else 0)
PY
pass "/metrics parsed by prometheus_client: controller-runtime and operator metrics with the expected values"

while IFS= read -r value; do
  [[ -z "$value" ]] && continue
  grep -qF -- "$value" "$WORK/metrics.txt" && fail "a secret value appears in /metrics"
done <"$SECRETS_FILE"
pass "no API key or token in /metrics"
check_no_leaks
