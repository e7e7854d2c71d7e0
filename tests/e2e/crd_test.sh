#!/usr/bin/env bash
# The SysdigToken CRD (crds/monitoring.ibm.com_sysdigtokens.yaml) against a real
# kube-apiserver: it installs idempotently, is explained, the sample applies and
# gets its defaults, `kubectl get sdt` shows the printer columns, the status
# subresource works, generation follows spec changes only, and invalid objects
# are refused with a message that names the field. Then the same for the
# ClusterSysdigToken CRD (crds/monitoring.ibm.com_clustersysdigtokens.yaml):
# cluster-scoped, its sample, columns, status lists, valid selections, and the
# refusals of its own rules (namespaceSelector or namespaces, label selector
# operators, apiKeySecretRef.namespace) and of SysdigToken's.
#
# The CRDs are left installed (other tests of the same control plane use them);
# the test's namespace and its ClusterSysdigTokens are deleted on exit.
set -euo pipefail
: "${STO_CONTROLPLANE_DIR:?run through ctest (controlplane fixture)}"
. "$STO_CONTROLPLANE_DIR/env"
ROOT=${STO_SOURCE_DIR:?run through ctest}
CRD=$ROOT/crds/monitoring.ibm.com_sysdigtokens.yaml
SAMPLES=$ROOT/deploy/samples
ns=crdtest-$(printf '%04x%04x' $RANDOM $RANDOM)
trap 'kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/../support/test_lib.sh"
trap 'echo "FAIL: line $LINENO: \"$BASH_COMMAND\" exited with $?" >&2' ERR

# retry SECONDS command...: runs the command until it succeeds (discovery and
# the published OpenAPI lag behind the Established condition).
retry() {
  local until=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < until)) || return 1
    sleep 0.5
  done
}

# 1. The CRD installs, becomes Established, and a second apply changes nothing.
kubectl apply --server-side --field-manager=crd-test -f "$CRD" >/dev/null
kubectl wait --for condition=established --timeout=60s crd/sysdigtokens.monitoring.ibm.com >/dev/null
kubectl get crd sysdigtokens.monitoring.ibm.com -o jsonpath='{.status.conditions[?(@.type=="NonStructuralSchema")].message}' |
  grep . && fail "the CRD's schema is not structural"
# (resourceVersion is not compared: another test of the same control plane may
# apply the same file under its own field manager at any time.)
crd_state() { kubectl get crd sysdigtokens.monitoring.ibm.com -o jsonpath='{.metadata.generation} {.spec}'; }
before=$(crd_state)
out=$(kubectl apply --server-side --field-manager=crd-test -f "$CRD")
grep -q serverside-applied <<<"$out" || fail "second apply: $out"
after=$(crd_state)
[[ "$before" == "$after" ]] || fail "a second apply changed the CRD: generation ${before%% *} -> ${after%% *}"
pass "CRD is Established and applies idempotently (generation stays ${after%% *})"

names=$(kubectl get crd sysdigtokens.monitoring.ibm.com -o jsonpath='{.spec.names.kind} {.spec.names.listKind} {.spec.names.plural} {.spec.names.singular} {.spec.names.shortNames} {.spec.names.categories} {.spec.scope} {.spec.versions[0].name} {.spec.versions[0].subresources}')
[[ "$names" == 'SysdigToken SysdigTokenList sysdigtokens sysdigtoken ["sdt"] ["ibm","monitoring"] Namespaced v1alpha1 {"status":{}}' ]] ||
  fail "unexpected names/scope/version/subresources: $names"
pass "names: $names"

# 2. kubectl explain reads the schema's descriptions.
retry 60 kubectl explain sysdigtoken.spec.target || fail "kubectl explain sysdigtoken.spec.target failed: $(kubectl explain sysdigtoken.spec.target 2>&1)"
explain=$(kubectl explain sysdigtoken.spec.target)
for field in name tokenKey includeConnectionInfo labels annotations deletionPolicy; do
  grep -q "^  $field" <<<"$explain" || fail "kubectl explain sysdigtoken.spec.target lacks $field: $explain"
done
grep -q 'monitoring.ibm.com/reset-token' <<<"$(kubectl explain sysdigtoken)" ||
  fail "kubectl explain sysdigtoken does not document the reset annotation"
grep -q 'Default 1h' <<<"$(kubectl explain sysdigtoken.spec.refreshInterval)" ||
  fail "kubectl explain sysdigtoken.spec.refreshInterval does not state the default"
pass "kubectl explain documents spec.target, the defaults and the reset annotation"

# 3. The samples apply; the API server fills in the defaults.
retry 30 kubectl get sdt -A || fail "kubectl get sdt does not work: $(kubectl get sdt -A 2>&1)"
kubectl create namespace "$ns" >/dev/null
kubectl apply -n "$ns" -f "$SAMPLES/ibm-api-key-secret.yaml" >/dev/null
kubectl apply -n "$ns" --validate=strict -f "$SAMPLES/sysdigtoken.yaml" >/dev/null
name=$(awk '/^metadata:/ {m = 1; next} m && /^  name:/ {print $2; exit}' "$SAMPLES/sysdigtoken.yaml")
[[ -n "$name" ]] || fail "no metadata.name in $SAMPLES/sysdigtoken.yaml"
jp() { kubectl get sdt "$1" -n "$ns" -o jsonpath="{$2}"; }
expect_field() { # object jsonpath want
  local got
  got=$(jp "$1" "$2")
  [[ "$got" == "$3" ]] || fail "$1: $2 is '$got', want '$3'"
}
expect_field "$name" .spec.endpointType public
expect_field "$name" .spec.refreshInterval 1h
expect_field "$name" .spec.apiKeySecretRef.key apikey
expect_field "$name" .spec.service Monitoring
[[ -z "$(jp "$name" .spec.target.tokenKey)" ]] || fail "tokenKey got a schema default; the operator chooses it by service"
expect_field "$name" .spec.target.includeConnectionInfo true
expect_field "$name" .spec.target.deletionPolicy Delete
[[ -z "$(jp "$name" .spec.iamEndpoint)" ]] || fail "iamEndpoint got a schema default; the operator chooses it by endpointType"
pass "sample $name applies with defaults service=Monitoring endpointType=public refreshInterval=1h apiKeySecretRef.key=apikey includeConnectionInfo=true deletionPolicy=Delete (tokenKey by service, in the operator)"

# The trusted-profile sample applies too (no API key Secret needed).
kubectl apply -n "$ns" --validate=strict -f "$SAMPLES/sysdigtoken-trusted-profile.yaml" --dry-run=server >/dev/null ||
  fail "deploy/samples/sysdigtoken-trusted-profile.yaml does not apply"
pass "sample sysdigtoken-trusted-profile.yaml applies (server dry run)"

# A minimal object without target gets target's defaults too (target defaults to {}).
kubectl apply -n "$ns" -f - >/dev/null <<'YAML'
apiVersion: monitoring.ibm.com/v1alpha1
kind: SysdigToken
metadata: {name: minimal}
spec:
  instanceID: 7A1F3C2E-5B0D-4C8E-9F21-3D6B8A4E0C11
  teamName: Ops
  endpoint: https://127.0.0.1:8443/
  endpointType: private
  refreshInterval: 1m
  apiKeySecretRef: {name: ibm-api-key}
YAML
expect_field minimal .spec.service Monitoring
expect_field minimal .spec.target.includeConnectionInfo true
expect_field minimal .spec.target.deletionPolicy Delete
[[ -z "$(jp minimal .spec.target.name)" ]] || fail "target.name got a schema default; the operator uses metadata.name"
pass "an object without target gets target's defaults; teamName, endpoint and refreshInterval=1m are accepted"

# 4. kubectl get sdt shows the printer columns.
# (Whole outputs first: a pipe into head could end kubectl with SIGPIPE.)
table=$(kubectl get sdt -n "$ns")
header=${table%%$'\n'*}
# The header, exactly: kubectl separates columns by at least 3 spaces.
want='NAME READY REASON TEAM SECRET REVISION LAST ROTATION NEXT REFRESH AGE'
got=$(sed -e 's/   */|/g' <<<"$header" | tr '|' '\n' | grep . | tr '\n' ' ' | sed 's/ $//')
[[ "$got" == "$want" ]] || fail "kubectl get sdt header is '$got', want '$want'"
table=$(kubectl get sysdigtokens -n "$ns")
[[ "${table%%$'\n'*}" == "$header" ]] || fail "kubectl get sysdigtokens header differs from kubectl get sdt's: ${table%%$'\n'*}"
pass "kubectl get sysdigtokens (and sdt) shows: $(tr -s ' ' <<<"$header")"
grep -q "sysdigtoken.monitoring.ibm.com/$name" <<<"$(kubectl get ibm -n "$ns" -o name)" || fail "kubectl get ibm does not list the SysdigToken"
pass "kubectl get ibm (category) lists sysdigtokens"

# 5. The status subresource: status is written through /status only, and a
# status write does not bump generation.
gen=$(jp "$name" .metadata.generation)
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kubectl patch sdt "$name" -n "$ns" --subresource=status --type=merge -p "$(
  cat <<JSON
{"status":{"observedGeneration":$gen,"secretName":"sysdig-monitor-token","teamID":26055,
 "tokenFingerprint":"sha256:3f2a9c0d1e4b5a67","revision":1,"lastSyncTime":"$now","lastRotationTime":"$now",
 "nextRefreshTime":"$now","failedAttempts":0,"lastHandledReset":"r1","lastResetOutcome":"Rotated",
 "conditions":[{"type":"Ready","status":"True","reason":"TokenSynced","message":"token synced",
  "observedGeneration":$gen,"lastTransitionTime":"$now"}]}}
JSON
)" >/dev/null
expect_field "$name" .status.secretName sysdig-monitor-token
expect_field "$name" .status.teamID 26055
expect_field "$name" '.status.conditions[?(@.type=="Ready")].reason' TokenSynced
expect_field "$name" .metadata.generation "$gen"
row=$(kubectl get sdt "$name" -n "$ns" --no-headers | tr -s ' ')
[[ "$row" == "$name True TokenSynced 26055 sysdig-monitor-token 1 "*" $now "* ]] || fail "kubectl get sdt row is '$row'"
pass "status patched through the status subresource, generation unchanged; row: $row"

kubectl patch sdt "$name" -n "$ns" --type=merge -p '{"status":{"secretName":"sneaky"}}' >/dev/null
expect_field "$name" .status.secretName sysdig-monitor-token
pass "status in a write to the main resource is ignored"

if out=$(kubectl patch sdt "$name" -n "$ns" --subresource=status --type=merge \
  -p '{"status":{"lastResetOutcome":"Maybe","nextRetryTime":"tomorrow"}}' 2>&1); then
  fail "an invalid status was accepted"
fi
grep -q 'status.lastResetOutcome' <<<"$out" && grep -q 'status.nextRetryTime' <<<"$out" ||
  fail "invalid status rejection does not name the fields: $out"
pass "the status schema is enforced: $(grep -o 'status.lastResetOutcome[^,]*' <<<"$out" | head -n1)"

# 6. generation follows spec changes only (annotations must not bump it).
kubectl annotate sdt "$name" -n "$ns" monitoring.ibm.com/reset-token=2026-11-28T10:00:00Z >/dev/null
expect_field "$name" .metadata.generation "$gen"
kubectl patch sdt "$name" -n "$ns" --type=merge -p '{"spec":{"refreshInterval":"2h"}}' >/dev/null
expect_field "$name" .metadata.generation "$((gen + 1))"
pass "a reset annotation leaves generation at $gen; a spec change bumps it to $((gen + 1))"

# 7. Invalid objects are refused with a message that names the field.
base_spec='
  instanceID: 7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c11
  teamID: 26055
  region: us-south
  apiKeySecretRef: {name: ibm-api-key}'
# Each invalid object below is this valid one with one thing changed.
kubectl apply -n "$ns" --dry-run=server --validate=strict -f - >/dev/null <<YAML || fail "the base of the invalid objects is not valid"
apiVersion: monitoring.ibm.com/v1alpha1
kind: SysdigToken
metadata: {name: valid}
spec:$base_spec
YAML
n=0
# reject DESCRIPTION WANT SPEC_YAML [kubectl apply flags...]: SPEC_YAML is the
# whole spec body (indented by two spaces); WANT a substring of the error.
reject() {
  local what=$1 want=$2 spec=$3 out obj
  shift 3
  n=$((n + 1))
  obj="apiVersion: monitoring.ibm.com/v1alpha1
kind: SysdigToken
metadata: {name: invalid-$n}
spec:$spec"
  if out=$(kubectl apply -n "$ns" "$@" -f - 2>&1 <<<"$obj"); then
    fail "$what: accepted: $out"
  fi
  grep -qF -- "$want" <<<"$out" || fail "$what: the error does not say '$want': $out"
  # A refusal is for people: never a bare regular expression.
  grep -q "should match '" <<<"$out" && fail "$what: the error is a raw pattern: $out"
  kubectl get sdt "invalid-$n" -n "$ns" >/dev/null 2>&1 && fail "$what: object exists after the rejection"
  pass "rejects $what: $(grep -F -- "$want" <<<"$out" | head -n1 | sed -e 's/^.* is invalid: //' -e 's/^\* //' -e 's/^Error from server.*: //' | cut -c1-150)"
}
without() { grep -v -- "$1" <<<"$base_spec"; }

reject "missing instanceID" 'spec.instanceID: Required value' "$(without instanceID)"
reject "bad GUID" 'instanceID must be the GUID of the Monitoring instance' "$(without instanceID)
  instanceID: 7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c1"
reject "neither teamID nor teamName" 'one of teamID or teamName is required' "$(without teamID)"
reject "teamID 0" 'spec.teamID' "$(without teamID)
  teamID: 0"
reject "empty teamName" 'spec.teamName' "$(without teamID)
  teamName: ''"
reject "neither region nor endpoint" 'one of region or endpoint is required' "$(without region)"
reject "unknown region mars" 'spec.region: Unsupported value: "mars"' "$(without region)
  region: mars"
reject "region in-che (not on IBM's list of Monitoring regions)" 'spec.region: Unsupported value: "in-che"' "$(without region)
  region: in-che"
reject "endpointType internal" 'spec.endpointType: Unsupported value: "internal"' "$base_spec
  endpointType: internal"
reject "endpoint over http" 'endpoint must be https://HOST[:PORT]' "$base_spec
  endpoint: http://us-south.monitoring.cloud.ibm.com"
reject "endpoint with a path" 'endpoint must be https://HOST[:PORT]' "$base_spec
  endpoint: https://us-south.monitoring.cloud.ibm.com/api/token"
reject "iamEndpoint not a URL" 'iamEndpoint must be https://HOST[:PORT]' "$base_spec
  iamEndpoint: iam.cloud.ibm.com"
reject "iamEndpoint with /api" 'iamEndpoint must be https://HOST[:PORT]' "$base_spec
  iamEndpoint: https://iam.cloud.ibm.com/api"
reject "deletionPolicy Keep" 'spec.target.deletionPolicy: Unsupported value: "Keep"' "$base_spec
  target: {deletionPolicy: Keep}"
reject "refreshInterval 30s (below 1m)" 'refreshInterval must be at least 1m' "$base_spec
  refreshInterval: 30s"
reject "refreshInterval soon" 'refreshInterval must be a duration such as 1h' "$base_spec
  refreshInterval: soon"
reject "tokenKey 'a b'" 'target.tokenKey must be a Secret data key' "$base_spec
  target: {tokenKey: a b}"
reject "target.name Bad_Name" 'target.name must be a Secret name' "$base_spec
  target: {name: Bad_Name}"
reject "service Secure" 'spec.service: Unsupported value: "Secure"' "$base_spec
  service: Secure"
reject "a restart target of kind CronJob" 'spec.rolloutRestartTargets[0].kind: Unsupported value: "CronJob"' "$base_spec
  rolloutRestartTargets: [{kind: CronJob, name: nightly}]"
reject "a restart target named Bad_Name" 'rolloutRestartTargets[].name must be a workload name' "$base_spec
  rolloutRestartTargets: [{kind: Deployment, name: Bad_Name}]"
reject "a restart target twice" 'Duplicate value' "$base_spec
  rolloutRestartTargets: [{kind: Deployment, name: api}, {kind: Deployment, name: api}]"
reject "a template key with a space" 'target.template.data keys must be Secret data keys' "$base_spec
  target: {template: {data: {'a b': x}}}"
reject "a reserved target label" 'spec.target.labels' "$base_spec
  target: {labels: {monitoring.ibm.com/sysdigtoken: other}}"
reject "an invalid target label key" 'spec.target.labels' "$base_spec
  target: {labels: {'bad key': x}}"
reject "an invalid target label value" 'target.labels values must be' "$base_spec
  target: {labels: {app: 'bad value'}}"
reject "apiKeySecretRef without name" 'spec.apiKeySecretRef.name: Required value' "$(without apiKeySecretRef)
  apiKeySecretRef: {key: apikey}"
reject "apiKeySecretRef with a bad name" 'apiKeySecretRef.name must be a Secret name' "$(without apiKeySecretRef)
  apiKeySecretRef: {name: Bad_Name}"
reject "apiKeySecretRef with a bad key" 'apiKeySecretRef.key must be a Secret data key' "$(without apiKeySecretRef)
  apiKeySecretRef: {name: ibm-api-key, key: 'api key'}"
reject "an unknown field under spec (--validate=strict)" 'unknown field "spec.colour"' "$base_spec
  colour: blue" --validate=strict
# An endpoint as IBM's docs write it, with /api (or /api/), is accepted.
for endpoint in https://us-south.monitoring.cloud.ibm.com/api https://us-south.monitoring.cloud.ibm.com/api/ \
  'https://[::1]:8443/api'; do
  kubectl apply -n "$ns" --dry-run=server -f - >/dev/null <<YAML || fail "endpoint $endpoint was refused"
apiVersion: monitoring.ibm.com/v1alpha1
kind: SysdigToken
metadata: {name: api-suffix}
spec:$(without region)
  endpoint: $endpoint
YAML
done
pass "accepts endpoints with IBM's trailing /api"
# The refreshInterval floor holds on update too.
if out=$(kubectl patch sdt "$name" -n "$ns" --type=merge -p '{"spec":{"refreshInterval":"59s"}}' 2>&1); then
  fail "an update to refreshInterval 59s was accepted"
fi
grep -q 'spec.refreshInterval' <<<"$out" || fail "update rejection does not name spec.refreshInterval: $out"
pass "rejects an update to refreshInterval 59s"

# Without --validate=strict an unknown field is pruned, never stored.
kubectl apply -n "$ns" --validate=false -f - >/dev/null 2>&1 <<YAML
apiVersion: monitoring.ibm.com/v1alpha1
kind: SysdigToken
metadata: {name: pruned}
spec:$base_spec
  colour: blue
YAML
[[ "$(kubectl get sdt pruned -n "$ns" -o jsonpath='{.spec}')" != *colour* ]] || fail "unknown field spec.colour was stored"
pass "an unknown field is pruned without --validate=strict"

# 8. The ClusterSysdigToken CRD (crds/monitoring.ibm.com_clustersysdigtokens.yaml):
# cluster-scoped, SysdigToken's spec without trustedProfile plus the
# namespaces it selects. Its objects have no namespace: each is labelled with
# this test's namespace and deleted on exit.
CCRD=$ROOT/crds/monitoring.ibm.com_clustersysdigtokens.yaml
trap 'kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  kubectl delete clustersysdigtokens -l "crd-test=$ns" --wait=false >/dev/null 2>&1 || true' EXIT
kubectl apply --server-side --field-manager=crd-test -f "$CCRD" >/dev/null
kubectl wait --for condition=established --timeout=60s crd/clustersysdigtokens.monitoring.ibm.com >/dev/null
kubectl get crd clustersysdigtokens.monitoring.ibm.com -o jsonpath='{.status.conditions[?(@.type=="NonStructuralSchema")].message}' |
  grep . && fail "the ClusterSysdigToken CRD's schema is not structural"
ccrd_state() { kubectl get crd clustersysdigtokens.monitoring.ibm.com -o jsonpath='{.metadata.generation} {.spec}'; }
before=$(ccrd_state)
out=$(kubectl apply --server-side --field-manager=crd-test -f "$CCRD")
grep -q serverside-applied <<<"$out" || fail "second apply of the ClusterSysdigToken CRD: $out"
[[ "$before" == "$(ccrd_state)" ]] || fail "a second apply changed the ClusterSysdigToken CRD"
names=$(kubectl get crd clustersysdigtokens.monitoring.ibm.com -o jsonpath='{.spec.names.kind} {.spec.names.listKind} {.spec.names.plural} {.spec.names.singular} {.spec.names.shortNames} {.spec.names.categories} {.spec.scope} {.spec.versions[0].name} {.spec.versions[0].served} {.spec.versions[0].storage} {.spec.versions[0].subresources}')
[[ "$names" == 'ClusterSysdigToken ClusterSysdigTokenList clustersysdigtokens clustersysdigtoken ["csdt"] ["ibm","monitoring"] Cluster v1alpha1 true true {"status":{}}' ]] ||
  fail "ClusterSysdigToken: unexpected names/scope/version/subresources: $names"
pass "ClusterSysdigToken CRD is Established, applies idempotently; names: $names"

retry 60 kubectl explain clustersysdigtoken.spec || fail "kubectl explain clustersysdigtoken.spec failed: $(kubectl explain clustersysdigtoken.spec 2>&1)"
explain=$(kubectl explain clustersysdigtoken.spec)
for field in service instanceID teamID teamName region endpointType endpoint iamEndpoint apiKeySecretRef \
  refreshInterval target rolloutRestartTargets namespaceSelector namespaces; do
  grep -q "^  $field" <<<"$explain" || fail "kubectl explain clustersysdigtoken.spec lacks $field: $explain"
done
grep -q '^  trustedProfile' <<<"$explain" && fail "kubectl explain clustersysdigtoken.spec has trustedProfile"
grep -q '^  namespace' <<<"$(kubectl explain clustersysdigtoken.spec.apiKeySecretRef)" ||
  fail "kubectl explain clustersysdigtoken.spec.apiKeySecretRef lacks namespace"
grep -q 'monitoring.ibm.com/reset-token' <<<"$(kubectl explain clustersysdigtoken)" ||
  fail "kubectl explain clustersysdigtoken does not document the reset annotation"
for field in provisionedNamespaces failedNamespaces; do
  grep -q "^  $field" <<<"$(kubectl explain clustersysdigtoken.status)" || fail "kubectl explain clustersysdigtoken.status lacks $field"
done
pass "kubectl explain documents the ClusterSysdigToken spec (no trustedProfile; apiKeySecretRef.namespace, namespaceSelector, namespaces), its status and the reset annotation"

# The sample applies (under a name of this test's) and gets SysdigToken's defaults.
retry 30 kubectl get csdt || fail "kubectl get csdt does not work: $(kubectl get csdt 2>&1)"
cname=$ns-sample
sample=$(sed -e "s/^  name: platform-team\$/  name: $cname\n  labels: {crd-test: $ns}/" "$SAMPLES/clustersysdigtoken.yaml")
grep -q "^  name: $cname\$" <<<"$sample" || fail "no metadata.name platform-team in $SAMPLES/clustersysdigtoken.yaml"
kubectl apply --validate=strict -f - <<<"$sample" >/dev/null
cjp() { kubectl get csdt "$1" -o jsonpath="{$2}"; }
expect_cfield() { # object jsonpath want
  local got
  got=$(cjp "$1" "$2")
  [[ "$got" == "$3" ]] || fail "ClusterSysdigToken $1: $2 is '$got', want '$3'"
}
expect_cfield "$cname" .metadata.namespace ""
expect_cfield "$cname" .spec.endpointType public
expect_cfield "$cname" .spec.refreshInterval 1h
expect_cfield "$cname" .spec.apiKeySecretRef.key apikey
expect_cfield "$cname" .spec.apiKeySecretRef.namespace sysdig-token-admin
expect_cfield "$cname" .spec.service Monitoring
expect_cfield "$cname" .spec.target.includeConnectionInfo true
expect_cfield "$cname" .spec.target.deletionPolicy Delete
expect_cfield "$cname" '.spec.namespaceSelector.matchLabels.monitoring\.ibm\.com/sysdig-team' platform
pass "sample clustersysdigtoken.yaml applies (cluster-scoped) with SysdigToken's defaults"

table=$(kubectl get csdt -l "crd-test=$ns")
header=${table%%$'\n'*}
want='NAME READY REASON TEAM SECRET REVISION LAST ROTATION AGE'
got=$(sed -e 's/   */|/g' <<<"$header" | tr '|' '\n' | grep . | tr '\n' ' ' | sed 's/ $//')
[[ "$got" == "$want" ]] || fail "kubectl get csdt header is '$got', want '$want'"
table=$(kubectl get clustersysdigtokens -l "crd-test=$ns")
[[ "${table%%$'\n'*}" == "$header" ]] || fail "kubectl get clustersysdigtokens header differs from kubectl get csdt's"
grep -q "clustersysdigtoken.monitoring.ibm.com/$cname" <<<"$(kubectl get ibm -A -o name)" || fail "kubectl get ibm does not list the ClusterSysdigToken"
pass "kubectl get clustersysdigtokens (and csdt) shows: $(tr -s ' ' <<<"$header"); kubectl get ibm lists them"

# Status subresource: the namespaces' lists are kept (not pruned); generation
# does not move; a reset annotation does not bump it, a spec change does.
gen=$(cjp "$cname" .metadata.generation)
kubectl patch csdt "$cname" --subresource=status --type=merge -p "$(
  cat <<JSON
{"status":{"observedGeneration":$gen,"secretName":"sysdig-monitor-token","teamID":26055,
 "tokenFingerprint":"sha256:3f2a9c0d1e4b5a67","revision":2,"lastSyncTime":"$now","lastRotationTime":"$now",
 "lastHandledReset":"r1","provisionedNamespaces":["team-a","team-b"],
 "failedNamespaces":[{"namespace":"team-c","reason":"SecretConflict","message":"Secret sysdig-monitor-token exists and is not managed by this ClusterSysdigToken"}],
 "conditions":[{"type":"Ready","status":"True","reason":"TokenSynced","message":"token synced",
  "observedGeneration":$gen,"lastTransitionTime":"$now"}]}}
JSON
)" >/dev/null
expect_cfield "$cname" .status.provisionedNamespaces '["team-a","team-b"]'
expect_cfield "$cname" '.status.failedNamespaces[0].namespace' team-c
expect_cfield "$cname" '.status.failedNamespaces[0].reason' SecretConflict
expect_cfield "$cname" .status.lastHandledReset r1
expect_cfield "$cname" .metadata.generation "$gen"
row=$(kubectl get csdt "$cname" --no-headers | tr -s ' ')
[[ "$row" == "$cname True TokenSynced 26055 sysdig-monitor-token 2 "* ]] || fail "kubectl get csdt row is '$row'"
if out=$(kubectl patch csdt "$cname" --subresource=status --type=merge \
  -p '{"status":{"failedNamespaces":[{"reason":"SecretConflict"}]}}' 2>&1); then
  fail "a failedNamespaces entry without namespace was accepted"
fi
grep -q 'status.failedNamespaces\[0\].namespace' <<<"$out" || fail "the refusal does not name status.failedNamespaces[0].namespace: $out"
kubectl annotate csdt "$cname" monitoring.ibm.com/reset-token=2026-11-28T10:00:00Z >/dev/null
expect_cfield "$cname" .metadata.generation "$gen"
kubectl patch csdt "$cname" --type=merge -p '{"spec":{"refreshInterval":"2h"}}' >/dev/null
expect_cfield "$cname" .metadata.generation "$((gen + 1))"
pass "ClusterSysdigToken status subresource keeps provisionedNamespaces and failedNamespaces (row: $row); a reset annotation leaves generation, a spec change bumps it"

# Valid selections are accepted: every namespace ({}), label expressions, a list.
cbase='
  instanceID: 7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c11
  teamID: 26055
  region: us-south
  apiKeySecretRef: {name: ibm-api-key, namespace: sysdig-token-admin}'
n=0
accept_c() { # DESCRIPTION SPEC_YAML
  n=$((n + 1))
  local out obj="apiVersion: monitoring.ibm.com/v1alpha1
kind: ClusterSysdigToken
metadata: {name: $ns-valid-$n, labels: {crd-test: $ns}}
spec:$2"
  out=$(kubectl apply --validate=strict -f - 2>&1 <<<"$obj") || fail "ClusterSysdigToken with $1: refused: $out"
  pass "ClusterSysdigToken accepts $1"
}
accept_c "namespaceSelector {} (every namespace)" "$cbase
  namespaceSelector: {}"
accept_c "matchExpressions In, NotIn, Exists and DoesNotExist" "$cbase
  namespaceSelector:
    matchLabels: {monitoring.ibm.com/sysdig-team: platform}
    matchExpressions:
    - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, kube-public]}
    - {key: tier, operator: In, values: [prod]}
    - {key: sysdig, operator: Exists}
    - {key: legacy, operator: DoesNotExist, values: []}"
accept_c "a list of namespaces, teamName, endpoint, Retain, restart targets, a template" "
  instanceID: 7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c11
  teamName: Platform
  endpoint: https://us-south.monitoring.cloud.ibm.com/api
  apiKeySecretRef: {name: ibm-api-key, key: key, namespace: sysdig-token-admin}
  namespaces: [team-a, team-b]
  rolloutRestartTargets: [{kind: Deployment, name: api}]
  target: {name: sysdig, deletionPolicy: Retain, template: {data: {url: '\${url}'}}}"
expect_cfield "$ns-valid-3" .spec.namespaces '["team-a","team-b"]'

# Invalid ClusterSysdigTokens are refused with a message that names the field.
kubectl apply --dry-run=server --validate=strict -f - >/dev/null <<YAML || fail "the base of the invalid ClusterSysdigTokens is not valid"
apiVersion: monitoring.ibm.com/v1alpha1
kind: ClusterSysdigToken
metadata: {name: $ns-valid}
spec:$cbase
  namespaces: [team-a]
YAML
reject_c() { # DESCRIPTION WANT SPEC_YAML [kubectl apply flags...]
  local what=$1 want=$2 spec=$3 out obj
  shift 3
  n=$((n + 1))
  obj="apiVersion: monitoring.ibm.com/v1alpha1
kind: ClusterSysdigToken
metadata: {name: $ns-invalid-$n, labels: {crd-test: $ns}}
spec:$spec"
  if out=$(kubectl apply "$@" -f - 2>&1 <<<"$obj"); then
    fail "ClusterSysdigToken with $what: accepted: $out"
  fi
  grep -qF -- "$want" <<<"$out" || fail "ClusterSysdigToken with $what: the error does not say '$want': $out"
  grep -q "should match '" <<<"$out" && fail "ClusterSysdigToken with $what: the error is a raw pattern: $out"
  kubectl get csdt "$ns-invalid-$n" >/dev/null 2>&1 && fail "ClusterSysdigToken with $what: object exists after the rejection"
  pass "ClusterSysdigToken rejects $what: $(grep -F -- "$want" <<<"$out" | head -n1 | sed -e 's/^.* is invalid: //' -e 's/^\* //' -e 's/^Error from server.*: //' | cut -c1-150)"
}
cwithout() { grep -v -- "$1" <<<"$cbase"; }
one='set exactly one of namespaceSelector or namespaces'
reject_c "neither namespaceSelector nor namespaces" "$one" "$cbase"
reject_c "both namespaceSelector and namespaces" "$one" "$cbase
  namespaces: [team-a]
  namespaceSelector: {matchLabels: {team: a}}"
reject_c "operator In without values" 'operator In and NotIn need at least one value' "$cbase
  namespaceSelector: {matchExpressions: [{key: tier, operator: In}]}"
reject_c "operator NotIn with empty values" 'operator In and NotIn need at least one value' "$cbase
  namespaceSelector: {matchExpressions: [{key: tier, operator: NotIn, values: []}]}"
reject_c "operator Exists with values" 'operator Exists and DoesNotExist take no values' "$cbase
  namespaceSelector: {matchExpressions: [{key: tier, operator: Exists, values: [prod]}]}"
reject_c "operator Has" 'spec.namespaceSelector.matchExpressions[0].operator: Unsupported value: "Has"' "$cbase
  namespaceSelector: {matchExpressions: [{key: tier, operator: Has}]}"
reject_c "a matchExpression without key" 'spec.namespaceSelector.matchExpressions[0].key: Required value' "$cbase
  namespaceSelector: {matchExpressions: [{operator: Exists}]}"
reject_c "a matchLabels key with a space" 'namespaceSelector.matchLabels keys must be label keys' "$cbase
  namespaceSelector: {matchLabels: {'bad key': x}}"
reject_c "a matchLabels value with a space" 'namespaceSelector.matchLabels values must be label values' "$cbase
  namespaceSelector: {matchLabels: {team: 'a b'}}"
reject_c "an empty namespaces list" 'spec.namespaces' "$cbase
  namespaces: []"
reject_c "a namespace twice" 'Duplicate value' "$cbase
  namespaces: [team-a, team-a]"
reject_c "a namespace named Team_A" 'namespaces[] must be namespace names' "$cbase
  namespaces: [Team_A]"
reject_c "apiKeySecretRef without namespace" 'spec.apiKeySecretRef.namespace: Required value' "$(cwithout apiKeySecretRef)
  apiKeySecretRef: {name: ibm-api-key}
  namespaces: [team-a]"
reject_c "apiKeySecretRef.namespace Admin_NS" 'apiKeySecretRef.namespace must be a namespace name' "$(cwithout apiKeySecretRef)
  apiKeySecretRef: {name: ibm-api-key, namespace: Admin_NS}
  namespaces: [team-a]"
reject_c "apiKeySecretRef.namespace of 64 characters" 'spec.apiKeySecretRef.namespace' "$(cwithout apiKeySecretRef)
  apiKeySecretRef: {name: ibm-api-key, namespace: $(printf 'a%.0s' {1..64})}
  namespaces: [team-a]"
reject_c "no apiKeySecretRef" 'spec.apiKeySecretRef: Required value' "$(cwithout apiKeySecretRef)
  namespaces: [team-a]"
reject_c "trustedProfile (--validate=strict)" 'unknown field "spec.trustedProfile"' "$cbase
  namespaces: [team-a]
  trustedProfile: {id: Profile-1, serviceAccountName: reader}" --validate=strict
# SysdigToken's rules hold here too.
reject_c "neither teamID nor teamName" 'one of teamID or teamName is required' "$(cwithout teamID)
  namespaces: [team-a]"
reject_c "neither region nor endpoint" 'one of region or endpoint is required' "$(cwithout region)
  namespaces: [team-a]"
reject_c "bad GUID" 'instanceID must be the GUID of the Monitoring instance' "$(cwithout instanceID)
  instanceID: not-a-guid
  namespaces: [team-a]"
reject_c "refreshInterval 30s" 'refreshInterval must be at least 1m' "$cbase
  namespaces: [team-a]
  refreshInterval: 30s"
reject_c "a reserved target label" 'spec.target.labels' "$cbase
  namespaces: [team-a]
  target: {labels: {monitoring.ibm.com/clustersysdigtoken: other}}"
