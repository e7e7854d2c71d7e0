# Shared helpers of the e2e.helm_* chart tests that need no operator: helm
# and kubectl from the "controlplane" CTest fixture, the chart, its ci/ value
# files, and cleanup of what a test created. Source it:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/chart_lib.sh"
#
#   CHART, CHART_CI (the ci/*.yaml files), CRD (SysdigToken's crds/ file),
#   CRDS (every crds/*.yaml file), WORK (temp dir)
#   fail MSG, pass MSG, info MSG  (tests/support/test_lib.sh)
#   variants                    "default" and each ci/*.yaml, one a line
#   values_args VARIANT         the helm flags of a variant (-f FILE, or nothing)
#   render VARIANT [HELM ARGS]  helm template of the chart for VARIANT
#   temp_namespace VAR PREFIX   namespace PREFIX-<random>, deleted on exit
#   ensure_namespace NAME       create NAME unless it exists; delete it on exit if created
set -euo pipefail
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/../support/test_lib.sh"
: "${STO_CONTROLPLANE_DIR:?run through ctest (controlplane fixture)}"
# shellcheck disable=SC1091
. "$STO_CONTROLPLANE_DIR/env"
ROOT=${STO_SOURCE_DIR:?run through ctest}
CHART=$ROOT/helm/sysdig-token-operator
CRD=$ROOT/crds/monitoring.ibm.com_sysdigtokens.yaml
mapfile -t CRDS < <(find "$ROOT/crds" -maxdepth 1 -name '*.yaml' | sort)
RAND=$(printf '%04x%04x' $RANDOM $RANDOM)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sto-e2e-$(basename "$0" .sh).XXXXXX")
CREATED_NAMESPACES=()
CREATED_CLUSTER_OBJECTS=()

_chart_cleanup() {
  local rc=$? ns obj
  set +e
  for obj in "${CREATED_CLUSTER_OBJECTS[@]}"; do kubectl delete "$obj" --ignore-not-found --wait=false >/dev/null 2>&1; done
  for ns in "${CREATED_NAMESPACES[@]}"; do kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1; done
  rm -rf "$WORK"
  exit "$rc"
}
trap _chart_cleanup EXIT
trap 'exit 130' INT TERM

command -v helm >/dev/null || fail "helm is not on PATH after sourcing $STO_CONTROLPLANE_DIR/env (scripts/controlplane bin builds it)"
command -v kubectl >/dev/null || fail "kubectl is not on PATH after sourcing $STO_CONTROLPLANE_DIR/env"
[[ -f "$CHART/Chart.yaml" ]] || fail "no chart at $CHART"
mapfile -t CHART_CI < <(find "$CHART/ci" -maxdepth 1 -name '*.yaml' | sort)
((${#CHART_CI[@]} > 0)) || fail "no values files in $CHART/ci"

variants() {
  echo default
  printf '%s\n' "${CHART_CI[@]}"
}
values_args() { [[ "$1" == default ]] || printf '%s\n' -f "$1"; }
variant_name() { if [[ "$1" == default ]]; then echo default; else basename "$1" .yaml; fi; }

# render VARIANT [helm template args...]
render() {
  local variant=$1 va
  shift
  mapfile -t va < <(values_args "$variant")
  helm template sto "$CHART" "${va[@]}" "$@"
}

temp_namespace() {
  local -n _tn=$1
  _tn="$2-$RAND"
  kubectl create namespace "$_tn" >/dev/null
  CREATED_NAMESPACES+=("$_tn")
}
ensure_namespace() {
  kubectl get namespace "$1" >/dev/null 2>&1 && return 0
  kubectl create namespace "$1" >/dev/null
  CREATED_NAMESPACES+=("$1")
}
