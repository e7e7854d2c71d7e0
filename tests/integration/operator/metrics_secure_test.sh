#!/usr/bin/env bash
# operator.metrics_secure: --metrics-secure against the real API server.
#   - /metrics is HTTPS (a self-signed ECDSA P-256 certificate made at start;
#     plain HTTP on its port gets no answer) and the probes stay plain HTTP on
#     their own port, without authentication;
#   - no Authorization header, a "Basic" one, a garbage bearer token -> 401;
#   - the token of a ServiceAccount without any binding -> 403;
#   - the token of a ServiceAccount bound to a ClusterRole with get on the
#     non-resource URL /metrics (the chart's metrics-reader) -> 200, and the
#     body holds the sysdigtoken_ metrics;
#   - decisions are cached: more scrapes with the same token make no new
#     TokenReview or SubjectAccessReview;
#   - every metric the chart's Grafana dashboard and PrometheusRule alerts
#     use is in this /metrics (helm template of the chart, names extracted);
#   - --metrics-cert-dir serves the certificate of the directory, and a
#     directory without tls.key is refused at start (exit 2, one line naming
#     the file);
#   - no token appears in the operator's log.
#   metrics_secure_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

PY=/usr/bin/python3
install_crd
new_namespace NS op-msecure
GUID=$(new_guid)
TEAM=26055
KEY=msecure-api-key-$RAND
cat >"$WORK/fake.yaml" <<YAML
apiKeys:
  - {key: "$KEY", iamID: "IBMid-MSECURE"}
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$(new_guid)"}
YAML
start_fake "$WORK/fake.yaml"
api_key_secret ibm-api-key apikey "$KEY"
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MPORT=$(free_port)
HPORT=$(free_port)
OP_METRICS_ADDRESS="127.0.0.1:$MPORT" OP_HEALTH_ADDRESS="127.0.0.1:$HPORT" \
  start_operator op --metrics-secure
wait_operator_started op
op_logged op '"certificate":"self-signed"' || fail "no start-up line naming the self-signed certificate"

# code URL [CURL ARGS...]: the HTTP status, 000 when there was no answer.
code() {
  local url=$1
  shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url" || true
}
M="https://127.0.0.1:$MPORT/metrics"
[[ "$(code "http://127.0.0.1:$HPORT/healthz")" == 200 ]] || fail "/healthz is not 200 over plain HTTP"
wait_for "/readyz 200 over plain HTTP" 30 test "$(code "http://127.0.0.1:$HPORT/readyz")" = 200
[[ "$(code "http://127.0.0.1:$MPORT/metrics")" == 000 ]] || fail "/metrics answers plain HTTP"
# The certificate: self-signed, ECDSA P-256.
cert=$($PY -c 'import ssl, sys; print(ssl.get_server_certificate(("127.0.0.1", int(sys.argv[1]))))' "$MPORT" |
  openssl x509 -noout -text) || fail "cannot read the certificate of the metrics port"
grep -q 'prime256v1\|P-256' <<<"$cert" || fail "the certificate is not ECDSA P-256: $(head -c 400 <<<"$cert")"
pass "probes plain HTTP without auth; /metrics HTTPS only, self-signed ECDSA P-256"

[[ "$(code "$M" -k)" == 401 ]] || fail "no token: $(code "$M" -k), want 401"
[[ "$(code "$M" -k -H 'Authorization: Basic YWRtaW46YWRtaW4=')" == 401 ]] || fail "Basic auth is not 401"
[[ "$(code "$M" -k -H 'Authorization: Bearer not-a-real-token')" == 401 ]] || fail "a garbage token is not 401"
GARBAGE_JWT="eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.$RAND$RAND"
echo "$GARBAGE_JWT" >>"$SECRETS_FILE"
[[ "$(code "$M" -k -H "Authorization: Bearer $GARBAGE_JWT")" == 401 ]] || fail "a forged JWT is not 401"
www=$(curl -s -k -D - -o /dev/null --max-time 5 "$M" | tr -d '\r' | grep -i '^www-authenticate:' || true)
[[ -n "$www" ]] || fail "the 401 has no WWW-Authenticate header"
pass "no token, Basic auth, a garbage token and a forged JWT: 401 ($www)"

kubectl create serviceaccount nobody -n "$NS" >/dev/null
kubectl create serviceaccount scraper -n "$NS" >/dev/null
READER=sto-metrics-reader-$RAND
kubectl create clusterrole "$READER" --verb=get --non-resource-url=/metrics >/dev/null
CLUSTER_OBJECTS+=("clusterrole/$READER")
kubectl create clusterrolebinding "$READER" --clusterrole="$READER" \
  --serviceaccount="$NS:scraper" >/dev/null
CLUSTER_OBJECTS+=("clusterrolebinding/$READER")
NOBODY=$(kubectl create token nobody -n "$NS" --duration 10m)
SCRAPER=$(kubectl create token scraper -n "$NS" --duration 10m)
printf '%s\n%s\n' "$NOBODY" "$SCRAPER" >>"$SECRETS_FILE"

got=$(code "$M" -k -H "Authorization: Bearer $NOBODY")
[[ "$got" == 403 ]] || fail "a ServiceAccount without a binding got $got, want 403"
pass "a ServiceAccount token without a binding: 403"

scrape() { curl -sS -k --fail --max-time 5 -H "Authorization: Bearer $SCRAPER" "$M"; }
# RBAC caches of the API server take a moment to see the new binding.
scrape_ok() { [[ "$(code "$M" -k -H "Authorization: Bearer $SCRAPER")" == 200 ]]; }
wait_for "the bound ServiceAccount's scrape to be allowed" 20 scrape_ok
scrape >"$WORK/metrics.txt"
grep -q '^sysdigtoken_' "$WORK/metrics.txt" || fail "no sysdigtoken_ metric in /metrics: $(head -c 400 "$WORK/metrics.txt")"
pass "a ServiceAccount bound to get on /metrics: 200 with $(grep -c '^sysdigtoken_' "$WORK/metrics.txt") sysdigtoken_ samples"

# The cache: five more scrapes (and a denied one) make no review request.
reviews() {
  scrape | awk '/^rest_client_requests_total\{/ && /method="POST"/ {s += $NF} END {print s + 0}'
}
before=$(reviews)
for _ in 1 2 3 4 5; do scrape >/dev/null; done
code "$M" -k -H "Authorization: Bearer $NOBODY" >/dev/null
after=$(reviews)
[[ "$before" == "$after" ]] || fail "cached decisions still called the API server: POST requests $before -> $after"
pass "decisions cached: 6 more scrapes, no new TokenReview or SubjectAccessReview ($after POSTs)"

# --metrics-cert-dir: the directory's certificate is served.
stop_operator op
mkdir -p "$WORK/certs" "$WORK/badcerts"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=metrics-test-$RAND" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$WORK/certs/tls.key" -out "$WORK/certs/tls.crt" 2>/dev/null
cp "$WORK/certs/tls.crt" "$WORK/old.crt"
OP_METRICS_ADDRESS="127.0.0.1:$MPORT" OP_HEALTH_ADDRESS="127.0.0.1:$HPORT" \
  start_operator op --metrics-secure --metrics-cert-dir "$WORK/certs"
wait_operator_started op
got=$(curl -sS --cacert "$WORK/certs/tls.crt" -o /dev/null -w '%{http_code}' --max-time 5 \
  -H "Authorization: Bearer $SCRAPER" "$M") || fail "the certificate of --metrics-cert-dir is not served (curl verifying it failed)"
[[ "$got" == 200 ]] || fail "with --metrics-cert-dir the allowed scrape got $got"
pass "--metrics-cert-dir: the directory's certificate verifies, scrape 200"

# A renewed certificate (written beside, renamed over, as a Secret volume
# update does) is served to new connections within seconds; the old one
# no longer verifies.
mkdir -p "$WORK/renewed"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=metrics-renewed-$RAND" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$WORK/renewed/tls.key" -out "$WORK/renewed/tls.crt" 2>/dev/null
cp "$WORK/renewed/tls.key" "$WORK/certs/.tls.key" && mv "$WORK/certs/.tls.key" "$WORK/certs/tls.key"
cp "$WORK/renewed/tls.crt" "$WORK/certs/.tls.crt" && mv "$WORK/certs/.tls.crt" "$WORK/certs/tls.crt"
t0=$(now_ms)
verifies_with() {
  [[ "$(curl -sS --cacert "$1" -o /dev/null -w '%{http_code}' --max-time 5 \
    -H "Authorization: Bearer $SCRAPER" "$M" 2>/dev/null)" == 200 ]]
}
wait_for "the renewed certificate to be served" 30 verifies_with "$WORK/renewed/tls.crt"
ms=$(($(now_ms) - t0))
verifies_with "$WORK/old.crt" 2>/dev/null && fail "the old certificate still verifies after the reload"
op_logged op "metrics certificate reloaded" || fail "no log line for the reload"
# A broken update keeps the renewed certificate in service, with a warning.
echo "not a certificate" >"$WORK/certs/.tls.crt" && mv "$WORK/certs/.tls.crt" "$WORK/certs/tls.crt"
wait_for "a warning about the broken certificate" 30 op_logged op "metrics certificate not reloaded"
verifies_with "$WORK/renewed/tls.crt" || fail "a broken certificate update stopped the served one"
pass "--metrics-cert-dir renewed: served to new connections after $ms ms; a broken update is logged and the previous certificate stays"
stop_operator op

# The operator as a ServiceAccount with the chart's RBAC: its ClusterRole
# (less the Events rule, so that a runtime API call fails and is counted)
# and the metrics-auth ClusterRole (TokenReview, SubjectAccessReview), as
# `helm template` renders them. Its /metrics, after a SysdigToken synced
# through the fake, then holds every metric the dashboard and the alerts use.
. "$STO_CONTROLPLANE_DIR/env"
helm template t "$ROOT/helm/sysdig-token-operator" --set metrics.dashboard.enabled=true \
  --set metrics.prometheusRule.enabled=true 2>/dev/null >"$WORK/chart.yaml" || fail "helm template failed"
kubectl create serviceaccount operator -n "$NS" >/dev/null
$PY - "$WORK/chart.yaml" "$RAND" >"$WORK/operator-rbac.yaml" <<'PY' || fail "the chart renders no operator or metrics-auth ClusterRole"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterRole"}
op = roles["t-sysdig-token-operator"]
auth = roles["t-sysdig-token-operator-metrics-auth"]
rules = [r for r in op["rules"] if "events" not in r.get("resources", [])] + auth["rules"]
assert len(rules) == len(op["rules"]) - 1 + 2, rules
print(yaml.safe_dump({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                      "metadata": {"name": "sto-msecure-operator-" + sys.argv[2]}, "rules": rules}))
PY
kubectl apply -f "$WORK/operator-rbac.yaml" >/dev/null
CLUSTER_OBJECTS+=("clusterrole/sto-msecure-operator-$RAND")
kubectl create clusterrolebinding "sto-msecure-operator-$RAND" --clusterrole="sto-msecure-operator-$RAND" \
  --serviceaccount="$NS:operator" >/dev/null
CLUSTER_OBJECTS+=("clusterrolebinding/sto-msecure-operator-$RAND")
"$ROOT/scripts/controlplane" kubeconfig-for "$STO_CONTROLPLANE_DIR" "$NS" operator >"$WORK/operator.kubeconfig" ||
  fail "scripts/controlplane kubeconfig-for failed"
OP_KUBECONFIG="$WORK/operator.kubeconfig" OP_METRICS_ADDRESS="127.0.0.1:$MPORT" OP_HEALTH_ADDRESS="127.0.0.1:$HPORT" \
  start_operator op --metrics-secure
wait_operator_started op
apply_sdt ops "$(base_spec)"
wait_ready ops True TokenSynced 30
kube_error_counted() { scrape | grep -q '^sysdigtoken_kube_errors_total{'; }
wait_for "the refused Event to be counted in sysdigtoken_kube_errors_total" 30 kube_error_counted
pass "the operator as a ServiceAccount with the chart's ClusterRoles reviews tokens: scrape 200"

# Every metric name the dashboard and the alerts use is served.
scrape >"$WORK/metrics.txt"
$PY - "$WORK/chart.yaml" "$WORK/metrics.txt" <<'PY' || fail "the dashboard or the alerts use a metric the operator does not serve"
import json, re, sys
import yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
exprs = []
for d in docs:
    if d.get("kind") == "PrometheusRule":
        for g in d["spec"]["groups"]:
            exprs += [r["expr"] for r in g["rules"]]
    if d.get("kind") == "ConfigMap" and d["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
        for text in d["data"].values():
            board = json.loads(text)
            def walk(o):
                if isinstance(o, dict):
                    for k, v in o.items():
                        if k == "expr" or (k == "query" and isinstance(v, str)):
                            exprs.append(v)
                        else:
                            walk(v)
                elif isinstance(o, list):
                    for v in o:
                        walk(v)
            walk(board)
if not exprs:
    sys.exit("no PromQL expression found in the rendered PrometheusRule and dashboard")
pattern = re.compile(r"\b((?:sysdigtoken|controller_runtime|workqueue|rest_client|leader_election|process)_[a-zA-Z0-9_]+)")
used = sorted({m for e in exprs for m in pattern.findall(e)})
served = set()
for line in open(sys.argv[2]):
    if line.startswith("#") or not line.strip():
        continue
    served.add(re.split(r"[{ ]", line, 1)[0])
missing = [m for m in used if m not in served]
if missing:
    sys.exit("not in /metrics: " + ", ".join(missing))
print(f"ok: the {len(exprs)} PromQL expressions of the dashboard and the alerts use {len(used)} metrics, all served: {' '.join(used)}")
PY

cp "$WORK/certs/tls.crt" "$WORK/badcerts/"
rc=0
out=$("$OPERATOR_BIN" --kubeconfig "$KUBECONFIG" --metrics-bind-address "127.0.0.1:$MPORT" \
  --metrics-secure --metrics-cert-dir "$WORK/badcerts" 2>&1) || rc=$?
[[ $rc == 2 && "$out" == *"badcerts/tls.key is missing"* && $(wc -l <<<"$out") == 1 ]] ||
  fail "a directory without tls.key: exit $rc, $out"
pass "a cert dir without tls.key: exit 2 and one line: $out"

# Nor in /metrics (rest_client labels, errors): the served text, last scraped.
for t in "$NOBODY" "$SCRAPER" "$GARBAGE_JWT"; do
  ! grep -qF -- "$t" "$WORK/metrics.txt" || fail "a bearer token appears in /metrics"
done
check_no_leaks
