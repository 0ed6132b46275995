#!/bin/sh
# Downloads Debian's linux-image-amd64 (the version apt resolves), extracts it
# under the cache with dpkg-deb (never installed on the host) and produces:
#   OUT/vmlinuz          the package's bzImage (the shipped artifact)
#   OUT/vmlinux          the uncompressed ELF inside it, booted through PVH: it
#                        skips ~2.6 s of emulated XZ decompression under TCG
#   OUT/kernel-version   e.g. 6.1.0-56-amd64
#   CACHE/kernel/<pkg>_<version>/root/lib/modules/<kver>  the module tree,
#                        with modules.dep from depmod -b
# The extraction is keyed by package name and version: a second run with the
# same apt candidate does no work (apt-cache answers are cached too).
# usage: guest/fetch-kernel.sh CACHE OUT   (prints the module tree path)
set -eu
cache=$1 out=$2
die() { echo "guest/fetch-kernel.sh: $*" >&2; exit 1; }

# The metapackage depends on exactly one versioned image package.
here=$(dirname "$0")
pkg=$("$here/apt-cached.sh" "$cache" depends linux-image-amd64 |
	sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
[ -n "$pkg" ] || die "apt does not resolve linux-image-amd64 (run apt-get update?)"
ver=$("$here/apt-cached.sh" "$cache" show --no-all-versions "$pkg" | sed -n 's/^Version: //p' | head -n 1)
[ -n "$ver" ] || die "no candidate version for $pkg"
kver=${pkg#linux-image-}
key="${pkg}_${ver}"
kdir=$cache/kernel/$key
mkdir -p "$cache/debs" "$out"

if [ ! -f "$kdir/.done" ]; then
	deb=$cache/debs/${pkg}_$(echo "$ver" | sed 's/:/%3a/')_amd64.deb
	if [ ! -f "$deb" ]; then
		# apt-get download writes into the current directory; when it runs as
		# root its _apt sandbox may warn that it cannot write there: harmless.
		(cd "$cache/debs" && apt-get download -q "$pkg=$ver" >download.log 2>&1) ||
			{ cat "$cache/debs/download.log" >&2; die "apt-get download $pkg=$ver failed"; }
		[ -f "$deb" ] || die "apt-get download did not produce $deb"
	fi
	rm -rf "$kdir"
	mkdir -p "$kdir/root"
	dpkg-deb -x "$deb" "$kdir/root" || die "dpkg-deb -x $deb failed"
	mdir=$kdir/root/lib/modules/$kver
	[ -d "$mdir" ] || die "$deb has no lib/modules/$kver"
	[ -f "$kdir/root/boot/vmlinuz-$kver" ] || die "$deb has no boot/vmlinuz-$kver"
	# The package ships no modules.dep: compute it on the extracted tree.
	depmod -b "$kdir/root" "$kver" || die "depmod -b failed"

	# The bzImage carries the kernel as one XZ stream; the decompressed ELF has
	# a PVH entry note, so QEMU can boot it directly.
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$kdir/root/boot/vmlinuz-$kver" | head -n 1 | cut -d: -f1)
	[ -n "$off" ] || die "no XZ stream in vmlinuz-$kver"
	tail -c +"$((off + 1))" "$kdir/root/boot/vmlinuz-$kver" |
		xz -dc --single-stream >"$kdir/vmlinux" 2>/dev/null || die "cannot decompress vmlinuz-$kver"
	head -c 4 "$kdir/vmlinux" | od -An -c | grep -q 'E   L   F' || die "decompressed kernel is not an ELF"
	echo "$kver" >"$kdir/kernel-version"
	touch "$kdir/.done"
fi

# Publish into OUT only when the key changed, so mtimes stay stable.
[ "$(cat "$out/.kernel-key" 2>/dev/null || true)" = "$key" ] &&
	[ -f "$out/vmlinuz" ] && [ -f "$out/vmlinux" ] && [ -f "$out/kernel-version" ] || {
	cp "$kdir/root/boot/vmlinuz-$kver" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
	cp "$kdir/vmlinux" "$out/vmlinux.tmp" && mv "$out/vmlinux.tmp" "$out/vmlinux"
	cp "$kdir/kernel-version" "$out/kernel-version"
	echo "$key" >"$out/.kernel-key"
}
echo "$kdir/root/lib/modules/$kver"
