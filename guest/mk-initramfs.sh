#!/bin/sh
# Builds the guest initramfs: /init = INIT (the static agent), /usr/bin/crun
# with its shared libraries and the dynamic loader (from ldd), the mount
# points an init needs, a minimal /etc, and only the kernel modules of
# guest/modules.list with their dependencies, listed in
# /lib/modules/lcvm.modules (the contract with the agent, docs/guest-image.md).
# usage: guest/mk-initramfs.sh INIT MODDIR OUT.cpio
set -eu
die() { echo "guest/mk-initramfs.sh: $*" >&2; exit 1; }
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
init=$(abs "$1") mdir=$(abs "$2") out=$(abs "$3")
here=$(cd "$(dirname "$0")" && pwd)
kver=$(basename "$mdir")
crun=$(command -v crun) || die "crun is not installed (guest/install-deps.sh)"

stage=$out.stage
rm -rf "$stage"
mkdir -p "$stage"
trap 'rm -rf "$stage"' EXIT
cd "$stage"
mkdir -p proc sys dev run tmp mnt etc root usr/bin "lib/modules/$kver"
chmod 1777 tmp
# Stripped: its symbols and debug info would be ~0.3 MB more to unpack at
# every boot (~10 ms per MB emulated); build/lcvm-agent keeps them.
install -m 0755 "$init" init
${STRIP:-strip} init || die "cannot strip $init"
install -m 0755 "$crun" usr/bin/crun

# libsystemd.so.0 is our stub (guest/sd-stub.c: crun's systemd features are
# unused here, and the real one pulls in 5 more libraries), provided every
# libsystemd symbol crun binds is in the stub.
sdstub=$out.sd-stub
rm -rf "$sdstub" && mkdir -p "$sdstub"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -Os -s -shared -fPIC -Wl,-soname,libsystemd.so.0 \
	-Wl,--version-script="$here/sd-stub.map" -o "$sdstub/libsystemd.so.0" "$here/sd-stub.c" ||
	die "cannot build guest/sd-stub.c"
trap 'rm -rf "$stage" "$sdstub"' EXIT
want=$(objdump -T "$crun" | awk '/\*UND\*/ && /LIBSYSTEMD_/ {print $NF}' | sort)
have=$(objdump -T "$sdstub/libsystemd.so.0" | awk '/LIBSYSTEMD_/ && !/\*UND\*/ && $NF ~ /^sd_/ {print $NF}' | sort)
missing=$(echo "$want" | grep -vxF "$have" || true)
[ -z "$missing" ] || die "crun needs libsystemd symbols the stub lacks: $(echo $missing)"

# Libraries at the paths ldd names (with the stub), the loader at its ELF
# interpreter path.
LD_LIBRARY_PATH=$sdstub ldd "$crun" | awk '/=> \//{print $1, $3} /^[ \t]*\/[^ ]*ld-linux/{print $1, $1}' |
while read -r name lib; do
	[ -f "$lib" ] || die "ldd names $lib, which does not exist"
	if [ "$name" = libsystemd.so.0 ]; then
		dest=$(ldd "$crun" | awk '$1 == "libsystemd.so.0" {print $3}')
		[ -n "$dest" ] || die "cannot tell where crun looks for libsystemd.so.0"
	else
		dest=$lib
	fi
	mkdir -p ".$(dirname "$dest")"
	cp -L "$lib" ".$dest"
done
[ -e lib64/ld-linux-x86-64.so.2 ] || die "ldd did not name the dynamic loader of $crun"

printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' >etc/group

# Drops the signature Debian appends to a module (PKCS#7 blob, a 12-byte
# struct module_signature whose last 4 bytes are the blob's big-endian length,
# then a 28-byte magic). Verifying it costs the guest a SHA-256 of the module
# and an RSA check, emulated: 17 modules loaded in ~240 ms instead of ~440 ms
# (docs/guest-image.md). It adds nothing here: the host that supplies these
# modules also supplies the kernel, and apt verified the package. The kernel
# only notes an unsigned module (taint flag E) at a level `quiet` hides.
unsign() {
	[ "$(tail -c 28 "$1")" = "~Module signature appended~" ] || return 0
	siglen=$(tail -c 32 "$1" | head -c 4 | od -An -tu1 | awk '{print (($1*256+$2)*256+$3)*256+$4}')
	size=$(stat -c %s "$1")
	[ "$siglen" -gt 0 ] && [ "$((siglen + 40))" -lt "$size" ] || die "$1: bad module signature trailer"
	truncate -s "$((size - siglen - 40))" "$1"
}

# Modules: the resolved list, rewritten to paths inside the initramfs.
"$here/resolve-modules.sh" "$mdir" "$here/modules.list" >modules.rel || die "cannot resolve modules"
while read -r group rel; do
	mkdir -p "lib/modules/$kver/$(dirname "$rel")"
	cp "$mdir/$rel" "lib/modules/$kver/$rel"
	unsign "lib/modules/$kver/$rel"
	echo "$group /lib/modules/$kver/$rel"
done <modules.rel >lib/modules/lcvm.modules
rm modules.rel

# The kernel opens /dev/console for init before anything mounts devtmpfs.
[ "$(id -u)" -ne 0 ] || mknod -m 0600 dev/console c 5 1

# Uncompressed: QEMU copies the file into guest memory at host speed, while
# the kernel unpacks it emulated; measured in populate_rootfs, plain 12 MB
# took ~260 ms, lz4 ~400, gzip ~750, zstd ~850 (docs/guest-image.md).
find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible >"$out.tmp" || die "cpio failed"
mv "$out.tmp" "$out"
