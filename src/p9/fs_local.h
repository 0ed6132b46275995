/* Host-directory 9P backend (struct p9_fs_ops, see fs.h): serves one host
 * directory to a guest.
 *
 * Confinement: every node holds an O_PATH descriptor of its object; lookups
 * are relative to the parent's descriptor, one validated component at a
 * time, with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS)
 * where the kernel has it and openat(O_NOFOLLOW) otherwise (or when forced by
 * p9_local_opts.no_openat2). Symlinks are never followed on the host; ".."
 * is clamped at the export root and checked to stay inside it. A FIFO,
 * socket or device node is never opened on the host: open() checks the type
 * on the O_PATH descriptor and reopens only regular files and directories
 * (through /proc/self/fd/N), creation uses O_EXCL so an existing node is
 * never opened by accident, chmod/truncate go by /proc path without opening.
 *
 * Security models:
 *   passthrough  real host ownership, modes and nodes (chown/mknod of devices
 *                need root). Set-uid/set-gid bits are never set on host files
 *                (kept on directories for group inheritance).
 *   mapped       rootless, QEMU's mapped-xattr layout: host objects 0600/0700
 *                owned by the server; guest uid/gid/mode/rdev in
 *                user.virtfs.{uid,gid,mode,rdev} (u32/u32/u32/u64 little
 *                endian), special files and symlinks stored as regular files
 *                (symlink target as content), guest ACLs under
 *                user.virtfs.system.posix_acl_*.
 * In both models guests can neither read, list nor write user.virtfs.*
 * (ENODATA / hidden / EACCES).
 *
 * qid.path = inode number, with the index of the host device (a per-export
 * table, P9_LOCAL_MAX_DEVS entries, the export's own device first) in the
 * top byte, so objects of several host filesystems never collide.
 * qid.version is derived from mtime, ctime and size.
 *
 * Locks are open-file-description locks (F_OFD_*) on the node's open
 * descriptor, so they conflict with host processes, other fids, other
 * connections and other VMs, and vanish when the node is released. A
 * blocking lock retries F_OFD_SETLK with a bounded exponential backoff
 * (P9_LOCAL_LOCK_POLL_MAX_MS) through p9_cancel_sleep(), which returns at
 * once on Tflush/disconnect: no signals, no process-wide handler, no lost
 * wake-up; the price is up to that many ms of latency after an unlock.
 *
 * Ownership: the caller owns the instance and frees it after the server that
 * uses it is gone; nodes are owned by the server (fs.h). */
#ifndef LCVM_P9_FS_LOCAL_H
#define LCVM_P9_FS_LOCAL_H

#include <stdbool.h>

#include "p9/fs.h"
#include "util/err.h"

#define P9_LOCAL_MAX_DEVS 255          /* host filesystems under one export */
#define P9_LOCAL_LOCK_POLL_MAX_MS 50   /* longest sleep between lock attempts */
#define P9_LOCAL_MAX_DEPTH 4096        /* ".." containment walk bound */
#define P9_LOCAL_NO_UID 0xFFFFFFFFu    /* attach without a numeric uname */

enum p9_local_model {
	P9_LOCAL_PASSTHROUGH = 0,
	P9_LOCAL_MAPPED = 1,
};

struct p9_local_opts {
	const char *root;            /* host directory to export */
	enum p9_local_model model;
	bool readonly;               /* every mutating op answers EROFS */
	bool no_openat2;             /* force the openat(O_NOFOLLOW) lookup path */
};

struct p9_localfs;

extern const struct p9_fs_ops p9_localfs_ops;

/* Opens the export root. Returns 0 or -errno (message in e). */
int p9_localfs_new(const struct p9_local_opts *o, struct p9_localfs **out, struct lc_err *e);
/* Every node must have been released first. */
void p9_localfs_free(struct p9_localfs *fs);
/* Node handles not yet released (tests check for leaks). */
unsigned p9_localfs_live_nodes(struct p9_localfs *fs);
/* True when lookups use openat2 (kernel support and not forced off). */
bool p9_localfs_uses_openat2(const struct p9_localfs *fs);

/* Parses "passthrough" / "mapped" (also "mapped-xattr"). 0 or -EINVAL. */
int p9_local_model_parse(const char *s, enum p9_local_model *out);

#endif
