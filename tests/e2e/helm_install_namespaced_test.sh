#!/usr/bin/env bash
# e2e.helm_install_namespaced: `helm install` with watchNamespaces (two
# namespaces) and crds.install=false. The chart creates a Role and
# RoleBinding in each watched namespace and no ClusterRole; the Deployment's
# args carry one --namespace per entry. The operator binary, run under the
# chart's ServiceAccount with those args, reconciles a SysdigToken in a
# watched namespace and leaves one in an unwatched namespace alone, and
# `kubectl auth can-i` shows the ServiceAccount can reach nothing outside the
# watched namespaces (and its own, for the Lease).
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

# A SysdigToken outside the watched namespaces stays untouched.
NS=$OTHER
api_key_secret ibm-api-key apikey "$KEY"
apply_sdt ops-team "$(base_spec)"
sleep 3
[[ -z "$(sdt ops-team .status)" ]] || fail "the SysdigToken in unwatched $OTHER got a status: $(sdt ops-team .status)"
! secret_exists ops-team || fail "a Secret was written in unwatched $OTHER"
op_logged op "$OTHER" && fail "the operator logged about unwatched $OTHER: $(op_log op | grep "$OTHER" | head -n 2)"
pass "a SysdigToken in unwatched $OTHER gets no status and no Secret"

# 3. RBAC: the watched namespaces, and nothing outside them: exactly the
# operator's rules in each watched namespace, the Lease's in the release
# namespace, none elsewhere; then single actions.
mapfile -t lease < <(lease_rules "$LEASE")
expect_rules "$SA" "$TEAM_A" "${OPERATOR_RULES[@]}"
expect_rules "$SA" "$TEAM_B" "${OPERATOR_RULES[@]}"
expect_rules "$SA" "$RNS" "${lease[@]}"
expect_rules "$SA" "$OTHER"
expect_rules "$SA" default
pass "RBAC: the rules of $SA are exactly the operator's in $TEAM_A and $TEAM_B, the Lease's in $RNS, none in $OTHER or default"
for ns in "$TEAM_A" "$TEAM_B"; do
  for verb in list watch get; do expect_can "$SA" "$verb" sysdigtokens.monitoring.ibm.com -n "$ns"; done
  expect_can "$SA" patch sysdigtokens.monitoring.ibm.com --subresource=status -n "$ns"
  expect_can "$SA" update sysdigtokens.monitoring.ibm.com --subresource=finalizers -n "$ns"
  for verb in get list watch create patch delete; do expect_can "$SA" "$verb" secrets -n "$ns"; done
  expect_can "$SA" create events.events.k8s.io -n "$ns"
  expect_can "$SA" patch events.events.k8s.io -n "$ns"
  expect_cannot "$SA" delete sysdigtokens.monitoring.ibm.com -n "$ns"
  expect_cannot "$SA" update secrets -n "$ns"
  expect_cannot "$SA" get pods -n "$ns"
done
for ns in "$OTHER" "$RNS" default kube-system; do
  for verb in get list watch create patch delete; do expect_cannot "$SA" "$verb" secrets -n "$ns"; done
  expect_cannot "$SA" list sysdigtokens.monitoring.ibm.com -n "$ns"
  expect_cannot "$SA" patch sysdigtokens.monitoring.ibm.com --subresource=status -n "$ns"
  expect_cannot "$SA" create events.events.k8s.io -n "$ns"
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
pass "RBAC: $SA works in $TEAM_A and $TEAM_B, its Lease $LEASE in $RNS, and nothing in $OTHER, $RNS, default, kube-system or cluster-wide"

release_lease_on_stop op "$RNS" "$LEASE"
out=$(helm uninstall "$REL" -n "$RNS" 2>&1) || fail "helm uninstall failed: $out"
for ns in "$TEAM_A" "$TEAM_B"; do
  ! kubectl get "role/$FULL" -n "$ns" >/dev/null 2>&1 || fail "helm uninstall left role/$FULL in $ns"
done
pass "helm uninstall removed the Roles in the watched namespaces"
check_no_leaks
