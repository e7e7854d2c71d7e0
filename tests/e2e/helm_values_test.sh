#!/usr/bin/env bash
# e2e.helm_values: bad values fail `helm template` (and so install/upgrade)
# with a message that names the value: values.schema.json refuses wrong
# types, enums, ranges, patterns and unknown keys; the templates refuse
# combinations the schema cannot express.
. "$(dirname "${BASH_SOURCE[0]}")/chart_lib.sh"

n=0
# reject DESCRIPTION WANT [helm args...]: helm template fails and its error
# contains WANT (a field path, e.g. "/logLevel", or a phrase).
reject() {
  local what=$1 want=$2 out
  shift 2
  n=$((n + 1))
  if out=$(helm template sto "$CHART" "$@" 2>&1); then
    fail "$what: accepted"
  fi
  grep -qF -- "$want" <<<"$out" || fail "$what: the error does not say '$want': $out"
  pass "rejects $what: $(grep -F -- "$want" <<<"$out" | head -n 1 | sed 's/^ *//' | cut -c1-160)"
}
# reject_file DESCRIPTION WANT YAML: the same with a values file.
reject_file() {
  local f=$WORK/values-$((n + 1)).yaml
  printf '%s\n' "$3" >"$f"
  reject "$1" "$2" -f "$f"
}

reject "logLevel: loud" "logLevel" --set logLevel=loud
out=$(helm template sto "$CHART" --set logLevel=loud 2>&1 || true)
grep -q "debug" <<<"$out" || fail "the logLevel error does not list the allowed values: $out"
reject "logFormat: xml" "logFormat" --set logFormat=xml
reject_file "replicaCount: -1" "replicaCount" 'replicaCount: -1'
reject_file "replicaCount: two" "replicaCount" 'replicaCount: two'
reject_file "an unknown top-level key (replicas)" "replicas" 'replicas: 3'
reject_file "an unknown key under leaderElection" "leaseDuration" 'leaderElection: {leaseDuration: 15s}'
reject_file "an unknown key under image" "registry" 'image: {registry: example}'
reject_file "image.pullPolicy: Sometimes" "pullPolicy" 'image: {pullPolicy: Sometimes}'
reject_file "watchNamespaces with an invalid name" "watchNamespaces" 'watchNamespaces: [Team_A]'
reject_file "watchNamespaces not a list" "watchNamespaces" 'watchNamespaces: team-a'
reject_file "watchNamespaces with a duplicate" "watchNamespaces" 'watchNamespaces: [team-a, team-a]'
reject_file "allowedHosts with a comma-separated entry" "allowedHosts" 'allowedHosts: ["a.example,b.example"]'
reject_file "allowedHosts with a URL" "allowedHosts" 'allowedHosts: ["https://iam.cloud.ibm.com"]'
reject_file "leaderElection.id with an upper-case letter" "leaderElection" 'leaderElection: {id: Leader}'
reject_file "crds.install: yes-please" "install" 'crds: {install: yes-please}'
reject_file "metrics.port: 70000" "port" 'metrics: {port: 70000}'
reject_file "serviceMonitor.interval: 30 seconds" "interval" 'serviceMonitor: {interval: 30 seconds}'
reject_file "maxConcurrentReconciles: 0" "maxConcurrentReconciles" 'maxConcurrentReconciles: 0'
reject_file "metrics.secure: yes-please" "secure" 'metrics: {secure: yes-please}'
reject_file "metrics.certSecret with an invalid name" "certSecret" 'metrics: {certSecret: Metrics_Cert}'
reject_file "metrics.prometheusRule.syncFailingFor: 15 minutes" "syncFailingFor" 'metrics: {prometheusRule: {syncFailingFor: 15 minutes}}'
reject_file "metrics.prometheusRule.severity: page" "severity" 'metrics: {prometheusRule: {severity: page}}'
reject_file "an unknown key under metrics.prometheusRule" "runbookURL" 'metrics: {prometheusRule: {runbookURL: x}}'
reject_file "an unknown key under metrics.dashboard" "folder" 'metrics: {dashboard: {folder: ops}}'
reject_file "serviceMonitor.tls.insecureSkipVerify: maybe" "insecureSkipVerify" 'serviceMonitor: {tls: {insecureSkipVerify: maybe}}'
reject_file "an unknown key under serviceMonitor.tls" "certFile" 'serviceMonitor: {tls: {certFile: /x}}'
reject_file "extraArgs entry that is not a flag" "extraArgs" 'extraArgs: [debug]'
reject_file "podDisruptionBudget.minAvailable: lots" "minAvailable" 'podDisruptionBudget: {minAvailable: lots}'
# Combinations, checked by the templates.
reject_file "2 replicas without leader election" "leaderElection.enabled" 'leaderElection: {enabled: false}'
reject_file "a ServiceMonitor without metrics" "serviceMonitor.enabled" 'serviceMonitor: {enabled: true}
metrics: {enabled: false}'
reject_file "minAvailable equal to replicaCount" "podDisruptionBudget.minAvailable" 'podDisruptionBudget: {minAvailable: 2}'
reject_file "metrics and probes on one port" "healthProbe.port" 'healthProbe: {port: 8080}'
reject_file "serviceAccount.create false without a name" "serviceAccount.name" 'serviceAccount: {create: false}'
reject_file "metrics.certSecret without metrics.secure" "metrics.certSecret" 'metrics: {secure: false, certSecret: metrics-cert}'
reject_file "extraCACerts from a ConfigMap and a Secret" "extraCACerts" 'extraCACerts: {configMap: ca, secret: ca}'
reject_file "an unknown key under extraCACerts" "file" 'extraCACerts: {file: /ca.pem}'
reject_file "proxy.https with a socks5:// proxy" "https" 'proxy: {https: "socks5://gw.example:1080"}'
reject_file "proxy.https with an https:// proxy" "proxy" 'proxy: {https: "https://gw.example:3128"}'
reject_file "an unknown key under proxy" "http" 'proxy: {http: "http://gw.example:3128"}'

# And the edges that are fine.
out=$(helm template sto "$CHART" --set metrics.certSecret=metrics-cert --set serviceMonitor.enabled=true \
  --set serviceMonitor.tls.caSecret=metrics-ca 2>/dev/null) || fail "metrics.certSecret with a CA Secret is refused"
for want in '--metrics-cert-dir=/etc/sysdig-token-operator/metrics-certs' 'secretName: "metrics-cert"' 'name: "metrics-ca"'; do
  grep -qF -- "$want" <<<"$out" || fail "metrics.certSecret: the render lacks $want"
done
grep -q insecureSkipVerify <<<"$out" && fail "a ServiceMonitor with a CA Secret still skips verification"
out=$(helm template sto "$CHART" --set metrics.secure=false --set serviceMonitor.enabled=true 2>/dev/null) ||
  fail "metrics.secure=false is refused"
grep -q -e '--metrics-secure' -e 'metrics-auth' -e 'scheme: https' <<<"$out" && fail "metrics.secure=false still renders HTTPS, its flag or its RBAC"
pass "metrics.certSecret mounts the Secret and passes --metrics-cert-dir; a CA Secret replaces insecureSkipVerify; metrics.secure=false is plain HTTP without the review RBAC"
helm template sto "$CHART" --set replicaCount=1 --set leaderElection.enabled=false >/dev/null ||
  fail "replicaCount=1 without leader election is refused"
helm template sto "$CHART" --set replicaCount=0 >/dev/null || fail "replicaCount=0 (scaled down) is refused"
helm template sto "$CHART" --set 'allowedHosts={*.monitoring.cloud.ibm.com,iam.cloud.ibm.com,10.1.2.3}' >/dev/null ||
  fail "allowedHosts with patterns and an IP is refused"
for source in configMap secret; do
  out=$(helm template sto "$CHART" --set "extraCACerts.$source=private-ca" --set extraCACerts.key=bundle.pem 2>/dev/null) ||
    fail "extraCACerts.$source is refused"
  for want in 'name: SSL_CERT_FILE' 'value: "/etc/sysdig-token-operator/ca/bundle.pem"' 'value: /etc/ssl/certs' \
    'mountPath: /etc/sysdig-token-operator/ca' '"private-ca"' '{key: "bundle.pem", path: "bundle.pem"}'; do
    grep -qF -- "$want" <<<"$out" || fail "extraCACerts.$source: the Deployment lacks '$want'"
  done
done
# proxy: HTTPS_PROXY and NO_PROXY on the container only when set.
out=$(helm template sto "$CHART" --set proxy.https=http://u:p@proxy.corp.example:3128 --set-string 'proxy.noProxy=.corp.example\,10.96.0.0/12' --show-only templates/deployment.yaml) ||
  fail "proxy values are refused"
for want in 'name: HTTPS_PROXY' 'value: "http://u:p@proxy.corp.example:3128"' 'name: NO_PROXY' 'value: ".corp.example,10.96.0.0/12"'; do
  grep -qF -- "$want" <<<"$out" || fail "proxy: the Deployment lacks '$want'"
done
out=$(helm template sto "$CHART" --set proxy.noProxy=.corp.example --show-only templates/deployment.yaml)
grep -q 'HTTPS_PROXY' <<<"$out" && fail "proxy: HTTPS_PROXY rendered without proxy.https"
grep -qF 'name: NO_PROXY' <<<"$out" || fail "proxy: NO_PROXY missing with proxy.noProxy"
out=$(helm template sto "$CHART" --show-only templates/deployment.yaml)
grep -q 'PROXY' <<<"$out" && fail "proxy: proxy variables rendered by default"
pass "accepted: 1 replica without leader election, 0 replicas, allowedHosts patterns and IPs, extraCACerts from a ConfigMap or a Secret (mounted; SSL_CERT_FILE and SSL_CERT_DIR set), proxy.https/noProxy as HTTPS_PROXY/NO_PROXY only when set"
pass "$n bad values refused, each naming the value"
