#!/usr/bin/env bash
# operator.ibm_cloud: IBM Cloud as its docs describe it. Region endpoints,
# public and private, are reached by their real host names (mapped to the fake
# on loopback with --connect-to, TLS still verifying those names); the team
# header reaches instances that honour only TeamID or only SysdigTeamID (each
# of which would silently answer with the caller's default team otherwise);
# an endpoint written with IBM's trailing /api is accepted; an IAM_ONLY
# instance is AccessDenied, backs off from 5 minutes, and is retried at once
# on a new reset value or a spec change.
#   ibm_cloud_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

install_crd
new_namespace NS op-ibm
KEY=ibm-cloud-api-key-$RAND
G_TEAMID=$(new_guid) G_SYSDIG=$(new_guid) G_BOTH=$(new_guid) G_IAM_ONLY=$(new_guid)
declare -A OPS_TOKEN=() DEFAULT_TOKEN=()
instance() { # GUID TEAM_HEADER [EXTERNAL_API_AUTH]: a fake instance whose default team is not Ops
  OPS_TOKEN[$1]=$(new_guid) DEFAULT_TOKEN[$1]=$(new_guid)
  cat <<YAML
  - guid: "$1"
    teamHeader: $2
    externalApiAuth: ${3:-ANY}
    defaultTeam: 1
    teams:
      - {id: 1, name: Default, token: "${DEFAULT_TOKEN[$1]}"}
      - {id: 26055, name: Ops, token: "${OPS_TOKEN[$1]}"}
YAML
}
{
  echo "apiKeys:"
  echo "  - {key: \"$KEY\", iamID: IBMid-IBMCLOUD}"
  echo "instances:"
  instance "$G_TEAMID" TeamID
  instance "$G_SYSDIG" SysdigTeamID
  instance "$G_BOTH" Both
  instance "$G_IAM_ONLY" Both IAM_ONLY
} >"$WORK/fake.yaml"

HOSTS=(us-south.monitoring.cloud.ibm.com private.eu-de.monitoring.cloud.ibm.com
  iam.cloud.ibm.com private.iam.cloud.ibm.com)
sans=() connect=()
for host in "${HOSTS[@]}"; do sans+=(--san "$host"); done
start_fake "$WORK/fake.yaml" 127.0.0.1 "${sans[@]}"
for host in "${HOSTS[@]}"; do connect+=(--connect-to "$host:443:127.0.0.1:$FAKE_PORT"); done
api_key_secret ibm-api-key apikey "$KEY"
# The default allowlist (no --allowed-hosts of the test's own): IBM's names.
OPERATOR_ALLOWED_HOSTS='*.monitoring.cloud.ibm.com,iam.cloud.ibm.com,*.iam.cloud.ibm.com' \
  start_operator op "${connect[@]}"
wait_operator_started op
op_logged op '"msg":"IBM Cloud connections redirected"' || fail "the operator does not log its --connect-to rules"
pass "operator started; ${#HOSTS[@]} IBM host names lead to the fake on port $FAKE_PORT"

spec() { # GUID [EXTRA_LINES]
  printf '  instanceID: %s\n  teamID: 26055\n  apiKeySecretRef: {name: ibm-api-key}\n%s\n' "$1" "${2:-}"
}
apply_sdt public-teamid "$(spec "$G_TEAMID" '  region: us-south')"
apply_sdt private-sysdigteamid "$(spec "$G_SYSDIG" '  region: eu-de
  endpointType: private')"
apply_sdt api-suffix "$(spec "$G_BOTH" '  endpoint: https://us-south.monitoring.cloud.ibm.com/api')"
apply_sdt iam-only "$(spec "$G_IAM_ONLY" '  region: us-south')"
apply_sdt iam-only-spec "$(spec "$G_IAM_ONLY" '  region: us-south')"

# 1. The right team's token arrives whichever header the instance honours.
for name_guid in public-teamid:$G_TEAMID private-sysdigteamid:$G_SYSDIG api-suffix:$G_BOTH; do
  name=${name_guid%%:*} guid=${name_guid#*:}
  wait_ready "$name" True TokenSynced 30
  got=$(secret_token "$name")
  [[ "$got" != "${DEFAULT_TOKEN[$guid]}" ]] || fail "$name: the Secret holds the instance's default team's token, not team 26055's"
  [[ "$got" == "${OPS_TOKEN[$guid]}" ]] || fail "$name: the Secret does not hold team 26055's token"
done
pass "team 26055's token (not the default team's) in instances honouring TeamID, SysdigTeamID and both"

# 2. Each went to its endpoint by name: Host header (and so SNI) per request.
fake_api GET /_fake/requests >"$WORK/requests.json"
hosts_of() { # ENDPOINT INSTANCE_GUID|-: the Host headers of those requests, sorted, unique
  python3 - "$WORK/requests.json" "$1" "$2" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
hosts = {r["headers"].get("host", "?") for r in data["recent"] if r["endpoint"] == sys.argv[2]
         and (sys.argv[3] == "-" or r["headers"].get("ibminstanceid") == sys.argv[3])}
print(" ".join(sorted(hosts)))
PY
}
[[ "$(hosts_of 'GET /api/token' "$G_TEAMID")" == us-south.monitoring.cloud.ibm.com ]] ||
  fail "region us-south (public) went to: $(hosts_of 'GET /api/token' "$G_TEAMID")"
[[ "$(hosts_of 'GET /api/token' "$G_SYSDIG")" == private.eu-de.monitoring.cloud.ibm.com ]] ||
  fail "region eu-de, endpointType private went to: $(hosts_of 'GET /api/token' "$G_SYSDIG")"
[[ "$(hosts_of 'GET /api/token' "$G_BOTH")" == us-south.monitoring.cloud.ibm.com ]] ||
  fail "endpoint .../api went to: $(hosts_of 'GET /api/token' "$G_BOTH")"
[[ "$(hosts_of 'POST /identity/token' -)" == "iam.cloud.ibm.com private.iam.cloud.ibm.com" ]] ||
  fail "IAM requests went to: $(hosts_of 'POST /identity/token' -)"
python3 - "$WORK/requests.json" <<'PY' || fail "a token request lacks one of the team headers"
import json, sys
for r in json.load(open(sys.argv[1]))["recent"]:
    if r["endpoint"] == "GET /api/token":
        h = r["headers"]
        assert h.get("teamid") == "26055" and h.get("sysdigteamid") == "26055", h
PY
[[ "$(secret_jp api-suffix '.data.SYSDIG_MONITOR_URL' | base64 -d)" == https://us-south.monitoring.cloud.ibm.com ]] ||
  fail "api-suffix: SYSDIG_MONITOR_URL is $(secret_jp api-suffix '.data.SYSDIG_MONITOR_URL' | base64 -d)"
pass "public and private regions reached us-south / private.eu-de and iam / private.iam by name; every token request sent TeamID and SysdigTeamID; endpoint …/api normalised to the host"

# 3. IAM_ONLY: AccessDenied, the message says what to change, the next retry
# is 5 minutes away.
wait_ready iam-only False AccessDenied 30
wait_ready iam-only-spec False AccessDenied 30
msg=$(sdt iam-only '.status.conditions[?(@.type=="Ready")].message')
grep -q IAM_ONLY <<<"$msg" || fail "the AccessDenied message does not name IAM_ONLY: $msg"
next=$(sdt iam-only .status.nextRetryTime)
wait_s=$(($(date -d "$next" +%s) - $(date +%s)))
((wait_s >= 270 && wait_s <= 330)) || fail "AccessDenied retries in ${wait_s}s (nextRetryTime $next), want about 5 minutes"
pass "IAM_ONLY: AccessDenied, next retry in ${wait_s}s; \"$(cut -c1-160 <<<"$msg")\""

# Once the instance allows API tokens, a new reset value and a spec change are
# each retried at once, not after the 5 minutes.
fake_api POST /_fake/state "{\"instances\":[{\"guid\":\"$G_IAM_ONLY\",\"externalApiAuth\":\"ANY\"}]}" >/dev/null
t0=$(now_ms)
kubectl annotate sdt iam-only -n "$NS" monitoring.ibm.com/reset-token="$(date -u +%FT%TZ)" >/dev/null
kubectl patch sdt iam-only-spec -n "$NS" --type=merge -p '{"spec":{"refreshInterval":"2h"}}' >/dev/null
wait_ready iam-only True TokenSynced 20
wait_ready iam-only-spec True TokenSynced 20
[[ "$(secret_token iam-only)" == "${OPS_TOKEN[$G_IAM_ONLY]}" ]] || fail "iam-only: not team 26055's token"
pass "after the instance allowed API tokens: a new reset value and a spec change synced in $(($(now_ms) - t0)) ms"

check_no_leaks
