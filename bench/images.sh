#!/bin/sh
# Images benchmark (called by bench/run.sh; docs/benchmarks.md "Images").
#   pull + convert   `lcvm pull` of the Debian 12 image (tests/images/mk-debian.sh,
#                    ~128 MB of tar, 49 MB gzip) from a local docker-registry,
#                    layer converted to its squashfs disk, against
#                    `skopeo copy` to an OCI layout + `umoci unpack --rootless`
#   conversion       `lcvm pull` again after `lcvm pull --no-convert` (blobs
#                    present: gunzip + tar parse + sqfstar only), MB/s of tar
#   cold start       `lcvm run --rm IMAGE true`: debian:12 and busybox from the
#                    store, the built-in busybox, and busybox --read-only (no
#                    scratch disk: the scratch disk's cost)
# Runs alternate, medians. Prints a markdown table.
set -eu
cd "$(dirname "$0")/.."
LCVM=${LCVM:-build/lcvm}
case $LCVM in /*) ;; *) LCVM=$PWD/$LCVM ;; esac
RUNS=${BENCH_RUNS:-5}
PULLS=${BENCH_PULLS:-3}
T=$(mktemp -d /tmp/lcvm-bench-img.XXXXXX)
regpid=
trap '[ -z "$regpid" ] || kill "$regpid" 2>/dev/null; pkill -KILL -f "$T" 2>/dev/null; rm -rf "$T"' EXIT
now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
timed() { t0=$(now_ms); "$@" >/dev/null 2>>"$T/stderr" || { echo "bench/images.sh: $* failed:" >&2; tail -n 5 "$T/stderr" >&2; exit 1; }; echo $(($(now_ms) - t0)); }
for tool in docker-registry skopeo umoci curl python3; do
	command -v $tool >/dev/null || { echo "(images: $tool missing, skipped)"; exit 0; }
done
deb=$(tests/images/mk-debian.sh build/cache/debian12.oci.tar 2>"$T/e") || { echo "(images: no Debian image: $(tail -n 1 "$T/e"))"; exit 0; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
	"$T/registry" "$port" >"$T/registry.yml"
docker-registry serve "$T/registry.yml" >"$T/registry.log" 2>&1 &
regpid=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; do
	i=$((i + 1)); [ $i -gt 100 ] && { echo "bench/images.sh: registry did not start" >&2; exit 1; }
	sleep 0.1 # polling a child's readiness: there is no event to wait on
done
R=127.0.0.1:$port
skopeo copy -q --dest-tls-verify=false "oci-archive:$deb" "docker://$R/debian:12"

# --- pull + convert vs skopeo + umoci, alternating -----------------------------------
: >"$T/lp"; : >"$T/su"; : >"$T/conv"
i=0
while [ "$i" -lt "$PULLS" ]; do
	rm -rf "$T/p"
	timed "$LCVM" --root "$T/p" pull -q --insecure "$R/debian:12" >>"$T/lp"
	rm -rf "$T/layout" "$T/bundle"
	t0=$(now_ms)
	skopeo copy -q --src-tls-verify=false "docker://$R/debian:12" "oci:$T/layout:debian" >/dev/null 2>>"$T/stderr"
	umoci unpack --rootless --image "$T/layout:debian" "$T/bundle" >/dev/null 2>>"$T/stderr"
	echo $(($(now_ms) - t0)) >>"$T/su"
	rm -rf "$T/p"
	"$LCVM" --root "$T/p" pull -q --no-convert --insecure "$R/debian:12" >/dev/null 2>>"$T/stderr"
	timed "$LCVM" --root "$T/p" pull -q --insecure "$R/debian:12" >>"$T/conv"
	i=$((i + 1))
done
lp=$(median <"$T/lp"); su=$(median <"$T/su"); conv=$(median <"$T/conv")
# compressed and uncompressed layer bytes of the image
cat >"$T/sizes.py" <<'PY'
import gzip, json, sys, tarfile
t = tarfile.open(sys.argv[1])
blob = lambda d: t.extractfile("blobs/sha256/" + d.split(":")[1])
m = json.load(blob(json.load(t.extractfile("index.json"))["manifests"][0]["digest"]))
print(sum(l["size"] for l in m["layers"]), sum(len(gzip.open(blob(l["digest"])).read()) for l in m["layers"]))
PY
set -- $(python3 "$T/sizes.py" "$deb")
gz_bytes=$1 tar_bytes=$2

# --- cold start: debian vs busybox (store), built-in busybox, --read-only -------------------
tests/images/mk-busybox-oci.sh build/guest/images/busybox "$T/busybox.oci.tar" >/dev/null
"$LCVM" --root "$T/s" load -q -i "$T/busybox.oci.tar"
"$LCVM" --root "$T/s" load -q -i "$deb"
"$LCVM" --root "$T/s" run --rm debian:12 true 2>/dev/null   # converts the layer, warms the cache
"$LCVM" --root "$T/s" run --rm busybox true 2>/dev/null
: >"$T/cd"; : >"$T/cb"; : >"$T/ci"; : >"$T/cr"
i=0
while [ "$i" -lt "$RUNS" ]; do
	timed "$LCVM" --root "$T/s" run --rm debian:12 true >>"$T/cd"
	timed "$LCVM" --root "$T/s" run --rm busybox true >>"$T/cb"
	timed "$LCVM" --root "$T/empty" run --rm busybox true >>"$T/ci"
	timed "$LCVM" --root "$T/s" run --rm --read-only busybox true >>"$T/cr"
	i=$((i + 1))
done
cd_=$(median <"$T/cd"); cb=$(median <"$T/cb"); ci=$(median <"$T/ci"); cr=$(median <"$T/cr")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
mb() { awk -v a="$1" 'BEGIN {printf "%.1f", a / 1e6}'; }

cat <<TABLE
| figure | lcvm | anchor | ratio |
|---|---|---|---|
| pull + convert, Debian 12 ($(mb "$gz_bytes") MB gzip, $(mb "$tar_bytes") MB tar), median of $PULLS (vs \`skopeo copy\` + \`umoci unpack --rootless\`) | ${lp} ms | ${su} ms | **$(ratio "$lp" "$su")** |
| conversion alone (gunzip + tar parse + sqfstar lz4) | ${conv} ms = $(awk -v b="$tar_bytes" -v t="$conv" 'BEGIN {printf "%.0f", b / 1e6 / (t / 1000)}') MB/s of tar | | |
| cold start \`run --rm debian:12 true\` vs \`busybox\` (both from the store), median of $RUNS | ${cd_} ms | ${cb} ms | **$(ratio "$cd_" "$cb")** |
| cold start busybox: store (lz4 squashfs + swap scratch) vs built-in (uncompressed squashfs) | ${cb} ms | ${ci} ms | $(ratio "$cb" "$ci") |
| cold start busybox: swap scratch disk vs \`--read-only\` (no upper at all) | ${cb} ms | ${cr} ms | $(ratio "$cb" "$cr") |
TABLE
echo "(TCG; $(nproc) CPUs; runs alternate; $(date -u +%Y-%m-%d))"
