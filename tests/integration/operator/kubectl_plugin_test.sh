#!/usr/bin/env bash
# operator.kubectl_plugin: kubectl-sysdigtoken run as `kubectl sysdigtoken`
# (on PATH) against the real API server and a running operator. status: the
# printer columns, NAMESPACE first with -A, the failing resource's message,
# the kubeconfig context's namespace, --kubeconfig and --context. rotate
# --wait: "Rotated <fingerprint>" after a reset in the "UI", "Unchanged"
# without one, exit 1 with the reason for a failing resource and on a timeout
# (operator stopped). Errors are one line on stderr and exit 1: a bad name or
# namespace, a SysdigToken that does not exist, a bad kubeconfig, an
# unreachable API server, and a second real API server without the CRD.
#   kubectl_plugin_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY PLUGIN_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
PLUGIN_BIN=${3:?usage: $0 OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY PLUGIN_BINARY}
[[ -x "$PLUGIN_BIN" ]] || fail "$PLUGIN_BIN is not an executable (build the kubectl-sysdigtoken target)"

# A second control plane (no CRD), stopped before lib.sh's cleanup runs.
CP2=
_plugin_cleanup() {
  local rc=$?
  [[ -n "$CP2" ]] && "$ROOT/scripts/controlplane" down "$CP2" >/dev/null 2>&1
  (exit "$rc")
  _cleanup
}
trap _plugin_cleanup EXIT

# kubectl finds plugins on PATH by their file name.
mkdir -p "$WORK/bin"
ln -s "$(realpath "$PLUGIN_BIN")" "$WORK/bin/kubectl-sysdigtoken"
export PATH="$WORK/bin:$PATH"
kubectl plugin list 2>/dev/null | grep -q "$WORK/bin/kubectl-sysdigtoken" ||
  fail "kubectl plugin list does not show kubectl-sysdigtoken: $(kubectl plugin list 2>&1 | tr '\n' ' ')"
pass "kubectl plugin list shows kubectl-sysdigtoken"

# plugin ARGS...: runs `kubectl sysdigtoken ARGS...`; stdout in OUT, stderr in
# ERR, exit code in RC. Everything it printed is kept for the leak check.
plugin() {
  RC=0
  kubectl sysdigtoken "$@" >"$WORK/out" 2>"$WORK/err" || RC=$?
  OUT=$(cat "$WORK/out")
  ERR=$(cat "$WORK/err")
  cat "$WORK/out" "$WORK/err" >>"$WORK/plugin.log"
}
# fails_with WANT ARGS...: exit 1, nothing on stdout, one line on stderr that
# contains WANT.
fails_with() {
  local want=$1
  shift
  plugin "$@"
  ((RC == 1)) || fail "kubectl sysdigtoken $* exited $RC, want 1 (stdout: $OUT; stderr: $ERR)"
  [[ -z "$OUT" ]] || fail "kubectl sysdigtoken $* printed on stdout: $OUT"
  (($(wc -l <"$WORK/err") == 1)) || fail "kubectl sysdigtoken $*: want one line on stderr, got: $ERR"
  grep -qF -- "$want" <<<"$ERR" || fail "kubectl sysdigtoken $*: stderr '$ERR' lacks '$want'"
  pass "kubectl sysdigtoken $*: exit 1, $ERR"
}
# columns LINE: the cells of a table line (split at runs of 3+ spaces), '|'-joined.
columns() { sed -e 's/   */|/g' <<<"$1"; }

install_crd
new_namespace NS op-plugin
new_namespace NS2 op-plugin2
GUID=$(new_guid)
TEAM=26055
TOKEN1=$(new_guid)
KEY=plugin-api-key-$RAND
cat >"$WORK/fake.yaml" <<YAML
apiKeys:
  - {key: "$KEY", iamID: "IBMid-PLUGIN"}
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$TOKEN1"}
YAML
start_fake "$WORK/fake.yaml"
api_key_secret ibm-api-key apikey "$KEY"
start_operator op
wait_operator_started op
apply_sdt ops "$(base_spec)"
apply_sdt broken "$(base_spec "$GUID" "$TEAM" no-such-secret)"
wait_ready ops True TokenSynced 30
wait_ready broken False APIKeySecretNotFound 30
kubectl apply -n "$NS2" -f - >/dev/null <<YAML
apiVersion: monitoring.ibm.com/v1alpha1
kind: SysdigToken
metadata: {name: elsewhere}
spec:
$(base_spec)
YAML

# 1. status: the columns of kubectl get sysdigtokens, and the message.
plugin status -n "$NS"
((RC == 0)) || fail "status exited $RC: $ERR"
header=$(head -n 1 <<<"$OUT")
[[ "$(columns "$header")" == "NAME|READY|REASON|TEAM|SECRET|REVISION|LAST ROTATION|NEXT REFRESH|AGE|MESSAGE" ]] ||
  fail "status header: $header"
kheader=$(kubectl get sysdigtokens -n "$NS")
kheader=${kheader%%$'\n'*}
[[ "$(columns "$header")" == "$(columns "$kheader")|MESSAGE" ]] ||
  fail "status columns '$(columns "$header")' are not kubectl get's '$(columns "$kheader")' + MESSAGE"
ops_row=$(grep '^ops ' <<<"$OUT" | tr -s ' ')
# LAST ROTATION and AGE are kubectl ages (45s, 2m3s), NEXT REFRESH about 1h ahead.
age='[0-9][0-9smhdy]*'
[[ "$ops_row" =~ ^ops\ True\ TokenSynced\ $TEAM\ ops\ 1\ $age\ in\ [0-9]+[mh]([0-9]+[ms])?\ $age$ ]] ||
  fail "status row of ops: '$ops_row'"
message=$(sdt broken '.status.conditions[?(@.type=="Ready")].message')
[[ -n "$message" ]] || fail "broken has no Ready message"
broken_row=$(grep '^broken ' <<<"$OUT")
[[ "$(columns "$broken_row")" == "broken|False|APIKeySecretNotFound|"*"|$message" ]] ||
  fail "status row of broken: '$broken_row' (message '$message')"
(($(grep -c . <<<"$OUT") == 3)) || fail "status -n $NS shows other rows: $OUT"
pass "status -n NS: $(tr -s ' ' <<<"$header") / $ops_row / broken ... $message"

plugin status ops -n "$NS"
((RC == 0)) && (($(grep -c . <<<"$OUT") == 2)) && [[ "$(tail -n 1 <<<"$OUT" | tr -s ' ')" == "ops True "* ]] ||
  fail "status ops: rc $RC: $OUT $ERR"
pass "status NAME: one row"

plugin status -A
((RC == 0)) || fail "status -A exited $RC: $ERR"
[[ "$(columns "$(head -n 1 <<<"$OUT")")" == "NAMESPACE|NAME|READY|"* ]] || fail "status -A header: $(head -n 1 <<<"$OUT")"
for want in "$NS ops" "$NS broken" "$NS2 elsewhere"; do
  grep -q "^${want%% *}  *${want##* } " <<<"$OUT" || fail "status -A lacks '$want': $OUT"
done
pass "status -A: NAMESPACE first, rows of both namespaces"

# The kubeconfig context's namespace is the default; --kubeconfig and --context.
cp "$KUBECONFIG" "$WORK/kubeconfig"
ctx=$(kubectl config current-context --kubeconfig "$WORK/kubeconfig")
kubectl config set-context "$ctx" --namespace "$NS2" --kubeconfig "$WORK/kubeconfig" >/dev/null
KUBECONFIG=$WORK/kubeconfig plugin status
((RC == 0)) && grep -q '^elsewhere ' <<<"$OUT" && ! grep -q '^ops ' <<<"$OUT" ||
  fail "with the context's namespace $NS2: rc $RC: $OUT $ERR"
plugin status --kubeconfig "$WORK/kubeconfig" --context "$ctx"
((RC == 0)) && grep -q '^elsewhere ' <<<"$OUT" || fail "--kubeconfig --context: rc $RC: $OUT $ERR"
KUBECONFIG=$WORK/kubeconfig plugin status -n "$NS" ops
((RC == 0)) && grep -q '^ops ' <<<"$OUT" || fail "-n over the context's namespace: rc $RC: $OUT $ERR"
pass "the context's namespace ($NS2) is the default, -n overrides it; --kubeconfig and --context are honoured"

# 2. rotate --wait: Rotated after a UI reset, Unchanged without one.
TOKEN2=$(fake_reset "$GUID" $TEAM)
t0=$(now_ms)
plugin rotate ops -n "$NS" --wait
((RC == 0)) || fail "rotate --wait exited $RC: $OUT $ERR"
[[ "$OUT" == "Rotated $(fingerprint_of "$TOKEN2")" ]] || fail "rotate --wait printed '$OUT', want 'Rotated $(fingerprint_of "$TOKEN2")'"
value=$(sdt ops '.metadata.annotations.monitoring\.ibm\.com/reset-token')
[[ "$value" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] || fail "reset annotation '$value' is not RFC 3339"
skew=$(($(date +%s) - $(date -d "$value" +%s)))
((skew >= -1 && skew <= 30)) || fail "reset annotation $value is ${skew}s from now"
[[ "$(sdt ops .status.lastHandledReset)" == "$value" ]] || fail "lastHandledReset $(sdt ops .status.lastHandledReset), want $value"
secret_token_is ops "$TOKEN2" || fail "the Secret does not hold the new token"
pass "rotate ops --wait: '$OUT' after $(($(now_ms) - t0)) ms; annotation $value handled, revision $(revision ops)"

plugin rotate ops -n "$NS" --wait=30s
((RC == 0)) || fail "rotate --wait (unchanged) exited $RC: $OUT $ERR"
[[ "$OUT" == Unchanged ]] || fail "rotate --wait without a UI reset printed '$OUT', want Unchanged"
grep -q 'Monitoring UI' <<<"$ERR" || fail "no hint on stderr after Unchanged: $ERR"
[[ "$(sdt ops .status.lastResetOutcome)" == Unchanged ]] || fail "lastResetOutcome $(sdt ops .status.lastResetOutcome)"
secret_token_is ops "$TOKEN2" || fail "the Secret changed on an Unchanged reset"
pass "rotate ops --wait=30s without a UI reset: '$OUT', hint '$ERR'"

plugin rotate ops -n "$NS"
((RC == 0)) && [[ "$OUT" == "sysdigtoken ops: reset requested (monitoring.ibm.com/reset-token="*")" ]] ||
  fail "rotate without --wait: rc $RC: $OUT $ERR"
pass "rotate without --wait: $OUT"

# A failing resource: exit 1 with the reason.
fails_with "APIKeySecretNotFound" rotate broken -n "$NS" --wait=30s

# 3. Errors: one line on stderr, exit 1.
fails_with "sysdigtoken \"nope\" not found in namespace \"$NS\"" status nope -n "$NS"
fails_with "sysdigtoken \"nope\" not found in namespace \"$NS\"" rotate nope -n "$NS" --wait
fails_with 'invalid SysdigToken name "Bad_Name"' status Bad_Name -n "$NS"
fails_with 'invalid namespace "Not.A.Namespace"' status -n Not.A.Namespace
fails_with 'unknown command "list"' list
fails_with "kubeconfig $WORK/missing" status --kubeconfig "$WORK/missing"
printf 'apiVersion: v1\nkind: Config\nclusters: 7\n' >"$WORK/bad.kubeconfig"
fails_with "kubeconfig $WORK/bad.kubeconfig" status --kubeconfig "$WORK/bad.kubeconfig"
fails_with 'context "nope" not found' status --context nope
sed -E 's#server: https://#server: http://#' "$KUBECONFIG" >"$WORK/http.kubeconfig"
fails_with 'uses plain HTTP' status --kubeconfig "$WORK/http.kubeconfig"
# A free port: nothing listens there.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -E "s#server: https://[^ ]*#server: https://127.0.0.1:$port#" "$KUBECONFIG" >"$WORK/down.kubeconfig"
fails_with "cannot reach the API server https://127.0.0.1:$port" status --kubeconfig "$WORK/down.kubeconfig"

# A real API server without the CRD: a control plane of its own.
CP2=$WORK/cp2
mkdir -p "$CP2"
"$ROOT/scripts/controlplane" up "$CP2" >"$WORK/cp2.log" 2>&1 ||
  fail "a second control plane did not start: $(tail -n 5 "$WORK/cp2.log")"
fails_with "the SysdigToken CRD (sysdigtokens.monitoring.ibm.com) is not installed" status --kubeconfig "$CP2/kubeconfig"
fails_with "the SysdigToken CRD (sysdigtokens.monitoring.ibm.com) is not installed" rotate ops --kubeconfig "$CP2/kubeconfig"
"$ROOT/scripts/controlplane" down "$CP2" >/dev/null 2>&1
CP2=

# 4. rotate --wait while no operator runs: a timeout.
stop_operator op
fails_with "timed out after 2s waiting for the operator" rotate ops -n "$NS" --wait=2s

# Nothing the plugin printed holds a token or API key (check_no_leaks scans
# $WORK/*.log, plugin.log among them).
check_no_leaks
