#!/bin/sh
# Prints the host TSC rate in kHz, for the guest's tsc_early_khz= (under TCG
# the guest TSC runs at the host's rate; without it microvm guests sometimes
# hang calibrating, see shared/reference/guest-boot.md). Prefers the host
# kernel's own calibration from its log; falls back to measuring the TSC
# against CLOCK_MONOTONIC for 200 ms (forced with LCVM_TSC_MEASURE=1).
set -eu
khz=$( { dmesg 2>/dev/null || journalctl -k -b 2>/dev/null || true; } |
	sed -n 's/.*tsc: Refined TSC clocksource calibration: \([0-9]*\)\.\([0-9]\{3\}\).*/\1\2/p;
		s/.*tsc: Detected \([0-9]*\)\.\([0-9]\{3\}\) MHz.*/\1\2/p' | tail -n 1)
if [ -z "$khz" ] || [ -n "${LCVM_TSC_MEASURE:-}" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	cat >"$tmp/m.c" <<'C'
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(void) {
	double t0 = now(); unsigned long long c0 = __rdtsc();
	while (now() - t0 < 0.2) { }
	double t1 = now(); unsigned long long c1 = __rdtsc();
	printf("%.0f\n", (double)(c1 - c0) / (t1 - t0) / 1000.0);
	return 0;
}
C
	${CC:-cc} -O2 -o "$tmp/m" "$tmp/m.c" && khz=$("$tmp/m")
fi
[ -n "$khz" ] || { echo "guest/host-tsc-khz.sh: cannot determine the host TSC rate" >&2; exit 1; }
echo "$khz"
