# Shared helpers for integration tests (sourced). Each test prints
# "PASS name" or "FAIL name: why"; tests/run.sh counts them.
LCVM=${LCVM:-build/lcvm}
case "$LCVM" in /*) ;; *) LCVM=$PWD/$LCVM ;; esac
T=$(mktemp -d /tmp/lcvm-it.XXXXXX)
ROOT=$T/root
trap 'cleanup_all' EXIT

cleanup_all() {
	# Leave nothing behind even when a test failed half-way.
	pkill -KILL -f "$ROOT" 2>/dev/null
	rm -rf "$T"
}

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
check() { # name, 'shell condition' (evaluated here, so && and || work)
	if eval "$2"; then pass "$1"; else fail "$1" "$2"; fi
}

# lcvm with this test's private root; the TCG notice is dropped from stderr.
lcvm() { "$LCVM" --root "$ROOT" "$@"; }

strip_notice() { grep -v '^lcvm: notice: ' "$1" > "$1.clean"; mv "$1.clean" "$1"; }

# Nothing of ours may run or stay behind after a --rm container.
leftovers() {
	p=$(pgrep -f "$ROOT" | tr '\n' ' ')
	f=$(find "$ROOT/run" -mindepth 1 -not -name tsc-khz 2>/dev/null | head -5 | tr '\n' ' ')
	[ -z "$p$f" ] || { echo "processes: [$p] files: [$f]"; return 1; }
}
