#!/usr/bin/env bash
# e2e.helm_crd: the chart's CRD is crds/monitoring.ibm.com_sysdigtokens.yaml,
# with no copy that could drift: files/ holds a symlink to it, the rendered
# CRD equals it (spec compared as canonical JSON, metadata plus the chart's
# labels and helm.sh/resource-policy: keep), a packaged chart carries the
# file byte for byte, the chart has no crds/ folder (Helm would install that
# on its own, ignoring crds.install), and crds.install=false renders no CRD.
. "$(dirname "${BASH_SOURCE[0]}")/chart_lib.sh"

LINK=$CHART/files/monitoring.ibm.com_sysdigtokens.yaml
[[ -L "$LINK" ]] || fail "$LINK is not a symlink (a copy of the CRD can drift from crds/)"
[[ "$(readlink -f "$LINK")" == "$(readlink -f "$CRD")" ]] || fail "$LINK points to $(readlink -f "$LINK"), not $CRD"
[[ ! -e "$CHART/crds" ]] || fail "$CHART/crds exists: Helm installs crds/ itself, outside crds.install and never upgraded"
pass "files/$(basename "$LINK") is a symlink to crds/$(basename "$CRD"); the chart has no crds/ folder"

# canonical FILE JSONPATH: a field of the object in FILE, as kubectl prints
# it (JSON with sorted keys).
canonical() { kubectl create --dry-run=client -o jsonpath="{$2}" -f "$1"; }
compare_rendered() { # RENDERED_FILE WHAT
  local rendered=$1 what=$2 field
  for field in .apiVersion .kind .metadata.name .spec; do
    [[ -n "$(canonical "$rendered" "$field")" ]] || fail "$what: no $field in the rendered CRD"
    [[ "$(canonical "$rendered" "$field")" == "$(canonical "$CRD" "$field")" ]] ||
      fail "$what: $field differs from crds/: $(diff <(canonical "$rendered" "$field" | fold -w 100) <(canonical "$CRD" "$field" | fold -w 100) | head -n 10)"
  done
  local key value
  while IFS='=' read -r key value; do
    [[ -n "$key" ]] || continue
    [[ "$(kubectl create --dry-run=client -f "$rendered" -o go-template="{{index .metadata.labels \"$key\"}}")" == "$value" ]] ||
      fail "$what: label $key is not '$value' as in crds/"
  done < <(kubectl create --dry-run=client -f "$CRD" -o go-template='{{range $k, $v := .metadata.labels}}{{$k}}={{$v}}{{"\n"}}{{end}}')
  [[ "$(kubectl create --dry-run=client -f "$rendered" -o go-template='{{index .metadata.annotations "helm.sh/resource-policy"}}')" == keep ]] ||
    fail "$what: the CRD lacks the annotation helm.sh/resource-policy: keep"
}

helm template sto "$CHART" --show-only templates/crd.yaml >"$WORK/crd.yaml" || fail "helm template --show-only templates/crd.yaml failed"
compare_rendered "$WORK/crd.yaml" "helm template"
pass "the rendered CRD equals crds/ (apiVersion, kind, name, spec as canonical JSON; its labels) and carries helm.sh/resource-policy: keep"

# A packaged chart (what a chart repository serves) carries the file itself.
helm package "$CHART" -d "$WORK/pkg" >/dev/null || fail "helm package failed"
tgz=$(ls "$WORK"/pkg/*.tgz)
mkdir "$WORK/unpacked"
tar -xzf "$tgz" -C "$WORK/unpacked"
packaged=$WORK/unpacked/sysdig-token-operator/files/$(basename "$CRD")
[[ -f "$packaged" && ! -L "$packaged" ]] || fail "$(basename "$tgz") has no regular file files/$(basename "$CRD")"
cmp -s "$packaged" "$CRD" || fail "the packaged CRD differs from crds/: $(diff "$packaged" "$CRD" | head -n 10)"
helm template sto "$tgz" --show-only templates/crd.yaml >"$WORK/crd-pkg.yaml" || fail "helm template of the package failed"
compare_rendered "$WORK/crd-pkg.yaml" "the packaged chart"
pass "helm package: $(basename "$tgz") holds the CRD byte for byte, and renders it equal to crds/"

# crds.install=false renders no CRD, and nothing else changes.
if grep -q '^kind: CustomResourceDefinition$' <<<"$(render default --set crds.install=false)"; then
  fail "crds.install=false still renders the CRD"
fi
with=$(render default | grep -c '^kind: ')
without=$(render default --set crds.install=false | grep -c '^kind: ')
((with == without + 1)) || fail "crds.install=false renders $without objects, want $((with - 1))"
pass "crds.install=false renders $without objects: all but the CRD"
