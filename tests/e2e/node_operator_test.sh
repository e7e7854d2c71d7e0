#!/usr/bin/env bash
# e2e.node_operator: the operator as users run it. `helm install` of the
# chart with the image built by scripts/image (pullPolicy Never) on the test
# node: two operator pods Running and Ready (the kubelet calls their probes),
# one of them leads (the Lease), both use the in-cluster config (projected
# ServiceAccount token, KUBERNETES_SERVICE_HOST through the `kubernetes`
# Service) and trust the fake IBM Cloud's CA through the chart's
# extraCACerts. A consumer Deployment mounts the Secret the operator writes
# as a volume and through envFrom and reads the team's token; after a reset
# the mounted file changes within seconds (measured) and the environment
# only after a restart. Deleting the leader pod hands over within the lease
# time and nothing is handled twice (revision, events, IBM requests).
# `helm upgrade` and `helm uninstall` keep every Secret and SysdigToken.
#   node_operator_test.sh OPERATOR_BINARY FAKE_IBM_CLOUD_BINARY
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/node_lib.sh" "$@"

RELEASE=sto-$RAND
LEASE=sysdig-token-operator
new_namespace OPNS sto-system
new_namespace NS node-app
OP_SELECTOR=app.kubernetes.io/name=sysdig-token-operator,app.kubernetes.io/instance=$RELEASE
GUID=$(new_guid)
TEAM=26055
TOKEN=$(new_guid)
KEY=node-api-key-$RAND
cat >"$WORK/fake.yaml" <<YAML
apiKeys:
  - {key: "$KEY", iamID: "IBMid-NODE"}
instances:
  - guid: "$GUID"
    teams:
      - {id: $TEAM, name: Ops, token: "$TOKEN"}
YAML
start_fake_on_node "$WORK/fake.yaml"
kubectl create configmap fake-ibm-cloud-ca -n "$OPNS" --from-file=ca.crt="$FAKE_CA" >/dev/null

op_pods() { kubectl get pods -n "$OPNS" -l "$OP_SELECTOR" -o jsonpath='{.items[?(@.status.phase=="Running")].metadata.name}' 2>/dev/null | tr ' ' '\n'; }
holder() { kubectl get lease "$LEASE" -n "$OPNS" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
leader_pod() { local h; h=$(holder); echo "${h%_*}"; }
leads() { pod_log_has "$OPNS" "$1" '"msg":"starting workers"'; }
# save_op_logs: the operator pods' logs into $WORK (check_no_leaks reads them).
save_op_logs() {
  local p
  for p in $(kubectl get pods -n "$OPNS" -l "$OP_SELECTOR" -o name 2>/dev/null); do
    kubectl logs -n "$OPNS" "$p" >"$WORK/op-${p#pod/}.log" 2>/dev/null || true
  done
}

# 1. helm install with the local image. The chart installs the CRD and keeps
# it on uninstall: one left by an earlier run (another release) goes first.
kubectl delete crd sysdigtokens.monitoring.ibm.com --ignore-not-found --timeout=60s >/dev/null ||
  fail "could not delete the CRD an earlier run left"
repo=${OPERATOR_IMAGE%:*}
tag=${OPERATOR_IMAGE##*:}
t0=$(now_ms)
helm install "$RELEASE" "$CHART" -n "$OPNS" --timeout 60s \
  --set image.repository="$repo" --set image.tag="$tag" --set image.pullPolicy=Never \
  --set "allowedHosts={$NODE_IP}" --set extraCACerts.configMap=fake-ibm-cloud-ca \
  --set logLevel=debug >"$WORK/helm-install.log" 2>&1 || fail "helm install failed: $(cat "$WORK/helm-install.log")"
# Cluster-wide objects of the release go on exit, also after a failure.
while read -r kind name; do
  CLUSTER_OBJECTS+=("$kind/$name")
done < <(helm get manifest "$RELEASE" -n "$OPNS" | awk '/^kind: ClusterRole/ {k = $2} /^  name: / && k {print k, $2; k = ""}')
wait_pods_ready "$OPNS" "$OP_SELECTOR" 2 120
ready_ms=$(($(now_ms) - t0))
wait_for "a Lease holder" 60 holder
LEADER=$(leader_pod)
grep -qx "$LEADER" <<<"$(op_pods)" || fail "the Lease holder '$(holder)' is not one of the operator pods: $(op_pods | tr '\n' ' ')"
wait_for "the leader $LEADER to start its workers" 30 leads "$LEADER"
FOLLOWER=$(op_pods | grep -vx "$LEADER")
leads "$FOLLOWER" && fail "the follower $FOLLOWER started its workers too"
image=$(kubectl get pod "$LEADER" -n "$OPNS" -o jsonpath='{.spec.containers[0].image} {.spec.containers[0].imagePullPolicy}')
pass "helm install: 2 operator pods Ready $ready_ms ms after the install ($image), readiness answered to the kubelet; $LEADER leads (Lease $OPNS/$LEASE), $FOLLOWER waits"

# 2. In-cluster config: the projected token, the kubernetes Service, the user.
kubectl logs -n "$OPNS" "$LEADER" >"$WORK/leader.log"
start_line=$(grep -m1 '"msg":"starting"' "$WORK/leader.log" || true)
[[ "$start_line" == *'"cluster":"in-cluster"'* ]] || fail "the operator did not use the in-cluster config: $start_line"
token_volume=$(kubectl get pod "$LEADER" -n "$OPNS" -o jsonpath='{.spec.volumes[?(@.projected)].name}')
[[ "$token_volume" == kube-api-access-* ]] || fail "no projected ServiceAccount token volume in $LEADER: '$token_volume'"
uid=$(kubectl get pod "$LEADER" -n "$OPNS" -o jsonpath='{.spec.securityContext.runAsUser}{.spec.containers[0].securityContext.runAsUser}')
[[ -z "$uid" ]] || fail "the chart sets runAsUser '$uid' (the image's user should apply)"
pass "in-cluster config ($(grep -o '"cluster":"[^"]*"' <<<"$start_line")) from projected volume $token_volume, API server through KUBERNETES_SERVICE_HOST=$(kubectl get svc kubernetes -n default -o jsonpath='{.spec.clusterIP}'); runs as the image's user"

# The kubelet's own count of the probes it made (its /metrics/probes).
probe_count() { # POD TYPE RESULT
  { kubectl get --raw "/api/v1/nodes/$STO_NODE_NAME/proxy/metrics/probes" 2>/dev/null || true; } |
    awk -v pod="pod=\"$1\"" -v type="probe_type=\"$2\"" -v result="result=\"$3\"" \
      '/^prober_probe_total\{/ && index($0, pod) && index($0, type) && index($0, result) {s += $NF} END {print s + 0}'
}
probed() { (($(probe_count "$1" Liveness successful) > 0 && $(probe_count "$1" Readiness successful) > 0)); }
for pod in $LEADER $FOLLOWER; do
  wait_for "the kubelet's liveness and readiness probes of $pod" 40 probed "$pod"
done
failed_probes=$(($(probe_count "$LEADER" Liveness failed) + $(probe_count "$FOLLOWER" Liveness failed)))
((failed_probes == 0)) || fail "$failed_probes liveness probes of the operator pods failed"
restarts=$(kubectl get pods -n "$OPNS" -l "$OP_SELECTOR" -o jsonpath='{.items[*].status.containerStatuses[0].restartCount}')
[[ "$restarts" == "0 0" ]] || fail "operator pods restarted: $restarts"
pass "the kubelet probed both pods (leader: $(probe_count "$LEADER" Liveness successful) liveness, $(probe_count "$LEADER" Readiness successful) readiness answers; none failed); no restart"

# 3. A SysdigToken and a consumer Deployment that mounts its Secret.
api_key_secret ibm-api-key apikey "$KEY"
apply_sdt ops "$(base_spec)
  target: {name: sysdig-monitor-token}"
t0=$(now_ms)
wait_ready ops True TokenSynced 60
wait_for "the Secret sysdig-monitor-token" 30 secret_token_is sysdig-monitor-token "$TOKEN"
pass "the operator pod synced ops in $(($(now_ms) - t0)) ms through the fake on $FAKE_URL (extraCACerts)"
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
          envFrom: [{secretRef: {name: sysdig-monitor-token}}]
          volumeMounts: [{name: token, mountPath: /etc/sysdig, readOnly: true}, {name: tmp, mountPath: /tmp}]
          readinessProbe:
            httpGet: {path: /, port: 8080}
            periodSeconds: 1
          securityContext: {runAsUser: 65534, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false}
      volumes: [{name: token, secret: {secretName: sysdig-monitor-token}}, {name: tmp, emptyDir: {}}]
EOF
wait_pods_ready "$NS" app=consumer 1 90
CONSUMER=$(kubectl get pods -n "$NS" -l app=consumer -o jsonpath='{.items[0].metadata.name}')
FP1=$(fingerprint_of "$TOKEN")
wait_for "the consumer to read the token" 30 pod_log_has "$NS" "$CONSUMER" "file=$FP1 env=$FP1"
pass "consumer pod $CONSUMER reads the team's token ($FP1) from the mounted Secret and from envFrom"

# 4. A reset: the Secret, then the mounted file; the environment stays.
TOKEN2=$(fake_reset "$GUID" $TEAM)
FP2=$(fingerprint_of "$TOKEN2")
t0=$(now_ms)
kubectl annotate sdt ops -n "$NS" --overwrite monitoring.ibm.com/reset-token=r1 >/dev/null
wait_for "the Secret to hold the new token" 60 secret_token_is sysdig-monitor-token "$TOKEN2"
secret_ms=$(($(now_ms) - t0))
wait_for "the mounted file to show the new token" 90 pod_log_has "$NS" "$CONSUMER" "file=$FP2 env=$FP1"
file_ms=$(($(now_ms) - t0))
pass "reset: Secret rotated $secret_ms ms after the annotation, mounted file $file_ms ms after it ($((file_ms - secret_ms)) ms after the Secret; kubelet syncFrequency $(sed -n 's/^syncFrequency: //p' "$STO_CONTROLPLANE_DIR/node/kubelet.yaml")); the environment keeps the old token"
sleep 2
pod_log_has "$NS" "$CONSUMER" "env=$FP2" && fail "the environment of the running consumer changed"
kubectl rollout restart deployment/consumer -n "$NS" >/dev/null
restarted() {
  local p
  p=$(kubectl get pods -n "$NS" -l app=consumer -o jsonpath='{.items[?(@.status.phase=="Running")].metadata.name}')
  [[ -n "$p" && "$p" != *" "* && "$p" != "$CONSUMER" ]] && pod_log_has "$NS" "$p" "file=$FP2 env=$FP2"
}
wait_for "a restarted consumer with the new token in its environment" 90 restarted
pass "after a rollout restart the consumer's environment holds the new token"

# 5. Deleting the leader pod: the follower takes over within the lease time,
# and re-does nothing (no IBM request, same revision, no new TokenSynced or
# TokenRotated event).
rev=$(revision ops)
events_before="$(event_total ops TokenSynced)/$(event_total ops TokenRotated)"
save_op_logs
fake_reset_counts
OLD=$LEADER
t0=$(now_ms)
kubectl delete pod "$OLD" -n "$OPNS" --wait=false >/dev/null
new_leader() { local l; l=$(leader_pod); [[ -n "$l" && "$l" != "$OLD" ]] && leads "$l"; }
wait_for "another pod to take the Lease" 40 new_leader
handover_ms=$(($(now_ms) - t0))
LEADER=$(leader_pod)
# The waiting follower or the Deployment's replacement pod, whichever asks
# first once the Lease is released.
if [[ "$LEADER" == "$FOLLOWER" ]]; then who="the follower"; else who="the replacement pod"; fi
((handover_ms <= 17000)) || fail "handover took $handover_ms ms (want within the lease duration 15 s + retry 2 s)"
wait_pods_ready "$OPNS" "$OP_SELECTOR" 2 120
sleep 5
[[ "$(revision ops)" == "$rev" ]] || fail "the new leader changed the revision: $rev -> $(revision ops)"
events_after="$(event_total ops TokenSynced)/$(event_total ops TokenRotated)"
[[ "$events_after" == "$events_before" ]] || fail "TokenSynced/TokenRotated events $events_before -> $events_after after the handover"
[[ "$(fake_count 'GET /api/token' all)" == 0 ]] || fail "the new leader fetched tokens that were not due: $(fake_counts)"
pass "leader pod $OLD deleted: $who $LEADER took over after $handover_ms ms (the Lease was released on SIGTERM); revision $rev, events $events_after, no IBM request: nothing handled twice"

# 6. helm upgrade (new pods) and helm uninstall keep every Secret and SysdigToken.
snapshot() {
  kubectl get secrets,sdt -n "$NS" -o go-template='{{range .items}}{{.kind}}/{{.metadata.name}} {{.metadata.uid}}{{"\n"}}{{end}}' | sort
}
before=$(snapshot)
save_op_logs
helm upgrade "$RELEASE" "$CHART" -n "$OPNS" --reuse-values --set logLevel=info --timeout 60s \
  >"$WORK/helm-upgrade.log" 2>&1 || fail "helm upgrade failed: $(cat "$WORK/helm-upgrade.log")"
rolled() {
  local args
  args=$(kubectl get pods -n "$OPNS" -l "$OP_SELECTOR" -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}{.spec.containers[0].args}{"\n"}{end}')
  [[ $(grep -c . <<<"$args") -eq 2 && $(grep -c -- '--log-level=info' <<<"$args") -eq 2 ]]
}
wait_for "the upgrade's pods to replace the old ones" 120 rolled
wait_pods_ready "$OPNS" "$OP_SELECTOR" 2 120
wait_for "a leader after the upgrade" 60 new_leader
[[ "$(snapshot)" == "$before" ]] || fail "helm upgrade changed the Secrets or SysdigTokens: $(diff <(echo "$before") <(snapshot) | tr '\n' ';')"
wait_ready ops True TokenSynced 30
pass "helm upgrade: new operator pods Ready, $(leader_pod) leads, every Secret and SysdigToken kept (same UIDs), ops still Ready"
save_op_logs
helm uninstall "$RELEASE" -n "$OPNS" --timeout 60s >"$WORK/helm-uninstall.log" 2>&1 ||
  fail "helm uninstall failed: $(cat "$WORK/helm-uninstall.log")"
no_op_pods() { [[ -z "$(kubectl get pods -n "$OPNS" -l "$OP_SELECTOR" -o name 2>/dev/null)" ]]; }
wait_for "the operator pods to go" 60 no_op_pods
[[ "$(snapshot)" == "$before" ]] || fail "helm uninstall changed the Secrets or SysdigTokens: $(diff <(echo "$before") <(snapshot) | tr '\n' ';')"
kubectl get crd sysdigtokens.monitoring.ibm.com >/dev/null || fail "helm uninstall removed the CRD"
wait_pods_ready "$NS" app=consumer 1 10
pass "helm uninstall: operator pods gone; the CRD, every Secret and SysdigToken kept; the consumer still runs"

check_no_leaks
