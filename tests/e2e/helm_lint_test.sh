#!/usr/bin/env bash
# e2e.helm_lint: `helm lint --strict` passes for the chart with its default
# values and with each ci/*.yaml; the chart's appVersion is the project
# version (CMakeLists.txt), which is the default image tag.
. "$(dirname "${BASH_SOURCE[0]}")/chart_lib.sh"

while read -r variant; do
  mapfile -t va < <(values_args "$variant")
  if ! out=$(helm lint --strict "$CHART" "${va[@]}" 2>&1); then
    fail "helm lint --strict ($(variant_name "$variant")): $out"
  fi
  grep -q '1 chart(s) linted, 0 chart(s) failed' <<<"$out" || fail "helm lint ($(variant_name "$variant")): $out"
  # Lint messages other than the INFO "icon is recommended" are findings.
  findings=$(grep -E '^\[(WARNING|ERROR)\]' <<<"$out" || true)
  [[ -z "$findings" ]] || fail "helm lint ($(variant_name "$variant")) findings: $findings"
  pass "helm lint --strict ($(variant_name "$variant")): $(grep -c '^\[INFO\]' <<<"$out" || true) INFO, 0 WARNING, 0 ERROR"
done < <(variants)

project=$(sed -n 's/^project(sysdig-token-operator VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
app=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$CHART/Chart.yaml")
[[ -n "$project" && "$app" == "$project" ]] ||
  fail "Chart.yaml appVersion '$app' is not the project version '$project' of CMakeLists.txt"
image=$(helm template sto "$CHART" --show-only templates/deployment.yaml | sed -n 's/^ *image: *"\(.*\)"$/\1/p')
[[ "$image" == "sysdig-token-operator:$project" ]] || fail "the default image is '$image', want sysdig-token-operator:$project"
pass "appVersion $app is the project version; default image $image (a placeholder without a registry)"
