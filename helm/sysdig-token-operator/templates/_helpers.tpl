{{/* Chart name, possibly overridden. */}}
{{- define "sto.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of the release's objects: the release name if it already contains the
chart name, else "<release>-<chart>"; at most 63 characters.
*/}}
{{- define "sto.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sto.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "sto.labels" -}}
helm.sh/chart: {{ include "sto.chart" . }}
app.kubernetes.io/name: {{ include "sto.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sysdig-token-operator
{{- end }}

{{/* Labels of the operator's Deployment, pods, Service, PDB and ServiceMonitor. */}}
{{- define "sto.controllerLabels" -}}
{{ include "sto.labels" . }}
app.kubernetes.io/component: controller
{{- end }}

{{/* Labels that select the operator's pods. */}}
{{- define "sto.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sto.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "sto.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sto.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Namespace of the leader-election Lease: leaderElection.namespace, else the release's. */}}
{{- define "sto.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{- define "sto.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{/*
The operator's rules on SysdigTokens, Secrets and Events (docs/install.md
explains each verb): the ClusterRole's in all-namespaces mode, every Role's
with watchNamespaces ("sto.clusterRules" adds the ClusterRole's rules for
ClusterSysdigTokens). Keep in line with deploy/rbac.yaml and OPERATOR_RULES in
tests/e2e/install_lib.sh.
*/}}
{{- define "sto.rules" -}}
# The informer lists and watches SysdigTokens (get adds nothing to list).
- apiGroups: [monitoring.ibm.com]
  resources: [sysdigtokens]
  verbs: [get, list, watch]
# Conditions, fingerprint, revision, ...: a merge patch of /status.
- apiGroups: [monitoring.ibm.com]
  resources: [sysdigtokens/status]
  verbs: [patch]
# Owner references with blockOwnerDeletion (OwnerReferencesPermissionEnforcement).
- apiGroups: [monitoring.ibm.com]
  resources: [sysdigtokens/finalizers]
  verbs: [update]
# get: API key Secrets and target Secrets at write time; list/watch: managed
# Secrets (label-selected); create: new target Secrets; patch: server-side
# apply, field-ownership fix-up, release (Retain); delete: the old Secret when
# target.name changes.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, patch, delete]
# spec.trustedProfile: TokenRequests (audience "iam", 10 minutes) for the named
# ServiceAccount of a SysdigToken's namespace.
- apiGroups: [""]
  resources: [serviceaccounts/token]
  verbs: [create]
# spec.rolloutRestartTargets: the restartedAt pod template annotation (merge
# patch), as kubectl rollout restart does.
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get, patch]
# events.k8s.io/v1 Events about SysdigTokens (and, in the ClusterRole, about
# ClusterSysdigTokens: those are in namespace default); patch counts repeats.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/*
The operator's rules for ClusterSysdigTokens, in the ClusterRole only (all
namespaces mode): the resource is cluster-scoped and selects namespaces, so
with watchNamespaces the operator does not handle it and gets none of these.
Its Secrets and Events (in namespace default, about the cluster-scoped
object) are covered by "sto.rules" of the ClusterRole. Keep in line with
deploy/rbac.yaml and CLUSTER_RULES in tests/e2e/install_lib.sh.
*/}}
{{- define "sto.clusterRules" -}}
# The informer lists and watches ClusterSysdigTokens.
- apiGroups: [monitoring.ibm.com]
  resources: [clustersysdigtokens]
  verbs: [get, list, watch]
# Conditions, provisioned and failed namespaces, ...: writes of /status.
- apiGroups: [monitoring.ibm.com]
  resources: [clustersysdigtokens/status]
  verbs: [get, update, patch]
# Owner references with blockOwnerDeletion from every selected namespace's
# Secret (OwnerReferencesPermissionEnforcement).
- apiGroups: [monitoring.ibm.com]
  resources: [clustersysdigtokens/finalizers]
  verbs: [update]
# namespaceSelector: which namespaces match, and when that changes.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
{{- end }}

{{/* Checks of combinations the schema cannot express; fails with a message. */}}
{{- define "sto.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicaCount: %d replicas need leaderElection.enabled=true (without a Lease every replica would reconcile); set replicaCount: 1 or enable leader election" (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "serviceMonitor.enabled: needs metrics.enabled=true (the ServiceMonitor scrapes the metrics Service)" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "serviceMonitor.enabled: needs metrics.service.enabled=true (the ServiceMonitor selects the metrics Service)" }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and $pdb.enabled (gt (int .Values.replicaCount) 1) (not (kindIs "string" $pdb.minAvailable)) (ge (int $pdb.minAvailable) (int .Values.replicaCount)) }}
{{- fail (printf "podDisruptionBudget.minAvailable: %d with replicaCount %d would block every voluntary eviction (node drains); use fewer than replicaCount" (int $pdb.minAvailable) (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.metrics.certSecret (not .Values.metrics.secure) }}
{{- fail "metrics.certSecret: only used with metrics.secure=true (plain HTTP has no certificate)" }}
{{- end }}
{{- if and .Values.extraCACerts.configMap .Values.extraCACerts.secret }}
{{- fail "extraCACerts: set configMap or secret, not both (one PEM bundle is mounted)" }}
{{- end }}
{{- if eq (int .Values.metrics.port) (int .Values.healthProbe.port) }}
{{- fail (printf "metrics.port and healthProbe.port are both %d; they must differ" (int .Values.metrics.port)) }}
{{- end }}
{{- end }}
