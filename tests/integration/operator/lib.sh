# Shared helpers of the operator.* integration tests: the real kube-apiserver
# of the "controlplane" CTest fixture, fake-ibm-cloud (TLS) and the operator,
# each a separate process. A test sources this file with its arguments:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"   # OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
#
# and then uses:
#   new_namespace VAR PREFIX        create namespace PREFIX-<random>, delete it on exit
#   new_namespaces VAR PREFIX COUNT [LABEL=VALUE]
#                                   COUNT namespaces PREFIX-<random>-<i> (one kubectl
#                                   call), names in array VAR; deleted on exit, not
#                                   watched with --namespace nor listed in diagnostics
#   install_cluster_crd             the ClusterSysdigToken CRD, as install_crd
#   start_fake CONFIG_YAML [HOST [FAKE_ARGS...]]
#                                   start fake-ibm-cloud; sets FAKE_URL, FAKE_CA, FAKE_PORT
#   one_team_setup PREFIX           CRD, namespace, fake with one key and team, operator "op"
#   start_operator NAME [ARGS...]   start an operator (log in $WORK/NAME.log), scoped with
#                                   --namespace to this test's namespaces (OP_KUBECONFIG,
#                                   OP_METRICS_ADDRESS, OP_HEALTH_ADDRESS and
#                                   OPERATOR_ALLOWED_HOSTS override defaults;
#                                   OP_ALL_NAMESPACES=1: no --namespace, cluster-wide,
#                                   for ClusterSysdigTokens; such a test runs RUN_SERIAL)
#   wait_operator_started NAME      wait for its "starting workers" log line (this run)
#   op_rss_kib NAME                 its resident memory in KiB
#   stop_operator NAME [SIGNAL]     signal it (default TERM) and reap it
#   wait_for DESC TIMEOUT CMD...    run CMD until it succeeds, fail after TIMEOUT seconds
#   fake_counts / fake_count EP [OUTCOME]   the fake's request counts
#   secret_fingerprint NAME, secret_token NAME, fingerprint_of VALUE, ...
#   check_no_leaks                  no API key, token or IAM token in logs, events, status
# Everything the test started is stopped on exit, its namespaces are deleted,
# and so are its cluster-scoped objects (CLUSTER_OBJECTS, "kind/name"; for a
# clustersysdigtoken also its Events in namespace default).
set -euo pipefail
# A command that fails outside a check still says where.
trap 'echo "FAIL: ${BASH_SOURCE[0]##*/} line $LINENO: \"$BASH_COMMAND\" exited with $?" >&2' ERR
: "${STO_CONTROLPLANE_DIR:?run through ctest (controlplane fixture)}"
# shellcheck disable=SC1091
. "$STO_CONTROLPLANE_DIR/env"
ROOT=${STO_SOURCE_DIR:?run through ctest}
OPERATOR_BIN=${1:?usage: $0 OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY}
FAKE_BIN=${2:?usage: $0 OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY}
CRD=$ROOT/crds/monitoring.ibm.com_sysdigtokens.yaml
CLUSTER_CRD=$ROOT/crds/monitoring.ibm.com_clustersysdigtokens.yaml
TEST_NAME=$(basename "$0" .sh)
TEST_NAME=${TEST_NAME%_test}
RAND=$(printf '%04x%04x' $RANDOM $RANDOM)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sto-op-$TEST_NAME.XXXXXX")
mkdir -p "$WORK/fake"
SECRETS_FILE=$WORK/secret-values # every secret value the test saw, one a line

NAMESPACES=()        # deleted on exit
BULK_NAMESPACES=()   # deleted on exit too, but not watched or diagnosed one by one
CLUSTER_OBJECTS=()   # "kind/name" of cluster-scoped objects to delete on exit
declare -A OP_PID=() # operator name -> pid
declare -A OP_LINE=() # operator name -> log line where its current run starts
EXTRA_PIDS=()        # other background processes (kubectl watches)
FAKE_PID=

. "$(dirname "${BASH_SOURCE[0]}")/../../support/test_lib.sh"
now_ms() { date +%s%3N; }

for bin in "$OPERATOR_BIN" "$FAKE_BIN"; do
  [[ -x "$bin" ]] || fail "$bin is not an executable (build the sysdig-token-operator and fake-ibm-cloud targets)"
done
command -v kubectl >/dev/null || fail "kubectl is not on PATH after sourcing $STO_CONTROLPLANE_DIR/env"

_diagnostics() {
  local name ns obj
  echo "--- diagnostics ($WORK) ---" >&2
  for name in "${!OP_PID[@]}"; do
    [[ -f "$WORK/$name.log" ]] || continue
    echo "--- operator $name: last 40 log lines ---" >&2
    tail -n 40 "$WORK/$name.log" >&2 || true
  done
  if [[ -f "$WORK/fake.log" ]]; then
    echo "--- fake-ibm-cloud: last 10 log lines ---" >&2
    tail -n 10 "$WORK/fake.log" >&2 || true
  fi
  for ns in "${NAMESPACES[@]}"; do
    echo "--- namespace $ns ---" >&2
    kubectl get sdt,secrets -n "$ns" -o wide >&2 2>&1 || true
    kubectl get events -n "$ns" --sort-by=.lastTimestamp \
      -o custom-columns=OBJECT:.involvedObject.name,TYPE:.type,REASON:.reason,MESSAGE:.message >&2 2>&1 |
      tail -n 30 >&2 || true
  done
  local csdts=()
  for obj in "${CLUSTER_OBJECTS[@]}"; do [[ $obj == clustersysdigtoken/* ]] && csdts+=("${obj#*/}"); done
  if ((${#csdts[@]})); then
    echo "--- ClusterSysdigTokens ---" >&2
    kubectl get clustersysdigtokens "${csdts[@]}" -o wide >&2 2>&1 || true
    for name in "${csdts[@]}"; do
      kubectl get clustersysdigtoken "$name" -o jsonpath='{.metadata.name}: {.status.conditions[0].reason}: {.status.conditions[0].message}; failed: {.status.failedNamespaces}{"\n"}' >&2 2>&1 || true
      kubectl get events -n default --field-selector "involvedObject.kind=ClusterSysdigToken,involvedObject.name=$name" \
        -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message 2>&1 | tail -n 20 >&2 || true
    done
  fi
}

_cleanup() {
  local rc=$? name pid obj ns
  set +e
  ((rc != 0)) && _diagnostics
  {
    local pids=()
    for name in "${!OP_PID[@]}"; do [[ -n "${OP_PID[$name]}" ]] && pids+=("${OP_PID[$name]}"); done
    for pid in "${pids[@]}" "${EXTRA_PIDS[@]}" $FAKE_PID; do kill -TERM "$pid"; done
    for _ in $(seq 1 50); do
      local alive=0
      for pid in "${pids[@]}" "${EXTRA_PIDS[@]}" $FAKE_PID; do kill -0 "$pid" && alive=1; done
      ((alive)) || break
      sleep 0.1
    done
    for pid in "${pids[@]}" "${EXTRA_PIDS[@]}" $FAKE_PID; do kill -KILL "$pid"; done
    for pid in "${pids[@]}" "${EXTRA_PIDS[@]}" $FAKE_PID; do wait "$pid"; done
  } 2>/dev/null
  for obj in "${CLUSTER_OBJECTS[@]}"; do
    kubectl delete "$obj" --ignore-not-found --wait=false >/dev/null 2>&1
    [[ $obj == clustersysdigtoken/* ]] &&
      kubectl delete events -n default --field-selector "involvedObject.kind=ClusterSysdigToken,involvedObject.name=${obj#*/}" \
        --wait=false >/dev/null 2>&1
  done
  for ns in "${NAMESPACES[@]}"; do kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1; done
  ((${#BULK_NAMESPACES[@]})) && kubectl delete namespace "${BULK_NAMESPACES[@]}" --ignore-not-found --wait=false >/dev/null 2>&1
  if [[ "${STO_KEEP_WORK:-0}" == 1 ]]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...: runs COMMAND until it
# succeeds; fails the test after TIMEOUT seconds.
wait_for() {
  local what=$1 timeout=$2
  shift 2
  local deadline=$(($(now_ms) + timeout * 1000))
  until "$@" >/dev/null 2>&1; do
    (($(now_ms) < deadline)) || fail "timed out after ${timeout}s waiting for $what"
    sleep 0.1
  done
}
# eventually TIMEOUT COMMAND...: like wait_for, but returns 1 instead of failing.
eventually() {
  local timeout=$1
  shift
  local deadline=$(($(now_ms) + timeout * 1000))
  until "$@" >/dev/null 2>&1; do
    (($(now_ms) < deadline)) || return 1
    sleep 0.1
  done
}

# new_namespace VAR PREFIX: creates namespace "PREFIX-<random>", stores its
# name in VAR; it is deleted on exit.
new_namespace() {
  local -n _ns_var=$1
  _ns_var="$2-$RAND"
  kubectl create namespace "$_ns_var" >/dev/null
  NAMESPACES+=("$_ns_var")
}

# new_namespaces VAR PREFIX COUNT [LABEL=VALUE]: creates namespaces
# PREFIX-<random>-1 .. PREFIX-<random>-COUNT (with the label, if given) in one
# kubectl call; their names go to array VAR. Deleted on exit.
new_namespaces() {
  local -n _nss_var=$1
  local prefix=$2 count=$3 label=${4:-} i labels=""
  [[ -n "$label" ]] && labels=", labels: {\"${label%%=*}\": \"${label#*=}\"}"
  _nss_var=()
  for i in $(seq 1 "$count"); do _nss_var+=("$prefix-$RAND-$i"); done
  BULK_NAMESPACES+=("${_nss_var[@]}")
  for i in "${_nss_var[@]}"; do
    echo "---"
    echo "{apiVersion: v1, kind: Namespace, metadata: {name: $i$labels}}"
  done | kubectl create -f - >/dev/null
}

# install_crd: server-side apply of the CRD (idempotent; other tests may have
# applied it too), then waits until it is served.
install_crd() {
  kubectl apply --server-side --field-manager=operator-integration-test -f "$CRD" >/dev/null
  kubectl wait --for condition=established --timeout=60s crd/sysdigtokens.monitoring.ibm.com >/dev/null
  wait_for "kubectl get sdt to work" 60 kubectl get sdt -n default
}

# install_cluster_crd: the same for the ClusterSysdigToken CRD.
install_cluster_crd() {
  kubectl apply --server-side --field-manager=operator-integration-test -f "$CLUSTER_CRD" >/dev/null
  kubectl wait --for condition=established --timeout=60s crd/clustersysdigtokens.monitoring.ibm.com >/dev/null
  wait_for "kubectl get csdt to work" 60 kubectl get csdt
}

new_guid() { cat /proc/sys/kernel/random/uuid; }

# start_fake CONFIG_YAML_FILE [ADDRESS [FAKE_ARGS...]]: fake-ibm-cloud over TLS
# on a free port of ADDRESS (default loopback; another address is also put in
# its certificate, e.g. a test node's bridge address that pods can reach);
# FAKE_ARGS go to the fake as they are (e.g. --san NAME).
start_fake() {
  local config=$1 host=${2:-127.0.0.1} i
  local where=()
  [[ $host == 127.0.0.1 ]] || where=(--listen "$host:0" --san "$host")
  rm -f "$WORK/fake/port"
  "$FAKE_BIN" --config "$config" --tls-dir "$WORK/fake" --port-file "$WORK/fake/port" \
    "${where[@]}" "${@:3}" --recent-requests 1000 >"$WORK/fake.log" 2>&1 &
  FAKE_PID=$!
  for i in $(seq 1 100); do
    [[ -s "$WORK/fake/port" ]] && break
    kill -0 "$FAKE_PID" 2>/dev/null || fail "fake-ibm-cloud exited: $(cat "$WORK/fake.log")"
    sleep 0.1
  done
  [[ -s "$WORK/fake/port" ]] || fail "fake-ibm-cloud did not start: $(cat "$WORK/fake.log")"
  FAKE_PORT=$(cat "$WORK/fake/port")
  FAKE_URL="https://$host:$FAKE_PORT"
  FAKE_CA=$WORK/fake/ca.crt
  record_secrets_from_fake
}

# fake_api METHOD PATH [JSON_BODY]: an admin API call; prints the answer.
fake_api() {
  local args=(-sS --fail-with-body --max-time 10 --cacert "$FAKE_CA" -X "$1" "$FAKE_URL$2")
  [[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  curl "${args[@]}" || fail "fake admin API: $1 $2 failed"
}
# fake_reset GUID TEAM_ID: resets the team's token (the Monitoring UI's Reset
# Token); prints the new token.
fake_reset() {
  local out token
  out=$(fake_api POST "/_fake/instances/$1/teams/$2/reset")
  token=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' <<<"$out")
  [[ -n "$token" ]] || fail "fake reset answered: $out"
  echo "$token" >>"$SECRETS_FILE"
  echo "$token"
}
fake_fault() { fake_api POST /_fake/faults "$1" >/dev/null; }
fake_clear_faults() { fake_api DELETE /_fake/faults >/dev/null; }
fake_reset_counts() { fake_api POST /_fake/requests/reset >/dev/null; }
fake_merge_state() {
  fake_api POST /_fake/state "$1" >/dev/null
  record_secrets_from_fake
}
# fake_counts: the "counts" object of GET /_fake/requests, e.g.
# {"GET /api/token":{"200":7},"POST /identity/token":{"200":1}}
fake_counts() {
  fake_api GET /_fake/requests | sed -e 's/^{"counts":\(.*\),"recent":.*$/\1/'
}
# fake_count ENDPOINT [OUTCOME]: how many requests to ENDPOINT ("GET /api/token")
# had OUTCOME ("200", "503", "dropped"); all outcomes when OUTCOME is "all".
fake_count() {
  local endpoint=$1 outcome=${2:-200} entry
  entry=$(fake_counts | grep -o "\"$endpoint\":{[^}]*}" || true)
  if [[ "$outcome" == all ]]; then
    { grep -o ':[0-9]*' <<<"${entry#*\{}" || true; } | tr -d ':' | awk '{s += $1} END {print s + 0}'
  else
    local n
    n=$(grep -o "\"$outcome\":[0-9]*" <<<"$entry" | cut -d: -f2 || true)
    echo "${n:-0}"
  fi
}
# fake_token_requests_for TEAM_ID: GET /api/token requests for one team among
# the fake's recent requests (up to 1000).
fake_token_requests_for() {
  fake_api GET /_fake/requests | sed -e 's/^.*"recent":\[//' | sed -e 's/},{"/}\n{"/g' |
    grep '"endpoint":"GET /api/token"' | grep -c "\"sysdigteamid\":\"$1\"" || true
}
# record_secrets_from_fake: remembers every API key and token in the fake's state.
record_secrets_from_fake() {
  fake_api GET /_fake/state | grep -o '"\(key\|token\)":"[^"]*"' | sed -e 's/^"[a-z]*":"//' -e 's/"$//' \
    >>"$SECRETS_FILE"
}

# one_team_setup PREFIX: the common start of a test — the CRD, namespace NS
# (op-PREFIX-*), fake-ibm-cloud seeded with one API key (KEY) and one instance
# (GUID) with team TEAM (token TOKEN), the key's Secret ibm-api-key, and an
# operator "op" with its workers started.
one_team_setup() {
  local prefix=$1
  install_crd
  new_namespace NS "op-$prefix"
  GUID=$(new_guid)
  TEAM=26055
  TOKEN=$(new_guid)
  KEY=$prefix-api-key-$RAND
  cat >"$WORK/fake.yaml" <<YAML
apiKeys:
  - {key: "$KEY", iamID: "IBMid-${prefix^^}"}
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$TOKEN"}
YAML
  start_fake "$WORK/fake.yaml"
  api_key_secret ibm-api-key apikey "$KEY"
  start_operator op
  wait_operator_started op
}

# start_operator NAME [ARGS...]: starts the operator against the control plane,
# trusting the fake's CA, watching this test's namespaces; output appended to
# $WORK/NAME.log.
start_operator() {
  local name=$1
  shift
  local ns_args=() ns
  if [[ "${OP_ALL_NAMESPACES:-0}" != 1 ]]; then
    for ns in "${NAMESPACES[@]}"; do ns_args+=(--namespace "$ns"); done
  fi
  touch "$WORK/$name.log"
  OP_LINE[$name]=$(($(wc -l <"$WORK/$name.log") + 1))
  echo "{\"test\":\"start $name: $*\"}" >>"$WORK/$name.log"
  SSL_CERT_FILE="$FAKE_CA" "$OPERATOR_BIN" --kubeconfig "${OP_KUBECONFIG:-$KUBECONFIG}" \
    --allowed-hosts "${OPERATOR_ALLOWED_HOSTS:-127.0.0.1}" --metrics-bind-address "${OP_METRICS_ADDRESS:-0}" \
    --health-probe-bind-address "${OP_HEALTH_ADDRESS:-0}" --log-format json \
    "${ns_args[@]}" "$@" >>"$WORK/$name.log" 2>&1 &
  OP_PID[$name]=$!
}
# op_log NAME: the log of the operator's current run.
op_log() { tail -n "+${OP_LINE[$1]}" "$WORK/$1.log"; }
op_logged() { op_log "$1" | grep -qF -- "$2"; }
operator_alive() { kill -0 "${OP_PID[$1]}" 2>/dev/null; }
# op_rss_kib NAME: the operator's resident memory (VmRSS) in KiB.
op_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/${OP_PID[$1]}/status"; }
wait_operator_started() {
  local name=$1 deadline=$(($(now_ms) + 60000))
  until op_logged "$name" '"msg":"starting workers"'; do
    operator_alive "$name" || fail "operator $name exited: $(op_log "$name" | tail -n 5)"
    (($(now_ms) < deadline)) || fail "operator $name did not start its workers within 60s"
    sleep 0.1
  done
}
# stop_operator NAME [SIGNAL]: sends SIGNAL (default TERM) and waits for the
# exit (at most 30 s); the exit code is left in STOP_RC. (Not in $(...): the
# operator is a child of this shell.)
stop_operator() {
  local name=$1 sig=${2:-TERM} pid=${OP_PID[$1]} i
  STOP_RC=0
  kill "-$sig" "$pid" 2>/dev/null || true
  for i in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "operator $name did not exit within 30s of SIG$sig"
  wait "$pid" 2>/dev/null || STOP_RC=$?
  OP_PID[$name]=
}
kill9_operator() {
  {
    kill -KILL "${OP_PID[$1]}" || true
    wait "${OP_PID[$1]}" || true
  } 2>/dev/null
  OP_PID[$1]=
}

# --- SysdigTokens and Secrets (in namespace $NS) -----------------------------

# base_spec: the spec body (indented by two) of a SysdigToken that syncs
# team $TEAM of instance $GUID through the fake with Secret ibm-api-key.
base_spec() {
  cat <<EOF
  instanceID: ${1:-$GUID}
  teamID: ${2:-$TEAM}
  endpoint: $FAKE_URL
  iamEndpoint: $FAKE_URL
  apiKeySecretRef: {name: ${3:-ibm-api-key}}
EOF
}
# apply_sdt NAME SPEC_BODY [ANNOTATIONS_JSON]: creates or updates a SysdigToken.
apply_sdt() {
  local annotations=${3:-}
  [[ -n "$annotations" ]] || annotations='{}'
  kubectl apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: monitoring.ibm.com/v1alpha1
kind: SysdigToken
metadata:
  name: $1
  annotations: $annotations
spec:
$2
EOF
}
# api_key_secret NAME KEY VALUE: an API key Secret in $NS.
api_key_secret() {
  kubectl create secret generic "$1" -n "$NS" --from-literal="$2=$3" >/dev/null
  echo "$3" >>"$SECRETS_FILE"
}
sdt() { kubectl get sdt "$1" -n "$NS" -o jsonpath="{$2}" 2>/dev/null; }
secret_jp() { kubectl get secret "$1" -n "$NS" -o jsonpath="{$2}" 2>/dev/null; }
ready() { sdt "$1" '.status.conditions[?(@.type=="Ready")].status'; }
reason() { sdt "$1" '.status.conditions[?(@.type=="Ready")].reason'; }
ready_is() { [[ "$(ready "$1")/$(reason "$1")" == "$2/$3" ]]; }
revision() { sdt "$1" .status.revision; }
secret_fingerprint() { secret_jp "$1" '.metadata.annotations.monitoring\.ibm\.com/token-fingerprint'; }
secret_revision() { secret_jp "$1" '.metadata.annotations.monitoring\.ibm\.com/revision'; }
secret_rv() { secret_jp "$1" .metadata.resourceVersion; }
sdt_rv() { sdt "$1" .metadata.resourceVersion; }
secret_exists() { kubectl get secret "$1" -n "$NS" >/dev/null 2>&1; }
# secret_token NAME [KEY]: the decoded token the Secret holds.
secret_token() {
  kubectl get secret "$1" -n "$NS" \
    -o go-template="{{with index .data \"${2:-SYSDIG_MONITOR_API_TOKEN}\"}}{{base64decode .}}{{end}}" 2>/dev/null
}
# fingerprint_of VALUE: the operator's fingerprint, "sha256:" + 16 hex digits.
fingerprint_of() { echo "sha256:$(printf '%s' "$1" | sha256sum | cut -c1-16)"; }
# events NAME: "TYPE REASON" lines of the events about SysdigToken NAME.
events() {
  kubectl get events -n "$NS" --field-selector "involvedObject.name=$1,involvedObject.kind=SysdigToken" \
    -o jsonpath='{range .items[*]}{.type} {.reason}: {.message}{"\n"}{end}' 2>/dev/null
}
has_event() { events "$1" | grep -q "^$2 $3:"; }
event_matches() { events "$1" | grep -q -- "$2"; }
# event_total NAME REASON: occurrences of REASON events about NAME, counting
# the repeats an Event series aggregates.
event_total() {
  kubectl get events -n "$NS" --field-selector "involvedObject.name=$1,reason=$2" \
    -o go-template='{{range .items}}{{if .series}}{{.series.count}}{{else if .count}}{{.count}}{{else}}1{{end}} {{end}}' 2>/dev/null |
    awk '{for (i = 1; i <= NF; i++) s += $i} END {print s + 0}'
}
event_total_above() { (($(event_total "$1" "$2") > $3)); }
event_count() { events "$1" | grep -c "^$2 $3:" || true; }
# wait_ready NAME STATUS REASON [TIMEOUT]
wait_ready() {
  eventually "${4:-30}" ready_is "$1" "$2" "$3" ||
    fail "timed out after ${4:-30}s waiting for $1 to be Ready=$2 ($3); it is $(ready "$1")/$(reason "$1"): $(sdt "$1" '.status.conditions[0].message')"
}
# sdt_is NAME JSONPATH VALUE, secret_token_is NAME VALUE, secret_gone NAME:
# conditions for wait_for (which runs them again and again).
sdt_is() { [[ "$(sdt "$1" "$2")" == "$3" ]]; }
secret_token_is() { [[ "$(secret_token "$1")" == "$2" ]]; }
secret_gone() { ! kubectl get secret "$1" -n "$NS" >/dev/null 2>&1; }

# record_secrets_from_cluster: remembers every managed token and API key
# Secret value in this test's namespaces.
record_secrets_from_cluster() {
  local ns
  for ns in "${NAMESPACES[@]}"; do
    kubectl get secrets -n "$ns" -o go-template='{{range .items}}{{range $k, $v := .data}}{{if and (ne $k "SYSDIG_MONITOR_URL") (ne $k "SYSDIG_MONITOR_TEAM_ID") (ne $k "IBM_INSTANCE_ID")}}{{base64decode $v}}{{"\n"}}{{end}}{{end}}{{end}}' \
      2>/dev/null >>"$SECRETS_FILE" || true
  done
}

# check_no_leaks: no API key, no Monitor token the fake handed out (its state,
# its reset answers, the Secrets) and no IAM access token (a JWT) appears in
# the operator logs, in any Event of the cluster, in any SysdigToken or (when
# that CRD is installed) in any ClusterSysdigToken.
check_no_leaks() {
  record_secrets_from_fake
  record_secrets_from_cluster
  local needles=$WORK/needles hay=$WORK/haystack
  # Seeded instance GUIDs also look like tokens; only secret values are kept.
  sort -u "$SECRETS_FILE" | awk 'length($0) >= 8' >"$needles"
  {
    cat "$WORK"/*.log 2>/dev/null | grep -v '^{"test":' || true
    kubectl get events -A -o json
    kubectl get events.events.k8s.io -A -o json
    kubectl get sdt -A -o json
    kubectl get clustersysdigtokens -o json 2>/dev/null || true
  } >"$hay"
  local n
  n=$(wc -l <"$needles")
  ((n > 0)) || fail "check_no_leaks: no secret values collected"
  if grep -F -f "$needles" "$hay" >"$WORK/leaks"; then
    fail "a token or API key leaked: $(grep -o -F -f "$needles" "$WORK/leaks" | sort -u | sed 's/\(....\).*/\1…/' | tr '\n' ' ') in: $(head -c 600 "$WORK/leaks")"
  fi
  # IAM access tokens are JWTs; the fake's header {"alg":"RS256","kid":"fake"}
  # encodes to this prefix.
  local jwt=eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UifQ
  if grep -q "$jwt" "$hay"; then
    fail "an IAM access token (JWT) leaked: $(grep -o ".\{0,80\}$jwt.\{0,20\}" "$hay" | head -n 3)"
  fi
  pass "no leak: $n API keys and tokens, and no IAM JWT, in $(wc -c <"$hay") bytes of operator logs, Events (all namespaces), SysdigTokens and ClusterSysdigTokens"
}
