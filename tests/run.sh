#!/bin/sh
# Runs test programs and counts their PASS/FAIL/SKIP lines.
# usage: tests/run.sh LABEL PROGRAM...
# A program that exits non-zero without printing a FAIL line counts as one
# failure (a crash, a sanitizer report). Ends with "N passed, N failed".
label=$1; shift
pass=0; fail=0; skip=0
log=${TMPDIR:-/tmp}/lcvm-test.$$
for t in "$@"; do
	[ -x "$t" ] || [ -f "$t" ] || continue
	# scripts run with the interpreter their first line names (bash or sh)
	case "$t" in *.sh) cmd="$(sed -n '1s/^#! *//p' "$t" | grep . || echo sh) $t" ;; *) cmd="$t" ;; esac
	$cmd >"$log" 2>"$log.err"; rc=$?
	grep -E '^(PASS|FAIL|SKIP) ' "$log"
	p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $t: exited with status $rc"
		tail -n 20 "$log.err" | sed 's/^/    /'
		f=1
	elif [ "$f" -ne 0 ]; then
		tail -n 20 "$log.err" | sed 's/^/    /'
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done
rm -f "$log" "$log.err"
[ "$skip" -eq 0 ] || echo "($skip skipped)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
