#!/usr/bin/env bash
# operator.trusted_profile: spec.trustedProfile instead of an API key. The
# operator asks the API server for a token of the named ServiceAccount
# (TokenRequest, audience iam) and trades it at the fake IAM with the cr-token
# grant. A trusted ServiceAccount syncs, and a second SysdigToken of the same
# profile and ServiceAccount shares the IAM token; a ServiceAccount the profile
# does not trust gets AccessDenied naming the trust rule to add; a missing one
# gets ServiceAccountTokenFailed; another namespace's ServiceAccount cannot be
# named; no ServiceAccount token, IAM token or team token leaks.
#   trusted_profile_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

install_crd
new_namespace NS op-tp
new_namespace OTHER op-tp-other
GUID=$(new_guid)
TEAM=26055
TOKEN=$(new_guid)
PROFILE=Profile-$RAND
cat >"$WORK/fake.yaml" <<EOF
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$TOKEN"}
trustedProfiles:
  - id: "$PROFILE"
    name: "sysdig-readers-$RAND"
    iamID: "iam-$PROFILE"
    trust:
      - {namespace: "$NS", serviceAccount: sysdig-reader}
      - {namespace: "$OTHER", serviceAccount: other-reader}
EOF
start_fake "$WORK/fake.yaml"
kubectl create serviceaccount sysdig-reader -n "$NS" >/dev/null
kubectl create serviceaccount intruder -n "$NS" >/dev/null
kubectl create serviceaccount other-reader -n "$OTHER" >/dev/null
start_operator op
wait_operator_started op
pass "operator started (namespace $NS, fake IBM Cloud $FAKE_URL, profile $PROFILE)"

# tp_spec PROFILE_FIELD SERVICE_ACCOUNT [TARGET]: a spec with spec.trustedProfile.
tp_spec() {
  cat <<EOF
  instanceID: $GUID
  teamID: $TEAM
  endpoint: $FAKE_URL
  iamEndpoint: $FAKE_URL
  trustedProfile: {$1, serviceAccountName: $2}
EOF
  [[ -z "${3:-}" ]] || echo "  target: {name: $3}"
}
message() { sdt "$1" '.status.conditions[?(@.type=="Ready")].message'; }

# 1. A trusted ServiceAccount syncs through a cr-token grant.
apply_sdt reader "$(tp_spec "id: $PROFILE" sysdig-reader)"
wait_ready reader True TokenSynced 30
[[ "$(secret_token reader)" == "$TOKEN" ]] || fail "Secret reader does not hold the team's token"
recent=$(fake_api GET /_fake/requests | sed -e 's/^.*"recent":\[//' | sed -e 's/},{"/}\n{"/g' |
  grep '"endpoint":"POST /identity/token"' || true)
grep -q '"grant_type":"urn:ibm:params:oauth:grant-type:cr-token"' <<<"$recent" ||
  fail "the fake saw no cr-token grant: $recent"
grep -q "\"profile_id\":\"$PROFILE\"" <<<"$recent" || fail "the grant did not name profile $PROFILE: $recent"
grep -q '"cr_token":"<redacted>"' <<<"$recent" || fail "the grant carried no cr_token: $recent"
((1 == $(fake_count 'POST /identity/token'))) || fail "IAM requests for one sync: $(fake_counts)"
pass "trusted ServiceAccount $NS/sysdig-reader: Ready=True, Secret holds the token; IAM saw one cr-token grant for $PROFILE"

# 2. Same profile and ServiceAccount: the IAM token is shared.
apply_sdt reader-two "$(tp_spec "id: $PROFILE" sysdig-reader reader-two-token)"
wait_ready reader-two True TokenSynced 30
[[ "$(secret_token reader-two-token)" == "$TOKEN" ]] || fail "Secret reader-two-token does not hold the team's token"
((1 == $(fake_count 'POST /identity/token'))) ||
  fail "a second SysdigToken of the same profile and ServiceAccount made a new IAM request: $(fake_counts)"
pass "a second SysdigToken of the same profile and ServiceAccount reused the IAM token: $(fake_counts)"

# 3. A ServiceAccount the profile does not trust: AccessDenied, naming the rule to add.
apply_sdt untrusted "$(tp_spec "name: sysdig-readers-$RAND" intruder untrusted-token)"
wait_ready untrusted False AccessDenied 30
msg=$(message untrusted)
for want in "namespace $NS" "service account intruder" "sysdig-readers-$RAND" "HTTP 403"; do
  grep -qF "$want" <<<"$msg" || fail "the AccessDenied message lacks \"$want\": $msg"
done
secret_exists untrusted-token && fail "a Secret was written for an untrusted ServiceAccount"
pass "untrusted ServiceAccount: Ready=False AccessDenied: $msg"

# 4. A ServiceAccount that does not exist.
apply_sdt missing "$(tp_spec "id: $PROFILE" nobody missing-token)"
wait_ready missing False ServiceAccountTokenFailed 30
msg=$(message missing)
grep -qF "ServiceAccount nobody (spec.trustedProfile.serviceAccountName) not found in namespace $NS" <<<"$msg" ||
  fail "the ServiceAccountTokenFailed message: $msg"
pass "missing ServiceAccount: Ready=False ServiceAccountTokenFailed: $msg"

# 5. Another namespace's ServiceAccount cannot be named (the profile trusts
# $OTHER/other-reader, so only the schema and the operator stand in the way).
refused() { # DESCRIPTION SPEC_BODY EXPECTED_TEXT
  local out
  if out=$(apply_sdt cross "$2" 2>&1); then fail "$1 was accepted"; fi
  grep -qF -- "$3" <<<"$out" || fail "$1 was refused, but not with \"$3\": $out"
}
refused "serviceAccountName $OTHER/other-reader" "$(tp_spec "id: $PROFILE" "$OTHER/other-reader")" \
  "(no namespace/ prefix)"
refused "trustedProfile.namespace" "$(tp_spec "id: $PROFILE, namespace: $OTHER" other-reader)" \
  'unknown field "spec.trustedProfile.namespace"'
refused "apiKeySecretRef with trustedProfile" "$(tp_spec "id: $PROFILE" sysdig-reader)
  apiKeySecretRef: {name: ibm-api-key}" "set exactly one of apiKeySecretRef or trustedProfile"
refused "id with name" "$(tp_spec "id: $PROFILE, name: x" sysdig-reader)" \
  "set exactly one of trustedProfile.id or trustedProfile.name"
# The same ServiceAccount name as the other namespace's is this namespace's one.
apply_sdt cross "$(tp_spec "id: $PROFILE" other-reader cross-token)"
wait_ready cross False ServiceAccountTokenFailed 30
grep -qF "not found in namespace $NS" <<<"$(message cross)" || fail "cross: $(message cross)"
pass "another namespace cannot be named: the API server refuses a '/' or a namespace field; other-reader is looked up in $NS only"

# 6. No ServiceAccount token (a JWT from the API server), IAM token or team token leaks.
check_no_leaks
hay=$WORK/haystack
if grep -q 'eyJhbGciOiJSUzI1NiIsImtpZCI6' "$hay"; then
  fail "a JWT (ServiceAccount or IAM token) leaked: $(grep -o '.\{0,80\}eyJhbGciOiJSUzI1NiIsImtpZCI6.\{0,20\}' "$hay" | head -n 3)"
fi
pass "no ServiceAccount token in operator logs, Events or SysdigTokens"
