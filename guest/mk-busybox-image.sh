#!/bin/sh
# Builds lcvm's built-in default image `busybox` from Debian's busybox-static
# (downloaded with apt-get download, extracted under the cache, never
# installed): a root filesystem with bin/busybox and a symlink per applet,
# etc/passwd and etc/group (root, nobody), /tmp, /root and empty /proc /sys
# /dev mount points. Produces in OUT:
#   rootfs.squashfs  the read-only disk the guest mounts (why squashfs:
#                    docs/guest-image.md)
#   rootfs.tar       the same tree as a plain layer tarball, for the image store
#   config.json      an OCI image config whose diff_id is the tarball's sha256
# Keyed by the busybox-static version and this script: unchanged, no work.
# usage: guest/mk-busybox-image.sh CACHE OUT
set -eu
die() { echo "guest/mk-busybox-image.sh: $*" >&2; exit 1; }
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
cache=$(abs "$1") out=$(abs "$2")
pkg=busybox-static
ver=$("$(dirname "$0")/apt-cached.sh" "$cache" show --no-all-versions "$pkg" | sed -n 's/^Version: //p' | head -n 1)
[ -n "$ver" ] || die "apt has no candidate for $pkg"
key="$pkg $ver $(sha256sum "$0" | cut -c1-16)"
if [ "$(cat "$out/.key" 2>/dev/null || true)" = "$key" ] &&
	[ -f "$out/rootfs.squashfs" ] && [ -f "$out/rootfs.tar" ] && [ -f "$out/config.json" ]; then
	exit 0
fi

mkdir -p "$cache/debs" "$out"
deb=$cache/debs/${pkg}_$(echo "$ver" | sed 's/:/%3a/')_amd64.deb
if [ ! -f "$deb" ]; then
	(cd "$cache/debs" && apt-get download -q "$pkg=$ver" >download.log 2>&1) ||
		{ cat "$cache/debs/download.log" >&2; die "apt-get download $pkg=$ver failed"; }
	[ -f "$deb" ] || die "apt-get download did not produce $deb"
fi
work=$out/.work
rm -rf "$work"
mkdir -p "$work/pkg" "$work/root"
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/pkg" || die "dpkg-deb -x $deb failed"
bb=$work/pkg/bin/busybox
[ -x "$bb" ] || die "$deb has no bin/busybox"

cd "$work/root"
mkdir -p bin etc tmp root proc sys dev
chmod 1777 tmp
chmod 0700 root
install -m 0755 "$bb" bin/busybox
# One absolute symlink per applet, at the path busybox itself reports.
"$bb" --list-full | while read -r applet; do
	[ "$applet" = bin/busybox ] && continue
	mkdir -p "$(dirname "$applet")"
	ln -sf /bin/busybox "$applet"
done
[ -L bin/sh ] || die "busybox has no sh applet"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >etc/passwd
# users lists nobody: the agent's supplementary-group lookup is tested on it.
printf 'root:x:0:\nnogroup:x:65534:\nusers:x:100:nobody\n' >etc/group
# Fixed times and owners: the same package gives byte-identical outputs.
find . -exec touch -h -d @0 {} +

# Uncompressed squashfs: under TCG decompression runs emulated while QEMU
# reads the disk at host speed, so it mounted and read fastest of squashfs
# (none, lz4, zstd, gzip), erofs and ext4, and its module is already in the
# boot group (docs/guest-image.md). -all-root: owners are root whoever builds.
mksquashfs . "$out/rootfs.squashfs.tmp" -noappend -all-root -noI -noD -noF -noX \
	-mkfs-time 0 -all-time 0 -quiet -no-progress >/dev/null || die "mksquashfs failed"
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 --format=posix \
	--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-cf "$out/rootfs.tar.tmp" $(ls -A | LC_ALL=C sort) || die "tar failed"
diffid=$(sha256sum "$out/rootfs.tar.tmp" | cut -d' ' -f1)
cat >"$out/config.json.tmp" <<JSON
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:$diffid"]},"history":[{"created_by":"lcvm guest/mk-busybox-image.sh from $pkg $ver"}]}
JSON
cd "$out"
mv rootfs.squashfs.tmp rootfs.squashfs
mv rootfs.tar.tmp rootfs.tar
mv config.json.tmp config.json
echo "$key" >.key
