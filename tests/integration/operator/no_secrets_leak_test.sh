#!/usr/bin/env bash
# operator.no_secrets_leak: drives the operator, logging at debug level,
# through every path that handles a token or an API key — first sync (teamID
# and teamName), rotation, an Unchanged reset, drift repair, a revoked IAM
# token (401 and a new IAM token), an API key with surrounding whitespace,
# rejected and unknown keys, IAM and Monitoring errors (503, 500, 429 with
# Retry-After, dropped connections, slow answers) — and then checks that no
# API key, no Monitor token the fake ever handed out and no IAM access token
# appears in the operator's log, in any Event of the cluster, in any
# SysdigToken, or in the metadata of the managed Secrets. (Every other
# operator.* test runs the same check on its own run at its end.)
#   no_secrets_leak_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

install_crd
new_namespace NS op-leak
GUID=$(new_guid)
TEAM=26055
KEY=leak-api-key-$RAND
KEY_SPACES=leak-api-key-spaces-$RAND
KEY_FRESH=leak-api-key-fresh-$RAND
cat >"$WORK/fake.yaml" <<EOF
apiKeys:
  - {key: "$KEY", iamID: "IBMid-LEAK"}
  - {key: "$KEY_SPACES", iamID: "IBMid-LEAK2"}
  - {key: "$KEY_FRESH", iamID: "IBMid-LEAK3"}
  - {key: "leak-disabled-key-$RAND", iamID: "IBMid-LEAK4", enabled: false}
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$(new_guid)"}
      - {id: 26056, name: Dev, token: "dev-token-$(new_guid)"}
      - {id: 26057, name: Web, token: "web-token-$(new_guid)"}
EOF
start_fake "$WORK/fake.yaml"
api_key_secret ibm-api-key apikey "$KEY"
kubectl create secret generic spaced-api-key -n "$NS" --from-literal=apikey="  $KEY_SPACES
" >/dev/null
api_key_secret fresh-api-key apikey "$KEY_FRESH"
api_key_secret disabled-api-key apikey "leak-disabled-key-$RAND"
start_operator op --log-level debug
wait_operator_started op

# Syncs.
apply_sdt by-id "$(base_spec)"
apply_sdt by-name "$(base_spec | sed 's/teamID: .*/teamName: Dev/')"
apply_sdt spaced-key "$(base_spec "$GUID" 26057 spaced-api-key)"
apply_sdt disabled-key "$(base_spec "$GUID" $TEAM disabled-api-key)"
wait_ready by-id True TokenSynced 30
wait_ready by-name True TokenSynced 30
wait_ready spaced-key True TokenSynced 30
wait_ready disabled-key False APIKeyInvalid 30
pass "synced by teamID, by teamName, with an API key wrapped in whitespace; a disabled key is APIKeyInvalid"

annotate() { kubectl annotate sdt "$1" -n "$NS" --overwrite "monitoring.ibm.com/reset-token=$2" >/dev/null; }
token_is() { [[ "$(secret_token "$1")" == "$2" ]]; }

# Rotation and an Unchanged reset.
NEW=$(fake_reset "$GUID" $TEAM)
annotate by-id one
wait_for "the rotation" 30 token_is by-id "$NEW"
annotate by-id two
wait_for "the Unchanged reset" 30 sdt_is by-id .status.lastResetOutcome Unchanged
pass "rotated, then an Unchanged reset"

# Drift repair.
kubectl patch secret by-name -n "$NS" --type=merge -p "{\"data\":{\"SYSDIG_MONITOR_API_TOKEN\":\"$(printf 'edited' | base64)\"}}" >/dev/null
repaired() { [[ "$(secret_fingerprint by-name)" == "$(fingerprint_of "$(secret_token by-name)")" ]]; }
wait_for "the repair" 30 repaired
pass "drift repaired"

# A revoked IAM token: Monitoring answers 401, the operator gets a new IAM token.
fake_api POST /_fake/iam/revoke >/dev/null
fake_reset_counts
NEW=$(fake_reset "$GUID" 26056)
annotate by-name after-revoke
wait_for "the rotation after the IAM revocation" 30 token_is by-name "$NEW"
grep -q '"401"' <<<"$(fake_counts)" || fail "no 401 from Monitoring after the revocation: $(fake_counts)"
pass "after an IAM revocation: 401, a new IAM token, rotation ($(fake_counts))"

# IAM and Monitoring errors of every kind.
fault_then_refetch() { # FAULT_JSON RESOURCE RESET_VALUE REASON
  fake_fault "$1"
  annotate "$2" "$3"
  wait_for "$4 on $2" 40 ready_is "$2" False "$4"
  fake_clear_faults
}
fake_fault '{"pathPrefix":"/identity/token","status":503}'
apply_sdt fresh "$(base_spec "$GUID" 26057 fresh-api-key)"
wait_ready fresh False IAMUnavailable 30
fake_clear_faults
wait_ready fresh True TokenSynced 60
fault_then_refetch '{"pathPrefix":"/api/token","status":500}' by-id e500 MonitoringUnavailable
fault_then_refetch '{"pathPrefix":"/api/token","drop":true}' spaced-key edrop MonitoringUnavailable
fault_then_refetch '{"pathPrefix":"/api/v2/teams","status":502}' by-name e502 MonitoringUnavailable
fault_then_refetch '{"pathPrefix":"/api/token","status":429,"retryAfterSeconds":3}' spaced-key e429 RateLimited
fake_fault '{"pathPrefix":"/api/token","latencyMs":500,"times":1}'
annotate by-id slow
wait_for "the slow answer to be handled" 40 sdt_is by-id .status.lastHandledReset slow
for r in by-id by-name spaced-key; do wait_ready $r True TokenSynced 60; done
pass "IAM 503, Monitoring 500, dropped connection, teams API 502, 429 with Retry-After, slow answers: all recovered"

# Nothing secret in the managed Secrets' metadata either.
record_secrets_from_cluster
kubectl get secrets -n "$NS" -l app.kubernetes.io/managed-by=sysdig-token-operator \
  -o go-template='{{range .items}}{{.metadata}}{{"\n"}}{{end}}' >"$WORK/secret-metadata.log"
grep -F -f <(sort -u "$SECRETS_FILE" | awk 'length($0) >= 8') "$WORK/secret-metadata.log" &&
  fail "a token or API key appears in the metadata of a managed Secret"
pass "no token or API key in the labels or annotations of the managed Secrets"
lines=$(wc -l <"$WORK/op.log")
debug=$(grep -c '"level":"debug"' "$WORK/op.log" || true)
pass "operator log: $lines lines ($debug at debug level)"

check_no_leaks
