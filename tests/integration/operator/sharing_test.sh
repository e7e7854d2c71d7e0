#!/usr/bin/env bash
# operator.sharing: what is shared and what is not.
#   1. 50 SysdigTokens (50 teams) with one API key: one IAM token request.
#   2. 20 SysdigTokens of one team with one API key, created together: their
#      Monitor token fetches coalesce (at most 2 GET /api/token); and with
#      fetches that certainly overlap (latency, enough workers) too.
#   3. Different API keys never share a fetched token: a resource whose API
#      key IAM rejects fails with APIKeyInvalid although another resource
#      fetched the same team's token a moment before (or at the same time);
#      a second valid key gets its own IAM token and its own fetch.
#   sharing_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

install_crd
new_namespace NS op-share
GUID=$(new_guid)
KEY=share-api-key-$RAND
KEY2=share-api-key2-$RAND
{
  echo "apiKeys:"
  echo "  - {key: \"$KEY\", iamID: \"IBMid-SHARE\"}"
  echo "  - {key: \"$KEY2\", iamID: \"IBMid-SHARE2\"}"
  echo "instances:"
  echo "  - guid: \"$GUID\""
  echo "    teams:"
  for i in $(seq 0 49); do echo "      - {id: $((1000 + i)), name: team-$i}"; done
  echo "      - {id: 26055, name: Ops}"
  echo "      - {id: 26056, name: Dev}"
  echo "      - {id: 26057, name: Web}"
} >"$WORK/fake.yaml"
start_fake "$WORK/fake.yaml"
api_key_secret ibm-api-key apikey "$KEY"
api_key_secret second-api-key apikey "$KEY2"
api_key_secret rejected-api-key apikey "rejected-api-key-$RAND"
start_operator op
wait_operator_started op

# sdt_doc NAME BATCH TEAM KEY_SECRET: one SysdigToken document.
sdt_doc() {
  cat <<EOF
---
apiVersion: monitoring.ibm.com/v1alpha1
kind: SysdigToken
metadata: {name: $1, labels: {batch: $2}}
spec:
  instanceID: $GUID
  teamID: $3
  endpoint: $FAKE_URL
  iamEndpoint: $FAKE_URL
  apiKeySecretRef: {name: $4}
EOF
}
ready_in_batch() {
  kubectl get sdt -n "$NS" -l "batch=$1" \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$' || true
}
all_ready() { (($(ready_in_batch "$1") == $2)); }

# 1. 50 resources, 50 teams, one API key.
for i in $(seq 0 49); do sdt_doc "team-$i" fifty $((1000 + i)) ibm-api-key; done >"$WORK/fifty.yaml"
fake_reset_counts
t0=$(now_ms)
kubectl apply -n "$NS" -f "$WORK/fifty.yaml" >/dev/null
t1=$(now_ms)
eventually 120 all_ready fifty 50 || fail "only $(ready_in_batch fifty) of 50 SysdigTokens are Ready after 120 s"
ms=$(($(now_ms) - t1))
iam=$(fake_count 'POST /identity/token' all)
gets=$(fake_count 'GET /api/token' all)
((iam == 1)) || fail "50 resources with one API key made $iam IAM token requests (want 1): $(fake_counts)"
((gets == 50)) || fail "50 resources of 50 teams made $gets GET /api/token (want 50): $(fake_counts)"
for i in 0 17 49; do
  [[ "$(sdt "team-$i" .status.teamID)" == $((1000 + i)) ]] || fail "team-$i has status.teamID $(sdt "team-$i" .status.teamID)"
done
pass "50 SysdigTokens with one API key: all Ready $ms ms after kubectl apply returned ($((t1 - t0)) ms for the apply); 1 IAM token request, 50 GET /api/token"

# 2. 20 resources of one team, one API key, created together (one kubectl
# apply: 20 POSTs in a row).
for i in $(seq 0 19); do sdt_doc "ops-$i" twenty 26055 ibm-api-key; done >"$WORK/twenty.yaml"
fake_reset_counts
kubectl apply -n "$NS" -f "$WORK/twenty.yaml" >/dev/null
wait_for "20 SysdigTokens of team 26055 to be Ready" 90 all_ready twenty 20
gets=$(fake_count 'GET /api/token' all)
iam=$(fake_count 'POST /identity/token' all)
fps=$(kubectl get sdt -n "$NS" -l batch=twenty -o jsonpath='{range .items[*]}{.status.tokenFingerprint}{"\n"}{end}' | sort -u | wc -l)
((fps == 1)) || fail "20 resources of one team ended with $fps different fingerprints"
((iam == 0)) || fail "the cached IAM token was not reused: $iam IAM requests"
((gets <= 2)) || fail "20 SysdigTokens of one team and one API key created together (one kubectl apply) made $gets GET /api/token (want at most 2)"
pass "20 SysdigTokens of one team created together: $gets GET /api/token, 0 IAM requests"

# 2b. Fetches that do overlap coalesce: Monitoring answers after 1.5 s, and
# enough workers run at once to hold all 20 reconciles (a restarted operator
# with --max-concurrent-reconciles 32).
stop_operator op TERM
start_operator op --max-concurrent-reconciles 32
wait_operator_started op
for i in $(seq 0 19); do sdt_doc "dev-$i" overlap 26056 ibm-api-key; done >"$WORK/overlap.yaml"
fake_fault '{"pathPrefix":"/api/token","latencyMs":1500}'
fake_reset_counts
kubectl apply -n "$NS" -f "$WORK/overlap.yaml" >/dev/null
wait_for "20 SysdigTokens of team 26056 to be Ready" 90 all_ready overlap 20
fake_clear_faults
gets=$(fake_count 'GET /api/token' all)
iam=$(fake_count 'POST /identity/token' all)
((gets <= 2)) || fail "20 overlapping fetches of one team's token with one API key made $gets GET /api/token (want at most 2): $(fake_counts)"
((iam == 1)) || fail "IAM requests after the restart: $iam (want 1): $(fake_counts)"
pass "20 overlapping fetches (1.5 s Monitoring latency, 32 workers) coalesced into $gets GET /api/token; 1 IAM request after the restart"

# 3. Different API keys never share a fetched token.
fake_reset_counts
sdt_doc dev-good keys 26056 ibm-api-key | kubectl apply -n "$NS" -f - >/dev/null
wait_ready dev-good True TokenSynced 30
sdt_doc dev-rejected keys 26056 rejected-api-key | kubectl apply -n "$NS" -f - >/dev/null
wait_ready dev-rejected False APIKeyInvalid 30
secret_exists dev-rejected && fail "dev-rejected got a Secret"
pass "a resource with a rejected API key fails with APIKeyInvalid right after another resource fetched the same team's token"

fake_reset_counts
{
  sdt_doc web-good keys 26057 ibm-api-key
  sdt_doc web-rejected keys 26057 rejected-api-key
  sdt_doc web-second-key keys 26057 second-api-key
} | kubectl apply -n "$NS" -f - >/dev/null
wait_ready web-good True TokenSynced 30
wait_ready web-second-key True TokenSynced 30
wait_ready web-rejected False APIKeyInvalid 30
secret_exists web-rejected && fail "web-rejected got a Secret"
per_team=$(fake_token_requests_for 26057)
((per_team == 2)) || fail "team 26057 fetched $per_team times for two valid API keys (want 2: one per key): $(fake_counts)"
iam200=$(fake_count 'POST /identity/token' 200)
((iam200 == 1)) || fail "IAM tokens: $iam200 (want 1, for the second API key): $(fake_counts)"
[[ "$(secret_token web-good)" == "$(secret_token web-second-key)" ]] || fail "the two valid keys got different tokens"
pass "created together: the rejected key fails (APIKeyInvalid), the second valid key gets its own IAM token and its own fetch ($per_team GET /api/token for the team)"

check_no_leaks
