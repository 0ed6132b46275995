#!/bin/sh
# lcvm run with images from the store, in real VMs (TCG here), few boots:
#  1. an image pulled from a local registry (docker-registry on 127.0.0.1,
#     fed by skopeo): busybox + a probe layer + the three test layers of
#     tests/images/mk-test-layers.py; its config (Entrypoint, Cmd, Env,
#     WorkingDir, User) runs tests/images/show-tree.sh, which must print
#     exactly the expected merged tree (whiteouts, opaque dir, hard links,
#     xattr, device nodes);
#  2. the same image with run flags overriding the config, writing 768 MiB
#     in a 512 MiB VM: what RAM cannot hold lands in the scratch disk file
#     on the host (a swap area under the tmpfs upper);
#     ExposedPorts and the image id are recorded in the state;
#  3. --read-only refuses writes and creates no scratch disk;
#  4. Debian 12 (tests/images/mk-debian.sh, cached) runs cat /etc/debian_version.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")/../.." && pwd)
G=$(dirname "$LCVM")/guest
. "$here/tests/images/registry.sh"
trap 'stop_registries; cleanup_all' EXIT
for tool in docker-registry skopeo python3 curl; do
	command -v $tool >/dev/null || { echo "SKIP image run tests: $tool missing"; exit 0; }
done
[ -f "$G/images/busybox/rootfs.tar" ] || { echo "FAIL image_run: $G/images/busybox/rootfs.tar missing (make guest)"; exit 1; }

# --- the test image ----------------------------------------------------------------
python3 "$here/tests/images/mk-test-layers.py" "$T" || { echo "FAIL build test layers"; exit 1; }
mkdir -p "$T/probe/bin"
cc -std=c11 -D_GNU_SOURCE -O2 -static -o "$T/probe/bin/getxattr" "$here/tests/images/getxattr.c" ||
	{ echo "FAIL build getxattr probe"; exit 1; }
cp "$here/tests/images/show-tree.sh" "$T/probe/bin/show-tree"
tar -C "$T/probe" --numeric-owner --owner=0 --group=0 -cf "$T/probe.tar" bin
"$here/tests/images/mk-oci.sh" -c '["from-cmd"]' \
	-e '["PATH=/usr/sbin:/usr/bin:/sbin:/bin","FOO=image"]' \
	-x '"Entrypoint":["/bin/show-tree"],"WorkingDir":"/o","User":"1000:1000","ExposedPorts":{"80/tcp":{},"53/udp":{}}' \
	"$T/tree.tar" tree:1 "$G/images/busybox/rootfs.tar" "$T/probe.tar" "$T/l1.tar" "$T/l2.tar" "$T/l3.tar"

# --- local registry ------------------------------------------------------------------
start_registry "$T/registry" || exit 1
R=127.0.0.1:$port
skopeo copy -q --dest-tls-verify=false "oci-archive:$T/tree.tar" "docker://$R/tree:1"
lcvm pull -q --insecure "$R/tree:1" >/dev/null 2>"$T/e"
check pull_from_registry '[ $? = 0 ] || { cat "$T/e"; false; }'

# --- 1. config honoured, exactly the expected tree ----------------------------------
lcvm run --rm "$R/tree:1" >"$T/tree.out" 2>"$T/e"; st=$?
cat >"$T/tree.want" <<'WANT'
args: from-cmd
cwd: /o
id: 1000:1000
foo: image
drwxr-xr-x 0/0 a
-rw-r--r-- 0/0 5 a/keep
absent a/gone
drwx--x--x 0/0 o
absent o/old
-rw-r--r-- 0/0 4 o/new
-rw------- 0/0 9 f1
-rw-r--r-- 1000/0 7 h1
-rw-r--r-- 1000/0 7 h2
lrwxrwxrwx 0/0 11 s
prw------- 0/0 0 p
crw-rw-rw- 0/0 0 xdev/null
brw-rw---- 0/0 0 xdev/blk
xdev/null 1:3
xdev/blk 8:0
s -> /etc/passwd
h1 links 2, same inode as h2: yes
user.k=kept
WANT
check run_pulled_image '[ "$st" = 0 ]'
if diff "$T/tree.want" "$T/tree.out" >"$T/tree.diff"; then pass run_expected_tree
else fail run_expected_tree "$(tr '\n' ' ' <"$T/tree.diff")"; fi

# --- 2. flags override the config; 768 MiB in a 512 MiB VM spill to the scratch disk ---
lcvm run -m 512M -e FOO=flag -w /a -u 0:0 --entrypoint /bin/sh "$R/tree:1" -c \
	'echo "$FOO $(pwd) $(id -u):$(id -g)"; dd if=/dev/zero of=/big bs=1M count=768 2>/dev/null && sync && echo wrote' \
	>"$T/o2" 2>"$T/e"; st=$?
check run_flags_override '[ "$(head -n 1 "$T/o2")" = "flag /a 0:0" ]'
check write_768MiB_in_512MiB_vm '[ "$st" = 0 ] && [ "$(tail -n 1 "$T/o2")" = wrote ]'
dir=$(find "$ROOT/run" -mindepth 1 -maxdepth 1 -type d | head -n 1)
img=$(readlink "$dir/scratch.img" 2>/dev/null)
used=$(du -m "$img" 2>/dev/null | cut -f1)
check writes_on_scratch_disk '[ -n "$used" ] && [ "$used" -ge 256 ]'
id=$(lcvm image inspect "$R/tree:1" | sed -n 's/.*"Id": *"\(sha256:[0-9a-f]*\)".*/\1/p' | head -n 1)
cat >"$T/spec.py" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(not (sorted(d.get("exposed_ports", [])) == ["53/udp", "80/tcp"] and d.get("image_id") == sys.argv[2]))
PY
check state_records_ports_and_id 'python3 "$T/spec.py" "$dir/spec.json" "$id"'
rm -rf "$dir" "$(dirname "$img")"

# --- 3. --read-only ---------------------------------------------------------------------
"$here/tests/images/mk-busybox-oci.sh" "$G/images/busybox" "$T/busybox.oci.tar" >/dev/null &&
	lcvm load -q -i "$T/busybox.oci.tar"
# The container stays up (reading stdin) while rmi is tried on its image: refused.
mkfifo "$T/ro_in" "$T/ro_out"
(exec "$LCVM" --root "$ROOT" run --rm -i --read-only busybox \
	sh -c 'if echo x >/f; then echo wrote; else echo refused; fi; read _' <"$T/ro_in" >"$T/ro_out" 2>"$T/e") &
ro_pid=$!
exec 7>"$T/ro_in"
read -r out <"$T/ro_out"
check read_only_no_scratch '[ -z "$(ls -A "$ROOT/containers" 2>/dev/null)" ]'
lcvm rmi busybox 2>"$T/rmi_e"; rmi_st=$?
check rmi_refuses_image_in_use '[ "$rmi_st" = 125 ] && grep -q "used by running container" "$T/rmi_e"'
exec 7>&-
wait "$ro_pid"
check read_only_refuses_writes '[ "$out" = refused ] && grep -q "Read-only file system" "$T/e"'

# --- 4. Debian 12 ---------------------------------------------------------------------------
deb=$("$here/tests/images/mk-debian.sh" "$here/build/cache/debian12.oci.tar" 2>"$T/e")
if [ -z "$deb" ]; then
	echo "SKIP debian_version: $(tail -n 1 "$T/e")"
else
	lcvm load -q -i "$deb"
	v=$(lcvm run --rm debian:12 cat /etc/debian_version 2>"$T/e")
	check debian12_runs 'echo "$v" | grep -q "^12\.[0-9]*$" || { cat "$T/e"; false; }'
fi

check nothing_left_behind 'leftovers && [ -z "$(ls -A "$ROOT/containers" 2>/dev/null)" ]'
