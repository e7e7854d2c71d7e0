#!/usr/bin/env bash
# operator.proxy: the operator reaches IBM Cloud (the fake) through a real
# HTTP proxy (tinyproxy on loopback, CONNECT): with HTTPS_PROXY the
# SysdigToken gets Ready and its Secret, and the proxy logged the CONNECT to
# the fake's port (the API server, on loopback, is reached directly, as with
# client-go); with NO_PROXY naming the fake's host it goes direct; through a
# proxy that demands credentials, the right ones work and wrong ones give
# Ready=False whose message says the proxy refused them. A kubeconfig
# proxy-url (with credentials) carries the API server's traffic, watches
# included. No proxy password appears in a log line, an Event or a status.
#   proxy_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
command -v tinyproxy >/dev/null || fail "tinyproxy is not installed (scripts/test installs the test packages)"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# start_tinyproxy NAME [USER PASSWORD]: tinyproxy on a free loopback port
# (every port may be CONNECTed to: no ConnectPort line), with Basic
# credentials when given; sets PROXY_PORT. Its log is $WORK/tinyproxy-NAME/log.
start_tinyproxy() {
  local dir=$WORK/tinyproxy-$1
  mkdir -p "$dir"
  PROXY_PORT=$(free_port)
  cat >"$dir/tinyproxy.conf" <<EOF
Port $PROXY_PORT
Listen 127.0.0.1
Allow 127.0.0.1
LogFile "$dir/log"
LogLevel Connect
MaxClients 200
Timeout 600
EOF
  [[ $# -ge 3 ]] && echo "BasicAuth $2 $3" >>"$dir/tinyproxy.conf"
  tinyproxy -d -c "$dir/tinyproxy.conf" >"$dir/out" 2>&1 &
  EXTRA_PIDS+=($!)
  wait_for "tinyproxy $1 to listen on $PROXY_PORT" 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PROXY_PORT"
}
# connects NAME PORT: how many CONNECTs to 127.0.0.1:PORT proxy NAME logged.
connects() { grep -c "Request (file descriptor [0-9]*): CONNECT 127.0.0.1:$2 HTTP" "$WORK/tinyproxy-$1/log" || true; }

t_start=$(now_ms)
install_crd
new_namespace NS op-proxy
GUID=$(new_guid)
TEAM=26055
TOKEN=$(new_guid)
KEY=proxy-api-key-$RAND
cat >"$WORK/fake.yaml" <<YAML
apiKeys:
  - {key: "$KEY", iamID: "IBMid-PROXY"}
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$TOKEN"}
YAML
start_fake "$WORK/fake.yaml"
api_key_secret ibm-api-key apikey "$KEY"
API_PORT=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}' | sed -e 's/.*:\([0-9]*\)\/*$/\1/')
[[ "$API_PORT" =~ ^[0-9]+$ ]] || fail "cannot read the API server's port from $KUBECONFIG"

start_tinyproxy open
OPEN_PORT=$PROXY_PORT
PROXY_USER=sto-proxy-user
PROXY_PASSWORD=Pr0xy-pass-$RAND
WRONG_PASSWORD=Wr0ng-pass-$RAND
printf '%s\n' "$PROXY_PASSWORD" "$WRONG_PASSWORD" >>"$SECRETS_FILE"
start_tinyproxy auth "$PROXY_USER" "$PROXY_PASSWORD"
AUTH_PORT=$PROXY_PORT
pass "tinyproxy on 127.0.0.1:$OPEN_PORT (open) and 127.0.0.1:$AUTH_PORT (Basic credentials); fake IBM Cloud on $FAKE_PORT, API server on $API_PORT"

# sync NAME: a SysdigToken NAME whose Secret is NAME; waits for Ready=True.
sync() {
  apply_sdt "$1" "$(base_spec)
  target: {name: $1}"
  wait_ready "$1" True TokenSynced 30
  [[ "$(secret_token "$1")" == "$TOKEN" ]] || fail "$1: the Secret does not hold the team's token"
}

# 1. HTTPS_PROXY: IBM Cloud through the proxy; the loopback API server not.
HTTPS_PROXY=http://127.0.0.1:$OPEN_PORT start_operator op
wait_operator_started op
op_logged op "\"msg\":\"IBM Cloud is reached through a proxy\"" || fail "no log line names the proxy: $(op_log op | head -n 5)"
op_log op | grep -F 'IBM Cloud is reached through a proxy' | grep -qF "\"proxy\":\"http://127.0.0.1:$OPEN_PORT\"" ||
  fail "the proxy log line does not name http://127.0.0.1:$OPEN_PORT: $(op_log op | grep -F 'through a proxy')"
sync via-proxy
n=$(connects open "$FAKE_PORT")
((n >= 1)) || fail "the proxy logged no CONNECT 127.0.0.1:$FAKE_PORT: $(tail -n 5 "$WORK/tinyproxy-open/log")"
(($(connects open "$API_PORT") == 0)) || fail "API server traffic went through HTTPS_PROXY (a loopback server goes direct, as with client-go)"
stop_operator op
pass "HTTPS_PROXY: via-proxy Ready=True with its Secret; tinyproxy logged $n CONNECT 127.0.0.1:$FAKE_PORT and none to the API server"

# 2. NO_PROXY naming the fake's host: direct.
before=$(connects open "$FAKE_PORT")
HTTPS_PROXY=http://127.0.0.1:$OPEN_PORT NO_PROXY=example.com,127.0.0.1 start_operator op
wait_operator_started op
sync no-proxy
(($(connects open "$FAKE_PORT") == before)) || fail "with NO_PROXY=127.0.0.1 the operator still went through the proxy"
stop_operator op
pass "NO_PROXY=example.com,127.0.0.1: no-proxy Ready=True without the proxy"

# 3. A proxy that demands credentials: the right ones.
HTTPS_PROXY=http://$PROXY_USER:$PROXY_PASSWORD@127.0.0.1:$AUTH_PORT start_operator op
wait_operator_started op
sync with-credentials
n=$(connects auth "$FAKE_PORT")
((n >= 1)) || fail "the credentials proxy logged no CONNECT 127.0.0.1:$FAKE_PORT"
stop_operator op
pass "proxy with Basic credentials: with-credentials Ready=True; tinyproxy logged $n CONNECT 127.0.0.1:$FAKE_PORT"

# 4. Wrong credentials: Ready=False, and the message says so.
https_proxy=http://$PROXY_USER:$WRONG_PASSWORD@127.0.0.1:$AUTH_PORT start_operator op
wait_operator_started op
apply_sdt wrong-credentials "$(base_spec)"
wait_ready wrong-credentials False IAMUnavailable 30
msg=$(sdt wrong-credentials '.status.conditions[?(@.type=="Ready")].message')
[[ "$msg" == *"proxy http://127.0.0.1:$AUTH_PORT refused the credentials"* ]] ||
  fail "Ready=False message does not say the proxy refused the credentials: $msg"
wait_for "a warning event about the proxy" 20 event_matches wrong-credentials "refused the credentials"
stop_operator op
pass "wrong proxy credentials: Ready=False IAMUnavailable: $msg"

# 5. kubeconfig proxy-url (with credentials): the API server through the proxy.
cp "$KUBECONFIG" "$WORK/kubeconfig-proxied"
cluster=$(kubectl config view --minify -o jsonpath='{.clusters[0].name}')
kubectl config --kubeconfig "$WORK/kubeconfig-proxied" set "clusters.$cluster.proxy-url" \
  "http://$PROXY_USER:$PROXY_PASSWORD@127.0.0.1:$AUTH_PORT" >/dev/null
before=$(connects auth "$API_PORT")
OP_KUBECONFIG=$WORK/kubeconfig-proxied start_operator op
wait_operator_started op
op_log op | grep -F 'the API server is reached through a proxy' | grep -qF "\"proxy\":\"http://127.0.0.1:$AUTH_PORT\"" ||
  fail "no log line names the API server's proxy: $(op_log op | head -n 5)"
sync api-via-proxy
n=$(($(connects auth "$API_PORT") - before))
((n >= 1)) || fail "the proxy logged no CONNECT 127.0.0.1:$API_PORT (the API server)"
stop_operator op
pass "kubeconfig proxy-url: api-via-proxy Ready=True (watches, reads and writes through the proxy); tinyproxy logged $n CONNECT 127.0.0.1:$API_PORT"

# 6. An unsupported proxy scheme is refused at start-up, naming the variable.
HTTPS_PROXY=socks5://127.0.0.1:$OPEN_PORT start_operator op
for _ in $(seq 1 100); do operator_alive op || break; sleep 0.1; done
operator_alive op && fail "the operator runs with HTTPS_PROXY=socks5://..."
stop_operator op
((STOP_RC == 2)) || fail "exit code $STOP_RC with a socks5 proxy, want 2"
op_logged op 'HTTPS_PROXY: proxy scheme "socks5" is not supported' || fail "the error does not name HTTPS_PROXY: $(op_log op)"
pass "HTTPS_PROXY=socks5://... refused at start-up: $(op_log op | tail -n 1)"

check_no_leaks
pass "operator.proxy took $(($(now_ms) - t_start)) ms"
