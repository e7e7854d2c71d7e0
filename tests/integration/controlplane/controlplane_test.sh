#!/usr/bin/env bash
# Proves the local control plane is the real thing: the pinned version, CRD
# schema validation, RBAC enforcement for a ServiceAccount token, watches, and
# owner-reference garbage collection by kube-controller-manager.
set -euo pipefail
: "${STO_CONTROLPLANE_DIR:?run through ctest (controlplane fixture)}"
. "$STO_CONTROLPLANE_DIR/env"
ROOT=${STO_SOURCE_DIR:?}
want_version=$(sed -n 's/^K8S_VERSION=//p' "$ROOT/scripts/controlplane")
ns=cptest-$$
work=$(mktemp -d)
trap 'kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/../../support/test_lib.sh"

# 1. The server reports the pinned version.
version=$(kubectl get --raw /version)
grep -q "\"gitVersion\": \"$want_version\"" <<<"$version" || fail "server version is not $want_version: $version"
pass "kube-apiserver reports $want_version"

kubectl create namespace "$ns" >/dev/null

# 2. A CRD's structural schema rejects an invalid object and names the field.
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.cptest.example.com}
spec:
  group: cptest.example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
YAML
kubectl wait --for condition=established --timeout=60s crd/widgets.cptest.example.com >/dev/null
if out=$(kubectl apply -n "$ns" -f - 2>&1 <<'YAML'
apiVersion: cptest.example.com/v1
kind: Widget
metadata: {name: bad}
spec: {size: 0}
YAML
); then fail "invalid Widget was accepted"; fi
grep -q 'spec.size' <<<"$out" || fail "rejection does not name spec.size: $out"
kubectl apply -n "$ns" -f - >/dev/null <<'YAML'
apiVersion: cptest.example.com/v1
kind: Widget
metadata: {name: good}
spec: {size: 3}
YAML
pass "CRD schema rejects spec.size=0 and accepts spec.size=3"

# 3. RBAC: a ServiceAccount token is Forbidden until a Role grants access.
kubectl create serviceaccount nobody -n "$ns" >/dev/null
[[ $(kubectl auth can-i list secrets -n "$ns" --as="system:serviceaccount:$ns:nobody" || true) == no ]] ||
  fail "can-i should say no before the Role exists"
"$ROOT/scripts/controlplane" kubeconfig-for "$STO_CONTROLPLANE_DIR" "$ns" nobody >"$work/sa.kubeconfig"
if out=$(kubectl --kubeconfig "$work/sa.kubeconfig" get secrets -n "$ns" 2>&1); then
  fail "ServiceAccount listed secrets without a Role"
fi
grep -q Forbidden <<<"$out" || fail "expected Forbidden, got: $out"
kubectl create role secret-reader -n "$ns" --verb=list --resource=secrets >/dev/null
kubectl create rolebinding secret-reader -n "$ns" --role=secret-reader --serviceaccount="$ns:nobody" >/dev/null
for _ in $(seq 1 50); do
  kubectl --kubeconfig "$work/sa.kubeconfig" get secrets -n "$ns" >/dev/null 2>&1 && break
  sleep 0.2
done
kubectl --kubeconfig "$work/sa.kubeconfig" get secrets -n "$ns" >/dev/null || fail "Role did not grant list secrets"
pass "ServiceAccount is Forbidden, then allowed after a RoleBinding"

# 4. A watch delivers an event.
kubectl get configmaps -n "$ns" --watch-only -o name >"$work/watch.out" 2>&1 &
sleep 1
kubectl create configmap watched -n "$ns" --from-literal=a=b >/dev/null
for _ in $(seq 1 50); do
  grep -q 'configmap/watched' "$work/watch.out" && break
  sleep 0.2
done
grep -q 'configmap/watched' "$work/watch.out" || fail "watch did not deliver the ADDED event: $(cat "$work/watch.out")"
pass "watch delivered the event"

# 5. Owner references are garbage collected (kube-controller-manager).
owner_uid=$(kubectl create configmap owner -n "$ns" -o jsonpath='{.metadata.uid}')
kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: dependent
  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: owner, uid: $owner_uid}]
YAML
kubectl delete configmap owner -n "$ns" >/dev/null
for _ in $(seq 1 100); do
  kubectl get configmap dependent -n "$ns" >/dev/null 2>&1 || break
  sleep 0.2
done
kubectl get configmap dependent -n "$ns" >/dev/null 2>&1 && fail "dependent was not garbage collected"
pass "garbage collector deleted the dependent"
kubectl delete crd widgets.cptest.example.com --wait=false >/dev/null
