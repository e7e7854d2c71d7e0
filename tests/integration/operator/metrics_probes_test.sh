#!/usr/bin/env bash
# operator.metrics_probes: the operator's /healthz, /readyz and /metrics.
#   - /healthz answers 200 at once; /readyz answers 503 while the informer
#     caches cannot sync (the API server is reached through a TCP relay that
#     holds every connection) and 200 once they have;
#   - /metrics, after a sync and a rotation, parses with the Prometheus
#     client library's exposition-format parser and carries controller-runtime's
#     names and the operator's own, with values that match what happened;
#   - no API key or token appears in the metrics (nor in logs, events, status);
#   - 200 connections held open (silent, reopened when closed) on each of the
#     probe and metrics ports do not starve the probes: /healthz and /readyz
#     keep answering 200, and /metrics too;
#   - a kubeconfig with an http:// server is refused (exit 2, naming the file
#     and the cluster) unless --insecure-kubeconfig is given;
#   - an exec credential plugin that takes 5 s does not stop the event loop:
#     /healthz answers while it runs.
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
                   ("sysdigtoken_reset_pending_seconds", "gauge"),
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
expect(value("sysdigtoken_reset_pending_seconds") == 0, "no reset pending after the rotation")
for e in errors:
    print("metrics:", e)
print(f"parsed {len(families)} families, {sum(len(v) for v in samples.values())} samples")
sys.exit(1 if errors else 0)
PY
pass "/metrics parsed by prometheus_client: controller-runtime and operator metrics with the expected values"

# A reset that cannot be carried out (Monitoring answers 503) shows in
# sysdigtoken_reset_pending_seconds (the RotationStuck alert's gauge), which
# drops to 0 once the reset is handled.
pending() {
  curl -sS --max-time 5 "http://127.0.0.1:$MPORT/metrics" |
    awk '$1 == "sysdigtoken_reset_pending_seconds" {print int($2)}'
}
pending_at_least() { (($(pending) >= $1)); }
pending_zero() { [[ "$(pending)" == 0 ]]; }
fake_fault '{"pathPrefix":"/api/token","status":503}'
NEW=$(fake_reset "$GUID" $TEAM)
kubectl annotate sdt ops -n "$NS" --overwrite monitoring.ibm.com/reset-token=two >/dev/null
wait_for "the pending reset gauge to pass 3 s" 30 pending_at_least 3
fake_clear_faults
wait_for "the rotation after Monitoring recovered" 60 secret_token_is ops "$NEW"
wait_for "the pending reset gauge to drop to 0" 30 pending_zero
pass "a reset Monitoring cannot serve shows in sysdigtoken_reset_pending_seconds (>= 3 s), and drops to 0 once rotated"

while IFS= read -r value; do
  [[ -z "$value" ]] && continue
  grep -qF -- "$value" "$WORK/metrics.txt" && fail "a secret value appears in /metrics"
done <"$SECRETS_FILE"
pass "no API key or token in /metrics"

# --- connections held open do not starve the probes --------------------------
# hold.py SECONDS READY_FILE COUNT PORT...: keeps COUNT silent connections open
# to each PORT, reopening each one the server closes 0.2 s later; at the end
# prints how many the server closed.
cat >"$WORK/hold.py" <<'PY'
import os, selectors, socket, sys, time
seconds, ready, count, ports = float(sys.argv[1]), sys.argv[2], int(sys.argv[3]), [int(p) for p in sys.argv[4:]]
sel = selectors.DefaultSelector()
def open_one(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, port)
for port in ports:
    for _ in range(count):
        open_one(port)
with open(ready + ".tmp", "w") as f:
    f.write("open\n")
os.rename(ready + ".tmp", ready)
end, closed, reopen = time.monotonic() + seconds, 0, []
while time.monotonic() < end:
    for key, _ in sel.select(timeout=0.05):
        try:
            if key.fileobj.recv(4096):
                continue
        except BlockingIOError:
            continue
        except OSError:
            pass
        sel.unregister(key.fileobj)
        key.fileobj.close()
        closed += 1
        reopen.append((time.monotonic() + 0.2, key.data))
    now = time.monotonic()
    while reopen and reopen[0][0] <= now:
        _, port = reopen.pop(0)
        try:
            open_one(port)
        except OSError:
            reopen.append((now + 0.2, port))
print(closed)
PY
rm -f "$WORK/hold.ready"
$PY "$WORK/hold.py" 8 "$WORK/hold.ready" 200 "$HPORT" "$MPORT" >"$WORK/hold.out" &
HOLD_PID=$!
EXTRA_PIDS+=($HOLD_PID)
hold_ready() { [[ -s "$WORK/hold.ready" ]]; }
wait_for "200 connections to each port to be open" 20 hold_ready
timed() { curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 2 "http://127.0.0.1:$1$2" || true; }
: >"$WORK/probes.txt"
for _ in $(seq 1 10); do
  timed $HPORT /healthz >>"$WORK/probes.txt"
  timed $HPORT /readyz >>"$WORK/probes.txt"
  sleep 0.4
done
metrics_under_flood=$(timed $MPORT /metrics)
wait "$HOLD_PID" || true
bad=$(awk '$1 != 200' "$WORK/probes.txt" | head -n 3)
[[ -z "$bad" ]] || fail "probes failed with 200 connections held open on each port: $(tr '\n' ';' <"$WORK/probes.txt")"
[[ "${metrics_under_flood%% *}" == 200 ]] || fail "/metrics with 200 connections held open: ${metrics_under_flood:-no answer}"
slowest=$(awk '{ if ($2 > m) m = $2 } END { printf "%d", m * 1000 }' "$WORK/probes.txt")
median=$(awk '{ print $2 }' "$WORK/probes.txt" | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] * 1000 }')
pass "with 200 silent connections held open on each of the probe and metrics ports (the server closed $(cat "$WORK/hold.out") of them): 20 probes all 200 (median $median ms, slowest $slowest ms), /metrics 200"

# --- an http:// API server needs --insecure-kubeconfig -------------------------
kubectl config view --raw --minify >"$WORK/http.kubeconfig"
http_cluster=$(kubectl config view --minify -o jsonpath='{.clusters[0].name}')
KUBECONFIG="$WORK/http.kubeconfig" kubectl config set-cluster "$http_cluster" --server "http://127.0.0.1:1" >/dev/null
rc=0
"$OPERATOR_BIN" --kubeconfig "$WORK/http.kubeconfig" --metrics-bind-address 0 \
  --health-probe-bind-address 0 >"$WORK/http-refused.out" 2>&1 || rc=$?
err=$(cat "$WORK/http-refused.out")
[[ $rc == 2 ]] || fail "an http:// kubeconfig exited $rc, want 2: $err"
[[ $(wc -l <"$WORK/http-refused.out") == 1 ]] || fail "an http:// kubeconfig printed more than one line: $err"
[[ "$err" == *"kubeconfig $WORK/http.kubeconfig:"* && "$err" == *"cluster \"$http_cluster\" uses plain HTTP"* &&
  "$err" == *--insecure-kubeconfig* ]] || fail "the error does not name the file, the cluster and the flag: $err"
pass "an http:// kubeconfig is refused with exit 2: $err"
# With the flag it is loaded (and the operator says so); it then cannot connect.
OP_KUBECONFIG="$WORK/http.kubeconfig" start_operator httpop --insecure-kubeconfig
wait_for "the operator to warn about plain HTTP" 10 op_logged httpop 'plain HTTP'
wait_for "the operator to start with --insecure-kubeconfig" 10 op_logged httpop '"msg":"starting"'
stop_operator httpop
pass "with --insecure-kubeconfig the http:// kubeconfig is loaded, with a warning"

# --- a slow exec credential plugin does not stop the event loop ---------------
stop_operator op
# In a folder of its own: kubectl writes the command relative to the
# kubeconfig, and a command without a slash would be looked up on PATH.
mkdir -p "$WORK/bin"
cat >"$WORK/bin/slow-plugin.sh" <<PLUGIN
#!/bin/sh
# Authenticates nobody (the client certificate beside it does): it only takes
# 5 s, as a plugin waiting for an identity provider would.
touch "$WORK/plugin.running"
sleep 5
echo run >>"$WORK/plugin.runs"
rm -f "$WORK/plugin.running"
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"plugin-token-$RAND","expirationTimestamp":"%s"}}\n' "\$(date -u -d '+15 seconds' +%Y-%m-%dT%H:%M:%SZ)"
PLUGIN
chmod +x "$WORK/bin/slow-plugin.sh"
echo "plugin-token-$RAND" >>"$SECRETS_FILE"
kubectl config view --raw --minify >"$WORK/exec.kubeconfig"
exec_user=$(kubectl config view --minify -o jsonpath='{.users[0].name}')
KUBECONFIG="$WORK/exec.kubeconfig" kubectl config set-credentials "$exec_user" \
  --exec-api-version client.authentication.k8s.io/v1 --exec-command "$WORK/bin/slow-plugin.sh" >/dev/null
EPORT=$(free_port)
rm -f "$WORK/plugin.running" "$WORK/plugin.runs"
OP_KUBECONFIG="$WORK/exec.kubeconfig" OP_HEALTH_ADDRESS="127.0.0.1:$EPORT" start_operator execop
plugin_running() { [[ -e "$WORK/plugin.running" ]]; }
wait_for "the exec plugin to run" 10 plugin_running
: >"$WORK/exec-probes.txt"
while plugin_running; do
  timed $EPORT /healthz >>"$WORK/exec-probes.txt"
  sleep 0.2
done
n=$(wc -l <"$WORK/exec-probes.txt")
((n >= 5)) || fail "only $n probes while the plugin ran"
bad=$(awk '$1 != 200' "$WORK/exec-probes.txt" | head -n 3)
[[ -z "$bad" ]] || fail "/healthz failed while the exec plugin ran: $(tr '\n' ';' <"$WORK/exec-probes.txt")"
slowest=$(awk '{ if ($2 > m) m = $2 } END { printf "%d", m * 1000 }' "$WORK/exec-probes.txt")
wait_for "/readyz to answer 200 with the plugin's credentials" 30 code_is $EPORT /readyz 200
pass "/healthz answered all $n probes (slowest $slowest ms) while the 5 s exec plugin ran; ready once it answered"
stop_operator execop
check_no_leaks
