#!/bin/sh
# Resolves guest/modules.list against a kernel module tree and prints the
# lcvm.modules contract (docs/guest-image.md): one line per module,
# "<group> <path of the .ko relative to the module tree>", every module after
# its dependencies. A module already listed in `boot` (always loaded first) is
# not repeated; a module two on-demand groups share is listed under each, so
# every group loads on its own (the agent treats EEXIST as loaded). Modules
# built into the kernel (modules.builtin) are omitted.
# usage: guest/resolve-modules.sh MODDIR LIST
set -eu
mdir=$1 list=$2
[ -f "$mdir/modules.dep" ] || { echo "guest/resolve-modules.sh: no $mdir/modules.dep" >&2; exit 1; }
touch "$mdir/modules.builtin"
awk -v list="$list" '
function base(p,  n) { n = p; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n); return n }
# Post-order walk: dependencies first. `seen` is per group; `inboot` global.
function visit(g, m,  i, n, d) {
	if (m in builtin) return
	if (!(m in path)) { printf "guest/resolve-modules.sh: module %s (group %s) not in modules.dep\n", m, g > "/dev/stderr"; bad = 1; return }
	if ((g SUBSEP m) in seen || m in inboot) return
	seen[g, m] = 1
	n = split(deps[m], d, " ")
	for (i = 1; i <= n; i++) visit(g, base(d[i]))
	print g, path[m]
	if (g == "boot") inboot[m] = 1
}
FILENAME ~ /modules\.builtin$/ { builtin[base($1)] = 1; next }
FILENAME ~ /modules\.dep$/ { p = $1; sub(/:$/, "", p); m = base(p); path[m] = p; $1 = ""; deps[m] = $0; next }
END {
	while ((getline line < list) > 0) {
		if (line ~ /^[ \t]*(#|$)/) continue
		n = split(line, w, /[ \t]+/)
		for (i = 2; i <= n; i++) if (w[i] != "") { gsub(/-/, "_", w[i]); visit(w[1], w[i]) }
	}
	exit bad
}' "$mdir/modules.builtin" "$mdir/modules.dep"
