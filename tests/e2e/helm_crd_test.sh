#!/usr/bin/env bash
# e2e.helm_crd: the chart's CRDs are the files of crds/ (SysdigToken and
# ClusterSysdigToken), with no copy that could drift: files/ holds a symlink
# to each, the rendered CRDs equal them (spec compared as canonical JSON,
# metadata plus the chart's labels and helm.sh/resource-policy: keep), a
# packaged chart carries each file byte for byte, the chart has no crds/
# folder (Helm would install that on its own, ignoring crds.install), and
# crds.install=false renders no CRD.
. "$(dirname "${BASH_SOURCE[0]}")/chart_lib.sh"

names=$(for crd in "${CRDS[@]}"; do basename "$crd"; done | tr '\n' ' ')
[[ "$names" == "monitoring.ibm.com_clustersysdigtokens.yaml monitoring.ibm.com_sysdigtokens.yaml " ]] ||
  fail "crds/ holds $names; this test (and templates/crd.yaml) expect the SysdigToken and ClusterSysdigToken CRDs"
for crd in "${CRDS[@]}"; do
  LINK=$CHART/files/$(basename "$crd")
  [[ -L "$LINK" ]] || fail "$LINK is not a symlink (a copy of the CRD can drift from crds/)"
  [[ "$(readlink -f "$LINK")" == "$(readlink -f "$crd")" ]] || fail "$LINK points to $(readlink -f "$LINK"), not $crd"
done
[[ ! -e "$CHART/crds" ]] || fail "$CHART/crds exists: Helm installs crds/ itself, outside crds.install and never upgraded"
pass "files/ holds a symlink to each of crds/ ($names); the chart has no crds/ folder"

# canonical FILE JSONPATH: a field of the object in FILE, as kubectl prints
# it (JSON with sorted keys).
canonical() { kubectl create --dry-run=client -o jsonpath="{$2}" -f "$1"; }
# rendered_crd RENDERED_FILE NAME: the file (one document of RENDERED_FILE,
# split into $WORK) that holds the CRD NAME.
rendered_crd() {
  local dir doc
  dir=$(mktemp -d "$WORK/docs.XXXXXX")
  awk -v dir="$dir" '/^---$/ {n++; next} {print > (dir "/doc-" n ".yaml")}' "$1"
  for doc in "$dir"/doc-*.yaml; do
    grep -q '^kind: CustomResourceDefinition$' "$doc" || continue
    [[ "$(canonical "$doc" .metadata.name)" == "$2" ]] && echo "$doc" && return 0
  done
  return 1
}
compare_rendered() { # RENDERED_FILE WHAT
  local all=$1 what=$2 crd name rendered field count
  count=$(grep -c '^kind: CustomResourceDefinition$' "$all" || true)
  ((count == ${#CRDS[@]})) || fail "$what: renders $count CRDs, want ${#CRDS[@]}"
  for crd in "${CRDS[@]}"; do
    name=$(canonical "$crd" .metadata.name)
    rendered=$(rendered_crd "$all" "$name") || fail "$what: no CRD $name rendered"
    for field in .apiVersion .kind .metadata.name .spec; do
      [[ -n "$(canonical "$rendered" "$field")" ]] || fail "$what: no $field in the rendered CRD $name"
      [[ "$(canonical "$rendered" "$field")" == "$(canonical "$crd" "$field")" ]] ||
        fail "$what: $name: $field differs from crds/: $(diff <(canonical "$rendered" "$field" | fold -w 100) <(canonical "$crd" "$field" | fold -w 100) | head -n 10)"
    done
    local key value
    while IFS='=' read -r key value; do
      [[ -n "$key" ]] || continue
      [[ "$(kubectl create --dry-run=client -f "$rendered" -o go-template="{{index .metadata.labels \"$key\"}}")" == "$value" ]] ||
        fail "$what: $name: label $key is not '$value' as in crds/"
    done < <(kubectl create --dry-run=client -f "$crd" -o go-template='{{range $k, $v := .metadata.labels}}{{$k}}={{$v}}{{"\n"}}{{end}}')
    [[ "$(kubectl create --dry-run=client -f "$rendered" -o go-template='{{index .metadata.annotations "helm.sh/resource-policy"}}')" == keep ]] ||
      fail "$what: the CRD $name lacks the annotation helm.sh/resource-policy: keep"
  done
}

for variant in default "$CHART/ci/namespaced.yaml"; do
  render "$variant" --show-only templates/crd.yaml >"$WORK/crd.yaml" || fail "helm template --show-only templates/crd.yaml ($(variant_name "$variant")) failed"
  compare_rendered "$WORK/crd.yaml" "helm template ($(variant_name "$variant"))"
done
pass "the rendered CRDs (defaults, and with watchNamespaces) equal crds/ (apiVersion, kind, name, spec as canonical JSON; their labels) and carry helm.sh/resource-policy: keep"

# A packaged chart (what a chart repository serves) carries the files themselves.
helm package "$CHART" -d "$WORK/pkg" >/dev/null || fail "helm package failed"
tgz=$(ls "$WORK"/pkg/*.tgz)
mkdir "$WORK/unpacked"
tar -xmzf "$tgz" -C "$WORK/unpacked"
for crd in "${CRDS[@]}"; do
  packaged=$WORK/unpacked/sysdig-token-operator/files/$(basename "$crd")
  [[ -f "$packaged" && ! -L "$packaged" ]] || fail "$(basename "$tgz") has no regular file files/$(basename "$crd")"
  cmp -s "$packaged" "$crd" || fail "the packaged $(basename "$crd") differs from crds/: $(diff "$packaged" "$crd" | head -n 10)"
done
helm template sto "$tgz" --show-only templates/crd.yaml >"$WORK/crd-pkg.yaml" || fail "helm template of the package failed"
compare_rendered "$WORK/crd-pkg.yaml" "the packaged chart"
pass "helm package: $(basename "$tgz") holds the CRDs byte for byte, and renders them equal to crds/"

# crds.install=false renders no CRD, and nothing else changes.
if grep -q '^kind: CustomResourceDefinition$' <<<"$(render default --set crds.install=false)"; then
  fail "crds.install=false still renders a CRD"
fi
with=$(render default | grep -c '^kind: ')
without=$(render default --set crds.install=false | grep -c '^kind: ')
((with == without + ${#CRDS[@]})) || fail "crds.install=false renders $without objects, want $((with - ${#CRDS[@]}))"
pass "crds.install=false renders $without objects: all but the ${#CRDS[@]} CRDs"
