#!/bin/sh
# Turns the built-in busybox image made by `make guest` (rootfs.tar +
# config.json, an OCI image config) into an OCI image layout tarball that
# `lcvm load` imports as docker.io/library/busybox:latest. No network.
# usage: mk-busybox-oci.sh [SRC_DIR [OUT.tar]]
#   SRC_DIR defaults to build/guest/images/busybox, OUT to SRC_DIR/../busybox.oci.tar
set -eu
src=${1:-build/guest/images/busybox}
out=${2:-$src/../busybox.oci.tar}
[ -f "$src/rootfs.tar" ] && [ -f "$src/config.json" ] || { echo "mk-busybox-oci: $src/rootfs.tar or config.json missing (run make guest)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/blobs/sha256"
blob() { h=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$tmp/blobs/sha256/$h"; echo "$h"; }
size() { wc -c <"$1" | tr -d ' '; }
lh=$(blob "$src/rootfs.tar")
grep -q "sha256:$lh" "$src/config.json" || { echo "mk-busybox-oci: config.json diff_id does not match rootfs.tar" >&2; exit 1; }
ch=$(blob "$src/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
	"$ch" "$(size "$src/config.json")" "$lh" "$(size "$src/rootfs.tar")" >"$tmp/m"
mh=$(blob "$tmp/m")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"docker.io/library/busybox:latest"},"platform":{"architecture":"amd64","os":"linux"}}]}' \
	"$mh" "$(size "$tmp/m")" >"$tmp/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$tmp/oci-layout"
tar -C "$tmp" -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
echo "$out"
