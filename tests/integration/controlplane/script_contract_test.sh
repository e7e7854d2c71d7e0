#!/usr/bin/env bash
# scripts/controlplane's own contract: bad input fails with one clear line,
# a second control plane runs beside the first, and down leaves nothing behind.
set -euo pipefail
ROOT=${STO_SOURCE_DIR:?run through ctest}
cp=$ROOT/scripts/controlplane
. "$(dirname "${BASH_SOURCE[0]}")/../../support/test_lib.sh"
second=$(mktemp -d)
trap '"$cp" down "$second" >/dev/null 2>&1 || true; rm -rf "$second"' EXIT

expect_fail() { # description expected-substring command...
  local what=$1 want=$2 out rc
  shift 2
  set +e
  out=$("$@" 2>&1)
  rc=$?
  set -e
  ((rc != 0)) || fail "$what: exited 0"
  grep -q -- "$want" <<<"$out" || fail "$what: message lacks '$want': $out"
  pass "$what -> exit $rc: $(head -n1 <<<"$out")"
}

expect_fail "unknown command" "usage" "$cp" frobnicate
expect_fail "up without a folder" "usage" "$cp" up
expect_fail "up on a missing folder" "no such directory" "$cp" up "$second/does-not-exist"
expect_fail "down on a missing folder" "no such directory" "$cp" down "$second/does-not-exist"
expect_fail "up on a running plane" "already running" "$cp" up "$STO_CONTROLPLANE_DIR"

# A second control plane beside the fixture's.
"$cp" up "$second" 2>/dev/null
[[ $(KUBECONFIG=$second/kubeconfig "$("$cp" bin)/kubectl" get --raw /readyz) == ok ]] || fail "second plane not ready"
[[ $(kubectl get --raw /readyz) == ok ]] || fail "first plane not ready while the second runs"
[[ "$(cat "$second/apiserver.port")" != "$(cat "$STO_CONTROLPLANE_DIR/apiserver.port")" ]] || fail "same port"
pass "two control planes run at once"

pids=$(cat "$second"/*.pid)
"$cp" down "$second"
for p in $pids; do
  kill -0 "$p" 2>/dev/null && fail "process $p still running after down"
done
pass "down stopped etcd, kube-apiserver and kube-controller-manager"

# A half-failed up (kube-apiserver refuses its flags) leaves nothing running.
broken=$(mktemp -d)
trap '"$cp" down "$second" >/dev/null 2>&1 || true; "$cp" down "$broken" >/dev/null 2>&1 || true; rm -rf "$second" "$broken"' EXIT
set +e
out=$(STO_APISERVER_ARGS=--no-such-flag "$cp" up "$broken" 2>&1)
rc=$?
set -e
((rc != 0)) || fail "up with a broken kube-apiserver flag exited 0"
grep -q 'no-such-flag' <<<"$out" || fail "failed up does not show the log tail: $out"
for f in "$broken"/*.pid; do
  [[ -e "$f" ]] && fail "pid file $f left after a failed up"
done
if pgrep -f -- "--data-dir $broken/etcd-data" >/dev/null; then fail "etcd still running after a failed up"; fi
pass "a failed up stops what it started and shows the log tail"
