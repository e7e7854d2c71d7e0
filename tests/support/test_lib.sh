# Shell test support, sourced by the test scripts: how a test says that a
# check failed (and stops) or passed.
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
pass() { echo "ok: $*"; }
info() { echo "   $*"; }
