#!/bin/sh
# lcvm run end to end: real VMs (TCG here) with the built-in busybox image.
. "$(dirname "$0")/lib.sh"

# echo, and the guest kernel is not the host's
out=$(lcvm run --rm busybox echo hello from the vm 2>"$T/err")
check run_echo '[ "$out" = "hello from the vm" ]'
guest_info=$(lcvm run --rm busybox sh -c 'uname -r; grep -cw -e erms -e fsrm /proc/cpuinfo' 2>/dev/null)
guest_kernel=$(echo "$guest_info" | sed -n 1p)
check run_own_kernel '[ -n "$guest_kernel" ] && [ "$guest_kernel" != "$(uname -r)" ]'
# Under TCG the guest CPU hides ERMS/FSRM (QEMU_TCG_CPU): no byte-wise rep movsb.
grep -qw -e vmx -e svm /proc/cpuinfo ||
	check run_tcg_cpu_no_erms '[ "$(echo "$guest_info" | sed -n 2p)" = 0 ]'

# The default is 2 vCPUs (1 on a one-CPU host), as LCOW's utility VMs.
check run_default_cpus '[ "$(lcvm run --rm busybox nproc 2>/dev/null)" = "$([ "$(nproc)" -ge 2 ] && echo 2 || echo 1)" ]'

# --cpus 2 under TCG: the agent warms crun up on a throwaway container (its
# line on the console, --debug; whether it ends before this short container
# does depends on the host's load, so only its start is checked) and the
# container's command still gets address randomization (personality 0: no
# ADDR_NO_RANDOMIZE).
if ! grep -qw -e vmx -e svm /proc/cpuinfo; then
	lcvm --debug run --rm --cpus 2 busybox cat /proc/self/personality >"$T/o" 2>"$T/e"; st=$?
	check run_cpus2_warms_crun '[ "$st" = 0 ] && grep -q "warming crun up (pid [0-9]*)" "$T/e"'
	# The containers' cgroup parent exists, with its controllers, before
	# crun first runs on the other vCPU (agent/init.c: static keys).
	check run_cgroup_parent_first 'grep -n -e "cgroup /lcvm made with 3 controllers" -e "warming crun up" "$T/e" |
		head -n 1 | grep -q "cgroup /lcvm made"'
	check run_cpus2_command_aslr '[ "$(cat "$T/o")" = 00000000 ]'
fi
# The monitor boots with rootfstype=ramfs, the agent makes that root read-only
# and crun runs from it as is (agent_seal_root), no copy of itself per start.
lcvm --debug run --rm --cpus 1 busybox true >/dev/null 2>"$T/e"
check run_crun_in_place 'grep -q "read-only ramfs root: crun runs in place" "$T/e" && ! grep -q "crun will copy itself" "$T/e"'
grep -qw -e vmx -e svm /proc/cpuinfo ||
	check run_cpus1_no_warm_up '! grep -q "warming crun up" "$T/e" && grep -q "container exited with 0" "$T/e"'

# exit statuses: 0, 7, and 137 for SIGKILL
lcvm run --rm busybox true 2>/dev/null; s0=$?
lcvm run --rm busybox sh -c 'exit 7' 2>/dev/null; s7=$?
lcvm run --rm busybox sh -c 'kill -9 $$' 2>/dev/null; s137=$?
check exit_status_0 '[ "$s0" = 0 ]'
check exit_status_7 '[ "$s7" = 7 ]'
check exit_status_137 '[ "$s137" = 137 ]'

# --user: names resolved in the image's /etc/passwd; an unknown name is lcvm's error
check user_by_name '[ "$(lcvm run --rm -u nobody busybox id -u 2>/dev/null)" = 65534 ]'
lcvm run --rm -u ghost busybox true 2>"$T/e"; st=$?
check user_unknown '[ "$st" = 125 ] && grep -q "unable to find user ghost" "$T/e"'

# stdout and stderr stay apart
lcvm run --rm busybox sh -c 'echo to-out; echo to-err >&2' >"$T/o" 2>"$T/e"
strip_notice "$T/e"
check stdout_separate '[ "$(cat "$T/o")" = to-out ]'
check stderr_separate '[ "$(cat "$T/e")" = to-err ]'

# 64 MiB to stdout, checked against the sha256 the guest computed
lcvm run --rm busybox sh -c 'head -c 67108864 /dev/urandom >/tmp/blob && sha256sum /tmp/blob >&2 && cat /tmp/blob' \
	2>"$T/sum" | sha256sum >"$T/hostsum"
strip_notice "$T/sum"
want=$(cut -d' ' -f1 "$T/sum"); got=$(cut -d' ' -f1 "$T/hostsum")
check stdout_64MiB_sha256 '[ -n "$want" ] && [ "$want" = "$got" ]'

# 64 MiB through -i stdin, EOF included
head -c 67108864 /dev/urandom >"$T/in"
want=$(sha256sum <"$T/in" | cut -d' ' -f1)
got=$(lcvm run --rm -i busybox sha256sum <"$T/in" 2>/dev/null | cut -d' ' -f1)
check stdin_64MiB_sha256 '[ "$want" = "$got" ]'
got=$(cat "$T/in" | lcvm run --rm -i busybox sha256sum 2>/dev/null | cut -d' ' -f1)
check stdin_pipe_64MiB_sha256 '[ "$want" = "$got" ]'

# 4 concurrent runs, each correct
for i in 1 2 3 4; do
	lcvm run --rm busybox sh -c "echo run-$i; exit $i" >"$T/c$i" 2>"$T/ce$i" &
	eval "pid$i=\$!"
done
ok=1
why=
for i in 1 2 3 4; do
	eval "wait \$pid$i"; st=$?
	[ "$st" = "$i" ] && [ "$(cat "$T/c$i")" = "run-$i" ] && continue
	ok=0
	why="$why run $i: status $st, stdout '$(head -c 80 "$T/c$i")', stderr '$(grep -v '^lcvm: notice: ' "$T/ce$i" | tail -n 3 | tr '\n' ' ')';"
done
check concurrent_4 '[ "$ok" = 1 ] || { echo "$why" >&2; false; }'

check nothing_left_behind 'leftovers'

# SIGINT to the CLI tears the VM down (synchronised on the container's own output)
mkfifo "$T/fifo"
# (exec: $! must be the CLI itself, not a subshell running the lcvm function)
(exec "$LCVM" --root "$ROOT" run --rm busybox sh -c 'echo ready; exec sleep 1000' >"$T/fifo" 2>/dev/null) &
cli=$!
read -r line <"$T/fifo"
kill -INT "$cli"
wait "$cli"; st=$?
check sigint_status_130 '[ "$st" = 130 ] && [ "$line" = ready ]'
check sigint_nothing_left 'leftovers'

# the state of a container without --rm stays, with its exit status
lcvm run busybox sh -c 'exit 3' 2>/dev/null
dir=$(find "$ROOT/run" -mindepth 1 -maxdepth 1 -type d | head -1)
check keep_state_without_rm '[ -n "$dir" ] && [ "$(cat "$dir/exit-status" 2>/dev/null)" = 3 ]'
rm -rf "$ROOT/run"

# clear errors, exit 125
lcvm run --rm no-such-image true 2>"$T/e"; st=$?
check error_unknown_image '[ "$st" = 125 ] && grep -q "image '\''no-such-image'\'' not found" "$T/e"'
lcvm run --bogus busybox true 2>"$T/e"; st=$?
check error_bad_flag '[ "$st" = 125 ] && grep -q "unknown or incomplete option" "$T/e"'
LCVM_QEMU=/nonexistent/qemu lcvm run --rm busybox true 2>"$T/e"; st=$?
check error_qemu_missing '[ "$st" = 125 ] && grep -q "QEMU not found" "$T/e"'
mkdir -p "$T/badguest"
cp "$(dirname "$LCVM")/guest/vmlinux" "$T/badguest/" 2>/dev/null
echo garbage >"$T/badguest/initramfs.cpio"
cp -r "$(dirname "$LCVM")/guest/images" "$T/badguest/" 2>/dev/null
LCVM_GUEST_DIR=$T/badguest lcvm run --rm busybox true 2>"$T/e"; st=$?
check error_guest_fails_to_boot '[ "$st" = 125 ] && grep -q "VM stopped unexpectedly" "$T/e" && grep -q "console" "$T/e"'
LCVM_BOOT_TIMEOUT_MS=1 lcvm run --rm busybox true 2>"$T/e"; st=$?
check error_agent_timeout '[ "$st" = 125 ] && grep -q "did not answer within" "$T/e"'
check errors_nothing_left 'leftovers'

# A guest kernel whose local APIC timer failed calibration never finishes
# booting (monitor/console.h): the monitor starts a new VM, says so, and
# gives up after MON_BOOT_RESTARTS (2) restarts. A stand-in QEMU prints the
# kernel's line on the console it is given (fd 5) and hangs, the first
# APIC_FAILS times it is started; after that it is the real QEMU.
cat >"$T/apic-qemu" <<'EOF'
#!/bin/sh
n=$(cat "$APIC_FAILS_SEEN" 2>/dev/null || echo 0)
echo $((n + 1)) >"$APIC_FAILS_SEEN"
echo $$ >>"$APIC_FAILS_SEEN.pids"
if [ "$n" -lt "$APIC_FAILS" ]; then
	printf '[    0.576277] APIC frequency too slow, disabling apic timer\n' >&5
	exec sleep 300
fi
exec qemu-system-x86_64 "$@"
EOF
chmod +x "$T/apic-qemu"
APIC_FAILS=1 APIC_FAILS_SEEN=$T/apic1 LCVM_QEMU=$T/apic-qemu lcvm run --rm busybox echo ok >"$T/o" 2>"$T/e"; st=$?
check boot_restart_after_timer_failure '[ "$st" = 0 ] && [ "$(cat "$T/o")" = ok ] && [ "$(cat "$T/apic1")" = 2 ] &&
	grep -q "^lcvm: notice: the guest kernel found no working timer .*restarting the VM" "$T/e"'
APIC_FAILS=9 APIC_FAILS_SEEN=$T/apic9 LCVM_QEMU=$T/apic-qemu lcvm run --rm busybox true 2>"$T/e"; st=$?
check boot_restarts_bounded '[ "$st" = 125 ] && [ "$(cat "$T/apic9")" = 3 ] &&
	grep -q "failed to boot 3 times in a row (last: it found no working timer)" "$T/e" && grep -q "APIC frequency too slow" "$T/e"'
# Every stand-in QEMU (killed ones included) is gone: none outlives its monitor.
alive=
for p in $(cat "$T/apic1.pids" "$T/apic9.pids"); do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
if [ -z "$alive" ] && lo=$(leftovers); then
	pass boot_restart_nothing_left
else
	fail boot_restart_nothing_left "stand-in QEMUs still alive: [$alive] $lo"
fi
