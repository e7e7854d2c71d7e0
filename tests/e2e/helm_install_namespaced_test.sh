#!/usr/bin/env bash
# e2e.helm_install_namespaced: `helm install` with watchNamespaces (two
# namespaces) and crds.install=false. The chart creates a Role and
# RoleBinding in each watched namespace and no ClusterRole; the Deployment's
# args carry one --namespace per entry. The operator binary, run under the
# chart's ServiceAccount with those args, reconciles a SysdigToken in a
# watched namespace and leaves one in an unwatched namespace alone, and
# `kubectl auth can-i` shows the ServiceAccount can reach nothing outside the
# watched namespaces (and its own, for the Lease); with its own token the API
# server refuses it the Secrets of the unwatched namespace. Adding that
# namespace takes a `helm upgrade`, after which the restarted operator syncs
# the SysdigToken that waited there.
#   helm_install_namespaced_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/install_lib.sh" "$@"

install_crd # crds.install=false: the CRD comes from crds/, as a user would apply it
new_namespace RNS sto-hns       # the release's namespace
new_namespace TEAM_A sto-hns-a  # watched
new_namespace TEAM_B sto-hns-b  # watched
new_namespace OTHER sto-hns-x   # not watched
REL=sto-ns-$RAND
FULL=$REL-sysdig-token-operator
SA=system:serviceaccount:$RNS:$FULL
LEASE=sto-ns-leader

# 1. Install.
out=$(helm install "$REL" "$CHART" -n "$RNS" --set crds.install=false \
  --set "watchNamespaces={$TEAM_A,$TEAM_B}" --set 'allowedHosts={127.0.0.1}' \
  --set leaderElection.id=$LEASE 2>&1) || fail "helm install failed: $out"
grep -q "the namespaces $TEAM_A, $TEAM_B" <<<"$out" || fail "NOTES.txt does not name the watched namespaces: $out"
grep -q 'crds.install=false' <<<"$out" || fail "NOTES.txt does not say how to install the CRD: $out"
grep -q 'add it to' <<<"$out" && grep -q 'helm upgrade' <<<"$out" ||
  fail "NOTES.txt does not say that another namespace needs a helm upgrade: $out"
owner=$(kubectl get crd sysdigtokens.monitoring.ibm.com -o jsonpath='{.metadata.annotations.meta\.helm\.sh/release-name}')
[[ "$owner" != "$REL" ]] || fail "crds.install=false, yet the CRD belongs to release $REL"
pass "helm install $REL in $RNS with watchNamespaces=$TEAM_A,$TEAM_B and crds.install=false"

for ns in "$TEAM_A" "$TEAM_B"; do
  kubectl get "role/$FULL" "rolebinding/$FULL" -n "$ns" >/dev/null 2>&1 || fail "no Role/RoleBinding $FULL in $ns"
done
for ns in "$RNS" "$OTHER"; do
  ! kubectl get "role/$FULL" -n "$ns" >/dev/null 2>&1 || fail "a Role $FULL in $ns, which is not watched"
done
kubectl get "role/$FULL-leader-election" -n "$RNS" >/dev/null 2>&1 || fail "no leader-election Role in $RNS"
! kubectl get "clusterrole/$FULL" >/dev/null 2>&1 || fail "a ClusterRole $FULL exists in namespaced mode"
! kubectl get "clusterrolebinding/$FULL" >/dev/null 2>&1 || fail "a ClusterRoleBinding $FULL exists in namespaced mode"
mapfile -t ARGS < <(deployment_args "$RNS" "$FULL")
args=" ${ARGS[*]} "
for want in "--namespace=$TEAM_A" "--namespace=$TEAM_B" --leader-elect "--leader-election-namespace=$RNS" \
  "--leader-election-id=$LEASE"; do
  [[ "$args" == *" $want "* ]] || fail "the Deployment's args lack $want: ${ARGS[*]}"
done
pass "Role+RoleBinding in $TEAM_A and $TEAM_B only, no ClusterRole; args: ${ARGS[*]}"

# 2. The operator as installed.
sa_kubeconfig "$RNS" "$FULL" "$WORK/sa.kubeconfig"
write_fake_config
start_fake "$WORK/fake.yaml"
start_installed_operator op "$WORK/sa.kubeconfig" "${ARGS[@]}"
wait_operator_started op
prove_reconcile op "$TEAM_A"
prove_lease op "$RNS" "$LEASE"

# A SysdigToken outside the watched namespaces stays untouched: no write to
# it at all (its resourceVersion stays), no Secret, no Event.
NS=$OTHER
api_key_secret ibm-api-key apikey "$KEY"
apply_sdt ops-team "$(base_spec)"
rv=$(sdt_rv ops-team)
sleep 3
[[ -z "$(sdt ops-team .status)" ]] || fail "the SysdigToken in unwatched $OTHER got a status: $(sdt ops-team .status)"
[[ "$(sdt_rv ops-team)" == "$rv" ]] || fail "the SysdigToken in unwatched $OTHER was written: resourceVersion $rv -> $(sdt_rv ops-team)"
! secret_exists ops-team || fail "a Secret was written in unwatched $OTHER"
[[ -z "$(events ops-team)" ]] || fail "Events about the SysdigToken in unwatched $OTHER: $(events ops-team)"
op_logged op "$OTHER" && fail "the operator logged about unwatched $OTHER: $(op_log op | grep "$OTHER" | head -n 2)"
pass "a SysdigToken in unwatched $OTHER is not written (resourceVersion $rv), gets no Secret and no Event"

# The API server itself refuses the ServiceAccount (its own token, not
# impersonation) the Secrets of an unwatched namespace, and lets it list them
# in a watched one.
out=$(kubectl --kubeconfig "$WORK/sa.kubeconfig" get secrets -n "$OTHER" 2>&1) &&
  fail "the ServiceAccount's token lists the Secrets of unwatched $OTHER: $out"
grep -q 'Forbidden' <<<"$out" || fail "listing the Secrets of $OTHER failed, but not with Forbidden: $out"
out=$(kubectl --kubeconfig "$WORK/sa.kubeconfig" get secrets -n "$OTHER" ibm-api-key 2>&1) &&
  fail "the ServiceAccount's token reads the API key Secret of unwatched $OTHER"
grep -q 'Forbidden' <<<"$out" || fail "reading $OTHER/ibm-api-key failed, but not with Forbidden: $out"
out=$(kubectl --kubeconfig "$WORK/sa.kubeconfig" get secrets -n "$TEAM_A" -o name 2>&1) ||
  fail "the ServiceAccount's token cannot list the Secrets of watched $TEAM_A: $out"
grep -qx secret/sysdig-monitor-token <<<"$out" || fail "the ServiceAccount does not see secret/sysdig-monitor-token in $TEAM_A: $out"
pass "with its own token the ServiceAccount lists Secrets in $TEAM_A and is Forbidden to list or get them in $OTHER"

# 3. RBAC: the watched namespaces, and nothing outside them: exactly the
# operator's rules in each watched namespace, the Lease's in the release
# namespace, none elsewhere; then single actions.
mapfile -t lease < <(lease_rules "$LEASE")
expect_rules "$SA" "$TEAM_A" "${OPERATOR_RULES[@]}"
expect_rules "$SA" "$TEAM_B" "${OPERATOR_RULES[@]}"
expect_rules "$SA" "$RNS" "${lease[@]}" "${METRICS_AUTH_RULES[@]}"
expect_rules "$SA" "$OTHER" "${METRICS_AUTH_RULES[@]}"
expect_rules "$SA" default "${METRICS_AUTH_RULES[@]}"
pass "RBAC: the rules of $SA are exactly the operator's in $TEAM_A and $TEAM_B, the Lease's in $RNS, none in $OTHER or default but the cluster-scoped token and access reviews of --metrics-secure"
for ns in "$TEAM_A" "$TEAM_B"; do
  for verb in list watch get; do expect_can "$SA" "$verb" sysdigtokens.monitoring.ibm.com -n "$ns"; done
  expect_can "$SA" patch sysdigtokens.monitoring.ibm.com --subresource=status -n "$ns"
  expect_can "$SA" update sysdigtokens.monitoring.ibm.com --subresource=finalizers -n "$ns"
  for verb in get list watch create patch delete; do expect_can "$SA" "$verb" secrets -n "$ns"; done
  expect_can "$SA" create events.events.k8s.io -n "$ns"
  expect_can "$SA" patch events.events.k8s.io -n "$ns"
  expect_can "$SA" create serviceaccounts --subresource=token -n "$ns"
  expect_cannot "$SA" delete sysdigtokens.monitoring.ibm.com -n "$ns"
  expect_cannot "$SA" update secrets -n "$ns"
  expect_cannot "$SA" get pods -n "$ns"
done
for ns in "$OTHER" "$RNS" default kube-system; do
  for verb in get list watch create patch delete; do expect_cannot "$SA" "$verb" secrets -n "$ns"; done
  expect_cannot "$SA" list sysdigtokens.monitoring.ibm.com -n "$ns"
  expect_cannot "$SA" patch sysdigtokens.monitoring.ibm.com --subresource=status -n "$ns"
  expect_cannot "$SA" create events.events.k8s.io -n "$ns"
  expect_cannot "$SA" create serviceaccounts --subresource=token -n "$ns"
done
for scope in secrets sysdigtokens.monitoring.ibm.com events.events.k8s.io; do
  expect_cannot "$SA" list "$scope" --all-namespaces
done
expect_can "$SA" create leases.coordination.k8s.io -n "$RNS"
expect_can "$SA" update "leases.coordination.k8s.io/$LEASE" -n "$RNS"
expect_cannot "$SA" get leases.coordination.k8s.io/sysdig-token-operator -n "$RNS"
expect_cannot "$SA" create leases.coordination.k8s.io -n "$TEAM_A"
expect_cannot "$SA" list nodes
expect_cannot "$SA" list namespaces
# ClusterSysdigTokens are not handled with watchNamespaces: no rule for them.
for verb in get list watch; do expect_cannot "$SA" "$verb" clustersysdigtokens.monitoring.ibm.com; done
expect_cannot "$SA" patch clustersysdigtokens.monitoring.ibm.com --subresource=status
expect_cannot "$SA" update clustersysdigtokens.monitoring.ibm.com --subresource=finalizers
expect_cannot "$SA" get namespaces
pass "RBAC: $SA works in $TEAM_A and $TEAM_B, its Lease $LEASE in $RNS, and nothing in $OTHER, $RNS, default, kube-system or cluster-wide"

release_lease_on_stop op "$RNS" "$LEASE"

# 4. A new namespace takes a chart upgrade: with $OTHER added to
# watchNamespaces it gets its Role and a --namespace flag, and the operator
# restarted with the new args syncs the SysdigToken that waited there.
out=$(helm upgrade "$REL" "$CHART" -n "$RNS" --reuse-values --set "watchNamespaces={$TEAM_A,$TEAM_B,$OTHER}" 2>&1) ||
  fail "helm upgrade failed: $out"
kubectl get "role/$FULL" "rolebinding/$FULL" -n "$OTHER" >/dev/null 2>&1 || fail "helm upgrade made no Role/RoleBinding $FULL in $OTHER"
mapfile -t ARGS < <(deployment_args "$RNS" "$FULL")
[[ " ${ARGS[*]} " == *" --namespace=$OTHER "* ]] || fail "after helm upgrade the Deployment's args lack --namespace=$OTHER: ${ARGS[*]}"
expect_rules "$SA" "$OTHER" "${OPERATOR_RULES[@]}"
start_installed_operator op2 "$WORK/sa.kubeconfig" "${ARGS[@]}"
wait_operator_started op2
wait_for "the Secret ops-team in $OTHER after the upgrade" 30 secret_token_is ops-team "$TOKEN"
wait_for "$OTHER/ops-team to be Ready=True (TokenSynced)" 30 ready_is ops-team True TokenSynced
pass "helm upgrade adding $OTHER: Role there, --namespace=$OTHER, and the restarted operator synced $OTHER/ops-team"
release_lease_on_stop op2 "$RNS" "$LEASE"

out=$(helm uninstall "$REL" -n "$RNS" 2>&1) || fail "helm uninstall failed: $out"
for ns in "$TEAM_A" "$TEAM_B" "$OTHER"; do
  ! kubectl get "role/$FULL" -n "$ns" >/dev/null 2>&1 || fail "helm uninstall left role/$FULL in $ns"
done
pass "helm uninstall removed the Roles in the watched namespaces"
check_no_leaks
