#!/bin/sh
# Builds everything the guest needs into OUT (make guest: build/guest):
#   vmlinuz, vmlinux, kernel-version   guest/fetch-kernel.sh
#   initramfs.cpio                     guest/mk-initramfs.sh around INIT
#   bare-initramfs.cpio                /init = guest/poweroff-init.c (bench)
#   images/busybox/                    guest/mk-busybox-image.sh
# Downloads and extracted packages are cached in OUT/../cache. Every step is
# keyed by its inputs, so a rebuild with nothing changed does no work.
# Quiet on success; on failure one line says which step failed and why.
# usage: guest/build.sh INIT OUT   (INIT: a static binary, normally the agent)
set -eu
die() { echo "guest/build.sh: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: guest/build.sh INIT OUT"
here=$(cd "$(dirname "$0")" && pwd)
init=$1 out=$2
cache=$(dirname "$out")/cache
cc=${CC:-cc}
[ -f "$init" ] && [ -x "$init" ] || die "$init: no such executable (build the agent first: make build/lcvm-agent)"
# The kernel runs /init before any library exists in the guest.
if ldd "$init" >/dev/null 2>&1; then die "$init is dynamically linked; /init must be static"; fi
mkdir -p "$out" "$cache"

mdir=$("$here/fetch-kernel.sh" "$cache" "$out") || die "kernel step failed"

# Rebuilds only when one of its inputs changed. usage: changed KEYFILE KEY OUTPUT
changed() { [ ! -f "$3" ] || [ "$(cat "$1" 2>/dev/null || true)" != "$2" ]; }
sum() { sha256sum "$@" | cut -c1-64 | tr -d '\n' | sha256sum | cut -c1-16; }

crunver=$(crun --version 2>/dev/null | head -n 1) || die "crun is not installed (guest/install-deps.sh)"
key="init=$(sha256sum <"$init" | cut -c1-64) crun=$crunver kernel=$(cat "$out/.kernel-key") scripts=$(sum "$here/mk-initramfs.sh" "$here/resolve-modules.sh" "$here/modules.list" "$here/sd-stub.c" "$here/sd-stub.map")"
if changed "$out/.initramfs-key" "$key" "$out/initramfs.cpio"; then
	"$here/mk-initramfs.sh" "$init" "$mdir" "$out/initramfs.cpio" || die "initramfs step failed"
	echo "$key" >"$out/.initramfs-key"
fi

key="src=$(sum "$here/poweroff-init.c") cc=$($cc --version | head -n 1)"
if changed "$out/.bare-key" "$key" "$out/bare-initramfs.cpio"; then
	stage=$cache/bare.stage
	rm -rf "$stage" && mkdir -p "$stage"
	$cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Os -s -static \
		-o "$stage/init" "$here/poweroff-init.c" || die "cannot build guest/poweroff-init.c"
	(cd "$stage" && echo init | cpio --quiet -o -H newc -R 0:0 --reproducible) >"$out/bare-initramfs.cpio.tmp" ||
		die "cpio failed for bare-initramfs.cpio"
	mv "$out/bare-initramfs.cpio.tmp" "$out/bare-initramfs.cpio"
	rm -rf "$stage"
	echo "$key" >"$out/.bare-key"
fi

"$here/mk-busybox-image.sh" "$cache" "$out/images/busybox" || die "busybox image step failed"
