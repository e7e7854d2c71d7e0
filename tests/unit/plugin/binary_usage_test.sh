#!/usr/bin/env bash
# kubectl-sysdigtoken's own contract, without an API server: --help and
# --version exit 0; a bad argument, a missing kubeconfig or an unreachable
# server print exactly one line on stderr (nothing on stdout) and exit 1.
set -u
bin="$1"
. "$(dirname "${BASH_SOURCE[0]}")/../../support/test_lib.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/sto-plugin-usage.XXXXXX")
trap 'rm -rf "$work"' EXIT

out=$("$bin" --version) || fail "--version exited $?"
[[ "$out" == kubectl-sysdigtoken\ * ]] || fail "--version printed: $out"
"$bin" --help | grep -q -- 'kubectl sysdigtoken rotate NAME' || fail "--help does not show rotate"
"$bin" status --help | grep -q -- '--all-namespaces' || fail "status --help does not list --all-namespaces"

# one_error WANT ARGS...: exit 1, one line on stderr containing WANT, no stdout.
one_error() {
  local want=$1 rc
  shift
  "$bin" "$@" >"$work/out" 2>"$work/err"
  rc=$?
  [[ $rc -eq 1 ]] || fail "$*: exited $rc, want 1"
  [[ ! -s "$work/out" ]] || fail "$*: printed on stdout: $(cat "$work/out")"
  [[ $(wc -l <"$work/err") -eq 1 ]] || fail "$*: want one line on stderr: $(cat "$work/err")"
  grep -qF -- "$want" "$work/err" || fail "$*: stderr lacks '$want': $(cat "$work/err")"
}
one_error 'a command is required'
one_error 'unknown flag: "--bogus"' status --bogus
one_error 'rotate needs the NAME' rotate
one_error 'invalid SysdigToken name "Ops"' rotate Ops
one_error 'kubeconfig /nonexistent/config: cannot read' status --kubeconfig /nonexistent/config
cat >"$work/kubeconfig" <<'YAML'
apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u, namespace: team-a}}]
clusters: [{name: k, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: abc}}]
YAML
one_error 'cannot reach the API server https://127.0.0.1:1' status --kubeconfig "$work/kubeconfig"
KUBECONFIG=$work/kubeconfig one_error 'cannot reach the API server' rotate ops --wait
grep -q abc "$work/err" && fail "the kubeconfig's token was printed: $(cat "$work/err")"
echo "binary usage: ok"
