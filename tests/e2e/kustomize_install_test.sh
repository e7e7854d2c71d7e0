#!/usr/bin/env bash
# e2e.kustomize_install: `kubectl apply -k deploy/` installs the CRDs (from
# crds/), the sysdig-token-operator namespace, ServiceAccount, RBAC,
# Deployment, PodDisruptionBudget and metrics Service; the operator binary,
# run under that ServiceAccount with the Deployment's args against the fake
# IBM Cloud, reconciles a SysdigToken (Secret, Ready=True, Event, Lease), and
# `kubectl auth can-i` shows the ServiceAccount may do what the operator does
# and nothing more. A second apply changes nothing.
#
# A cluster-wide operator would also reconcile other tests' SysdigTokens, so
# this test runs alone (RUN_SERIAL). On exit it deletes what deploy/ created
# except the CRDs, which other tests use.
#   kustomize_install_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/install_lib.sh" "$@"

OPNS=sysdig-token-operator
NAME=sysdig-token-operator
SA=system:serviceaccount:$OPNS:$NAME

# A previous run's namespace may still be terminating.
if kubectl get namespace "$OPNS" >/dev/null 2>&1; then
  kubectl delete namespace "$OPNS" --wait=true --timeout=120s >/dev/null 2>&1 ||
    fail "namespace $OPNS (left by an earlier run) did not go away"
fi
NAMESPACES+=("$OPNS") # deleted on exit (lib.sh)
CLUSTER_OBJECTS+=("clusterrole/$NAME" "clusterrolebinding/$NAME")
new_namespace APP sto-kust-app

# 1. Apply.
rendered=$(kubectl kustomize "$ROOT/deploy") || fail "kubectl kustomize deploy/ failed"
for kind in CustomResourceDefinition Namespace ServiceAccount ClusterRole ClusterRoleBinding Role RoleBinding \
  Deployment PodDisruptionBudget Service; do
  grep -q "^kind: $kind\$" <<<"$rendered" || fail "kubectl kustomize deploy/ renders no $kind"
done
for crd in sysdigtokens clustersysdigtokens; do
  grep -q "^  name: $crd.monitoring.ibm.com\$" <<<"$rendered" || fail "kubectl kustomize deploy/ renders no CRD $crd.monitoring.ibm.com"
done
grep -q '^kind: ClusterSysdigToken$' <<<"$rendered" && fail "deploy/ includes a sample ClusterSysdigToken"
grep -q '^kind: SysdigToken$' <<<"$rendered" && fail "deploy/ includes a sample SysdigToken"
out=$(kubectl apply -k "$ROOT/deploy" 2>&1) || fail "kubectl apply -k deploy/ failed: $out"
kubectl wait --for condition=established --timeout=60s crd/sysdigtokens.monitoring.ibm.com \
  crd/clustersysdigtokens.monitoring.ibm.com >/dev/null
wait_for "kubectl get sdt to work" 60 kubectl get sdt -n "$APP"
# (kubectl says "configured" for a PodDisruptionBudget on every apply: it
# always sends the selector, which the server finds unchanged. The
# resourceVersions tell.)
versions() { kubectl get -k "$ROOT/deploy" -o jsonpath='{range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}'; }
before=$(versions)
again=$(kubectl apply -k "$ROOT/deploy" 2>&1) || fail "a second kubectl apply -k deploy/ failed: $again"
after=$(versions)
[[ "$before" == "$after" ]] || fail "a second apply changed: $(diff <(echo "$before") <(echo "$after"))"
pass "kubectl apply -k deploy/: $(wc -l <<<"$before") objects; a second apply changes none (same resourceVersions)"

# 2. The Deployment: args, security, probes, resources.
dj() { kubectl get deployment "$NAME" -n "$OPNS" -o jsonpath="{$1}"; }
[[ "$(dj .spec.replicas)" == 2 ]] || fail "the Deployment has $(dj .spec.replicas) replicas, want 2"
mapfile -t ARGS < <(deployment_args "$OPNS" "$NAME")
args=" ${ARGS[*]} "
for want in --leader-elect "--leader-election-namespace=$OPNS" "--leader-election-id=$NAME"; do
  [[ "$args" == *" $want "* ]] || fail "the Deployment's args lack $want: ${ARGS[*]}"
done
c='.spec.template.spec.containers[0]'
[[ "$(dj "$c.securityContext.readOnlyRootFilesystem")/$(dj "$c.securityContext.allowPrivilegeEscalation")/$(dj "$c.securityContext.capabilities.drop")" == 'true/false/["ALL"]' ]] ||
  fail "container securityContext: $(dj "$c.securityContext")"
[[ "$(dj .spec.template.spec.securityContext.runAsNonRoot)/$(dj .spec.template.spec.securityContext.seccompProfile.type)" == true/RuntimeDefault ]] ||
  fail "pod securityContext: $(dj .spec.template.spec.securityContext)"
[[ "$(dj .spec.template.spec.securityContext.runAsUser)$(dj "$c.securityContext.runAsUser")" == "" ]] ||
  fail "the Deployment fixes runAsUser"
[[ "$(dj "$c.livenessProbe.httpGet.path") $(dj "$c.readinessProbe.httpGet.path")" == "/healthz /readyz" ]] ||
  fail "probes: $(dj "$c.livenessProbe") $(dj "$c.readinessProbe")"
[[ "$(dj "$c.ports[?(@.name==\"health\")].containerPort") $(dj "$c.ports[?(@.name==\"metrics\")].containerPort")" == "8081 8080" ]] ||
  fail "ports: $(dj "$c.ports")"
pass "Deployment: 2 replicas, args ${ARGS[*]}, non-root without runAsUser, read-only root, no capabilities, probes /healthz and /readyz on 8081, metrics on 8080"

# The restricted Pod Security Standard accepts the pod (the namespace enforces it).
[[ "$(kubectl get namespace "$OPNS" -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}')" == restricted ]] ||
  fail "namespace $OPNS does not enforce the restricted Pod Security Standard"
kubectl get deployment "$NAME" -n "$OPNS" -o jsonpath='{.spec.template}' >"$WORK/template.json"
pod=$(sed -e 's/^{"metadata":{/{"apiVersion":"v1","kind":"Pod","metadata":{"name":"pss-check",/' "$WORK/template.json")
out=$(kubectl create -n "$OPNS" --dry-run=server -f - <<<"$pod" 2>&1) ||
  fail "a pod of the Deployment's template is refused in $OPNS: $out"
[[ "$out" != *Warning* ]] || fail "a pod of the Deployment's template draws warnings: $out"
pass "a pod from the Deployment's template passes the restricted Pod Security Standard (server dry run)"

# 3. The operator as installed.
sa_kubeconfig "$OPNS" "$NAME" "$WORK/sa.kubeconfig"
write_fake_config
start_fake "$WORK/fake.yaml"
# deploy/ keeps the operator's default allowlist (IBM Cloud hosts): the fake
# on 127.0.0.1 is added for the test.
start_installed_operator op "$WORK/sa.kubeconfig" "${ARGS[@]}" --allowed-hosts=127.0.0.1
wait_operator_started op
prove_reconcile op "$APP"
prove_lease op "$OPNS" "$NAME"
check_peak_memory op "$(dj "$c.resources.limits.memory")"

# 4. RBAC: exactly the operator's rules; then single actions.
expect_rules "$SA" "$APP" "${OPERATOR_RULES[@]}" "${CLUSTER_RULES[@]}"
mapfile -t lease < <(lease_rules "$NAME")
expect_rules "$SA" "$OPNS" "${OPERATOR_RULES[@]}" "${CLUSTER_RULES[@]}" "${lease[@]}"
pass "RBAC: the rules of $SA are exactly the operator's (ClusterSysdigTokens included) in $APP, plus its Lease's in $OPNS"
expect_can "$SA" list sysdigtokens.monitoring.ibm.com --all-namespaces
expect_can "$SA" watch sysdigtokens.monitoring.ibm.com --all-namespaces
expect_can "$SA" patch sysdigtokens.monitoring.ibm.com --subresource=status -n "$APP"
expect_can "$SA" update sysdigtokens.monitoring.ibm.com --subresource=finalizers -n "$APP"
for verb in get list watch create patch delete; do expect_can "$SA" "$verb" secrets -n "$APP"; done
expect_can "$SA" create events.events.k8s.io -n "$APP"
expect_can "$SA" patch events.events.k8s.io -n "$APP"
expect_can "$SA" create leases.coordination.k8s.io -n "$OPNS"
expect_can "$SA" get "leases.coordination.k8s.io/$NAME" -n "$OPNS"
expect_can "$SA" update "leases.coordination.k8s.io/$NAME" -n "$OPNS"
# --metrics-secure: whose is a scraper's token, and may it get /metrics.
expect_can "$SA" create tokenreviews.authentication.k8s.io
expect_can "$SA" create subjectaccessreviews.authorization.k8s.io
expect_cluster_token_rbac "$SA"
refused=0
for check in \
  "create sysdigtokens.monitoring.ibm.com -n $APP" \
  "patch sysdigtokens.monitoring.ibm.com -n $APP" \
  "delete sysdigtokens.monitoring.ibm.com -n $APP" \
  "update secrets -n $APP" \
  "deletecollection secrets -n $APP" \
  "create events -n $APP" \
  "get leases.coordination.k8s.io/other-lease -n $OPNS" \
  "create leases.coordination.k8s.io -n $APP" \
  "get pods -n $APP" \
  "list nodes" \
  "get configmaps -n $OPNS" \
  "create clustersysdigtokens.monitoring.ibm.com" \
  "delete clustersysdigtokens.monitoring.ibm.com" \
  "update namespaces" \
  "delete namespaces" \
  "update deployments.apps -n $OPNS" \
  "impersonate users" \
  "update customresourcedefinitions.apiextensions.k8s.io"; do
  # shellcheck disable=SC2086
  expect_cannot "$SA" $check
  refused=$((refused + 1))
done
pass "RBAC: $SA may do what the operator does; $refused other actions refused"

release_lease_on_stop op "$OPNS" "$NAME"
check_no_leaks
