#!/bin/sh
# make bench: every figure beside its anchor, measured side by side in one run.
#   cold start   lcvm run --rm busybox true  vs  bare QEMU boot of the same kernel
#                (same machine type, accel, memory, cpus; initramfs whose init powers off)
#   vsock        one connection (the container's stdout / stdin), MiB/s each way
#   image size   bzImage + initramfs vs LCOW's 100 MB utility VM
# Prints a markdown table; docs/benchmarks.md records a run of it.
set -eu
cd "$(dirname "$0")/.."
LCVM=${LCVM:-build/lcvm}
RUNS=${BENCH_RUNS:-7}
G=build/guest
T=$(mktemp -d /tmp/lcvm-bench.XXXXXX)
trap 'pkill -KILL -f "$T" 2>/dev/null; rm -rf "$T"' EXIT
lcvm() { "$LCVM" --root "$T/root" "$@" 2>>"$T/stderr"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

# --- cold start: alternate bare and lcvm so both see the same machine load ---
# At --cpus 1 and at --cpus 2 (the default on a host with 2 or more CPUs,
# where the agent warms crun up on the second vCPU, src/agent/warm.h); each
# against a bare boot with as many, and 2 vCPUs also against the 1-CPU bare
# boot, the faster anchor.
for c in 1 2; do : >"$T/bare$c"; : >"$T/lcvm$c"; : >"$T/pairs$c"; done
: >"$T/pairs21"
default_cpus=1; [ "$(nproc)" -lt 2 ] || default_cpus=2
hangs=0; fails=0
lcvm run --rm busybox true || true   # warm the page cache and the TSC cache
i=0
while [ "$i" -lt "$RUNS" ]; do
	for c in 1 2; do
		out=$(bench/bare-boot.sh -n 1 -t 30 -c "$c" "$G" | tail -n 1)
		b=
		case "$out" in
		*"(1 runs"*) b=$(echo "$out" | sed 's/.*median: \([0-9]*\)\.\([0-9]*\) s.*/\1\2/' | sed 's/^0*//'); echo "$b" >>"$T/bare$c" ;;
		*) hangs=$((hangs + 1)) ;;
		esac
		[ "$c" != 1 ] || b1=$b
		t0=$(now_ms)
		if lcvm run --rm --cpus "$c" busybox true; then
			l=$(($(now_ms) - t0)); echo "$l" >>"$T/lcvm$c"
			[ -z "$b" ] || echo "$b $l" >>"$T/pairs$c"
			[ "$c" != 2 ] || [ -z "$b1" ] || echo "$b1 $l" >>"$T/pairs21"
		else
			fails=$((fails + 1))
		fi
	done
	i=$((i + 1))
done
# VMs the monitor restarted after the guest kernel found no timer (monitor/console.h)
restarts=$(grep -c "restarting the VM" "$T/stderr" || true)
bare=$(median <"$T/bare1"); cold=$(median <"$T/lcvm1")
ratio=$(awk -v a="$cold" -v b="$bare" 'BEGIN {printf "%.2f", a / b}')
bare2=$(median <"$T/bare2"); cold2=$(median <"$T/lcvm2")
ratio2=$(awk -v a="$cold2" -v b="$bare2" 'BEGIN {printf "%.2f", a / b}')
# The host's speed drifts by tens of percent within a run; a bare boot and the
# lcvm run right after it see the same host, so the median of those pairs'
# ratios is printed beside the ratio of the medians.
# Ratios go through median() in ten-thousandths (it keeps integers).
pair_ratio() {
	[ -s "$1" ] || { echo n/a; return; }
	m=$(awk '{printf "%d\n", 10000 * $2 / $1}' "$1" | median)
	awk -v m="$m" 'BEGIN {printf "%.2f", m / 10000}'
}
pr1=$(pair_ratio "$T/pairs1"); pr2=$(pair_ratio "$T/pairs2"); pr21=$(pair_ratio "$T/pairs21")
ratio21=$(awk -v a="$cold2" -v b="$bare" 'BEGIN {printf "%.2f", a / b}')
d1=; d2=; [ "$default_cpus" = 1 ] && d1=", the default here" || d2=", the default here"

# --- vsock throughput on one connection: time(256 MiB) - time(nothing) ---
size_mib=256
t0=$(now_ms); lcvm run --rm busybox true; base=$(($(now_ms) - t0))
t0=$(now_ms); lcvm run --rm busybox dd if=/dev/zero bs=1M count=$size_mib | cat >/dev/null; g2h=$(($(now_ms) - t0))
head -c $((size_mib * 1048576)) /dev/zero >"$T/in"
t0=$(now_ms); lcvm run --rm -i busybox sh -c 'cat >/dev/null' <"$T/in"; h2g=$(($(now_ms) - t0))
mibs() { awk -v s="$size_mib" -v t="$1" -v b="$base" 'BEGIN {d = (t - b) / 1000; if (d <= 0) d = 0.001; printf "%.0f", s / d}'; }

# --- image size ---
kz=$(stat -c %s "$G/vmlinuz"); ird=$(stat -c %s "$G/initramfs.cpio")
total_mb=$(awk -v a="$kz" -v b="$ird" 'BEGIN {printf "%.1f", (a + b) / 1e6}')

cat <<TABLE
| figure | lcvm | anchor | ratio |
|---|---|---|---|
| cold start, median of $RUNS: \`lcvm run --rm --cpus 1 busybox true\`${d1} vs bare boot, 1 CPU | ${cold} ms | ${bare} ms | **${ratio}** (pairs: ${pr1}) |
| cold start, \`--cpus 2\`${d2} vs bare boot, 2 CPUs | ${cold2} ms | ${bare2} ms | **${ratio2}** (pairs: ${pr2}) |
| cold start, \`--cpus 2\` vs bare boot, 1 CPU (the faster anchor) | ${cold2} ms | ${bare} ms | ${ratio21} (pairs: ${pr21}) |
| failed lcvm runs (VM restarts) / bare boots that hung, both rows | $fails ($restarts) | $hangs | |
| vsock guest→host, one connection (${size_mib} MiB stdout) | $(mibs "$g2h") MiB/s | | |
| vsock host→guest, one connection (${size_mib} MiB stdin) | $(mibs "$h2g") MiB/s | | |
| guest image: bzImage + initramfs | ${total_mb} MB | 100 MB (LCOW) | $(awk -v a="$total_mb" 'BEGIN {printf "%.2f", a / 100}') |
TABLE
echo "(TCG; $(nproc) CPUs; runs alternate bare and lcvm; $(date -u +%Y-%m-%d))"
[ -z "${BENCH_CORE_ONLY:-}" ] || exit 0   # cold start, vsock and size only
bench/images.sh
# 9P at sizes that finish in minutes under TCG; BENCH_9P_* override (bench/9p.sh)
BENCH_9P_FILES=${BENCH_9P_FILES:-2000} BENCH_9P_MIB=${BENCH_9P_MIB:-64} BENCH_9P_TREE=${BENCH_9P_TREE:-1000} bench/9p.sh
