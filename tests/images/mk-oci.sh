#!/bin/sh
# Builds an OCI image layout tarball from layer tars, without a registry.
# usage: mk-oci.sh [-z gzip|zstd|none] [-c CMD_JSON] [-e ENV_JSON] [-a ARCH] [-x MEMBERS] OUT.tar NAME LAYER.tar...
#   MEMBERS: more JSON members of the image config's "config" object, e.g.
#   '"Entrypoint":["/bin/x"],"WorkingDir":"/w","User":"1000","ExposedPorts":{"80/tcp":{}}'
#   NAME is stored as the org.opencontainers.image.ref.name annotation
#   (e.g. docker.io/library/busybox:latest); layers are given bottom-most first.
# Needs sha256sum, gzip/zstd, tar. Writes nothing outside a temp dir and OUT.
set -eu
comp=gzip cmd='["sh"]' env='["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]' arch=amd64 extra=
while getopts z:c:e:a:x: o; do
	case $o in z) comp=$OPTARG ;; c) cmd=$OPTARG ;; e) env=$OPTARG ;; a) arch=$OPTARG ;; x) extra=,$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -ge 3 ] || { echo "usage: $0 [-z gzip|zstd|none] OUT.tar NAME LAYER.tar..." >&2; exit 2; }
out=$1 name=$2; shift 2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/blobs/sha256"
put() { # file -> prints digest hex, moves file into blobs
	h=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$tmp/blobs/sha256/$h"; echo "$h"
}
size() { wc -c <"$tmp/blobs/sha256/$1" | tr -d ' '; }
diffs="" layers=""
for l in "$@"; do
	d=$(sha256sum "$l" | cut -d' ' -f1)
	case $comp in
	gzip) gzip -n -c "$l" >"$tmp/l"; mt=application/vnd.oci.image.layer.v1.tar+gzip ;;
	zstd) zstd -q -c "$l" >"$tmp/l"; mt=application/vnd.oci.image.layer.v1.tar+zstd ;;
	none) cp "$l" "$tmp/l"; mt=application/vnd.oci.image.layer.v1.tar ;;
	esac
	h=$(put "$tmp/l")
	diffs="$diffs${diffs:+,}\"sha256:$d\""
	layers="$layers${layers:+,}{\"mediaType\":\"$mt\",\"digest\":\"sha256:$h\",\"size\":$(size "$h")}"
done
printf '{"created":"2024-01-01T00:00:00Z","architecture":"%s","os":"linux","config":{"Env":%s,"Cmd":%s%s},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
	"$arch" "$env" "$cmd" "$extra" "$diffs" >"$tmp/c"
ch=$(put "$tmp/c")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
	"$ch" "$(size "$ch")" "$layers" >"$tmp/m"
mh=$(put "$tmp/m")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"},"platform":{"architecture":"%s","os":"linux"}}]}' \
	"$mh" "$(size "$mh")" "$name" "$arch" >"$tmp/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$tmp/oci-layout"
tar -C "$tmp" -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
