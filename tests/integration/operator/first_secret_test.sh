#!/usr/bin/env bash
# operator.first_secret: a new SysdigToken gets its Secret within 2 s, with the
# operator's labels, the controller owner reference, the fingerprint and
# revision annotations and the connection info; the status says Ready=True,
# revision 1 and the fingerprint of the Secret's token; a TokenSynced event.
# A second resource names its team by teamName and leaves out the connection
# info. The steady state makes no writes and no IBM requests.
#   first_secret_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

install_crd
new_namespace NS op-first
GUID=$(new_guid)
TEAM=26055
TOKEN=$(new_guid)
KEY=first-api-key-$RAND
cat >"$WORK/fake.yaml" <<EOF
apiKeys:
  - {key: "$KEY", iamID: "IBMid-FIRST", enabled: true}
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$TOKEN"}
      - {id: 26056, name: Dev Team, token: "$(new_guid)"}
EOF
start_fake "$WORK/fake.yaml"
api_key_secret ibm-api-key apikey "$KEY"
start_operator op
wait_operator_started op
pass "operator started (namespace $NS, fake IBM Cloud $FAKE_URL)"

# 1. Time to the first Secret, seen through a watch (not by polling kubectl).
kubectl get secrets -n "$NS" --watch -o name >"$WORK/watch" 2>&1 &
EXTRA_PIDS+=($!)
wait_for "the Secret watch to list" 30 grep -q secret/ibm-api-key "$WORK/watch"
t0=$(now_ms)
apply_sdt ops-team "$(base_spec)
  target:
    name: sysdig-monitor-token
    labels: {app: exporter, tier: monitoring}
    annotations: {example.com/owner: platform-team}"
t1=$(now_ms)
until grep -q secret/sysdig-monitor-token "$WORK/watch"; do
  (($(now_ms) - t1 < 30000)) || fail "no Secret within 30 s"
  sleep 0.02
done
t2=$(now_ms)
ms=$((t2 - t1))
((ms <= 2000)) || fail "the first Secret appeared $ms ms after the SysdigToken was created (want <= 2000 ms)"
pass "first Secret appeared $ms ms after the SysdigToken was created ($((t2 - t0)) ms including kubectl apply's start-up)"
wait_ready ops-team True TokenSynced 30
pass "Ready=True (TokenSynced) $(($(now_ms) - t1)) ms after creation"

# 2. The Secret.
S=sysdig-monitor-token
uid=$(sdt ops-team .metadata.uid)
[[ "$(secret_jp $S .type)" == Opaque ]] || fail "Secret type is '$(secret_jp $S .type)', want Opaque"
labels=$(secret_jp $S '.metadata.labels')
for kv in 'app.kubernetes.io/managed-by":"sysdig-token-operator' 'monitoring.ibm.com/sysdigtoken":"ops-team' \
  'app":"exporter' 'tier":"monitoring'; do
  grep -qF "\"$kv\"" <<<"$labels" || fail "Secret labels lack \"$kv\": $labels"
done
pass "Secret labels: $labels"
owners=$(secret_jp $S '.metadata.ownerReferences[*].uid')
[[ "$owners" == "$uid" ]] || fail "Secret owner references: '$owners', want exactly the SysdigToken ($uid)"
owner=$(secret_jp $S '.metadata.ownerReferences[0]')
for kv in '"apiVersion":"monitoring.ibm.com/v1alpha1"' '"kind":"SysdigToken"' '"name":"ops-team"' \
  '"controller":true' '"blockOwnerDeletion":true'; do
  grep -qF "$kv" <<<"$owner" || fail "owner reference lacks $kv: $owner"
done
pass "Secret has the controller owner reference: $owner"
[[ "$(secret_jp $S '.metadata.annotations.example\.com/owner')" == platform-team ]] ||
  fail "Secret lacks the target annotation example.com/owner: $(secret_jp $S .metadata.annotations)"
want_fp=$(fingerprint_of "$TOKEN")
[[ "$(secret_fingerprint $S)" == "$want_fp" ]] || fail "Secret fingerprint annotation '$(secret_fingerprint $S)', want $want_fp"
[[ "$(secret_revision $S)" == 1 ]] || fail "Secret revision annotation '$(secret_revision $S)', want 1"
pass "Secret annotations: example.com/owner=platform-team, token-fingerprint=$want_fp, revision=1"
[[ "$(secret_token $S)" == "$TOKEN" ]] || fail "the Secret does not hold the team's token"
[[ "$(secret_token $S SYSDIG_MONITOR_URL)" == "$FAKE_URL" ]] || fail "SYSDIG_MONITOR_URL is '$(secret_token $S SYSDIG_MONITOR_URL)'"
[[ "$(secret_token $S SYSDIG_MONITOR_TEAM_ID)" == "$TEAM" ]] || fail "SYSDIG_MONITOR_TEAM_ID is '$(secret_token $S SYSDIG_MONITOR_TEAM_ID)'"
[[ "$(secret_token $S IBM_INSTANCE_ID)" == "$GUID" ]] || fail "IBM_INSTANCE_ID is '$(secret_token $S IBM_INSTANCE_ID)'"
keys=$(kubectl get secret $S -n "$NS" -o go-template='{{range $k, $v := .data}}{{$k}} {{end}}')
[[ "$keys" == "IBM_INSTANCE_ID SYSDIG_MONITOR_API_TOKEN SYSDIG_MONITOR_TEAM_ID SYSDIG_MONITOR_URL " ]] ||
  fail "Secret data keys: $keys"
pass "Secret data: the team's token plus SYSDIG_MONITOR_URL, SYSDIG_MONITOR_TEAM_ID, IBM_INSTANCE_ID"

# 3. The status.
fp=$(sdt ops-team .status.tokenFingerprint)
computed="sha256:$(secret_token $S | tr -d '\n' | sha256sum | cut -c1-16)"
[[ "$fp" == "$computed" ]] || fail "status.tokenFingerprint $fp, sha256sum of the Secret's token gives $computed"
[[ "$(revision ops-team)" == 1 ]] || fail "status.revision $(revision ops-team), want 1"
[[ "$(sdt ops-team .status.secretName)" == "$S" ]] || fail "status.secretName $(sdt ops-team .status.secretName)"
[[ "$(sdt ops-team .status.teamID)" == "$TEAM" ]] || fail "status.teamID $(sdt ops-team .status.teamID)"
[[ "$(sdt ops-team .status.observedGeneration)" == "$(sdt ops-team .metadata.generation)" ]] ||
  fail "status.observedGeneration $(sdt ops-team .status.observedGeneration) != generation"
[[ "$(sdt ops-team .status.failedAttempts)" == 0 ]] || fail "status.failedAttempts $(sdt ops-team .status.failedAttempts)"
[[ -z "$(sdt ops-team .status.nextRetryTime)" ]] || fail "status.nextRetryTime set after a success"
for f in lastSyncTime lastRotationTime nextRefreshTime; do
  [[ -n "$(sdt ops-team .status.$f)" ]] || fail "status.$f is not set"
done
sync=$(date -d "$(sdt ops-team .status.lastSyncTime)" +%s)
next=$(date -d "$(sdt ops-team .status.nextRefreshTime)" +%s)
((next - sync >= 3600 && next - sync <= 3600 * 11 / 10 + 1)) ||
  fail "nextRefreshTime is $((next - sync)) s after lastSyncTime, want 1h (+ up to 10 % jitter)"
grep -q "$TOKEN" <<<"$(kubectl get sdt ops-team -n "$NS" -o json)" && fail "the token appears in the SysdigToken"
pass "status: Ready=True, revision 1, tokenFingerprint $fp = sha256sum of the Secret's token, teamID $TEAM, next refresh in $((next - sync)) s"

wait_for "a TokenSynced event" 20 has_event ops-team Normal TokenSynced
pass "event: $(events ops-team | grep TokenSynced)"
[[ "$(fake_count 'POST /identity/token')" == 1 && "$(fake_count 'GET /api/token')" == 1 ]] ||
  fail "IBM requests for one sync: $(fake_counts)"
pass "one IAM token and one Monitor token request: $(fake_counts)"

# 4. teamName is resolved; includeConnectionInfo false; target.name defaults to metadata.name.
apply_sdt dev-team "  instanceID: $GUID
  teamName: Dev Team
  endpoint: $FAKE_URL/
  iamEndpoint: $FAKE_URL
  apiKeySecretRef: {name: ibm-api-key, key: apikey}
  target: {includeConnectionInfo: false, tokenKey: token}"
wait_ready dev-team True TokenSynced 30
[[ "$(sdt dev-team .status.teamID)" == 26056 ]] || fail "teamName 'Dev Team' resolved to $(sdt dev-team .status.teamID), want 26056"
keys=$(kubectl get secret dev-team -n "$NS" -o go-template='{{range $k, $v := .data}}{{$k}} {{end}}')
[[ "$keys" == "token " ]] || fail "Secret dev-team data keys: '$keys', want only 'token'"
[[ "$(fingerprint_of "$(secret_token dev-team token)")" == "$(sdt dev-team .status.tokenFingerprint)" ]] ||
  fail "Secret dev-team does not hold the token of the fingerprint in its status"
((1 == $(fake_count 'GET /api/v2/teams/light/name/{name}'))) || fail "team name lookups: $(fake_counts)"
((1 == $(fake_count 'POST /identity/token'))) || fail "a second resource with the same API key got a new IAM token: $(fake_counts)"
pass "teamName 'Dev Team' resolved to 26056; Secret dev-team (default name) holds only key 'token'; the IAM token was reused"

# 5. Steady state: no writes, no IBM requests.
before="$(secret_rv $S) $(sdt_rv ops-team) $(secret_rv dev-team) $(sdt_rv dev-team) $(fake_counts)"
sleep 5
after="$(secret_rv $S) $(sdt_rv ops-team) $(secret_rv dev-team) $(sdt_rv dev-team) $(fake_counts)"
[[ "$before" == "$after" ]] || fail "writes or IBM requests in the steady state: $before -> $after"
pass "steady state: no writes and no IBM requests in 5 s"

check_no_leaks
