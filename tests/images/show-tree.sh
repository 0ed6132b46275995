#!/bin/sh
# Prints what the container sees of the test layers (tests/images/mk-test-layers.py).
echo "args: $*"
echo "cwd: $(pwd)"
echo "id: $(id -u):$(id -g)"
echo "foo: $FOO"
cd /
for p in a a/keep a/gone o o/old o/new f1 h1 h2 s p xdev/null xdev/blk; do
	if [ -d "$p" ]; then stat -c '%A %u/%g %n' "$p" # directory sizes depend on the file system
	elif [ -e "$p" ] || [ -L "$p" ]; then stat -c '%A %u/%g %s %n' "$p"
	else echo "absent $p"; fi
done
stat -c '%n %t:%T' xdev/null xdev/blk
echo "s -> $(readlink s)"
echo "h1 links $(stat -c %h h1), same inode as h2: $([ "$(stat -c %i h1)" = "$(stat -c %i h2)" ] && echo yes || echo no)"
getxattr a/keep user.k
