#!/bin/bash
# 9P bind-mount benchmark (make bench): the same workloads, same guest kernel,
# on
#   lcvm-run   lcvm's server in the monitor, `lcvm run -v` (vsock, trans=fd)
#   lcvm-serve `lcvm 9p serve` on a unix socket, reached over vsock through
#              `lcvm vsock-backend` (hybrid convention), trans=fd
#   diod       diod on a unix socket, reached the same way as lcvm-serve
#   virtio     QEMU's built-in virtio-9p (-fsdev local, virtio-9p-device)
#   tmpfs      the guest's own tmpfs (the ceiling)
# lcvm-serve, diod, virtio and tmpfs run in ONE VM (microvm, PVH vmlinux,
# smp 1, our own busybox init); lcvm-run in a container VM. All mounts use
# cache=mmap, access=client; msize 1 MiB on fd transports, 512000 on virtio
# (its transport maximum).
# diod runs as root without authentication (-n); the guest attaches as
# uname=root, so diod's user database resolves it (the default "nobody"
# attach with n_uname -1 is refused: -N cannot map a name, and nobody cannot
# enter the 0700 work directory).
# Knobs: BENCH_9P_FILES (10000), BENCH_9P_MIB (256), BENCH_9P_TREE (3000 files),
# BENCH_9P_TARGETS (targets of the shared VM, default "tmpfs lcvm-serve diod
# virtio"), BENCH_9P_RUNV=0 skips the lcvm run -v row, BENCH_9P_STATS=1 prints
# lcvm 9p serve's per-request host timing (LCVM_P9_STATS) after the table.
set -u
cd "$(dirname "$0")/.."
LCVM=$PWD/build/lcvm G=$PWD/build/guest
FILES=${BENCH_9P_FILES:-10000} MIB=${BENCH_9P_MIB:-256} TREE=${BENCH_9P_TREE:-3000}
TARGETS=${BENCH_9P_TARGETS:-tmpfs lcvm-serve diod virtio}
QEMU=${LCVM_QEMU:-qemu-system-x86_64}
W=$(mktemp -d /tmp/lcvm-bench9p.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; [ -n "${BENCH_9P_KEEP:-}" ] || rm -rf "$W"; }
trap cleanup EXIT
for f in "$LCVM" "$G/vmlinux" "$G/initramfs.cpio"; do
	[ -e "$f" ] || { echo "bench/9p.sh: $f missing (make all guest)"; exit 1; }
done
command -v diod >/dev/null || { echo "bench/9p.sh: diod not installed"; exit 1; }

# --- guest pieces ----------------------------------------------------------------
mkdir -p "$W/root/bin" "$W/b" "$W/s-serve" "$W/s-diod" "$W/s-virtio" "$W/s-run" "$W/tree"
gcc -O2 -static -o "$W/b/9p-guest" bench/9p-guest.c || exit 1
for ((i = 0; i < TREE; i++)); do
	d=$W/tree/d$((i / 50)); [ -d "$d" ] || mkdir "$d"
	echo "file $i" >"$d/f$i"
done
tar cf "$W/b/tree.tar" -C "$W/tree" . && rm -rf "$W/tree"
cat >"$W/b/bench.sh" <<EOF
t=\$1 d=\$2
/b/9p-guest run \$t \$d $FILES $MIB
mkdir \$d/tree
/b/9p-guest time \$t tar_x_s tar xf /b/tree.tar -C \$d/tree
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
/b/9p-guest time \$t ls_lR_s ls -lR \$d/tree
rm -rf \$d/tree
EOF
(cd "$W/root" && cpio -idm 'lib/modules/*' <"$G/initramfs.cpio" 2>/dev/null)
kv=$(cat "$G/kernel-version" 2>/dev/null || ls "$W/root/lib/modules")
deb=$(ls /var/cache/lcvm-dl/linux-image-"$kv"_*.deb 2>/dev/null | head -1)
vko=lib/modules/$kv/kernel/net/9p/9pnet_virtio.ko
[ -n "$deb" ] && dpkg-deb --fsys-tarfile "$deb" | tar x -C "$W/root" "./$vko" 2>/dev/null
[ -f "$W/root/$vko" ] || echo "bench/9p.sh: no 9pnet_virtio.ko (kernel .deb missing): virtio row will be empty"
cp /bin/busybox "$W/root/bin/busybox"
cp -r "$W/b" "$W/root/b"
cat >"$W/root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /mnt/tmpfs /mnt/virtio
mount -t proc p /proc; mount -t sysfs s /sys; mount -t devtmpfs d /dev
M=/lib/modules/$kv/kernel
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio net/vmw_vsock/vsock \
	net/vmw_vsock/vmw_vsock_virtio_transport_common net/vmw_vsock/vmw_vsock_virtio_transport \
	fs/netfs/netfs fs/fscache/fscache net/9p/9pnet net/9p/9pnet_fd net/9p/9pnet_virtio fs/9p/9p; do
	insmod \$M/\$m.ko 2>/dev/null
done
mount -t tmpfs -o size=700m t /mnt/tmpfs
O=cache=mmap,access=client
/b/9p-guest mount 5640 /mnt/lcvm-serve msize=1048576,\$O || echo "RESULT lcvm-serve mount_failed 0 -"
/b/9p-guest mount 5641 /mnt/diod msize=1048576,\$O,uname=root,aname=$W/s-diod || echo "RESULT diod mount_failed 0 -"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,\$O vfs /mnt/virtio || echo "RESULT virtio mount_failed 0 -"
for t in $TARGETS; do
	grep -q " /mnt/\$t " /proc/mounts && sh /b/bench.sh \$t /mnt/\$t
done
echo BENCH_DONE
poweroff -f
EOF
chmod +x "$W/root/init"
(cd "$W/root" && find . | cpio -o -H newc 2>/dev/null) >"$W/initrd.cpio"

# --- host servers ------------------------------------------------------------------
LCVM_VSOCK_STATS=${BENCH_9P_STATS:-} "$LCVM" vsock-backend --socket-path "$W/vu.sock" --uds-path "$W/v.sock" --guest-cid 3 & pids+=($!)
LCVM_P9_STATS=${BENCH_9P_STATS:-} "$LCVM" 9p serve --export "$W/s-serve" --listen "unix:$W/v.sock_5640" \
	>"$W/serve.out" 2>"$W/serve.err" & pids+=($!)
diod -f -n -c /dev/null -e "$W/s-diod" -l "$W/v.sock_5641" 2>"$W/diod.err" & pids+=($!)
for s in vu.sock v.sock_5640 v.sock_5641; do # wait for the sockets to exist (bounded)
	for ((i = 0; i < 200; i++)); do [ -S "$W/$s" ] && break; sleep 0.05; done
	[ -S "$W/$s" ] || echo "bench/9p.sh: $s did not appear"
done
khz=$(cat /run/lcvm/tsc-khz 2>/dev/null)
append="$(cat guest/boot-cmdline)${khz:+ tsc_early_khz=$khz}"
timeout 3600 "$QEMU" -machine microvm,accel=tcg,memory-backend=mem,pcie=off,rtc=on,isa-serial=on -cpu max,-erms,-fsrm -smp 1 \
	-m 1536M -object memory-backend-memfd,id=mem,size=1536M,share=on -global virtio-mmio.force-legacy=false \
	-nodefaults -no-user-config -display none -no-reboot -serial "file:$W/console" \
	-kernel "$G/vmlinux" -initrd "$W/initrd.cpio" -append "$append" \
	-chardev "socket,id=vs,path=$W/vu.sock" -device vhost-user-vsock-device,chardev=vs \
	-fsdev "local,id=fs0,path=$W/s-virtio,security_model=passthrough" -device virtio-9p-device,fsdev=fs0,mount_tag=vfs
grep -q BENCH_DONE "$W/console" || { echo "bench/9p.sh: bench VM did not finish; console tail:"; tail -5 "$W/console"; }
grep -a '^RESULT' "$W/console" | tr -d '\r' >"$W/results"

# --- lcvm run -v -----------------------------------------------------------------------
[ "${BENCH_9P_RUNV:-1}" = 0 ] || "$LCVM" run --rm -v "$W/s-run:/data" -v "$W/b:/b:ro" busybox sh /b/bench.sh lcvm-run /data 2>"$W/run.err" |
	grep '^RESULT' >>"$W/results"

# --- table -------------------------------------------------------------------------------
awk -v files="$FILES" -v mib="$MIB" -v tree="$TREE" '
{ v[$2 "," $3] = $4; unit[$3] = $5; if (!($3 in seen)) { seen[$3] = 1; order[n++] = $3 } }
function cell(t, w) { return ((t "," w) in v) ? v[t "," w] : "-" }
function ratio(a, b, w,   x, y) {
	if (!((a "," w) in v) || !((b "," w) in v)) return "-"
	x = v[a "," w]; y = v[b "," w]; if (x <= 0 || y <= 0) return "-"
	return sprintf("%.2f", unit[w] == "s" ? y / x : x / y)   # >1: lcvm better
}
END {
	printf "| workload (%d MiB, %d files, tar of %d) | lcvm run -v | lcvm 9p serve | virtio-9p | diod | guest tmpfs | run/virtio | run/diod | serve/virtio | serve/diod |\n", mib, files, tree
	print "|---|---|---|---|---|---|---|---|---|---|"
	for (i = 0; i < n; i++) { w = order[i]
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w, cell("lcvm-run", w), cell("lcvm-serve", w),
			cell("virtio", w), cell("diod", w), cell("tmpfs", w), ratio("lcvm-run", "virtio", w),
			ratio("lcvm-run", "diod", w), ratio("lcvm-serve", "virtio", w), ratio("lcvm-serve", "diod", w) }
	print "(ratios: > 1 means lcvm is faster; targets >= 1.0 vs virtio-9p, >= 1.5 vs diod)"
}' "$W/results"
echo "(TCG, smp 1, cache=mmap; $(date -u +%Y-%m-%d))"
[ -z "${BENCH_9P_STATS:-}" ] || grep -a '^p9 stats' "$W/serve.err"
