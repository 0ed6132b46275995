#!/bin/sh
# Bare boot: the anchor for lcvm's cold start. Boots build/guest/vmlinux with
# build/guest/bare-initramfs.cpio (whose /init powers off at once) on exactly
# the QEMU command line the monitor uses, N times, and prints each wall time
# and the median. A boot that has not ended after TIMEOUT seconds is killed
# and counted as a hang, never retried silently.
# usage: bench/bare-boot.sh [-n RUNS] [-t TIMEOUT] [-i INITRD] [-a EXTRA_APPEND] [-c CPUS] [GUEST_DIR]
# Output: "run N: S.SSS s" lines, then "bare-boot median: S.SSS s (N runs, H hangs)".
set -eu
runs=5 limit=20 initrd= extra= cpus=1
while getopts n:t:i:a:c: o; do
	case $o in
	n) runs=$OPTARG ;; t) limit=$OPTARG ;; i) initrd=$OPTARG ;; a) extra=" $OPTARG" ;; c) cpus=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
gdir=${1:-build/guest}
initrd=${initrd:-$gdir/bare-initramfs.cpio}
for f in "$gdir/vmlinux" "$initrd"; do
	[ -f "$f" ] || { echo "bench/bare-boot.sh: $f missing (run make guest)" >&2; exit 1; }
done
khz=$("$(dirname "$0")/../guest/host-tsc-khz.sh")
append="$(cat "$(dirname "$0")/../guest/boot-cmdline") rootfstype=ramfs tsc_early_khz=$khz$extra"
log=${TMPDIR:-/tmp}/lcvm-bare-boot.$$
trap 'rm -f "$log" "$log.times"' EXIT
hangs=0
: >"$log.times"
i=1
while [ "$i" -le "$runs" ]; do
	t0=$(date +%s%N)
	rc=0
	timeout -s KILL "$limit" qemu-system-x86_64 -machine microvm,accel=tcg -cpu max,-erms,-fsrm -smp "$cpus" -m 512M \
		-nodefaults -no-user-config -display none -serial "file:$log" \
		-kernel "$gdir/vmlinux" -initrd "$initrd" -append "$append" -no-reboot || rc=$?
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	if [ "$rc" -ne 0 ]; then
		hangs=$((hangs + 1))
		echo "run $i: no clean exit (status $rc) after $ms ms; console tail:"
		tail -n 5 "$log" | sed 's/^/    /'
	else
		printf 'run %d: %d.%03d s\n' "$i" $((ms / 1000)) $((ms % 1000))
		echo "$ms" >>"$log.times"
	fi
	[ -z "${LCVM_BENCH_CONSOLE:-}" ] || cat "$log"
	i=$((i + 1))
done
n=$(wc -l <"$log.times")
[ "$n" -gt 0 ] || { echo "bare-boot: every run hung ($hangs)"; exit 1; }
med=$(sort -n "$log.times" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}')
printf 'bare-boot median: %d.%03d s (%d runs, %d hangs)\n' $((med / 1000)) $((med % 1000)) "$n" "$hangs"
