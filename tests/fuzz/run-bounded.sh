#!/bin/sh
# Builds every libFuzzer harness (tests/fuzz/fuzz_*.c) with ASan+UBSan and
# runs each for a bounded time: FUZZ_SECONDS each (default 10; the 9P server
# harness gets FUZZ_SECONDS_P9 , default 60, as issue 3 asks). A harness that
# finds a crash, leak or UB prints FAIL with the reproducer's path; the
# reproducer stays under build/fuzz/artifacts/. `make fuzz` runs longer.
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-10}
secs_p9=${FUZZ_SECONDS_P9:-60}
if ! command -v clang >/dev/null; then echo "SKIP fuzz: clang missing"; exit 0; fi
if ! make -s FUZZ=1 fuzzers >build/fuzz-build.log 2>&1; then
	echo "FAIL fuzz_build: see build/fuzz-build.log"; tail -n 20 build/fuzz-build.log >&2; exit 1
fi
mkdir -p build/fuzz/artifacts build/fuzz/corpus
status=0
for f in build/fuzz/fuzzers/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	t=$secs
	case $name in fuzz_p9_server*) t=$secs_p9 ;; esac
	corpus=build/fuzz/corpus/$name
	mkdir -p "$corpus"
	seeds=tests/fuzz/seeds/$name
	[ -d "$seeds" ] || seeds=
	if "$f" -max_total_time="$t" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
		-artifact_prefix=build/fuzz/artifacts/"$name"- "$corpus" $seeds >build/fuzz/"$name".log 2>&1; then
		echo "PASS $name (${t}s)"
	else
		echo "FAIL $name: see build/fuzz/$name.log and build/fuzz/artifacts/"
		grep -m3 -E 'ERROR|SUMMARY' build/fuzz/"$name".log >&2
		status=1
	fi
done
exit $status
