#!/bin/sh
# Builds a Debian 12 (bookworm, minbase) image with debootstrap from the Debian
# archive this machine already uses, as an OCI archive that `lcvm load` takes
# (name docker.io/library/debian:12). Cached: a second run only prints the
# path. Needs root (debootstrap) and the debootstrap package.
# usage: mk-debian.sh [OUT.tar]     (default build/cache/debian12.oci.tar)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-build/cache/debian12.oci.tar}
if [ -s "$out" ]; then echo "$out"; exit 0; fi
command -v debootstrap >/dev/null || { echo "mk-debian: install debootstrap (apt-get install debootstrap)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "mk-debian: debootstrap needs root" >&2; exit 1; }
# The mirror apt uses here (deb822 or one-line sources), else Debian's default.
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n 1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$(dirname "$out")/mk-debian.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
debootstrap --variant=minbase bookworm "$tmp/root" "$mirror" >"$tmp/log" 2>&1 || { tail -n 20 "$tmp/log" >&2; exit 1; }
rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*
# numeric owners, sorted names, fixed mtimes: the same tree gives the same layer
tar -C "$tmp/root" --numeric-owner --sort=name --xattrs --xattrs-include='*' -cf "$tmp/layer.tar" .
"$here/mk-oci.sh" -c '["bash"]' "$out" docker.io/library/debian:12 "$tmp/layer.tar"
echo "$out"
