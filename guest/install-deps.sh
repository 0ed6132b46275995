#!/bin/sh
# Installs the Debian packages lcvm needs to build, test and run, if missing.
# Never installs the guest kernel on the host (guest/fetch-kernel.sh only
# downloads and extracts it under build/).
set -eu
pkgs="build-essential clang pkg-config protobuf-c-compiler libprotobuf-c-dev libjansson-dev
libcurl4-openssl-dev libarchive-dev libzstd-dev libcap-ng-dev libseccomp-dev
qemu-system-x86 crun busybox-static squashfs-tools erofs-utils cpio xz-utils zstd kmod
libclang-rt-14-dev socat diod skopeo umoci docker-registry curl ca-certificates
libssl-dev openssl debootstrap python3 e2fsprogs procps util-linux"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "lcvm: missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "installing:$missing"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
