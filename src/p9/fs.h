/* The 9P2000.L backend contract: what src/p9/server.c asks of a filesystem
 * (src/p9/fs_local.c for host directories, src/p9/fs_mem.c for tests).
 *
 * Shaped like diod's Npsrv: every op takes decoded, already validated
 * arguments and returns 0 (or a count) or a negative Linux errno. A backend
 * never sees protocol bytes, tags or fids, and never repeats the server's
 * checks. What the SERVER guarantees before calling an op:
 *   - names are NUL-terminated, 1..P9_NAME_MAX bytes, contain no '/' and no
 *     NUL; "." and ".." reach only walk() (create-type ops answer EEXIST,
 *     unlinkat EINVAL/ENOTEMPTY, renameat EISDIR in the server);
 *   - symlink targets are 1..P9_SYMLINK_MAX bytes, NUL-terminated;
 *   - xattr names are 1..P9_XATTR_NAME_MAX bytes, values <= P9_XATTR_SIZE_MAX;
 *   - open/create flags are host O_* flags translated bit by bit from the
 *     9P L-flags (never the guest word); O_CREAT, O_NOCTTY, O_CLOEXEC,
 *     O_NOFOLLOW, O_NONBLOCK, O_LARGEFILE, FASYNC are already removed: the
 *     backend adds its own safety flags (O_NOFOLLOW|O_CLOEXEC...). O_DIRECT
 *     is kept: a backend honours it (buffers handed to read/write are NOT
 *     aligned; the backend bounces through an aligned buffer if it must);
 *   - on an export with P9_EXPORT_RDONLY no mutating op is ever called
 *     (the server answers EROFS first), and open() never gets a write mode;
 *   - read/write/readdir/fsync/lock/getlock are called only on a node that
 *     open() or create() made open; open()/create() only on an unopened node;
 *   - readdir() on one node is never concurrent with another readdir() on
 *     that node; release() is called after every other op on that node has
 *     returned, exactly once per handle.
 * Otherwise ops run concurrently on the server's worker threads, possibly
 * several on one node (e.g. read + lock): a backend locks its own state.
 *
 * Ownership: a struct p9_node is the backend's per-fid state (host fd, open
 * file, locks held, credentials of the attach it descends from). Handles come
 * out of attach, clone, walk and create; from then on the SERVER owns the
 * handle and gives it back with release() exactly once. Handles passed as
 * arguments are borrowed for the call. Strings and buffers passed in are
 * borrowed for the call; out-structs and buffers are the caller's.
 *
 * Security model (passthrough / mapped-xattr) and the export root are options
 * of the backend's constructor, not of the server. */
#ifndef LCVM_P9_FS_H
#define LCVM_P9_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* --- limits the server enforces before calling a backend ------------------ */
#define P9_NAME_MAX        255     /* one path component (ENAMETOOLONG) */
#define P9_SYMLINK_MAX     4095    /* symlink target (ENAMETOOLONG) */
#define P9_XATTR_NAME_MAX  255     /* ERANGE beyond */
#define P9_XATTR_SIZE_MAX  65536   /* value and list (E2BIG / ERANGE beyond) */
#define P9_LOCK_CLIENT_MAX 64      /* client_id bytes (guest nodename) */

/* --- values shared by the wire and the backend ---------------------------- */
/* qid.type bits */
#define P9_QTDIR     0x80
#define P9_QTAPPEND  0x40
#define P9_QTEXCL    0x20
#define P9_QTMOUNT   0x10
#define P9_QTAUTH    0x08
#define P9_QTTMP     0x04
#define P9_QTSYMLINK 0x02
#define P9_QTFILE    0x00

struct p9_qid {
	uint8_t type;     /* P9_QT*: DIR for directories, SYMLINK for links, else 0 */
	uint32_t version;
	uint64_t path;    /* unique and stable per object for the session */
};

/* Tgetattr request_mask / Rgetattr valid bits */
#define P9_GETATTR_MODE         0x00000001ULL
#define P9_GETATTR_NLINK        0x00000002ULL
#define P9_GETATTR_UID          0x00000004ULL
#define P9_GETATTR_GID          0x00000008ULL
#define P9_GETATTR_RDEV         0x00000010ULL
#define P9_GETATTR_ATIME        0x00000020ULL
#define P9_GETATTR_MTIME        0x00000040ULL
#define P9_GETATTR_CTIME        0x00000080ULL
#define P9_GETATTR_INO          0x00000100ULL
#define P9_GETATTR_SIZE         0x00000200ULL
#define P9_GETATTR_BLOCKS       0x00000400ULL
#define P9_GETATTR_BTIME        0x00000800ULL
#define P9_GETATTR_GEN          0x00001000ULL
#define P9_GETATTR_DATA_VERSION 0x00002000ULL
#define P9_GETATTR_BASIC        0x000007ffULL
#define P9_GETATTR_ALL          0x00003fffULL

/* Everything Rgetattr carries. A backend fills at least BASIC (mode always
 * including S_IFMT) and sets valid accordingly; unfilled fields stay 0. */
struct p9_attr {
	uint64_t valid;
	struct p9_qid qid;
	uint32_t mode, uid, gid;
	uint64_t nlink, rdev, size, blksize, blocks; /* blocks: 512-byte units */
	uint64_t atime_sec, atime_nsec, mtime_sec, mtime_nsec;
	uint64_t ctime_sec, ctime_nsec, btime_sec, btime_nsec;
	uint64_t gen, data_version;
};

/* Tsetattr valid bits; fields without their bit are garbage. */
#define P9_SETATTR_MODE      0x001
#define P9_SETATTR_UID       0x002
#define P9_SETATTR_GID       0x004
#define P9_SETATTR_SIZE      0x008
#define P9_SETATTR_ATIME     0x010  /* atime = atime_* if ATIME_SET, else now */
#define P9_SETATTR_MTIME     0x020  /* mtime = mtime_* if MTIME_SET, else now */
#define P9_SETATTR_CTIME     0x040
#define P9_SETATTR_ATIME_SET 0x080
#define P9_SETATTR_MTIME_SET 0x100

struct p9_iattr {
	uint32_t valid;
	uint32_t mode;    /* apply mode & 07777 */
	uint32_t uid, gid;
	uint64_t size;
	uint64_t atime_sec, atime_nsec, mtime_sec, mtime_nsec;
};

struct p9_statfs {
	uint32_t type, bsize;
	uint64_t blocks, bfree, bavail, files, ffree, fsid;
	uint32_t namelen;
};

/* One directory entry handed to a readdir fill callback. */
struct p9_dirent {
	struct p9_qid qid;
	uint64_t offset;   /* cookie that resumes AFTER this entry; never 0 */
	uint8_t type;      /* DT_* */
	const char *name;  /* borrowed for the callback */
	size_t namelen;
};
/* Returns 0 when the entry was taken, 1 when it did not fit (the backend
 * stops without consuming it), never anything else. */
typedef int (*p9_fill_fn)(void *ctx, const struct p9_dirent *d);

/* Locks: Tlock type / flags / status values. */
#define P9_LOCK_TYPE_RDLCK 0
#define P9_LOCK_TYPE_WRLCK 1
#define P9_LOCK_TYPE_UNLCK 2
#define P9_LOCK_FLAGS_BLOCK   1
#define P9_LOCK_FLAGS_RECLAIM 2
#define P9_LOCK_SUCCESS 0
#define P9_LOCK_BLOCKED 1
#define P9_LOCK_ERROR   2
#define P9_LOCK_GRACE   3

struct p9_flock {
	uint8_t type;       /* P9_LOCK_TYPE_* */
	uint64_t start;
	uint64_t length;    /* 0 = to EOF */
	uint32_t proc_id;
	char client_id[P9_LOCK_CLIENT_MAX + 1]; /* NUL-terminated */
};

/* --- cancellation of a blocking op (implemented by the server) ------------ *
 * A blocking lock() gets a token. The server cancels it when the request is
 * flushed or its connection goes away. The backend either polls
 * (p9_cancel_sleep between non-blocking attempts) or waits on its own
 * condition and registers a hook that wakes that wait. */
struct p9_cancel;

/* True once the request was flushed or its connection closed. */
bool p9_cancel_requested(struct p9_cancel *c);
/* Milliseconds the server is still willing to wait for this op (its lock
 * wait budget); <= 0: give up now and answer -EAGAIN (BLOCKED). */
long p9_cancel_budget_ms(struct p9_cancel *c);
/* Sleeps min(ms, budget) or until cancelled. Returns -EINTR if cancelled,
 * -EAGAIN if the budget ran out, 0 otherwise. */
int p9_cancel_sleep(struct p9_cancel *c, long ms);
/* Registers fn(arg), called once from another thread when cancellation is
 * requested (at once, in the caller's thread, if it already was). fn NULL
 * unregisters; after that returns, fn is not running and will not run.
 * Never call it while holding a lock that fn takes. */
void p9_cancel_set_hook(struct p9_cancel *c, void (*fn)(void *arg), void *arg);

/* --- the vtable ----------------------------------------------------------- */
struct p9_node; /* backend-defined */

struct p9_fs_ops {
	/* Tattach. uname borrowed; n_uname is the numeric uid (0xFFFFFFFF:
	 * none) that owns objects created below this root; aname selects a
	 * sub-export or is "" (untrusted: the backend validates it). */
	int (*attach)(void *fs, const char *uname, uint32_t n_uname, const char *aname,
		      struct p9_node **root, struct p9_qid *qid);
	/* A new handle for the same object, unopened (Twalk with 0 names). */
	int (*clone)(void *fs, struct p9_node *n, struct p9_node **out);
	/* One component from directory dir: "." stays, ".." goes up but never
	 * above the export root, never follows symlinks (walking to a symlink
	 * yields the link itself). ENOTDIR when dir is not a directory. */
	int (*walk)(void *fs, struct p9_node *dir, const char *name,
		    struct p9_node **out, struct p9_qid *qid);
	/* The node may be open on an unlinked file: use the open object. */
	int (*getattr)(void *fs, struct p9_node *n, uint64_t request_mask, struct p9_attr *out);
	int (*setattr)(void *fs, struct p9_node *n, const struct p9_iattr *ia);
	/* Opens n (unopened) with host O_* flags (access mode + O_APPEND,
	 * O_TRUNC, O_DSYNC, O_SYNC, O_NOATIME, O_DIRECT, O_DIRECTORY). Refuses anything
	 * but a regular file or a directory (ENXIO), directories for writing
	 * (EISDIR). Fills the object's qid. */
	int (*open)(void *fs, struct p9_node *n, int flags, struct p9_qid *qid);
	/* Tlcreate: creates regular file name in directory dir with
	 * mode & 07777 and group gid, owner from dir's attach, opens it with
	 * flags (| O_CREAT, honouring O_EXCL) and returns a NEW open handle. */
	int (*create)(void *fs, struct p9_node *dir, const char *name, int flags,
		      uint32_t mode, uint32_t gid, struct p9_node **out, struct p9_qid *qid);
	/* Return bytes done (0 = EOF for read) or -errno. write never returns
	 * 0 for count > 0. count <= the server's msize. */
	ssize_t (*read)(void *fs, struct p9_node *n, uint64_t off, void *buf, size_t count);
	ssize_t (*write)(void *fs, struct p9_node *n, uint64_t off, const void *buf, size_t count);
	/* Entries of open directory n starting at cookie (0 = from the start,
	 * else an offset from an earlier entry: valid as long as n is open,
	 * whatever is added or removed meanwhile). Calls fill per entry until
	 * it returns 1 or the directory ends. Includes "." and "..". */
	int (*readdir)(void *fs, struct p9_node *n, uint64_t cookie, p9_fill_fn fill, void *ctx);
	int (*mkdir)(void *fs, struct p9_node *dir, const char *name, uint32_t mode,
		     uint32_t gid, struct p9_qid *qid);
	/* mode carries the type (S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK, S_IFREG). */
	int (*mknod)(void *fs, struct p9_node *dir, const char *name, uint32_t mode,
		     uint32_t major, uint32_t minor, uint32_t gid, struct p9_qid *qid);
	int (*symlink)(void *fs, struct p9_node *dir, const char *name, const char *target,
		       uint32_t gid, struct p9_qid *qid);
	/* Hard link to target (EPERM for directories) as dir/name. */
	int (*link)(void *fs, struct p9_node *dir, struct p9_node *target, const char *name);
	/* Copies the target without terminator; returns its length, or
	 * -ENAMETOOLONG when it does not fit in size. */
	ssize_t (*readlink)(void *fs, struct p9_node *n, char *buf, size_t size);
	/* flags: 0 or AT_REMOVEDIR (host value, 0x200). */
	int (*unlinkat)(void *fs, struct p9_node *dir, const char *name, int flags);
	int (*renameat)(void *fs, struct p9_node *olddir, const char *oldname,
			struct p9_node *newdir, const char *newname);
	/* Legacy Trename / Tremove: may be NULL (the server answers
	 * EOPNOTSUPP; Tremove still clunks). */
	int (*rename)(void *fs, struct p9_node *n, struct p9_node *newdir, const char *name);
	int (*remove)(void *fs, struct p9_node *n);
	int (*statfs)(void *fs, struct p9_node *n, struct p9_statfs *out);
	int (*fsync)(void *fs, struct p9_node *n, bool datasync);
	/* Tlock on open node n. Returns 0 (SUCCESS), -EAGAIN (BLOCKED: a
	 * conflict and either no P9_LOCK_FLAGS_BLOCK or the budget of c ran
	 * out), -EINTR (cancelled before the lock was taken: the server sends
	 * nothing), or another -errno (Rlerror). UNLCK of a range not held
	 * is 0. c is non-NULL only with P9_LOCK_FLAGS_BLOCK. */
	int (*lock)(void *fs, struct p9_node *n, const struct p9_flock *l, uint32_t flags,
		    struct p9_cancel *c);
	/* Tgetlock: type UNLCK (what Linux sends) means "any conflict". On a
	 * conflict overwrite *l with the conflicting lock; else set type UNLCK
	 * and leave the rest. */
	int (*getlock)(void *fs, struct p9_node *n, struct p9_flock *l);
	/* getxattr(2)/listxattr(2) semantics: size 0 returns the size needed;
	 * -ERANGE when buf is too small; -ENODATA when missing. The list is
	 * NUL-separated names. */
	ssize_t (*xattr_get)(void *fs, struct p9_node *n, const char *name, void *buf, size_t size);
	ssize_t (*xattr_list)(void *fs, struct p9_node *n, char *buf, size_t size);
	/* flags: 0, XATTR_CREATE (1) or XATTR_REPLACE (2). size may be 0 only
	 * for xattr_remove (the server maps a 0-byte Txattrcreate to it). */
	int (*xattr_set)(void *fs, struct p9_node *n, const char *name, const void *value,
			 size_t size, int flags);
	int (*xattr_remove)(void *fs, struct p9_node *n, const char *name);
	/* Frees the handle: closes what it holds and drops its locks (clunk
	 * and disconnect). Returns a close error to report in Rclunk; the
	 * handle is gone either way. */
	int (*release)(void *fs, struct p9_node *n);
};

/* An export: a backend instance and how the server may use it. */
#define P9_EXPORT_RDONLY 0x1u /* the server refuses every mutation with EROFS */

struct p9_export {
	const struct p9_fs_ops *ops;
	void *fs;            /* the backend instance, owned by whoever made it */
	unsigned flags;      /* P9_EXPORT_* */
};

#endif
