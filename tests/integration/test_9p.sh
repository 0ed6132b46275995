#!/bin/bash
# 9P bind mounts in real VMs (TCG): lcvm-conformance inside the container in
# passthrough (monitor as root) and mapped (monitor as an unprivileged user),
# host<->container locks both ways, nlink seen from the host, :ro, escapes,
# 10 000-entry directories. Two VM boots. Host and guest synchronise through
# the container's stdin/stdout (fifos on the host); nothing sleeps.
. "$(dirname "$0")/lib.sh"

CONF=$(dirname "$LCVM")/lcvm-conformance
[ -x "$CONF" ] || { fail 9p_setup "$CONF missing (make build/lcvm-conformance)"; exit 0; }
chmod 0755 "$T"
BIN=$T/bin SH=$T/share RO=$T/ro OUT=$T/outside
mkdir -p "$BIN" "$SH" "$RO" "$OUT" "$SH/hostbig"
cp "$CONF" "$BIN/c"
echo secret >"$OUT/marker"
echo keep >"$RO/existing"
(cd "$SH/hostbig" && seq 1 10000 | xargs touch)

# The container's script: conformance, then a dialogue with the host.
cat >"$BIN/guest.sh" <<'EOF'
C=/t/c
say() { echo "$*"; }
wait_host() { read -r _go; }
$C /data --outside-marker "$1" --skip peer_host_lock 2>&1 | sed 's/^/CONF /'
say CONF_END
# host holds a lock: the container must see it
say HOSTLOCK_READY; wait_host
$C /data --only peer_host_lock --peer-host-lock /data/lk 2>/dev/null | sed 's/^/PEER /'
say PEER_END
# container holds an fcntl lock, then a flock: the host must see them
for kind in lock flock; do
	mkfifo /tmp/hold.$kind
	$C --hold-$kind /data/g$kind </tmp/hold.$kind &
	exec 7>/tmp/hold.$kind
	wait_host
	exec 7>&-
	wait
	say RELEASED
done
# nlink 1 -> 3 -> 1, from both sides
echo x >/data/n; say NLINK "$(stat -c %h /data/n)"; wait_host
mkdir /data/sub; ln /data/n /data/n2; ln /data/n /data/sub/n3; say NLINK "$(stat -c %h /data/n)"; wait_host
rm /data/n2 /data/sub/n3; say NLINK "$(stat -c %h /data/n)"; wait_host
# :ro
say RO "$( { (echo x >/ro/new) 2>&1; (mkdir /ro/d) 2>&1; (echo y >>/ro/existing) 2>&1; (rm /ro/existing) 2>&1; } | tr '\n' ' ')"
# 10 000 entries each way
mkdir /data/big && cd /data/big && seq 1 10000 | xargs touch && cd /
say BIG "$(ls /data/big | wc -l) $(ls /data/hostbig | wc -l)"
say END
# the container's last act: 1 MiB written only through a shared mapping,
# never msync'ed; the host reads it once the run is over
$C --mmap-write /data/mm
EOF

# Runs the guest script in a container; the caller then talks over fd 3
# (to the guest) and fd 4 (from the guest).
start_guest() { # runner prefix..., then lcvm args
	mkfifo "$T/to" "$T/from"
	"$@" <"$T/to" >"$T/from" 2>"$T/err" &
	guest_pid=$!
	exec 3>"$T/to" 4<"$T/from"
}
stop_guest() {
	exec 3>&- 4<&-
	wait "$guest_pid"; guest_status=$?
	rm -f "$T/to" "$T/from"
}
expect() { # read guest lines until one starts with $1; it is left in $line
	while read -r -t 900 line <&4; do
		case "$line" in "$1"*) return 0 ;; esac
	done
	return 1
}
conf_results() { # prefix: turn CONF lines into PASS/FAIL lines
	while read -r -t 900 line <&4; do
		case "$line" in
		CONF_END) return 0 ;;
		"CONF PASS "*) pass "$1_${line#CONF PASS }" ;;
		"CONF FAIL "*) n=${line#CONF FAIL }; fail "$1_${n%%:*}" "${n#*: }" ;;
		"CONF SKIP "*) echo "SKIP $1_${line#CONF SKIP }" ;;
		esac
	done
	fail "$1_conformance" "no end marker (guest output: $(tail -3 "$T/err"))"
}

# ---- boot 1: passthrough, monitor as root ------------------------------------
start_guest "$LCVM" --root "$ROOT" run --rm -i -v "$SH:/data" -v "$RO:/ro:ro" -v "$BIN:/t:ro" \
	busybox sh /t/guest.sh "$OUT/marker"
conf_results 9p_passthrough

# host holds an fcntl lock, the container sees it
expect HOSTLOCK_READY
mkfifo "$T/h_in" "$T/h_out"
"$CONF" --hold-lock "$SH/lk" <"$T/h_in" >"$T/h_out" &
holder=$!
exec 5>"$T/h_in" 6<"$T/h_out"
read -r -t 60 l <&6
echo go >&3
expect PEER
check 9p_lock_host_to_container '[ "$line" = "PEER PASS peer_host_lock" ]'
expect PEER_END
exec 5>&- 6<&-; wait "$holder"

# the container holds an fcntl lock / a flock; the host sees it, then not
for kind in lock flock; do
	expect LOCKED
	"$CONF" --expect-locked "$SH/g$kind" >"$T/r" 2>&1
	check "9p_${kind}_container_to_host" 'grep -q "^PASS" "$T/r"'
	echo release >&3
	expect RELEASED
	"$CONF" --expect-unlocked "$SH/g$kind" >"$T/r" 2>&1
	check "9p_${kind}_container_released" 'grep -q "^PASS" "$T/r"'
done

# nlink from both sides
step=0
for want in 1 3 1; do
	step=$((step + 1))
	expect NLINK
	host=$(stat -c %h "$SH/n" 2>/dev/null)
	check "9p_nlink_host_step${step}_$want" '[ "$line" = "NLINK $want" ] && [ "$host" = "$want" ]'
	echo next >&3
done

expect RO
ro_out=$line
check 9p_ro_erofs '[ "$(echo "$ro_out" | grep -o "Read-only file system" | wc -l)" = 4 ]'
check 9p_ro_unchanged '[ "$(ls "$RO")" = existing ] && [ "$(cat "$RO/existing")" = keep ]'

expect BIG
check 9p_bigdir_container '[ "$line" = "BIG 10000 10000" ]'
check 9p_bigdir_host '[ "$(ls "$SH/big" | wc -l)" = 10000 ]'
expect END
stop_guest
check 9p_passthrough_exit '[ "$guest_status" = 0 ]'
# the VM was stopped only after the guest synced: the mapping's pages are here
yes lcvm-mmap | head -c 1048576 >"$T/mm.want"
check 9p_mmap_written_back_at_exit 'cmp -s "$T/mm.want" "$SH/mm"'
check 9p_escape_marker_intact '[ "$(cat "$OUT/marker")" = secret ]'

# ---- boot 2: mapped, monitor as an unprivileged user ----------------------------
U=nobody
UH=$T/user; mkdir -p "$UH/root" "$UH/run" "$UH/data" "$T/mshare"
chown -R "$U" "$UH" "$T/mshare"
chmod 0700 "$UH/run"
as_user() {
	setpriv --reuid="$U" --regid="$(id -g "$U")" --clear-groups --reset-env \
		env HOME="$UH" XDG_RUNTIME_DIR="$UH/run" XDG_DATA_HOME="$UH/data" "$@"
}
if ! as_user test -x "$LCVM"; then
	fail 9p_mapped_unprivileged "$U cannot execute $LCVM (check the permissions of its directories)"
	exit 0
fi
cat >"$BIN/mapped.sh" <<'EOF'
/t/c /data --skip peer_host_lock 2>&1 | sed 's/^/CONF /'
echo CONF_END
echo hi >/data/owned && chown 1234:5678 /data/owned && chmod 0640 /data/owned
mknod /data/null c 1 3 && chmod 0666 /data/null
echo STAT "$(stat -c '%u:%g %a' /data/owned) $(stat -c '%F %t:%T' /data/null)"
echo END
EOF
start_guest as_user "$LCVM" --root "$UH/root" run --rm -i -v "$T/mshare:/data:mapped" -v "$BIN:/t:ro" \
	busybox sh /t/mapped.sh
conf_results 9p_mapped
expect STAT
check 9p_mapped_guest_view '[ "$line" = "STAT 1234:5678 640 character special file 1:3" ]'
hv=$(python3 -c 'import os,struct,sys; p=sys.argv[1]
u=struct.unpack("<I",os.getxattr(p,"user.virtfs.uid"))[0]; g=struct.unpack("<I",os.getxattr(p,"user.virtfs.gid"))[0]
st=os.stat(p); print(u,g,st.st_uid==int(sys.argv[2]),oct(st.st_mode))' "$T/mshare/owned" "$(id -u $U)" 2>&1)
check 9p_mapped_host_xattrs '[ "$hv" = "1234 5678 True 0o100600" ]'
check 9p_mapped_null_is_regular_on_host '[ -f "$T/mshare/null" ] && [ ! -c "$T/mshare/null" ]'
expect END
stop_guest
check 9p_mapped_exit '[ "$guest_status" = 0 ]'
pm=$(pgrep -u "$U" -f "$UH" | wc -l)
check 9p_mapped_nothing_left '[ "$pm" = 0 ]'
