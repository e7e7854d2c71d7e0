#!/usr/bin/env bash
# The executable's own contract: --help/--version exit 0, a bad flag prints
# exactly one line on stderr and exits 2.
set -u
bin="$1"
. "$(dirname "${BASH_SOURCE[0]}")/../../support/test_lib.sh"

out=$("$bin" --version) || fail "--version exited $?"
[[ "$out" == sysdig-token-operator\ * ]] || fail "--version printed: $out"

"$bin" --help | grep -q -- '--metrics-bind-address' || fail "--help does not list --metrics-bind-address"

err=$("$bin" --bogus 2>&1 >/dev/null); rc=$?
[[ $rc -eq 2 ]] || fail "unknown flag exited $rc, want 2"
[[ $(printf '%s\n' "$err" | wc -l) -eq 1 ]] || fail "unknown flag printed more than one line: $err"
[[ "$err" == *--bogus* ]] || fail "error does not name the flag: $err"

err=$("$bin" --log-format xml 2>&1 >/dev/null); rc=$?
[[ $rc -eq 2 && "$err" == *--log-format* ]] || fail "bad --log-format: rc=$rc err=$err"
echo "binary usage: ok"
