#!/usr/bin/env bash
# e2e.node_pods: the test node itself, before any operator runs on it. The
# Node is Ready; a Deployment's pods start from an image imported without a
# registry, get an address on the node bridge, answer HTTP readiness probes
# to the kubelet, read a Secret as a volume and through envFrom, reach the
# API server through the `kubernetes` Service, and `kubectl logs/exec` work.
# An update of the Secret reaches the mounted file within seconds (measured)
# while the environment keeps the old value. A pod whose image is missing or
# whose Secret does not exist fails wait_pods_ready at once, with its
# reason, instead of hanging; so does a crash-looping operator, and the
# failure shows the pod's events and logs.
#   node_pods_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/node_lib.sh" "$@"

# 1. The Node.
node=$(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.nodeInfo.kubeletVersion} {.status.nodeInfo.containerRuntimeVersion} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
[[ $(wc -l <<<"$node") -eq 1 && "$node" == *" True" ]] || fail "want one Ready node, got: $node"
pass "node: $node"

# 2. A consumer Deployment: the Secret as a volume and as environment.
new_namespace NS node-pods
kubectl create secret generic app-token -n "$NS" --from-literal=SYSDIG_MONITOR_API_TOKEN=first-value >/dev/null
kubectl apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: consumer}
spec:
  replicas: 1
  selector: {matchLabels: {app: consumer}}
  template:
    metadata: {labels: {app: consumer}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: consumer
          image: $BUSYBOX_IMAGE
          imagePullPolicy: Never
          command: [/bin/sh, -c, '$CONSUMER_SCRIPT']
          envFrom: [{secretRef: {name: app-token}}]
          volumeMounts: [{name: token, mountPath: /etc/sysdig, readOnly: true}, {name: tmp, mountPath: /tmp}]
          readinessProbe:
            httpGet: {path: /, port: 8080}
            periodSeconds: 1
          securityContext: {runAsUser: 65534, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false}
      volumes: [{name: token, secret: {secretName: app-token}}, {name: tmp, emptyDir: {}}]
EOF
t0=$(now_ms)
wait_pods_ready "$NS" app=consumer 1 90
POD=$(kubectl get pods -n "$NS" -l app=consumer -o jsonpath='{.items[0].metadata.name}')
POD_IP=$(kubectl get pod "$POD" -n "$NS" -o jsonpath='{.status.podIP}')
[[ "$POD_IP" == "${NODE_IP%.*}."* ]] || fail "pod $POD has address '$POD_IP', not one on the node bridge (${NODE_IP%.*}.0/24)"
pass "Deployment consumer: pod $POD Ready $(($(now_ms) - t0)) ms after the apply, address $POD_IP on the node bridge, readiness probe answered to the kubelet"

first=$(fingerprint_of first-value)
wait_for "the consumer to log the Secret's fingerprint" 30 pod_log_has "$NS" "$POD" "file=$first env=$first"
mounted=$(kubectl exec -n "$NS" "$POD" -- cat /etc/sysdig/SYSDIG_MONITOR_API_TOKEN)
[[ "$mounted" == first-value ]] || fail "kubectl exec: the mounted file holds '$mounted'"
pass "the pod reads the Secret as a file and through envFrom (kubectl logs and exec through the kubelet)"

# 3. The `kubernetes` Service from a pod (the kube-proxy stand-in).
svc=$(kubectl get service kubernetes -n default -o jsonpath='{.spec.clusterIP}:{.spec.ports[0].port}')
endpoint=$(kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes \
  -o jsonpath='{.items[0].endpoints[0].addresses[0]}:{.items[0].ports[0].port}')
kubectl exec -n "$NS" "$POD" -- sh -c "nc -w 5 ${svc%:*} ${svc#*:} </dev/null" ||
  fail "the pod cannot connect to the kubernetes Service $svc (endpoint $endpoint)"
env_host=$(kubectl exec -n "$NS" "$POD" -- sh -c 'echo $KUBERNETES_SERVICE_HOST')
[[ "$env_host" == "${svc%:*}" ]] || fail "KUBERNETES_SERVICE_HOST in the pod is '$env_host', not ${svc%:*}"
pass "the pod connects to the kubernetes Service $svc (KUBERNETES_SERVICE_HOST; endpoint $endpoint)"

# 4. An update of the Secret: the file changes within seconds, the env does not.
kubectl create secret generic app-token -n "$NS" --from-literal=SYSDIG_MONITOR_API_TOKEN=second-value \
  --dry-run=client -o yaml | kubectl replace -f - >/dev/null
t0=$(now_ms)
second=$(fingerprint_of second-value)
wait_for "the mounted file to show the updated Secret" 60 pod_log_has "$NS" "$POD" "file=$second env=$first"
latency=$(($(now_ms) - t0))
pass "Secret update reached the mounted file after $latency ms (kubelet syncFrequency $(sed -n 's/^syncFrequency: //p' "$STO_CONTROLPLANE_DIR/node/kubelet.yaml")); the environment still holds the old value"
kubectl rollout restart deployment/consumer -n "$NS" >/dev/null
restarted() {
  local p
  p=$(kubectl get pods -n "$NS" -l app=consumer -o jsonpath='{.items[?(@.status.phase=="Running")].metadata.name}')
  [[ -n "$p" && "$p" != *" "* && "$p" != "$POD" ]] && pod_log_has "$NS" "$p" "file=$second env=$second"
}
wait_for "a restarted pod with the new value in its environment" 90 restarted
pass "after a rollout restart the environment holds the new value too"

# 5. Pods that cannot start fail the wait at once, with the reason.
expect_stuck() { # NAME REASON POD_SPEC_CONTAINER_EXTRAS [TEXT the diagnostics show]
  local name=$1 reason=$2 out rc=0 t0 diag
  kubectl apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $name, labels: {app: $name}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      imagePullPolicy: Never
$3
EOF
  t0=$(now_ms)
  out=$( (wait_pods_ready "$NS" "app=$name" 1 60) 2>&1) || rc=$?
  ((rc != 0)) || fail "wait_pods_ready accepted pod $name"
  [[ "$out" == *"$reason"* ]] || fail "wait_pods_ready on pod $name did not name $reason: $out"
  diag=$(_diagnostics 2>&1)
  for want in "$name" "${4:-$reason}"; do
    [[ "$diag" == *"$want"* ]] || fail "the diagnostics of a failing node test do not show '$want' for pod $name: $diag"
  done
  pass "pod $name: wait_pods_ready failed after $(($(now_ms) - t0)) ms naming $reason; the diagnostics show its events and logs${4:+ ('$4')}"
  kubectl delete pod "$name" -n "$NS" --wait=false >/dev/null
}
expect_stuck missing-image ErrImageNeverPull "      image: localhost/no-such-image:1"
expect_stuck missing-secret CreateContainerConfigError "      image: $BUSYBOX_IMAGE
      command: [sleep, '3600']
      envFrom: [{secretRef: {name: no-such-secret}}]"
expect_stuck crash-loop CrashLoopBackOff "      image: $OPERATOR_IMAGE
      args: [--no-such-flag]
      readinessProbe: {httpGet: {path: /readyz, port: 8081}, periodSeconds: 5}" "no-such-flag"
