#!/usr/bin/env python3
"""Writes three layer tars into OUTDIR exercising what layer conversion must keep:
l1: dirs, files with owners and xattrs, char devices, a FIFO, files to delete later;
l2: a whiteout (.wh.gone), an opaque dir (.wh..wh..opq), hard links, a symlink;
l3: block devices and a file replaced. Devices also sit in xdev/, which a
container sees (its /dev is a tmpfs). Usage: mk-test-layers.py OUTDIR"""
import io, sys, tarfile

def add(t, name, kind, data=b"", mode=0o644, uid=0, gid=0, link="", dev=(0, 0), xattrs=None):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, gid, 1700000000
    ti.linkname = link
    ti.devmajor, ti.devminor = dev
    if xattrs:
        ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in xattrs.items()}
    if kind == tarfile.REGTYPE:
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    else:
        t.addfile(ti)

def layer(path, entries):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            add(t, *e[:2], **e[2])

out = sys.argv[1]
D, F, L, S, C, B, P = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE
layer(out + "/l1.tar", [
    ("etc", D, dict(mode=0o755)),
    ("etc/passwd", F, dict(data=b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")),
    ("etc/group", F, dict(data=b"root:x:0:\napp:x:1000:\n")),
    ("a", D, dict(mode=0o755)),
    ("a/keep", F, dict(data=b"keep\n", xattrs={"user.k": "kept"})),
    ("a/gone", F, dict(data=b"gone\n")),
    ("o", D, dict(mode=0o755)),
    ("o/old", F, dict(data=b"old\n")),
    ("f1", F, dict(data=b"x\n", mode=0o640, uid=1000, gid=1000, xattrs={"user.k": "v1"})),
    ("dev", D, dict(mode=0o755)),
    ("dev/null", C, dict(mode=0o666, dev=(1, 3))),
    ("p", P, dict(mode=0o600)),
    ("xdev", D, dict(mode=0o755)),
    ("xdev/null", C, dict(mode=0o666, dev=(1, 3))),
])
layer(out + "/l2.tar", [
    ("a", D, dict(mode=0o755)),
    ("a/.wh.gone", F, dict()),
    ("o", D, dict(mode=0o711)),
    ("o/.wh..wh..opq", F, dict()),
    ("o/new", F, dict(data=b"new\n")),
    ("h1", F, dict(data=b"linked\n", uid=1000)),
    ("h2", L, dict(link="h1")),
    ("s", S, dict(link="/etc/passwd", mode=0o777)),
])
layer(out + "/l3.tar", [
    ("dev", D, dict(mode=0o755)),
    ("dev/blk", B, dict(mode=0o660, dev=(8, 0))),
    ("f1", F, dict(data=b"replaced\n", mode=0o600)),
    ("xdev", D, dict(mode=0o755)),
    ("xdev/blk", B, dict(mode=0o660, dev=(8, 0))),
])
