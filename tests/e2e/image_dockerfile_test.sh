#!/usr/bin/env bash
# e2e.image_dockerfile: the image scripts/image builds (buildah, no registry)
# and the Dockerfile (for users with a registry) agree: the same user, the
# same entrypoint, the binary and the kubectl plugin (kubectl-sysdigtoken)
# at the same paths, the CA certificates, and
# exactly the runtime libraries the Dockerfile installs (each shared library
# in the image comes from a package of the Dockerfile's runtime stage or of
# its Debian base; each library package there provides one the binary
# loads). Nothing else is in the image, and both binaries run in it as that
# user (chroot).
#   image_dockerfile_test.sh OPERATOR_BINARY
set -euo pipefail
ROOT=${STO_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BINARY=${1:?usage: $0 OPERATOR_BINARY}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sto-image-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
pass() { echo "ok: $*"; }
# Packages of debian:12-slim (the Dockerfile's runtime base) that the binary
# may load libraries from without the Dockerfile naming them.
BASE_PACKAGES=(libc6 libgcc-s1 libstdc++6 zlib1g)

# 1. The Dockerfile's runtime stage (after the last FROM).
stage=$(awk '/^FROM /{s=""} {s = s $0 "\n"} END {printf "%s", s}' "$ROOT/Dockerfile")
df_user=$(sed -n 's/^USER //p' <<<"$stage")
df_entrypoint=$(sed -n 's/^ENTRYPOINT //p' <<<"$stage")
df_copies=$(sed -n 's/^COPY --from=build [^ ]* //p' <<<"$stage")
df_binary=$(grep -v '/kubectl-sysdigtoken$' <<<"$df_copies" || true)
df_plugin=$(grep '/kubectl-sysdigtoken$' <<<"$df_copies" || true)
df_packages=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' <<<"$stage" | grep 'apt-get install' |
  sed -e 's/.*--no-install-recommends//' -e 's/&&.*//' | tr ' ' '\n' | grep . | sort -u)
[[ -n "$df_user" && -n "$df_entrypoint" && -n "$df_binary" && -n "$df_plugin" && -n "$df_packages" ]] ||
  fail "could not read USER, ENTRYPOINT, COPY (operator and kubectl-sysdigtoken) and apt-get install from the Dockerfile's last stage"
(($(wc -l <<<"$df_binary") == 1)) || fail "the Dockerfile's last stage copies more than the operator and the plugin: $df_copies"

# 2. The image, and what it holds.
archive=$(STO_IMAGE_DIR="$WORK/image" "$ROOT/scripts/image" build --binary "$BINARY" | tail -n 1)
[[ -f "$archive" ]] || fail "scripts/image build printed '$archive', not an archive"
python3 - "$archive" "$WORK" <<'PY'
import json, sys, tarfile, os
archive, work = sys.argv[1], sys.argv[2]
with tarfile.open(archive) as t:
    blob = lambda d: t.extractfile("blobs/" + d.replace(":", "/")).read()
    index = json.loads(t.extractfile("index.json").read())
    manifest = json.loads(blob(index["manifests"][0]["digest"]))
    config = json.loads(blob(manifest["config"]["digest"]))["config"]
    with open(os.path.join(work, "config.json"), "w") as f:
        json.dump(config, f)
    layers = manifest["layers"]
    assert len(layers) == 1, "want one layer, got %d" % len(layers)
    with open(os.path.join(work, "layer.tar"), "wb") as f:
        f.write(blob(layers[0]["digest"]))
PY
cfg() { python3 -c "import json,sys; c=json.load(open('$WORK/config.json')); v=c.get('$1'); print(json.dumps(v) if isinstance(v, list) else (v or ''))"; }
mkdir -p "$WORK/rootfs"
tar -xf "$WORK/layer.tar" -C "$WORK/rootfs" --exclude 'dev/*' 2>/dev/null ||
  tar -xf "$WORK/layer.tar" -C "$WORK/rootfs"

# 3. User and entrypoint.
[[ "$(cfg User)" == "$df_user" ]] || fail "image user '$(cfg User)', Dockerfile USER '$df_user'"
image_entrypoint=$(cfg Entrypoint | tr -d ' ')
[[ "$image_entrypoint" == "$(tr -d ' ' <<<"$df_entrypoint")" ]] ||
  fail "image entrypoint $image_entrypoint, Dockerfile ENTRYPOINT $df_entrypoint"
[[ -z "$(cfg Cmd)" || "$(cfg Cmd)" == "[]" ]] || fail "the image has a Cmd ($(cfg Cmd)); the Dockerfile none"
pass "user $df_user and entrypoint $df_entrypoint as in the Dockerfile"

# 4. Files: the binary, the CA certificates, the libraries and nothing else.
[[ -x "$WORK/rootfs$df_binary" ]] || fail "no executable $df_binary in the image"
[[ -x "$WORK/rootfs$df_plugin" ]] || fail "no executable $df_plugin (the kubectl plugin) in the image"
grep -qx ca-certificates <<<"$df_packages" || fail "the Dockerfile does not install ca-certificates"
[[ -s "$WORK/rootfs/etc/ssl/certs/ca-certificates.crt" ]] || fail "no CA bundle /etc/ssl/certs/ca-certificates.crt in the image"
hashed=$(find "$WORK/rootfs/etc/ssl/certs" -name '*.0' | wc -l)
((hashed > 50)) || fail "only $hashed hashed CA certificates in /etc/ssl/certs (OpenSSL's directory lookup needs them)"
unexpected=$(cd "$WORK/rootfs" && find . ! -type d | sed 's|^\.||' |
  grep -v -E "^($df_binary|$df_plugin|/etc/(passwd|group)|/etc/ssl/certs/.*|/usr/lib/ssl/(certs|cert\.pem)|/usr/lib/x86_64-linux-gnu/[^/]+\.so[.0-9]*|/usr/lib64/ld-linux-x86-64\.so\.2|/lib|/lib64)$" || true)
[[ -z "$unexpected" ]] || fail "files in the image the Dockerfile's layout does not have: $(head -n 10 <<<"$unexpected" | tr '\n' ' ')"
libs=$(cd "$WORK/rootfs/usr/lib/x86_64-linux-gnu" && ls)
declare -A used=()
for lib in $libs; do
  pkg=$({ dpkg -S "/lib/x86_64-linux-gnu/$lib" || dpkg -S "/usr/lib/x86_64-linux-gnu/$lib"; } 2>/dev/null |
    head -n 1 | cut -d: -f1 || true)
  [[ -n "$pkg" ]] || fail "$lib in the image belongs to no Debian package"
  used[$pkg]=1
  grep -qx "$pkg" <<<"$df_packages" || [[ " ${BASE_PACKAGES[*]} " == *" $pkg "* ]] ||
    fail "$lib in the image comes from $pkg, which the Dockerfile's runtime stage does not install"
done
for pkg in $df_packages; do
  [[ "$pkg" == lib* ]] || continue
  [[ -n "${used[$pkg]:-}" ]] || fail "the Dockerfile installs $pkg, but the binary loads no library of it (image libraries: $(tr '\n' ' ' <<<"$libs"))"
done
pass "files: $df_binary, $df_plugin, the CA certificates ($hashed hashed), and $(wc -w <<<"$libs") libraries, all from the Dockerfile's packages ($(tr '\n' ' ' <<<"$df_packages")) or its base (${BASE_PACKAGES[*]}); nothing else"

# 5. The binary runs in the image, as the image's user.
version=$(chroot --userspec "$df_user" "$WORK/rootfs" "$df_binary" --version 2>&1) ||
  fail "the binary does not run in the image: $version"
pass "in the image, as $df_user: $version"
plugin_version=$(chroot --userspec "$df_user" "$WORK/rootfs" "$df_plugin" --version 2>&1) ||
  fail "the kubectl plugin does not run in the image: $plugin_version"
pass "in the image, as $df_user: $plugin_version"
