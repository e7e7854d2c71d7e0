#!/usr/bin/env bash
# e2e.helm_install: `helm install` of helm/sysdig-token-operator with its
# defaults (all namespaces, leader election, CRD) into a namespace, then the
# operator binary run under the chart's ServiceAccount (a real token) with the
# chart's Deployment args against the fake IBM Cloud: a SysdigToken in another
# namespace gets its Secret, Ready=True and an Event, and the Lease named by
# the chart holds this operator. `kubectl auth can-i` proves the
# ServiceAccount may do what the operator does and nothing more. Then
# `helm upgrade` changes the args, and `helm uninstall` removes the operator's
# objects but keeps the CRD (helm.sh/resource-policy: keep), the SysdigToken
# and its Secret.
#
# A cluster-wide operator would also reconcile other tests' SysdigTokens, so
# this test runs alone (RUN_SERIAL). The CRD may already exist (other tests
# apply it): --take-ownership adopts it, as a user who applied crds/ first
# would do.
#   helm_install_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/install_lib.sh" "$@"

new_namespace RNS sto-helm     # the release's namespace
new_namespace APP sto-helm-app # a user's namespace
REL=sto-$RAND
FULL=$REL-sysdig-token-operator
SA=system:serviceaccount:$RNS:$FULL
CLUSTER_OBJECTS+=("clusterrole/$FULL" "clusterrolebinding/$FULL")
CRD_NAME=sysdigtokens.monitoring.ibm.com
CLUSTER_CRD_NAME=clustersysdigtokens.monitoring.ibm.com

# 1. Install.
t0=$(now_ms)
out=$(helm install "$REL" "$CHART" -n "$RNS" --take-ownership --set 'allowedHosts={127.0.0.1}' 2>&1) ||
  fail "helm install failed: $out"
grep -q 'STATUS: deployed' <<<"$out" || fail "helm install did not deploy: $out"
grep -q 'create secret generic ibm-api-key' <<<"$out" || fail "NOTES.txt does not tell how to create the API key Secret: $out"
grep -q 'get sdt' <<<"$out" || fail "NOTES.txt does not tell how to check the status: $out"
kubectl wait --for condition=established --timeout=60s "crd/$CRD_NAME" >/dev/null
wait_for "kubectl get sdt to work" 60 kubectl get sdt -n "$APP"
# The SysdigToken that NOTES.txt shows is valid once its <...> are filled in.
example=$(sed -n '/^ *apiVersion: monitoring.ibm.com/,/^ *$/p' <<<"$out" |
  sed -e "s/<GUID of the Monitoring instance>/$(new_guid)/" -e 's/<team ID>/26055/')
grep -q 'kind: SysdigToken' <<<"$example" || fail "NOTES.txt shows no SysdigToken: $out"
kubectl apply -n "$APP" --dry-run=server --validate=strict -f - <<<"$example" >/dev/null ||
  fail "the SysdigToken that NOTES.txt shows is refused: $example"
pass "helm install $REL in $RNS ($(($(now_ms) - t0)) ms); NOTES.txt explains the API key Secret, the SysdigToken (its example is valid) and the status"

for obj in "serviceaccount/$FULL" "deployment/$FULL" "poddisruptionbudget/$FULL" "service/$FULL-metrics" \
  "role/$FULL-leader-election" "rolebinding/$FULL-leader-election"; do
  kubectl get "$obj" -n "$RNS" >/dev/null 2>&1 || fail "helm install did not create $obj in $RNS"
done
for obj in "clusterrole/$FULL" "clusterrolebinding/$FULL"; do
  kubectl get "$obj" >/dev/null 2>&1 || fail "helm install did not create $obj"
done
for crd in $CRD_NAME $CLUSTER_CRD_NAME; do
  kubectl wait --for condition=established --timeout=60s "crd/$crd" >/dev/null
  [[ "$(kubectl get crd "$crd" -o jsonpath='{.metadata.annotations.helm\.sh/resource-policy}')" == keep ]] ||
    fail "the installed CRD $crd lacks helm.sh/resource-policy: keep"
  [[ "$(kubectl get crd "$crd" -o jsonpath='{.metadata.annotations.meta\.helm\.sh/release-name}')" == "$REL" ]] ||
    fail "the CRD $crd does not belong to release $REL"
done
[[ "$(kubectl get deployment "$FULL" -n "$RNS" -o jsonpath='{.spec.replicas}')" == 2 ]] ||
  fail "the Deployment does not have 2 replicas"
pass "objects: ServiceAccount, Deployment (2 replicas), PDB, metrics Service, leader-election Role(Binding), ClusterRole(Binding), CRDs $CRD_NAME and $CLUSTER_CRD_NAME (keep, release $REL)"

# 2. The Deployment's args name the Lease and no namespace (all namespaces).
mapfile -t ARGS < <(deployment_args "$RNS" "$FULL")
args=" ${ARGS[*]} "
for want in --leader-elect "--leader-election-namespace=$RNS" --leader-election-id=sysdig-token-operator \
  --allowed-hosts=127.0.0.1 --log-level=info --log-format=json; do
  [[ "$args" == *" $want "* ]] || fail "the Deployment's args lack $want: ${ARGS[*]}"
done
[[ "$args" != *--namespace* ]] || fail "the default install watches only some namespaces: ${ARGS[*]}"
pass "Deployment args: ${ARGS[*]}"

# 3. The operator as installed: the ServiceAccount's token, the chart's args.
sa_kubeconfig "$RNS" "$FULL" "$WORK/sa.kubeconfig"
write_fake_config
start_fake "$WORK/fake.yaml"
start_installed_operator op "$WORK/sa.kubeconfig" "${ARGS[@]}"
wait_operator_started op
pass "operator started as $SA with the chart's args"
prove_reconcile op "$APP"
prove_lease op "$RNS" sysdig-token-operator
check_peak_memory op "$(kubectl get deployment "$FULL" -n "$RNS" -o jsonpath='{.spec.template.spec.containers[0].resources.limits.memory}')"

# 4. The ServiceAccount may do what the operator does, and nothing more:
# its rules, exactly; then single actions it needs, and some it must not have.
expect_rules "$SA" "$APP" "${OPERATOR_RULES[@]}" "${CLUSTER_RULES[@]}"
mapfile -t lease < <(lease_rules sysdig-token-operator)
expect_rules "$SA" "$RNS" "${OPERATOR_RULES[@]}" "${CLUSTER_RULES[@]}" "${lease[@]}"
expect_rules "$SA" default "${OPERATOR_RULES[@]}" "${CLUSTER_RULES[@]}"
pass "RBAC: the rules of $SA are exactly the operator's (ClusterSysdigTokens included) in $APP and default, plus its Lease's in $RNS"
expect_can "$SA" list sysdigtokens.monitoring.ibm.com --all-namespaces
expect_can "$SA" watch sysdigtokens.monitoring.ibm.com --all-namespaces
expect_can "$SA" patch sysdigtokens.monitoring.ibm.com --subresource=status -n "$APP"
expect_can "$SA" update sysdigtokens.monitoring.ibm.com --subresource=finalizers -n "$APP"
for verb in get list watch create patch delete; do expect_can "$SA" "$verb" secrets -n "$APP"; done
expect_can "$SA" list secrets --all-namespaces
expect_can "$SA" create events.events.k8s.io -n "$APP"
expect_can "$SA" create serviceaccounts --subresource=token -n "$APP"
# metrics.secure (default): whose is a scraper's token, and may it get /metrics.
expect_can "$SA" create tokenreviews.authentication.k8s.io
expect_can "$SA" create subjectaccessreviews.authorization.k8s.io
expect_can "$SA" patch events.events.k8s.io -n "$APP"
expect_can "$SA" create leases.coordination.k8s.io -n "$RNS"
expect_can "$SA" get leases.coordination.k8s.io/sysdig-token-operator -n "$RNS"
expect_can "$SA" update leases.coordination.k8s.io/sysdig-token-operator -n "$RNS"
expect_cluster_token_rbac "$SA"
refused=0
for check in \
  "create sysdigtokens.monitoring.ibm.com -n $APP" \
  "update sysdigtokens.monitoring.ibm.com -n $APP" \
  "patch sysdigtokens.monitoring.ibm.com -n $APP" \
  "delete sysdigtokens.monitoring.ibm.com -n $APP" \
  "update sysdigtokens.monitoring.ibm.com --subresource=status -n $APP" \
  "update secrets -n $APP" \
  "deletecollection secrets -n $APP" \
  "create events -n $APP" \
  "delete events.events.k8s.io -n $APP" \
  "get leases.coordination.k8s.io/other-lease -n $RNS" \
  "update leases.coordination.k8s.io/other-lease -n $RNS" \
  "delete leases.coordination.k8s.io/sysdig-token-operator -n $RNS" \
  "create leases.coordination.k8s.io -n $APP" \
  "get leases.coordination.k8s.io/sysdig-token-operator -n $APP" \
  "get pods -n $APP" \
  "create pods -n $RNS" \
  "list nodes" \
  "get configmaps -n $APP" \
  "create clustersysdigtokens.monitoring.ibm.com" \
  "update clustersysdigtokens.monitoring.ibm.com" \
  "patch clustersysdigtokens.monitoring.ibm.com" \
  "delete clustersysdigtokens.monitoring.ibm.com" \
  "create namespaces" \
  "update namespaces" \
  "patch namespaces" \
  "delete namespaces" \
  "get serviceaccounts -n $RNS" \
  "update deployments.apps -n $RNS" \
  "create roles.rbac.authorization.k8s.io -n $APP" \
  "bind clusterroles.rbac.authorization.k8s.io" \
  "escalate clusterroles.rbac.authorization.k8s.io" \
  "impersonate users" \
  "update customresourcedefinitions.apiextensions.k8s.io" \
  "get --subresource=log pods -n $RNS"; do
  # shellcheck disable=SC2086
  expect_cannot "$SA" $check
  refused=$((refused + 1))
done
pass "RBAC: $SA may exactly list/watch/get SysdigTokens, patch their status, update their finalizers, get/list/watch/create/patch/delete Secrets, create ServiceAccount tokens, create/patch events.k8s.io Events, create TokenReviews and SubjectAccessReviews, create Leases and get/update its own in $RNS, list/watch/get ClusterSysdigTokens and namespaces, get/update/patch ClusterSysdigToken status and update their finalizers; $refused other actions refused"

# 5. helm upgrade: the new args reach the Deployment; CRD, SysdigToken and
# Secret are untouched.
gen=$(kubectl get crd $CRD_NAME -o jsonpath='{.metadata.generation}')
out=$(helm upgrade "$REL" "$CHART" -n "$RNS" --reuse-values --set logLevel=debug 2>&1) || fail "helm upgrade failed: $out"
mapfile -t ARGS2 < <(deployment_args "$RNS" "$FULL")
[[ " ${ARGS2[*]} " == *" --log-level=debug "* ]] || fail "after helm upgrade --set logLevel=debug the args are: ${ARGS2[*]}"
[[ "$(kubectl get crd $CRD_NAME -o jsonpath='{.metadata.generation}')" == "$gen" ]] || fail "helm upgrade changed the CRD's spec"
[[ "$(secret_token sysdig-monitor-token)" == "$TOKEN" ]] || fail "the Secret changed across helm upgrade"
pass "helm upgrade --set logLevel=debug: the Deployment's args say --log-level=debug; CRD generation $gen unchanged"

# 6. The operator stops; helm uninstall keeps the CRD and the user's objects.
release_lease_on_stop op "$RNS" sysdig-token-operator
[[ "$(kubectl get crd $CRD_NAME -o jsonpath='{.metadata.annotations.helm\.sh/resource-policy}')" == keep ]] ||
  fail "refusing to run helm uninstall: the CRD is not marked keep (it would delete every SysdigToken of this control plane)"
out=$(helm uninstall "$REL" -n "$RNS" 2>&1) || fail "helm uninstall failed: $out"
grep -qF "[CustomResourceDefinition] $CRD_NAME" <<<"$out" ||
  fail "helm uninstall does not report the CRD as kept by its resource policy: $out"
kubectl get crd $CRD_NAME >/dev/null 2>&1 || fail "helm uninstall deleted the CRD"
kubectl get crd $CLUSTER_CRD_NAME >/dev/null 2>&1 || fail "helm uninstall deleted the ClusterSysdigToken CRD"
kubectl get sdt ops-team -n "$APP" >/dev/null 2>&1 || fail "helm uninstall deleted the SysdigToken"
[[ "$(secret_token sysdig-monitor-token)" == "$TOKEN" ]] || fail "the token Secret is gone or changed after helm uninstall"
for obj in "clusterrole/$FULL" "clusterrolebinding/$FULL"; do
  ! kubectl get "$obj" >/dev/null 2>&1 || fail "helm uninstall left $obj"
done
for obj in "deployment/$FULL" "serviceaccount/$FULL" "role/$FULL-leader-election"; do
  ! kubectl get "$obj" -n "$RNS" >/dev/null 2>&1 || fail "helm uninstall left $obj in $RNS"
done
pass "helm uninstall: operator objects gone; CRDs, SysdigToken $APP/ops-team and Secret sysdig-monitor-token kept"
check_no_leaks
