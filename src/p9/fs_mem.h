/* In-memory 9P backend (struct p9_fs_ops, see fs.h) for tests and fuzzing.
 *
 * A whole tree in memory behind one mutex: files, directories with stable
 * readdir cookies (an entry keeps its cookie until it is removed; cookies
 * only grow), symlinks, special files (never opened), hard links, xattrs
 * and POSIX-style byte-range locks owned per node (fid), blocking locks
 * waiting on a condition and woken by unlocks and by cancellation.
 * Bounded: at most P9_MEMFS_MAX_INODES objects, P9_MEMFS_MAX_BYTES of file
 * data, P9_MEMFS_MAX_FILE per file, P9_MEMFS_MAX_XATTRS per object.
 *
 * Ownership: the caller owns the instance and frees it after the server
 * that uses it; every node handle must have been released first. */
#ifndef LCVM_P9_FS_MEM_H
#define LCVM_P9_FS_MEM_H

#include "p9/fs.h"

#define P9_MEMFS_MAX_INODES (1u << 20)
#define P9_MEMFS_MAX_BYTES  (256ull << 20)
#define P9_MEMFS_MAX_FILE   (64ull << 20)
#define P9_MEMFS_MAX_XATTRS 64

struct p9_memfs;

extern const struct p9_fs_ops p9_memfs_ops;

/* An empty tree (root directory 0755 owned by 0:0). NULL on ENOMEM. */
struct p9_memfs *p9_memfs_new(void);
void p9_memfs_free(struct p9_memfs *m);
/* Node handles not yet released (tests check for leaks). */
unsigned p9_memfs_live_nodes(struct p9_memfs *m);

#endif
