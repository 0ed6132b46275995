#!/bin/sh
# The guest image that `make guest` builds (guest/build.sh) and `lcvm guest
# info`. Prints "PASS name" / "FAIL name: why" lines (tests/run.sh).
# Needs: build/lcvm, build/guest, and the kernel cache in build/cache.
set -u
lcvm=${LCVM:-build/lcvm}
bdir=${LCVM_BUILD:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# --- lcvm guest info -----------------------------------------------------------
if "$lcvm" guest info >"$tmp/info" 2>"$tmp/info.err"; then
	missing=
	for k in kernel kernel-version vmlinux initrd kernel-size initrd-size total; do
		grep -q "^$k: ." "$tmp/info" || missing="$missing $k"
	done
	[ -z "$missing" ] && pass guest_info_lines || fail guest_info_lines "missing lines:$missing"
else
	fail guest_info_lines "exit status $?: $(head -n 1 "$tmp/info.err")"
fi
field() { sed -n "s/^$1: //p" "$tmp/info"; }
gdir=$(dirname "$(field kernel)")
[ -d "$gdir" ] || gdir=build/guest

# A binary with no guest directory beside it must say how to build one.
cp "$lcvm" "$tmp/lcvm"
env -u LCVM_GUEST_DIR "$tmp/lcvm" guest info >/dev/null 2>"$tmp/err"; rc=$?
if [ "$rc" -eq 125 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'make guest' "$tmp/err"; then
	pass guest_info_not_built
else
	fail guest_info_not_built "exit $rc, stderr: $(cat "$tmp/err")"
fi

# The reported sizes are the files' sizes.
ksize=$(stat -c %s "$gdir/vmlinuz" 2>/dev/null || echo 0)
isize=$(stat -c %s "$gdir/initramfs.cpio" 2>/dev/null || echo 0)
if field kernel-size | grep -q "^$ksize bytes" && field initrd-size | grep -q "^$isize bytes" &&
	field total | grep -q "^$((ksize + isize)) bytes"; then
	pass guest_info_sizes
else
	fail guest_info_sizes "expected kernel $ksize, initrd $isize; got: $(field total)"
fi

total=$((ksize + isize))
if [ "$ksize" -gt 0 ] && [ "$isize" -gt 0 ] && [ "$total" -lt 25000000 ]; then
	pass guest_under_25mb
else
	fail guest_under_25mb "bzImage $ksize + initramfs $isize = $total bytes"
fi

if head -c 4 "$gdir/vmlinux" | od -An -c | grep -q 'E   L   F' && grep -q . "$gdir/kernel-version"; then
	pass guest_vmlinux_elf
else
	fail guest_vmlinux_elf "$gdir/vmlinux is not an ELF kernel"
fi

# A rebuild with nothing changed touches nothing (every step is keyed).
agent=$bdir/lcvm-agent
asum=$(sha256sum <"$agent" 2>/dev/null | cut -c1-64)
if [ "$(cd "$gdir" && pwd)" != "$top/build/guest" ] || ! grep -q "^init=$asum " "$gdir/.initramfs-key" 2>/dev/null; then
	echo "SKIP guest_rebuild_noop: build/guest was not built from $agent"
else
	list_outputs() { (cd "$gdir" && ls -l --time-style=+%s.%N vmlinuz vmlinux initramfs.cpio bare-initramfs.cpio images/busybox/*); }
	before=$(list_outputs)
	if (cd "$top" && guest/build.sh "$agent" build/guest) >"$tmp/rb.out" 2>&1; then
		if [ ! -s "$tmp/rb.out" ] && [ "$before" = "$(list_outputs)" ]; then
			pass guest_rebuild_noop
		else
			fail guest_rebuild_noop "second build changed outputs or printed: $(head -n 2 "$tmp/rb.out")"
		fi
	else
		fail guest_rebuild_noop "guest/build.sh failed: $(tail -n 1 "$tmp/rb.out")"
	fi
fi

# --- initramfs contents ----------------------------------------------------------
mkdir "$tmp/ir"
(cd "$tmp/ir" && cpio --quiet -id --no-absolute-filenames <"$gdir/initramfs.cpio") 2>"$tmp/cpio.err" ||
	fail initramfs_unpacks "$(head -n 1 "$tmp/cpio.err")"
ir=$tmp/ir
bad=
for f in init usr/bin/crun lib64/ld-linux-x86-64.so.2 etc/passwd etc/group; do
	[ -f "$ir/$f" ] || bad="$bad $f"
done
for d in proc sys dev run tmp mnt; do
	[ -d "$ir/$d" ] || bad="$bad $d/"
done
# Every library crun and its libraries need (DT_NEEDED, followed through the
# initramfs's own copies), where the loader looks for it. libsystemd.so.0 is
# the stub (guest/sd-stub.c), so libgcrypt & co. must not be needed.
for elf in "$ir/usr/bin/crun" "$ir"/lib/x86_64-linux-gnu/*; do
	for need in $(readelf -d "$elf" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		[ -f "$ir/lib/x86_64-linux-gnu/$need" ] || [ -f "$ir/lib64/$need" ] || bad="$bad $need(for $(basename "$elf"))"
	done
done
objdump -T "$ir/lib/x86_64-linux-gnu/libsystemd.so.0" 2>/dev/null | grep -q 'LIBSYSTEMD_209.*sd_notify$' ||
	bad="$bad libsystemd-stub"
[ -x "$ir/init" ] || bad="$bad init(not executable)"
[ -z "$bad" ] && pass initramfs_has_init_crun_libs || fail initramfs_has_init_crun_libs "missing:$bad"

# lcvm.modules: every .ko present, every module after its dependencies (in
# its own group or in boot, which the agent always loads first).
list=$ir/lib/modules/lcvm.modules
if [ ! -s "$list" ]; then
	fail initramfs_modules_listed "no /lib/modules/lcvm.modules"
else
	bad=
	: >"$tmp/loaded"
	while read -r group path; do
		ko=$ir$path
		if [ ! -f "$ko" ]; then
			bad="$bad $path(missing)"
			continue
		fi
		name=$(basename "$path" .ko | tr - _)
		for dep in $(modinfo -F depends "$ko" | tr , ' '); do
			dep=$(echo "$dep" | tr - _)
			grep -qx -e "boot $dep" -e "$group $dep" "$tmp/loaded" || bad="$bad $name(before $dep)"
		done
		echo "$group $name" >>"$tmp/loaded"
	done <"$list"
	[ -z "$bad" ] && pass initramfs_modules_ordered || fail initramfs_modules_ordered "$bad"
	missing=
	for want in "boot virtio_mmio" "storage virtio_blk" "vsock vmw_vsock_virtio_transport" \
		"storage overlay" "storage squashfs" "9p 9p" "9p 9pnet_fd"; do
		grep -qx "$want" "$tmp/loaded" || missing="$missing ($want)"
	done
	[ -z "$missing" ] && pass initramfs_modules_groups || fail initramfs_modules_groups "missing:$missing"
	# Nothing beyond the listed modules is shipped.
	nko=$(find "$ir/lib/modules" -name '*.ko' | wc -l)
	nlist=$(awk '{print $2}' "$list" | sort -u | wc -l)
	[ "$nko" -eq "$nlist" ] && pass initramfs_only_listed_modules ||
		fail initramfs_only_listed_modules "$nko .ko files, $nlist listed"
fi

# --- busybox image ----------------------------------------------------------------
img=$gdir/images/busybox
if unsquashfs -l "$img/rootfs.squashfs" 2>/dev/null | grep -qx 'squashfs-root/bin/sh'; then
	pass busybox_squashfs_has_sh
else
	fail busybox_squashfs_has_sh "bin/sh not in $img/rootfs.squashfs"
fi
if tar -tf "$img/rootfs.tar" 2>/dev/null | grep -qx 'bin/busybox' &&
	grep -q "\"sha256:$(sha256sum <"$img/rootfs.tar" | cut -d' ' -f1)\"" "$img/config.json" &&
	grep -q '"Cmd":\["sh"\]' "$img/config.json"; then
	pass busybox_tar_and_config
else
	fail busybox_tar_and_config "rootfs.tar lacks bin/busybox or config.json diff_id/Cmd is wrong"
fi

# --- boots -------------------------------------------------------------------------
# The bare initramfs powers off: a clean QEMU exit proves the PVH vmlinux boots.
if out=$("$top/bench/bare-boot.sh" -n 1 -t 60 "$gdir" 2>&1) && echo "$out" | grep -q '0 hangs'; then
	pass bare_boot_powers_off
else
	fail bare_boot_powers_off "$(echo "$out" | tail -n 3 | tr '\n' ' ')"
fi

# The same image around a test /init: every module group loads with
# finit_module in lcvm.modules order, crun runs (loader and libraries are
# complete), and the busybox squashfs mounts from a virtio-blk disk.
kkey=$(cat "$gdir/.kernel-key" 2>/dev/null || true)
mdir=$(ls -d "$bdir/cache/kernel/$kkey/root/lib/modules/"* 2>/dev/null | head -n 1)
if [ -z "$mdir" ]; then
	fail guest_boot_modules_crun "no kernel module tree in $bdir/cache (run make guest)"
elif ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -Os -static -o "$tmp/test-init" "$top/guest/test-init.c" 2>"$tmp/cc.err"; then
	fail guest_boot_modules_crun "cannot build guest/test-init.c: $(head -n 1 "$tmp/cc.err")"
elif ! "$top/guest/mk-initramfs.sh" "$tmp/test-init" "$mdir" "$tmp/test.cpio" 2>"$tmp/mk.err"; then
	fail guest_boot_modules_crun "mk-initramfs.sh: $(head -n 1 "$tmp/mk.err")"
else
	# The monitor's command line plus one read-only disk.
	khz=$("$top/guest/host-tsc-khz.sh")
	timeout -s KILL 90 qemu-system-x86_64 -machine microvm,accel=tcg -cpu max,-erms,-fsrm -smp 1 -m 512M \
		-nodefaults -no-user-config -display none -serial "file:$tmp/console" \
		-kernel "$gdir/vmlinux" -initrd "$tmp/test.cpio" \
		-drive "file=$img/rootfs.squashfs,if=none,format=raw,id=d0,readonly=on" \
		-device virtio-blk-device,drive=d0 -no-reboot \
		-append "$(cat "$top/guest/boot-cmdline") tsc_early_khz=$khz lcvm_groups=boot,vsock,storage,9p lcvm_mount=squashfs" \
		>/dev/null 2>&1
	n=$(wc -l <"$list")
	if grep -q "lcvm-test: loaded $n modules, 0 failed" "$tmp/console" &&
		grep -q 'lcvm-test: crun exit 0' "$tmp/console" &&
		grep -q 'lcvm-test: mount squashfs + read took .* (exit 0)' "$tmp/console" &&
		grep -q 'lcvm-test: OK' "$tmp/console"; then
		pass guest_boot_modules_crun
	else
		fail guest_boot_modules_crun "console: $(grep -e lcvm-test -e Kernel -e panic "$tmp/console" | tr '\n' ' ')"
	fi
fi

# The real /init (the agent) runs a container from the busybox squashfs in
# its self-test mode (src/agent/selftest.h): the image works end to end.
# Without rootfstype=ramfs the root is a tmpfs: this boot also runs the
# agent's fallback, crun from a read-only copy (agent_protect_binary).
if ! grep -aq 'lcvm.selftest=1' "$ir/init"; then
	echo "SKIP guest_agent_selftest: /init has no self-test mode"
else
	timeout -s KILL 90 qemu-system-x86_64 -machine microvm,accel=tcg -cpu max,-erms,-fsrm -smp 1 -m 512M \
		-nodefaults -no-user-config -display none -serial "file:$tmp/console2" \
		-kernel "$gdir/vmlinux" -initrd "$gdir/initramfs.cpio" \
		-drive "file=$img/rootfs.squashfs,if=none,format=raw,id=d0,readonly=on" \
		-device virtio-blk-device,drive=d0,serial=rootfs -no-reboot \
		-append "$(cat "$top/guest/boot-cmdline") tsc_early_khz=$("$top/guest/host-tsc-khz.sh") lcvm.selftest=1" \
		>/dev/null 2>&1
	if grep -q 'lcvm-selftest: exit 0' "$tmp/console2" && tr -d '\r' <"$tmp/console2" | grep -qx "$(cat "$gdir/kernel-version")"; then
		pass guest_agent_selftest
	else
		fail guest_agent_selftest "console: $(tail -n 5 "$tmp/console2" | tr '\n' ' ')"
	fi
	# The init shim (src/agent/shim.h), one container each in the same boot.
	for want in "exit7 exit 7" "kill9 exit 137" "missing exit 127" "sigterm exit 143"; do
		name=shim_${want%% *}
		if tr -d '\r' <"$tmp/console2" | grep -q "^lcvm-selftest: $want (want"; then
			pass "guest_$name"
		else
			fail "guest_$name" "$(tr -d '\r' <"$tmp/console2" | grep "lcvm-selftest: ${want%% *} " || echo 'case did not run')"
		fi
	done
	# process.user resolved in the image's passwd/group (nobody, member of users).
	if tr -d '\r' <"$tmp/console2" | grep -q '^lcvm-selftest: user exit 0 (want'; then
		pass guest_user_nobody_groups
	else
		fail guest_user_nobody_groups "$(tr -d '\r' <"$tmp/console2" | grep 'lcvm-selftest: user ' || echo 'case did not run')"
	fi
	if tr -d '\r' <"$tmp/console2" | grep -qx 'lcvm-selftest: nouser error: unable to find user nosuchuser: no matching entries in passwd file'; then
		pass guest_user_unknown
	else
		fail guest_user_unknown "$(tr -d '\r' <"$tmp/console2" | grep 'lcvm-selftest: nouser' || echo 'case did not run')"
	fi
	if tr -d '\r' <"$tmp/console2" | grep -qx 'lcvm-init: exec "lcvm-no-such-command": executable file not found in $PATH'; then
		pass guest_shim_missing_message
	else
		fail guest_shim_missing_message "no exec error line on the console"
	fi
fi
exit 0
