#!/usr/bin/env bash
# node.image (setup of the "node_image" CTest fixture): builds the operator
# image from OPERATOR_BINARY with scripts/image (buildah, no registry) and a
# busybox image for consumer pods, imports both into the node of
# $STO_CONTROLPLANE_DIR, and records their references there
# (operator-image, busybox-image) for the e2e.node_* tests.
#   node_image_load.sh OPERATOR_BINARY
set -euo pipefail
: "${STO_CONTROLPLANE_DIR:?run through ctest (node fixture)}"
ROOT=${STO_SOURCE_DIR:?run through ctest}
binary=${1:?usage: $0 OPERATOR_BINARY}
start=$SECONDS
archive=$("$ROOT/scripts/image" build --binary "$binary" | tail -n 1)
ref=$("$ROOT/scripts/image" load "$STO_CONTROLPLANE_DIR" "$archive" | tail -n 1)
echo "$ref" >"$STO_CONTROLPLANE_DIR/operator-image"
busybox=$("$ROOT/scripts/image" busybox | tail -n 1)
"$ROOT/scripts/image" load "$STO_CONTROLPLANE_DIR" "$busybox" | tail -n 1 >"$STO_CONTROLPLANE_DIR/busybox-image"
echo "ok: images $ref ($(du -h "$archive" | cut -f1)) and $(cat "$STO_CONTROLPLANE_DIR/busybox-image") built and imported into the node in $((SECONDS - start))s"
