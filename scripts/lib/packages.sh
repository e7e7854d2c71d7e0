# Debian 12 packages the build, the tests and the demo need, and a helper that
# installs the missing ones as root or prints the one apt-get line otherwise.
STO_BUILD_PACKAGES=(
  g++ cmake ninja-build pkg-config git ca-certificates curl openssl procps util-linux
  libboost1.81-dev libssl-dev libyaml-cpp-dev nlohmann-json3-dev
  libspdlog-dev libcli11-dev libsimdjson-dev libgtest-dev libgmock-dev
  python3 python3-prometheus-client tinyproxy
)
# What a real test node (scripts/controlplane up DIR --node) and
# scripts/image need besides those.
STO_NODE_PACKAGES=(
  containerd runc containernetworking-plugins iptables buildah busybox-static gcc libc6-dev binutils
)

# The fuzz step of scripts/test and scripts/fuzz: clang and libFuzzer.
STO_FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev)

# ensure_packages WHO PACKAGE...: exits 2 when packages are missing and this
# is not root.
ensure_packages() {
  local who=$1
  shift
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "$who: missing packages; install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "==> installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
