#!/usr/bin/env bash
# e2e.helm_template: `helm template` of the chart with its defaults and with
# each ci/*.yaml is accepted by the real kube-apiserver
# (`kubectl apply --dry-run=server --validate=strict`: schemas, unknown
# fields, admission), a pod of each rendered Deployment passes the
# "restricted" Pod Security Standard, the operator's flag parser accepts each
# rendered args list, and each variant renders what it promises (objects,
# args, security settings, probes, resources). The defaults render both CRDs
# and a ClusterRole with the SysdigToken and the ClusterSysdigToken rules
# (clustersysdigtokens, their status and finalizers, namespaces). With
# watchNamespaces (ci/namespaced.yaml, and one namespace with --set) the
# operator's Roles are in exactly those namespaces, with the SysdigToken rules
# only, and nothing is cluster-wide but metrics.secure's token/access review
# ClusterRole and metrics-reader; the default memory
# request and limit hold the peaks recorded in tests/bench/results/.
#   helm_template_test.sh OPERATOR_BINARY
. "$(dirname "${BASH_SOURCE[0]}")/chart_lib.sh"
OPERATOR_BIN=${1:?usage: $0 OPERATOR_BINARY}
[[ -x "$OPERATOR_BIN" ]] || fail "$OPERATOR_BIN is not an executable (build the sysdig-token-operator target)"

temp_namespace NS sto-tmpl
kubectl label namespace "$NS" pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted >/dev/null

# The ServiceMonitor variant needs the prometheus-operator's CRD. A stub with
# the fields the chart uses stands in for it (strict validation then refuses
# any other field); it is removed on exit if this test created it.
if ! kubectl get crd servicemonitors.monitoring.coreos.com >/dev/null 2>&1; then
  CREATED_CLUSTER_OBJECTS+=(crd/servicemonitors.monitoring.coreos.com)
  kubectl apply -f - >/dev/null <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
  labels: {sysdig-token-operator-test: stub}
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          required: [spec]
          properties:
            spec:
              type: object
              required: [selector]
              properties:
                jobLabel: {type: string}
                namespaceSelector:
                  type: object
                  properties:
                    any: {type: boolean}
                    matchNames: {type: array, items: {type: string}}
                selector:
                  type: object
                  properties:
                    matchLabels: {type: object, additionalProperties: {type: string}}
                    matchExpressions: {type: array, items: {type: object, x-kubernetes-preserve-unknown-fields: true}}
                endpoints:
                  type: array
                  items:
                    type: object
                    properties:
                      port: {type: string}
                      path: {type: string}
                      scheme: {type: string}
                      interval: {type: string, pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$'}
                      scrapeTimeout: {type: string, pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$'}
                      honorLabels: {type: boolean}
                      bearerTokenFile: {type: string}
                      tlsConfig:
                        type: object
                        properties:
                          insecureSkipVerify: {type: boolean}
                          serverName: {type: string}
                          ca:
                            type: object
                            properties:
                              secret:
                                type: object
                                required: [key]
                                properties:
                                  name: {type: string}
                                  key: {type: string}
YAML
  kubectl wait --for condition=established --timeout=60s crd/servicemonitors.monitoring.coreos.com >/dev/null
fi
# The same for the PrometheusRule (the monitoring variant's alerts).
if ! kubectl get crd prometheusrules.monitoring.coreos.com >/dev/null 2>&1; then
  CREATED_CLUSTER_OBJECTS+=(crd/prometheusrules.monitoring.coreos.com)
  kubectl apply -f - >/dev/null <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: prometheusrules.monitoring.coreos.com
  labels: {sysdig-token-operator-test: stub}
spec:
  group: monitoring.coreos.com
  names: {kind: PrometheusRule, listKind: PrometheusRuleList, plural: prometheusrules, singular: prometheusrule}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          required: [spec]
          properties:
            spec:
              type: object
              properties:
                groups:
                  type: array
                  items:
                    type: object
                    required: [name, rules]
                    properties:
                      name: {type: string}
                      interval: {type: string}
                      rules:
                        type: array
                        items:
                          type: object
                          required: [expr]
                          properties:
                            alert: {type: string}
                            record: {type: string}
                            expr: {x-kubernetes-int-or-string: true}
                            for: {type: string, pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$'}
                            labels: {type: object, additionalProperties: {type: string}}
                            annotations: {type: object, additionalProperties: {type: string}}
YAML
  kubectl wait --for condition=established --timeout=60s crd/prometheusrules.monitoring.coreos.com >/dev/null
fi

# list FILE: "Kind namespace/name" of every rendered object.
list() {
  [[ -f "$1.list" ]] ||
    kubectl create --dry-run=client -f "$1" -o go-template='{{.kind}} {{with .metadata.namespace}}{{.}}{{end}}/{{.metadata.name}}{{"\n"}}' >"$1.list"
  cat "$1.list"
}
has() { grep -qxF -- "$2" <<<"$(list "$1")"; }
expect_obj() { has "$1" "$2" || fail "$VARIANT: no $2 among: $(list "$1" | tr '\n' ',')"; }
expect_no_obj() { ! has "$1" "$2" || fail "$VARIANT: renders $2"; }
# load_deployment FILE: reads the fields the checks use from the rendered
# Deployment (one kubectl run); dep KEY prints one.
declare -A DEPF
load_deployment() {
  local c='.spec.template.spec.containers[0]' tmpl='' line i
  local fields=(
    replicas .spec.replicas
    image "$c.image"
    pod_sc .spec.template.spec.securityContext
    pod_nonroot .spec.template.spec.securityContext.runAsNonRoot
    pod_seccomp .spec.template.spec.securityContext.seccompProfile.type
    sc "$c.securityContext"
    ape "$c.securityContext.allowPrivilegeEscalation"
    rorf "$c.securityContext.readOnlyRootFilesystem"
    nonroot "$c.securityContext.runAsNonRoot"
    drop "$c.securityContext.capabilities.drop"
    liveness "$c.livenessProbe"
    readiness "$c.readinessProbe"
    live_path "$c.livenessProbe.httpGet.path"
    live_port "$c.livenessProbe.httpGet.port"
    ready_path "$c.readinessProbe.httpGet.path"
    ready_port "$c.readinessProbe.httpGet.port"
    health_port "$c.ports[?(@.name==\"health\")].containerPort"
    metrics_port "$c.ports[?(@.name==\"metrics\")].containerPort"
    pod_namespace_env "$c.env[?(@.name==\"POD_NAMESPACE\")].valueFrom.fieldRef.fieldPath"
    env_names "$c.env[*].name"
    https_proxy "$c.env[?(@.name==\"HTTPS_PROXY\")].value"
    no_proxy "$c.env[?(@.name==\"NO_PROXY\")].value"
    resources "$c.resources"
    req_cpu "$c.resources.requests.cpu"
    req_mem "$c.resources.requests.memory"
    lim_mem "$c.resources.limits.memory"
    lim_cpu "$c.resources.limits.cpu"
  )
  for ((i = 0; i < ${#fields[@]}; i += 2)); do tmpl+="${fields[i]}={${fields[i + 1]}}{\"\\n\"}"; done
  DEPF=()
  while IFS= read -r line; do DEPF[${line%%=*}]=${line#*=}; done < <(kubectl create --dry-run=client -f "$1" -o jsonpath="$tmpl")
  [[ -n "${DEPF[image]:-}" ]] || fail "$VARIANT: cannot read the rendered Deployment"
}
dep() { echo "${DEPF[$1]:-}"; }

check_common() { # RENDERED DEPLOYMENT_FILE
  local f=$1 d=$2
  load_deployment "$d"
  grep -q runAsUser "$f" && fail "$VARIANT: renders a fixed runAsUser"
  [[ "$(dep ape)/$(dep rorf)/$(dep nonroot)/$(dep drop)" == 'false/true/true/["ALL"]' ]] ||
    fail "$VARIANT: container securityContext is $(dep sc)"
  [[ "$(dep pod_nonroot)/$(dep pod_seccomp)" == true/RuntimeDefault ]] ||
    fail "$VARIANT: pod securityContext is $(dep pod_sc)"
  [[ "$(dep live_path) $(dep live_port) $(dep ready_path) $(dep ready_port) $(dep health_port)" == "/healthz health /readyz health 8081" ]] ||
    fail "$VARIANT: probes $(dep liveness) $(dep readiness)"
  [[ "$(dep pod_namespace_env)" == metadata.namespace ]] ||
    fail "$VARIANT: POD_NAMESPACE is not the pod's namespace: '$(dep pod_namespace_env)'"
  # The operator's flag parser accepts the args: with a missing kubeconfig it
  # fails on that, not on a flag ("(see --help)").
  local args=() err rc=0
  mapfile -t args < <(kubectl create --dry-run=client -f "$d" -o go-template='{{range (index .spec.template.spec.containers 0).args}}{{.}}{{"\n"}}{{end}}')
  err=$("$OPERATOR_BIN" "${args[@]}" --kubeconfig "$WORK/no-such-kubeconfig" 2>&1 >/dev/null) || rc=$?
  [[ $rc == 2 && "$err" == *no-such-kubeconfig* && "$err" != *'see --help'* ]] ||
    fail "$VARIANT: the operator refuses the rendered args ${args[*]}: $err"
  ARGS=" ${args[*]} "
}
# check_memory_defaults REQUEST LIMIT: the default memory request and limit
# (Mi) hold what the benchmarks in tests/bench/results/ measured: the limit is
# at least 1.25x every recorded peak RSS (so the pod is not OOM-killed at the
# largest size measured), the request at least the peak of 1,000 resources;
# and deploy/deployment.yaml has the same figures.
check_memory_defaults() {
  local req=$1 lim=$2 file n peak max_peak=0 max_n=0 small_peak=0 deploy_res
  [[ "$req" =~ ^([0-9]+)Mi$ ]] || fail "default: memory request '$req' is not in Mi"
  local req_kib=$((BASH_REMATCH[1] * 1024))
  [[ "$lim" =~ ^([0-9]+)Mi$ ]] || fail "default: memory limit '$lim' is not in Mi"
  local lim_kib=$((BASH_REMATCH[1] * 1024))
  for file in "$ROOT"/tests/bench/results/*.json; do
    n=$(grep -o '"n": *[0-9]*' "$file" | grep -o '[0-9]*$' | head -n 1)
    peak=$(grep -o '"peak_rss_kib": *[0-9]*' "$file" | grep -o '[0-9]*$' | head -n 1)
    [[ -n "$n" && -n "$peak" ]] || fail "no parameters.n / operator.peak_rss_kib in $file"
    ((peak * 5 <= lim_kib * 4)) ||
      fail "default: memory limit $lim is less than 1.25x the peak RSS $((peak / 1024)) MiB measured with N=$n ($file); raise it in values.yaml and deploy/deployment.yaml"
    ((n > 1000 || req_kib >= peak)) ||
      fail "default: memory request $req is below the peak RSS $((peak / 1024)) MiB measured with N=$n ($file)"
    if ((peak > max_peak)); then max_peak=$peak max_n=$n; fi
    if ((n <= 1000 && peak > small_peak)); then small_peak=$peak; fi
  done
  ((max_peak > 0 && small_peak > 0)) || fail "no benchmark results for N<=1000 and above in $ROOT/tests/bench/results"
  deploy_res=$(kubectl create --dry-run=client -f "$ROOT/deploy/deployment.yaml" \
    -o jsonpath='{.spec.template.spec.containers[0].resources.requests.memory} {.spec.template.spec.containers[0].resources.limits.memory}')
  [[ "$deploy_res" == "$req $lim" ]] || fail "deploy/deployment.yaml's memory request/limit '$deploy_res' differ from the chart's '$req $lim'"
  pass "memory: request $req >= peak $((small_peak / 1024)) MiB (N<=1000), limit $lim >= 1.25 x peak $((max_peak / 1024)) MiB (N=$max_n), deploy/ agrees"
}
# rbac FILE: the rendered RBAC objects, one a line:
#   "ClusterRole /NAME RESOURCE,RESOURCE,..."  "Role NS/NAME RESOURCE,..."
#   "ClusterRoleBinding /NAME -> KIND/NAME SA_NS/SA"  "RoleBinding NS/NAME -> KIND/NAME SA_NS/SA"
rbac() {
  kubectl create --dry-run=client -f "$1" -o go-template='{{if or (eq .kind "ClusterRole") (eq .kind "Role")}}{{.kind}} {{with .metadata.namespace}}{{.}}{{end}}/{{.metadata.name}} {{range .rules}}{{range .resources}}{{.}},{{end}}{{end}}{{"\n"}}{{end}}{{if or (eq .kind "ClusterRoleBinding") (eq .kind "RoleBinding")}}{{.kind}} {{with .metadata.namespace}}{{.}}{{end}}/{{.metadata.name}} -> {{.roleRef.kind}}/{{.roleRef.name}}{{range .subjects}} {{.namespace}}/{{.name}}{{end}}{{"\n"}}{{end}}'
}
# rbac_verbs FILE KIND NAME: the rules of the rendered (Cluster)Role NAME as
# "resource=verb,verb " words, in order.
rbac_verbs() {
  kubectl create --dry-run=client -f "$1" -o go-template="{{if and (eq .kind \"$2\") (eq .metadata.name \"$3\")}}{{range .rules}}{{\$v := .verbs}}{{range .resources}}{{.}}={{range \$i, \$x := \$v}}{{if \$i}},{{end}}{{\$x}}{{end}} {{end}}{{end}}{{end}}"
}
# check_metrics_rbac LABEL RBAC_LINES: the metrics-auth ClusterRole (token and
# access reviews, nothing else) bound to the operator, and metrics-reader.
check_metrics_rbac() {
  local label=$1 r=$2 got
  got=$(grep -e "^ClusterRole /$full-metrics-" -e "^ClusterRoleBinding /$full-metrics-" <<<"$r" | sort)
  [[ "$got" == "ClusterRole /$full-metrics-auth tokenreviews,subjectaccessreviews,
ClusterRole /$full-metrics-reader 
ClusterRoleBinding /$full-metrics-auth -> ClusterRole/$full-metrics-auth $NS/$full" ]] ||
    fail "$label: the metrics RBAC is: $got"
}
# check_watch_namespaces LABEL FILE NS...: with watchNamespaces
# NS..., the operator's Role and RoleBinding are in exactly those namespaces,
# each Role has the operator's rules (Secrets included), the only other Role
# is the Lease's in the release namespace (no Secrets), nothing is
# cluster-scoped, and the args (ARGS, from check_common) carry exactly one
# --namespace per entry.
check_watch_namespaces() {
  local label=$1 f=$2 ns got want r
  shift 2
  r=$(rbac "$f")
  # metrics.secure: the token and access reviews are cluster-scoped, and
  # the metrics-reader role is for scrapers; nothing else is cluster-wide.
  check_metrics_rbac "$label" "$r"
  r=$(grep -v -e "^ClusterRole /$full-metrics-" -e "^ClusterRoleBinding /$full-metrics-auth " <<<"$r")
  grep -q '^Cluster' <<<"$r" && fail "$label: renders cluster-wide RBAC: $(grep '^Cluster' <<<"$r" | tr '\n' ';')"
  want=$(printf '%s\n' "$@" | sort)
  got=$(sed -n "s|^Role \([^/]*\)/$full .*|\1|p" <<<"$r" | sort)
  [[ "$got" == "$want" ]] || fail "$label: Roles $full in [$(echo $got)], want [$(echo $want)]"
  got=$(sed -n "s|^RoleBinding \([^/]*\)/$full -> Role/$full $NS/$full\$|\1|p" <<<"$r" | sort)
  [[ "$got" == "$want" ]] ||
    fail "$label: RoleBindings $full (to Role $full, for ServiceAccount $NS/$full) in [$(echo $got)], want [$(echo $want)]: $r"
  for ns in "$@"; do
    grep -qxF "Role $ns/$full sysdigtokens,sysdigtokens/status,sysdigtokens/finalizers,secrets,serviceaccounts/token,deployments,statefulsets,daemonsets,events," <<<"$r" ||
      fail "$label: the Role in $ns lacks the operator's rules: $(grep "^Role $ns/$full " <<<"$r")"
  done
  got=$(grep -v -e "^Role [^/]*/$full " -e "^RoleBinding [^/]*/$full " <<<"$r" | sort)
  want="Role $NS/$full-leader-election leases,leases,
RoleBinding $NS/$full-leader-election -> Role/$full-leader-election $NS/$full"
  [[ "$got" == "$want" ]] || fail "$label: other RBAC than the Lease's in $NS: $got"
  got=$(grep -o -- '--namespace=[^ ]*' <<<"$ARGS" | sort)
  want=$(printf -- '--namespace=%s\n' "$@" | sort)
  [[ "$got" == "$want" ]] || fail "$label: namespace args [$(echo $got)], want [$(echo $want)]"
}
args_have() { [[ "$ARGS" == *" $1 "* ]] || fail "$VARIANT: the args lack $1:$ARGS"; }
args_lack() { [[ "$ARGS" != *"$1"* ]] || fail "$VARIANT: the args have $1:$ARGS"; }

while read -r variant; do
  VARIANT=$(variant_name "$variant")
  f=$WORK/$VARIANT.yaml
  render "$variant" -n "$NS" >"$f" || fail "$VARIANT: helm template failed"
  render "$variant" -n "$NS" --show-only templates/deployment.yaml >"$WORK/$VARIANT-deployment.yaml"
  d=$WORK/$VARIANT-deployment.yaml
  # Namespaces named by the values (watchNamespaces) must exist.
  while read -r ns; do ensure_namespace "$ns"; done < <(list "$f" | sed -n 's/^[A-Za-z]* \([^/]\{1,\}\)\/.*/\1/p' | sort -u)
  out=$(kubectl apply --dry-run=server --validate=strict -f "$f" 2>&1) || fail "$VARIANT: the API server refuses the rendered chart: $out"
  # (An existing CRD applied by other means draws kubectl's note about its
  # missing last-applied annotation: not a finding.)
  warnings=$(grep Warning <<<"$out" | grep -v 'is missing the kubectl.kubernetes.io/last-applied-configuration annotation' || true)
  [[ -z "$warnings" ]] || fail "$VARIANT: the API server warns: $warnings"
  kubectl create --dry-run=client -f "$d" -o jsonpath='{.spec.template}' |
    sed -e 's/^{"metadata":{/{"apiVersion":"v1","kind":"Pod","metadata":{"name":"pss-check",/' >"$WORK/pod.json"
  out=$(kubectl create -n "$NS" --dry-run=server -f "$WORK/pod.json" 2>&1) ||
    fail "$VARIANT: a pod of the Deployment is refused in a restricted namespace: $out"
  [[ "$out" != *Warning* ]] || fail "$VARIANT: a pod of the Deployment draws warnings: $out"
  check_common "$f" "$d"
  full=sto-sysdig-token-operator
  case $VARIANT in
    default)
      for o in "CustomResourceDefinition /sysdigtokens.monitoring.ibm.com" \
        "CustomResourceDefinition /clustersysdigtokens.monitoring.ibm.com" "ServiceAccount $NS/$full" \
        "ClusterRole /$full" "ClusterRoleBinding /$full" "Role $NS/$full-leader-election" \
        "RoleBinding $NS/$full-leader-election" "Deployment $NS/$full" "PodDisruptionBudget $NS/$full" \
        "Service $NS/$full-metrics" "ClusterRole /$full-metrics-auth" "ClusterRoleBinding /$full-metrics-auth" \
        "ClusterRole /$full-metrics-reader"; do expect_obj "$f" "$o"; done
      expect_no_obj "$f" "ServiceMonitor $NS/$full"
      expect_no_obj "$f" "PrometheusRule $NS/$full"
      expect_no_obj "$f" "ConfigMap $NS/$full-dashboard"
      [[ $(list "$f" | wc -l) == 13 ]] || fail "default: renders $(list "$f" | tr '\n' ',')"
      check_metrics_rbac default "$(rbac "$f")"
      [[ "$(dep replicas)" == 2 ]] || fail "default: replicas $(dep replicas)"
      for a in --leader-elect "--leader-election-namespace=$NS" --leader-election-id=sysdig-token-operator \
        --metrics-bind-address=:8080 --metrics-secure --health-probe-bind-address=:8081 --log-level=info --log-format=json; do
        args_have "$a"
      done
      args_lack --namespace=
      args_lack --allowed-hosts
      args_lack --metrics-cert-dir
      [[ " $(dep env_names) " != *PROXY* ]] || fail "default: proxy variables without proxy values: $(dep env_names)"
      [[ "$(dep req_cpu) $(dep req_mem) $(dep lim_mem) $(dep lim_cpu)" == "10m 32Mi 128Mi " ]] ||
        fail "default: resources $(dep resources)"
      check_memory_defaults "$(dep req_mem)" "$(dep lim_mem)"
      # All namespaces: the SysdigToken rules, then the ClusterSysdigToken ones.
      [[ "$(rbac "$f" | grep "^ClusterRole /$full ")" == "ClusterRole /$full sysdigtokens,sysdigtokens/status,sysdigtokens/finalizers,secrets,serviceaccounts/token,deployments,statefulsets,daemonsets,events,clustersysdigtokens,clustersysdigtokens/status,clustersysdigtokens/finalizers,namespaces," ]] ||
        fail "default: the ClusterRole's rules: $(rbac "$f" | grep '^ClusterRole ')"
      [[ "$(rbac_verbs "$f" "ClusterRole" "$full")" == *"clustersysdigtokens=get,list,watch clustersysdigtokens/status=get,update,patch clustersysdigtokens/finalizers=update namespaces=get,list,watch "* ]] ||
        fail "default: the ClusterRole's ClusterSysdigToken verbs: $(rbac_verbs "$f" "ClusterRole" "$full")"
      [[ "$(dep metrics_port)" == 8080 ]] || fail "default: no metrics port 8080"
      [[ "$(dep image)" == sysdig-token-operator:* ]] || fail "default: image $(dep image)"
      [[ "$(helm template sto "$CHART" -n "$NS" --show-only templates/pdb.yaml | grep -c 'minAvailable: 1')" == 1 ]] ||
        fail "default: the PDB is not minAvailable: 1"
      ;;
    namespaced)
      check_watch_namespaces namespaced "$f" sto-ci-team-a sto-ci-team-b
      ;;
    no-leader-election)
      args_lack --leader-elect
      args_lack --leader-election
      [[ "$(dep replicas)" == 1 ]] || fail "no-leader-election: replicas $(dep replicas)"
      expect_no_obj "$f" "Role $NS/$full-leader-election"
      expect_no_obj "$f" "PodDisruptionBudget $NS/$full"
      ;;
    servicemonitor)
      expect_obj "$f" "ServiceMonitor $NS/$full"
      sm=$(helm template sto "$CHART" -n "$NS" -f "$variant" --show-only templates/servicemonitor.yaml)
      for want in 'release: prometheus' 'interval: 15s' 'scrapeTimeout: 10s' 'port: metrics' 'path: /metrics' \
        'scheme: https' 'bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token' \
        'insecureSkipVerify: true' "serverName: \"$full-metrics.$NS.svc\""; do
        grep -qF "$want" <<<"$sm" || fail "servicemonitor: lacks '$want': $sm"
      done
      # The alerts and the dashboard (the metric names they use are checked
      # against a real operator's /metrics by operator.metrics_secure).
      expect_obj "$f" "PrometheusRule $NS/$full"
      expect_obj "$f" "ConfigMap $NS/$full-dashboard"
      pr=$(helm template sto "$CHART" -n "$NS" -f "$variant" --show-only templates/prometheusrule.yaml)
      for want in 'alert: SysdigTokenSyncFailing' 'alert: SysdigTokenRotationStuck' 'alert: SysdigTokenIBMRateLimited' \
        'release: prometheus' 'for: 20m'; do
        grep -qF "$want" <<<"$pr" || fail "servicemonitor: the PrometheusRule lacks '$want': $pr"
      done
      kubectl create --dry-run=client -f "$f" -o go-template='{{if eq .kind "ConfigMap"}}{{index .metadata.labels "grafana_dashboard"}}|{{range $k, $v := .data}}{{$v}}{{end}}{{end}}' >"$WORK/dashboard.out"
      [[ "$(head -c 2 "$WORK/dashboard.out")" == '1|' ]] || fail "servicemonitor: the dashboard ConfigMap is not labelled grafana_dashboard: \"1\""
      tail -c +3 "$WORK/dashboard.out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["panels"] and d["uid"]' ||
        fail "servicemonitor: the dashboard is not JSON with panels"
      ;;
    no-crds)
      expect_no_obj "$f" "CustomResourceDefinition /sysdigtokens.monitoring.ibm.com"
      expect_no_obj "$f" "CustomResourceDefinition /clustersysdigtokens.monitoring.ibm.com"
      ;;
    custom)
      full=sto
      expect_obj "$f" "Deployment $NS/sto"
      expect_no_obj "$f" "Service $NS/sto-metrics"
      expect_no_obj "$f" "ClusterRole /sto-metrics-auth"
      args_lack --metrics-secure
      for a in '--allowed-hosts=*.monitoring.cloud.ibm.com' --allowed-hosts=private.iam.cloud.ibm.com \
        --metrics-bind-address=0 --log-level=debug --log-format=text --leader-election-id=sto-leader \
        --max-concurrent-reconciles=8 --kube-api-qps=50; do
        args_have "$a"
      done
      [[ "$(dep image)" == platform/sysdig-token-operator:0.1.0-custom ]] || fail "custom: image $(dep image)"
      [[ "$(dep https_proxy)|$(dep no_proxy)" == "http://proxy.corp.example:3128|.corp.example,10.96.0.0/12" ]] ||
        fail "custom: HTTPS_PROXY/NO_PROXY are '$(dep https_proxy)|$(dep no_proxy)' (env: $(dep env_names))"
      [[ "$(dep metrics_port)" == "" ]] || fail "custom: metrics disabled, yet a metrics port $(dep metrics_port)"
      grep -q 'resourceNames: \["sto-leader"\]' <<<"$(helm template sto "$CHART" -n "$NS" -f "$variant" --show-only templates/rbac.yaml)" ||
        fail "custom: the leader-election Role is not limited to the Lease sto-leader"
      ;;
    *) fail "ci/$VARIANT.yaml has no expectations in $0: add them" ;;
  esac
  pass "$VARIANT: $(list "$f" | wc -l) objects accepted by the API server (strict dry run), restricted pod, args:$ARGS"
done < <(variants)

# watchNamespaces of one namespace, set on the command line: one Role, one
# RoleBinding, one --namespace, no Secrets rule anywhere cluster-wide; the API
# server accepts it.
VARIANT=watch-one
full=sto-sysdig-token-operator
temp_namespace ONE sto-tmpl-one
f=$WORK/$VARIANT.yaml
render default -n "$NS" --set "watchNamespaces={$ONE}" >"$f" || fail "$VARIANT: helm template failed"
render default -n "$NS" --set "watchNamespaces={$ONE}" --show-only templates/deployment.yaml >"$WORK/$VARIANT-deployment.yaml"
out=$(kubectl apply --dry-run=server --validate=strict -f "$f" 2>&1) || fail "$VARIANT: the API server refuses the rendered chart: $out"
check_common "$f" "$WORK/$VARIANT-deployment.yaml"
check_watch_namespaces "$VARIANT" "$f" "$ONE"
args_have "--leader-election-namespace=$NS"
pass "$VARIANT: watchNamespaces={$ONE}: Role + RoleBinding in $ONE only, the Lease's Role in $NS, nothing cluster-wide but the metrics review and reader ClusterRoles, args:$ARGS"
