#!/bin/sh
# Image store end to end against local registries (Debian's docker-registry on
# 127.0.0.1, fed by skopeo from archives built here; no internet): pull by
# tag, by digest, multi-arch index, zstd layers, basic auth, TLS with a test
# CA, load/save round trip, hostile archive refused with an unchanged store,
# and a three-layer image whose layer disks hold exactly the expected tree.
# Prints PASS/FAIL lines; cleans up its registries and temp dir.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
LCVM=${LCVM:-build/lcvm}
case $LCVM in /*) ;; *) LCVM=$here/$LCVM ;; esac
T=$(mktemp -d /tmp/lcvm-image-it.XXXXXX)
cleanup() { stop_registries; rm -rf "$T"; }
trap cleanup EXIT INT TERM
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
check() { name=$1; shift; if "$@" >"$T/out" 2>&1; then pass "$name"; else fail "$name" "$(tail -n 3 "$T/out" | tr '\n' ' ')"; fi; }
for tool in docker-registry skopeo python3 openssl unsquashfs sqfstar; do
	command -v $tool >/dev/null || { echo "SKIP image registry tests: $tool missing"; exit 0; }
done
L() { "$LCVM" --root "$T/root" "$@"; }

. "$here/tests/images/registry.sh"

# --- images ------------------------------------------------------------------
python3 "$here/tests/images/mk-test-layers.py" "$T" || { echo "FAIL build test layers"; exit 1; }
"$here/tests/images/mk-oci.sh" "$T/three.tar" three:1 "$T/l1.tar" "$T/l2.tar" "$T/l3.tar"
"$here/tests/images/mk-oci.sh" -z zstd "$T/zstd.tar" z:1 "$T/l1.tar"
"$here/tests/images/mk-oci.sh" -a arm64 -c '["arm"]' "$T/arm.tar" m:arm "$T/l3.tar"
"$here/tests/images/mk-oci.sh" -c '["amd"]' "$T/amd.tar" m:amd "$T/l1.tar"

start_registry "$T/plain" || exit 1
R=127.0.0.1:$port
cp() { skopeo copy -q --dest-tls-verify=false "$@"; }
cp "oci-archive:$T/three.tar" "docker://$R/three:1"
cp "oci-archive:$T/zstd.tar" "docker://$R/z:1"
cp "oci-archive:$T/arm.tar" "docker://$R/multi:arm"
cp "oci-archive:$T/amd.tar" "docker://$R/multi:amd"
# a multi-arch index over the two, PUT by hand
desc() { m=$(skopeo inspect --raw --tls-verify=false "docker://$R/multi:$1"); printf '{"mediaType":"%s","digest":"sha256:%s","size":%s,"platform":{"os":"linux","architecture":"%s"}}' \
	"application/vnd.oci.image.manifest.v1+json" "$(printf %s "$m" | sha256sum | cut -d' ' -f1)" "$(printf %s "$m" | wc -c)" "$2"; }
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,%s]}' "$(desc arm arm64)" "$(desc amd amd64)" >"$T/index.json"
curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.index.v1+json' --data-binary @"$T/index.json" "http://$R/v2/multi/manifests/latest" >/dev/null

# --- pull ----------------------------------------------------------------------
check pull_by_tag L pull -q --insecure "$R/three:1"
check images_lists_it sh -c "'$LCVM' --root '$T/root' images | grep -q '^$R/three  *1 '"
digest=$(skopeo inspect --raw --tls-verify=false "docker://$R/z:1" | sha256sum | cut -d' ' -f1)
check pull_by_digest_zstd L pull -q --insecure "$R/z@sha256:$digest"
check by_digest_listed sh -c "'$LCVM' --root '$T/root' image inspect '$R/z@sha256:$digest' | grep -q '\"$R/z@sha256:$digest\"'"
check pull_multiarch L pull -q --insecure "$R/multi"
check multiarch_picked_amd64 sh -c "'$LCVM' --root '$T/root' image inspect '$R/multi' | grep -A2 '\"Cmd\"' | grep -q '\"amd\"'"
check pull_missing_fails sh -c "! '$LCVM' --root '$T/root' pull -q --insecure '$R/nope:1' 2>'$T/err' && grep -q 'not found' '$T/err'"

# --- layer disks: exactly the expected tree ---------------------------------------
id=$(L images -q | head -n 1)
tree() { unsquashfs -lln "$T/root/layers/$1/layer.sqfs" | awk '{for (i = 3; i <= NF; i++) if ($i ~ /^squashfs-root\//) { sub("squashfs-root/", "", $i); print $1, $2, $i } }'; }
d1=$(sha256sum "$T/l1.tar" | cut -d' ' -f1); d2=$(sha256sum "$T/l2.tar" | cut -d' ' -f1); d3=$(sha256sum "$T/l3.tar" | cut -d' ' -f1)
expect1='drwxr-xr-x 0/0 a
-rw-r--r-- 0/0 a/gone
-rw-r--r-- 0/0 a/keep
drwxr-xr-x 0/0 dev
crw-rw-rw- 0/0 dev/null
drwxr-xr-x 0/0 etc
-rw-r--r-- 0/0 etc/group
-rw-r--r-- 0/0 etc/passwd
-rw-r----- 1000/1000 f1
drwxr-xr-x 0/0 o
-rw-r--r-- 0/0 o/old
prw------- 0/0 p
drwxr-xr-x 0/0 xdev
crw-rw-rw- 0/0 xdev/null'
expect2='drwxr-xr-x 0/0 a
c--------- 0/0 a/gone
-rw-r--r-- 1000/0 h1
-rw-r--r-- 1000/0 h2
drwx--x--x 0/0 o
-rw-r--r-- 0/0 o/new
lrwxrwxrwx 0/0 s'
expect3='drwxr-xr-x 0/0 dev
brw-rw---- 0/0 dev/blk
-rw------- 0/0 f1
drwxr-xr-x 0/0 xdev
brw-rw---- 0/0 xdev/blk'
check layer1_tree test "$(tree "$d1")" = "$expect1"
check layer2_tree_whiteout test "$(tree "$d2")" = "$expect2"
check layer3_tree_devices test "$(tree "$d3")" = "$expect3"
mkdir -p "$T/x2" "$T/x1"
unsquashfs -q -n -f -d "$T/x2" "$T/root/layers/$d2/layer.sqfs" >/dev/null 2>&1
unsquashfs -q -n -f -d "$T/x1" "$T/root/layers/$d1/layer.sqfs" >/dev/null 2>&1
check opaque_xattr python3 -c "import os,sys; sys.exit(os.getxattr('$T/x2/o','trusted.overlay.opaque') != b'y')"
check user_xattr python3 -c "import os,sys; sys.exit(os.getxattr('$T/x1/f1','user.k') != b'v1')"
check hard_link python3 -c "import os,sys; a=os.stat('$T/x2/h1'); b=os.stat('$T/x2/h2'); sys.exit(not (a.st_ino == b.st_ino and a.st_nlink == 2))"
check symlink_target test "$(readlink "$T/x2/s")" = /etc/passwd

# --- save / rmi / load round trip ----------------------------------------------
before=$(L image inspect "$R/three:1" | grep '"Id"')
check save L save -o "$T/saved.tar" "$R/three:1"
check rmi_gc sh -c "'$LCVM' --root '$T/root' rmi '$R/three:1' >/dev/null && ! ls '$T/root/layers' | grep -q '$d3'"
check load_roundtrip sh -c "'$LCVM' --root '$T/root' load -i '$T/saved.tar' | grep -q 'Loaded image: $R/three:1'"
check same_id test "$(L image inspect "$R/three:1" | grep '"Id"')" = "$before"
check tag_and_rmi sh -c "'$LCVM' --root '$T/root' tag '$R/three:1' local/three:x && '$LCVM' --root '$T/root' rmi local/three:x >/dev/null && '$LCVM' --root '$T/root' image inspect '$R/three:1' >/dev/null"

# --- hostile archive: digest mismatch leaves the store unchanged ---------------
mkdir -p "$T/bad" && tar -C "$T/bad" -xf "$T/zstd.tar"
blob=$(ls -S "$T/bad/blobs/sha256" | head -n 1); printf 'X' | dd of="$T/bad/blobs/sha256/$blob" bs=1 seek=100 conv=notrunc 2>/dev/null
tar -C "$T/bad" -cf "$T/bad.tar" oci-layout index.json blobs
snap() { (cat "$T/root/images/index.json"; ls "$T/root/images/blobs/sha256" "$T/root/layers") | sha256sum; }
s1=$(snap)
check hostile_archive_refused sh -c "! '$LCVM' --root '$T/root' load -i '$T/bad.tar' 2>'$T/err' && grep -q 'digest mismatch' '$T/err'"
check store_unchanged test "$s1" = "$(snap)"
check missing_image_message sh -c "! '$LCVM' --root '$T/root' image inspect nothere >/dev/null 2>'$T/err' && grep -q \"image nothere not found; pull it with 'lcvm pull nothere'\" '$T/err'"

# --- basic auth ------------------------------------------------------------------
python3 -c "import crypt; print('u1:' + crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH)))" 2>/dev/null >"$T/htpasswd"
start_registry "$T/auth" "auth:
  htpasswd:
    realm: test
    path: $T/htpasswd
" || exit 1
A=127.0.0.1:$port
skopeo copy -q --dest-tls-verify=false --dest-creds u1:s3cret "oci-archive:$T/amd.tar" "docker://$A/private:1"
check auth_required sh -c "! '$LCVM' --root '$T/root' pull -q --insecure '$A/private:1' 2>'$T/err' && grep -q 'lcvm login' '$T/err'"
check login_wrong_password sh -c "! printf 'nope\n' | '$LCVM' --root '$T/root' login --insecure -u u1 --password-stdin '$A'"
check login L login --insecure -u u1 -p s3cret "$A"
check auth_file_0600 test "$(stat -c %a "$T/root/auth.json")" = 600
check pull_with_login L pull -q --insecure "$A/private:1"

# --- TLS with a test CA ------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lcvm-test-ca -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$T/san.ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 -extfile "$T/san.ext" -out "$T/srv.pem" 2>/dev/null
start_registry "$T/tls" "  tls:
    certificate: $T/srv.pem
    key: $T/srv.key
" "$T/ca.pem" || exit 1
S=127.0.0.1:$port
skopeo copy -q --dest-cert-dir "$T/none" --dest-tls-verify=false "oci-archive:$T/amd.tar" "docker://$S/tls:1"
check tls_unknown_ca_refused sh -c "! '$LCVM' --root '$T/root' pull -q '$S/tls:1' 2>/dev/null"
check tls_with_ca_cert L pull -q --ca-cert "$T/ca.pem" "$S/tls:1"
