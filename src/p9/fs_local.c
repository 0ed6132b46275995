/* Host-directory 9P backend. Contract and security notes: fs_local.h. */
#include "p9/fs_local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/cleanup.h"

#define VIRTFS_PREFIX "user.virtfs."
#define VIRTFS_UID "user.virtfs.uid"
#define VIRTFS_GID "user.virtfs.gid"
#define VIRTFS_MODE "user.virtfs.mode"
#define VIRTFS_RDEV "user.virtfs.rdev"
#define ACL_PREFIX "system.posix_acl_"
#define MAPPED_FILE_MODE 0600
#define MAPPED_DIR_MODE 0700
#define GETDENTS_BUF 32768

struct p9_localfs {
	int root_fd; /* O_PATH of the export root */
	dev_t root_dev;
	ino_t root_ino;
	enum p9_local_model model;
	bool readonly;
	bool openat2;
	atomic_uint live;
	mode_t umask;  /* the process's, read once: creations undo it (the guest applied its own) */
	pthread_mutex_t dev_mu;
	unsigned ndevs;
	dev_t devs[P9_LOCAL_MAX_DEVS];
};

struct p9_node {
	int fd;         /* O_PATH (or any) descriptor of the object; always valid */
	int ofd;        /* descriptor from open()/create(), -1 while unopened */
	uint32_t uid;   /* n_uname of the attach this node descends from */
	bool direct;    /* ofd is O_DIRECT: I/O buffers must be aligned */
	pthread_mutex_t mu; /* readdir buffer */
};

/* --- small helpers ----------------------------------------------------------- */

static void procpath(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* The process umask without changing it (umask(2) is process-wide and racy
 * in a threaded monitor). */
static mode_t read_umask(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	unsigned m = 022;
	char line[128];
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Umask: %o", &m) == 1)
			break;
	if (f)
		fclose(f);
	return (mode_t)(m & 0777);
}

/* Passthrough: the guest already applied its umask to mode; undo the
 * server's own umask on the new object (fd: any descriptor of it). */
static int undo_umask(struct p9_localfs *fs, int fd, mode_t mode)
{
	if (fs->model != P9_LOCAL_PASSTHROUGH || !(mode & fs->umask))
		return 0;
	char p[64];
	procpath(p, sizeof(p), fd);
	return chmod(p, mode) < 0 ? -errno : 0;
}

static bool bad_name(const char *name)
{
	return !name || !name[0] || strchr(name, '/') || strlen(name) > P9_NAME_MAX;
}

static int dupfd(int fd)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return d < 0 ? -errno : d;
}

static int fd_stat(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static struct p9_node *node_new(struct p9_localfs *fs, int fd, uint32_t uid)
{
	struct p9_node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->fd = fd;
	n->ofd = -1;
	n->uid = uid;
	pthread_mutex_init(&n->mu, NULL);
	atomic_fetch_add(&fs->live, 1);
	return n;
}

/* Index of a host device in the export's table, adding it if new. */
static int dev_index(struct p9_localfs *fs, dev_t dev)
{
	pthread_mutex_lock(&fs->dev_mu);
	int idx = -ENODEV;
	for (unsigned i = 0; i < fs->ndevs; i++)
		if (fs->devs[i] == dev) {
			idx = (int)i;
			break;
		}
	if (idx < 0 && fs->ndevs < P9_LOCAL_MAX_DEVS) {
		fs->devs[fs->ndevs] = dev;
		idx = (int)fs->ndevs++;
	}
	pthread_mutex_unlock(&fs->dev_mu);
	return idx;
}

static uint64_t qid_path(int devidx, uint64_t ino)
{
	return ((uint64_t)devidx << 56) | (ino & ((1ULL << 56) - 1));
}

/* --- mapped-xattr metadata --------------------------------------------------- */

struct meta {
	bool has_uid, has_gid, has_mode, has_rdev;
	uint32_t uid, gid, mode;
	uint64_t rdev;
};

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static bool get_x32(const char *path, const char *name, uint32_t *v)
{
	unsigned char b[4];
	if (getxattr(path, name, b, sizeof(b)) != 4)
		return false;
	*v = le32(b);
	return true;
}

static void meta_read(int fd, struct meta *m)
{
	char p[64];
	procpath(p, sizeof(p), fd);
	memset(m, 0, sizeof(*m));
	m->has_uid = get_x32(p, VIRTFS_UID, &m->uid);
	m->has_gid = get_x32(p, VIRTFS_GID, &m->gid);
	m->has_mode = get_x32(p, VIRTFS_MODE, &m->mode);
	unsigned char b[8];
	if (getxattr(p, VIRTFS_RDEV, b, sizeof(b)) == 8) {
		m->has_rdev = true;
		m->rdev = le32(b) | (uint64_t)le32(b + 4) << 32;
	}
}

static int set_x32(const char *path, const char *name, uint32_t v)
{
	unsigned char b[4];
	put_le32(b, v);
	return setxattr(path, name, b, sizeof(b), 0) < 0 ? -errno : 0;
}

/* Stores guest credentials on a freshly created host object. */
static int meta_write(int fd, uint32_t uid, uint32_t gid, uint32_t mode, uint64_t rdev, bool with_rdev)
{
	char p[64];
	procpath(p, sizeof(p), fd);
	int r = 0;
	if (uid != P9_LOCAL_NO_UID)
		r = set_x32(p, VIRTFS_UID, uid);
	if (!r)
		r = set_x32(p, VIRTFS_GID, gid);
	if (!r)
		r = set_x32(p, VIRTFS_MODE, mode);
	if (!r && with_rdev) {
		unsigned char b[8];
		put_le32(b, (uint32_t)rdev);
		put_le32(b + 4, (uint32_t)(rdev >> 32));
		r = setxattr(p, VIRTFS_RDEV, b, sizeof(b), 0) < 0 ? -errno : 0;
	}
	return r;
}

/* The guest-visible mode of a host object. */
static uint32_t guest_mode(struct p9_localfs *fs, int fd, const struct stat *st)
{
	if (fs->model != P9_LOCAL_MAPPED)
		return st->st_mode;
	struct meta m;
	meta_read(fd, &m);
	if (!m.has_mode)
		return st->st_mode;
	/* A directory stays a directory whatever the xattr claims. */
	if (S_ISDIR(st->st_mode))
		return S_IFDIR | (m.mode & 07777);
	return m.mode;
}

/* --- qids ---------------------------------------------------------------------- */

static uint8_t qtype_of(uint32_t mode)
{
	if (S_ISDIR(mode))
		return P9_QTDIR;
	if (S_ISLNK(mode))
		return P9_QTSYMLINK;
	return P9_QTFILE;
}

static uint32_t qid_version(const struct stat *st)
{
	uint64_t v = (uint64_t)st->st_mtim.tv_sec ^ ((uint64_t)st->st_mtim.tv_nsec << 3) ^
		     ((uint64_t)st->st_ctim.tv_sec << 11) ^ (uint64_t)st->st_ctim.tv_nsec ^
		     ((uint64_t)st->st_size << 8);
	return (uint32_t)(v ^ (v >> 32));
}

static int make_qid(struct p9_localfs *fs, int fd, const struct stat *st, struct p9_qid *q)
{
	int idx = dev_index(fs, st->st_dev);
	if (idx < 0)
		return idx;
	q->type = qtype_of(guest_mode(fs, fd, st));
	q->version = qid_version(st);
	q->path = qid_path(idx, st->st_ino);
	return 0;
}

static int qid_of_fd(struct p9_localfs *fs, int fd, struct p9_qid *q)
{
	struct stat st;
	int r = fd_stat(fd, &st);
	return r ? r : make_qid(fs, fd, &st, q);
}

/* --- lookups --------------------------------------------------------------------- */

static long sys_openat2(int dirfd, const char *path, struct open_how *how)
{
	return syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
}

/* One component below dirfd, never following a symlink: an O_PATH fd. */
static int lookup_one(struct p9_localfs *fs, int dirfd, const char *name)
{
	if (fs->openat2) {
		struct open_how how = {
			.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		long fd = sys_openat2(dirfd, name, &how);
		if (fd < 0 && errno == EXDEV)
			return -EACCES;
		return fd < 0 ? -errno : (int)fd;
	}
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static bool is_root(struct p9_localfs *fs, const struct stat *st)
{
	return st->st_dev == fs->root_dev && st->st_ino == fs->root_ino;
}

/* ".." of dirfd, clamped at the export root; the result is checked to lie
 * below the root (a directory moved out by the host is clamped, not left). */
static int lookup_dotdot(struct p9_localfs *fs, int dirfd)
{
	struct stat st;
	int r = fd_stat(dirfd, &st);
	if (r)
		return r;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (is_root(fs, &st))
		return dupfd(fs->root_fd);
	int up = openat(dirfd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (up < 0)
		return -errno;
	int cur = dupfd(up);
	for (int depth = 0; cur >= 0 && depth < P9_LOCAL_MAX_DEPTH; depth++) {
		struct stat cs, ps;
		if (fd_stat(cur, &cs) < 0)
			break;
		if (is_root(fs, &cs)) {
			close(cur);
			return up;
		}
		int parent = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (parent < 0 || fd_stat(parent, &ps) < 0 || (ps.st_dev == cs.st_dev && ps.st_ino == cs.st_ino)) {
			if (parent >= 0)
				close(parent);
			break; /* reached the host's root without meeting ours */
		}
		close(cur);
		cur = parent;
	}
	if (cur >= 0)
		close(cur);
	close(up);
	return dupfd(fs->root_fd);
}

/* A relative multi-component path (an aname): each component as lookup_one,
 * ".." refused, every intermediate must be a directory. */
static int lookup_path(struct p9_localfs *fs, const char *path)
{
	cleanup_free char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int cur = dupfd(fs->root_fd);
	if (cur < 0)
		return cur;
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		int next = strcmp(c, "..") == 0 || strlen(c) > P9_NAME_MAX ? -EACCES : lookup_one(fs, cur, c);
		close(cur);
		if (next < 0)
			return next;
		cur = next;
	}
	return cur;
}

/* --- instance ------------------------------------------------------------------ */

static bool probe_openat2(int dirfd)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH };
	long fd = sys_openat2(dirfd, ".", &how);
	if (fd < 0)
		return false;
	close((int)fd);
	return true;
}

int p9_local_model_parse(const char *s, enum p9_local_model *out)
{
	if (strcmp(s, "passthrough") == 0)
		*out = P9_LOCAL_PASSTHROUGH;
	else if (strcmp(s, "mapped") == 0 || strcmp(s, "mapped-xattr") == 0)
		*out = P9_LOCAL_MAPPED;
	else
		return -EINVAL;
	return 0;
}

int p9_localfs_new(const struct p9_local_opts *o, struct p9_localfs **out, struct lc_err *e)
{
	if (!o || !o->root || !o->root[0])
		return lc_err_setx(e, EINVAL, "9p export: no directory given");
	cleanup_close int fd = open(o->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return lc_err_set(e, errno, "9p export %s", o->root);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return lc_err_set(e, errno, "9p export %s", o->root);
	struct p9_localfs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return lc_err_set(e, ENOMEM, "9p export %s", o->root);
	fs->root_dev = st.st_dev;
	fs->root_ino = st.st_ino;
	fs->model = o->model;
	fs->readonly = o->readonly;
	fs->umask = read_umask();
	fs->openat2 = !o->no_openat2 && probe_openat2(fd);
	atomic_init(&fs->live, 0);
	pthread_mutex_init(&fs->dev_mu, NULL);
	fs->devs[0] = st.st_dev;
	fs->ndevs = 1;
	fs->root_fd = take_fd(&fd);
	*out = fs;
	return 0;
}

void p9_localfs_free(struct p9_localfs *fs)
{
	if (!fs)
		return;
	close(fs->root_fd);
	pthread_mutex_destroy(&fs->dev_mu);
	free(fs);
}

unsigned p9_localfs_live_nodes(struct p9_localfs *fs)
{
	return atomic_load(&fs->live);
}

bool p9_localfs_uses_openat2(const struct p9_localfs *fs)
{
	return fs->openat2;
}

/* --- attach / clone / walk / release ------------------------------------------- */

static int l_attach(void *vfs, const char *uname, uint32_t n_uname, const char *aname,
		    struct p9_node **root, struct p9_qid *qid)
{
	struct p9_localfs *fs = vfs;
	(void)uname;
	int fd = aname && aname[0] ? lookup_path(fs, aname) : dupfd(fs->root_fd);
	if (fd < 0)
		return fd;
	struct stat st;
	int r = fd_stat(fd, &st);
	if (!r && !S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	if (!r)
		r = make_qid(fs, fd, &st, qid);
	struct p9_node *n = r ? NULL : node_new(fs, fd, n_uname);
	if (!n) {
		close(fd);
		return r ? r : -ENOMEM;
	}
	*root = n;
	return 0;
}

static int l_clone(void *vfs, struct p9_node *n, struct p9_node **out)
{
	int fd = dupfd(n->fd);
	if (fd < 0)
		return fd;
	struct p9_node *c = node_new(vfs, fd, n->uid);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

static int l_walk(void *vfs, struct p9_node *dir, const char *name, struct p9_node **out, struct p9_qid *qid)
{
	struct p9_localfs *fs = vfs;
	if (bad_name(name))
		return -ENOENT;
	int fd;
	if (strcmp(name, ".") == 0)
		fd = dupfd(dir->fd);
	else if (strcmp(name, "..") == 0)
		fd = lookup_dotdot(fs, dir->fd);
	else
		fd = lookup_one(fs, dir->fd, name);
	if (fd < 0)
		return fd;
	int r = qid_of_fd(fs, fd, qid);
	struct p9_node *n = r ? NULL : node_new(fs, fd, dir->uid);
	if (!n) {
		close(fd);
		return r ? r : -ENOMEM;
	}
	*out = n;
	return 0;
}

static int l_release(void *vfs, struct p9_node *n)
{
	struct p9_localfs *fs = vfs;
	int r = 0;
	/* Closing the open file description drops its OFD locks. */
	if (n->ofd >= 0 && close(n->ofd) < 0 && errno != EINTR)
		r = -errno;
	close(n->fd);
	pthread_mutex_destroy(&n->mu);
	free(n);
	atomic_fetch_sub(&fs->live, 1);
	return r;
}

/* --- attributes ------------------------------------------------------------------ */

static int l_getattr(void *vfs, struct p9_node *n, uint64_t mask, struct p9_attr *a)
{
	struct p9_localfs *fs = vfs;
	(void)mask;
	struct statx sx;
	if (statx(n->fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &sx) < 0)
		return -errno;
	struct stat st = { 0 };
	st.st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	st.st_ino = sx.stx_ino;
	st.st_mode = sx.stx_mode;
	st.st_size = (off_t)sx.stx_size;
	st.st_mtim.tv_sec = sx.stx_mtime.tv_sec;
	st.st_mtim.tv_nsec = sx.stx_mtime.tv_nsec;
	st.st_ctim.tv_sec = sx.stx_ctime.tv_sec;
	st.st_ctim.tv_nsec = sx.stx_ctime.tv_nsec;
	memset(a, 0, sizeof(*a));
	int r = make_qid(fs, n->fd, &st, &a->qid);
	if (r)
		return r;
	a->valid = P9_GETATTR_BASIC;
	a->mode = sx.stx_mode;
	a->uid = sx.stx_uid;
	a->gid = sx.stx_gid;
	a->rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
	if (fs->model == P9_LOCAL_MAPPED) {
		struct meta m;
		meta_read(n->fd, &m);
		if (m.has_uid)
			a->uid = m.uid;
		if (m.has_gid)
			a->gid = m.gid;
		if (m.has_mode)
			a->mode = S_ISDIR(sx.stx_mode) ? (S_IFDIR | (m.mode & 07777)) : m.mode;
		if (m.has_rdev)
			a->rdev = m.rdev;
	}
	a->nlink = sx.stx_nlink;
	a->size = sx.stx_size;
	a->blksize = sx.stx_blksize;
	a->blocks = sx.stx_blocks;
	a->atime_sec = (uint64_t)sx.stx_atime.tv_sec;
	a->atime_nsec = sx.stx_atime.tv_nsec;
	a->mtime_sec = (uint64_t)sx.stx_mtime.tv_sec;
	a->mtime_nsec = sx.stx_mtime.tv_nsec;
	a->ctime_sec = (uint64_t)sx.stx_ctime.tv_sec;
	a->ctime_nsec = sx.stx_ctime.tv_nsec;
	a->valid |= P9_GETATTR_INO; /* qid.path */
	if (sx.stx_mask & STATX_BTIME) {
		a->btime_sec = (uint64_t)sx.stx_btime.tv_sec;
		a->btime_nsec = sx.stx_btime.tv_nsec;
		a->valid |= P9_GETATTR_BTIME;
	}
	return 0;
}

static int set_times(int fd, const struct p9_iattr *ia)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
	if (ia->valid & P9_SETATTR_ATIME) {
		if (ia->valid & P9_SETATTR_ATIME_SET)
			ts[0] = (struct timespec){ (time_t)ia->atime_sec, (long)ia->atime_nsec };
		else
			ts[0].tv_nsec = UTIME_NOW;
	}
	if (ia->valid & P9_SETATTR_MTIME) {
		if (ia->valid & P9_SETATTR_MTIME_SET)
			ts[1] = (struct timespec){ (time_t)ia->mtime_sec, (long)ia->mtime_nsec };
		else
			ts[1].tv_nsec = UTIME_NOW;
	}
	if (ts[0].tv_nsec >= 1000000000L && ts[0].tv_nsec != UTIME_NOW && ts[0].tv_nsec != UTIME_OMIT)
		return -EINVAL;
	if (ts[1].tv_nsec >= 1000000000L && ts[1].tv_nsec != UTIME_NOW && ts[1].tv_nsec != UTIME_OMIT)
		return -EINVAL;
	if (utimensat(fd, "", ts, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	char p[64];
	procpath(p, sizeof(p), fd);
	return utimensat(AT_FDCWD, p, ts, 0) < 0 ? -errno : 0;
}

static int set_size(struct p9_node *n, const struct stat *st, uint64_t size)
{
	if (size > (uint64_t)INT64_MAX)
		return -EFBIG;
	if (n->ofd >= 0 && (fcntl(n->ofd, F_GETFL) & O_ACCMODE) != O_RDONLY)
		return ftruncate(n->ofd, (off_t)size) < 0 ? -errno : 0;
	if (S_ISDIR(st->st_mode))
		return -EISDIR;
	if (!S_ISREG(st->st_mode))
		return -EINVAL; /* never open a special file to truncate it */
	char p[64];
	procpath(p, sizeof(p), n->fd);
	return truncate(p, (off_t)size) < 0 ? -errno : 0;
}

static int set_owner_mode_mapped(int fd, const struct stat *st, const struct p9_iattr *ia)
{
	char p[64];
	procpath(p, sizeof(p), fd);
	int r = 0;
	if (ia->valid & P9_SETATTR_UID)
		r = set_x32(p, VIRTFS_UID, ia->uid);
	if (!r && (ia->valid & P9_SETATTR_GID))
		r = set_x32(p, VIRTFS_GID, ia->gid);
	if (!r && (ia->valid & P9_SETATTR_MODE)) {
		struct meta m;
		meta_read(fd, &m);
		uint32_t type = m.has_mode && !S_ISDIR(st->st_mode) ? (m.mode & S_IFMT) : (st->st_mode & S_IFMT);
		r = set_x32(p, VIRTFS_MODE, type | (ia->mode & 07777));
	}
	return r;
}

static int set_owner_mode_passthrough(int fd, const struct stat *st, const struct p9_iattr *ia)
{
	if (ia->valid & (P9_SETATTR_UID | P9_SETATTR_GID)) {
		uid_t u = (ia->valid & P9_SETATTR_UID) ? ia->uid : (uid_t)-1;
		gid_t g = (ia->valid & P9_SETATTR_GID) ? ia->gid : (gid_t)-1;
		if (fchownat(fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if (ia->valid & P9_SETATTR_MODE) {
		if (S_ISLNK(st->st_mode))
			return -EOPNOTSUPP;
		mode_t mode = ia->mode & 07777;
		if (!S_ISDIR(st->st_mode))
			mode &= ~(mode_t)(S_ISUID | S_ISGID); /* no set-id files on the host */
		char p[64];
		procpath(p, sizeof(p), fd);
		/* chmod by path: reaches FIFOs and devices without opening them. */
		if (chmod(p, mode) < 0)
			return -errno;
	}
	return 0;
}

static int l_setattr(void *vfs, struct p9_node *n, const struct p9_iattr *ia)
{
	struct p9_localfs *fs = vfs;
	if (fs->readonly)
		return -EROFS;
	struct stat st;
	int r = fd_stat(n->fd, &st);
	if (!r && (ia->valid & P9_SETATTR_SIZE))
		r = set_size(n, &st, ia->size);
	if (!r && (ia->valid & (P9_SETATTR_UID | P9_SETATTR_GID | P9_SETATTR_MODE)))
		r = fs->model == P9_LOCAL_MAPPED ? set_owner_mode_mapped(n->fd, &st, ia)
						 : set_owner_mode_passthrough(n->fd, &st, ia);
	if (!r && (ia->valid & (P9_SETATTR_ATIME | P9_SETATTR_MTIME)))
		r = set_times(n->fd, ia);
	return r;
}

/* --- open / create / I/O ---------------------------------------------------------- */

#define OPEN_KEEP (O_ACCMODE | O_APPEND | O_TRUNC | O_DSYNC | O_SYNC | O_NOATIME | O_DIRECTORY | O_DIRECT)

static int reopen(int fd, int flags)
{
	char p[64];
	procpath(p, sizeof(p), fd);
	/* No O_NOFOLLOW: the magic link must be followed, and the caller has
	 * checked that it leads to a regular file or directory. */
	int o = open(p, flags | O_CLOEXEC | O_NOCTTY);
	if (o < 0 && errno == EPERM && (flags & O_NOATIME))
		o = open(p, (flags & ~O_NOATIME) | O_CLOEXEC | O_NOCTTY);
	return o < 0 ? -errno : o;
}

static int l_open(void *vfs, struct p9_node *n, int flags, struct p9_qid *qid)
{
	struct p9_localfs *fs = vfs;
	if (n->ofd >= 0)
		return -EINVAL;
	flags &= OPEN_KEEP;
	bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	if ((flags & O_ACCMODE) == O_ACCMODE)
		return -EINVAL;
	if (fs->readonly && writes)
		return -EROFS;
	struct stat st;
	int r = fd_stat(n->fd, &st);
	if (r)
		return r;
	/* CVE-2023-2861 class: only regular files and directories are ever
	 * opened on the host. The O_PATH fd pins the inode, so the type checked
	 * here is the type of what /proc/self/fd/N reopens. */
	if (S_ISDIR(st.st_mode)) {
		if (writes)
			return -EISDIR;
	} else if (!S_ISREG(st.st_mode)) {
		return S_ISLNK(st.st_mode) ? -ELOOP : -ENXIO;
	} else if (flags & O_DIRECTORY) {
		return -ENOTDIR;
	} else if (fs->model == P9_LOCAL_MAPPED) {
		uint32_t gm = guest_mode(fs, n->fd, &st);
		if (!S_ISREG(gm))
			return S_ISLNK(gm) ? -ELOOP : -ENXIO;
	}
	int o = reopen(n->fd, flags);
	if (o < 0)
		return o;
	r = make_qid(fs, o, &st, qid);
	if (r) {
		close(o);
		return r;
	}
	n->ofd = o;
	n->direct = flags & O_DIRECT;
	return 0;
}

/* Owner and group of a new object: chown in passthrough (root only;
 * rootless passthrough keeps the server's ids), xattrs in mapped mode. */
static int own_new(struct p9_localfs *fs, int fd, uint32_t uid, uint32_t gid, uint32_t mode, uint64_t rdev,
		   bool with_rdev)
{
	if (fs->model == P9_LOCAL_MAPPED)
		return meta_write(fd, uid, gid, mode, rdev, with_rdev);
	if (geteuid() != 0)
		return 0;
	uid_t u = uid == P9_LOCAL_NO_UID ? (uid_t)-1 : uid;
	return fchownat(fd, "", u, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static mode_t host_mode(struct p9_localfs *fs, uint32_t mode, bool dir)
{
	if (fs->model == P9_LOCAL_MAPPED)
		return dir ? MAPPED_DIR_MODE : MAPPED_FILE_MODE;
	mode &= 07777;
	if (!dir)
		mode &= ~(uint32_t)(S_ISUID | S_ISGID);
	return mode;
}

static int l_create(void *vfs, struct p9_node *dir, const char *name, int flags, uint32_t mode, uint32_t gid,
		    struct p9_node **out, struct p9_qid *qid)
{
	struct p9_localfs *fs = vfs;
	if (fs->readonly)
		return -EROFS;
	if (bad_name(name) || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EEXIST;
	bool excl = flags & O_EXCL;
	flags &= OPEN_KEEP & ~O_DIRECTORY;
	if ((flags & O_ACCMODE) == O_ACCMODE)
		return -EINVAL;
	/* Always O_EXCL on the host: an existing FIFO or device is never opened
	 * by the create; without the guest's O_EXCL fall back to a checked open. */
	int o = openat(dir->fd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		       host_mode(fs, mode, false));
	if (o < 0 && errno == EPERM && (flags & O_NOATIME))
		o = openat(dir->fd, name, (flags & ~O_NOATIME) | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
			   host_mode(fs, mode, false));
	if (o < 0 && errno == EEXIST && !excl) {
		struct p9_node *n;
		int r = l_walk(fs, dir, name, &n, qid);
		if (r)
			return r;
		r = l_open(fs, n, flags & ~O_EXCL, qid);
		if (r) {
			l_release(fs, n);
			return r;
		}
		*out = n;
		return 0;
	}
	if (o < 0)
		return -errno;
	int r = own_new(fs, o, dir->uid, gid, S_IFREG | (mode & 07777), 0, false);
	if (!r)
		r = undo_umask(fs, o, host_mode(fs, mode, false));
	char p[64];
	procpath(p, sizeof(p), o);
	int fd = r ? -1 : open(p, O_PATH | O_CLOEXEC);
	if (!r && fd < 0)
		r = -errno;
	if (!r)
		r = qid_of_fd(fs, fd, qid);
	struct p9_node *n = r ? NULL : node_new(fs, fd, dir->uid);
	if (!n) {
		if (fd >= 0)
			close(fd);
		close(o);
		unlinkat(dir->fd, name, 0);
		return r ? r : -ENOMEM;
	}
	n->ofd = o;
	n->direct = flags & O_DIRECT;
	*out = n;
	return 0;
}

/* O_DIRECT: the host wants the memory block-aligned too, and the server's
 * buffers sit behind 9P headers. Offsets and counts are the guest's: if they
 * are misaligned the host answers EINVAL, exactly as a local O_DIRECT file
 * would. DIRECT_ALIGN (a page) satisfies every Linux filesystem. */
#define DIRECT_ALIGN 4096

static bool needs_bounce(const struct p9_node *n, const void *buf)
{
	return n->direct && ((uintptr_t)buf & (DIRECT_ALIGN - 1));
}

static ssize_t l_read(void *vfs, struct p9_node *n, uint64_t off, void *buf, size_t count)
{
	if (n->ofd < 0)
		return -EBADF;
	if (off > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (needs_bounce(n, buf)) {
		cleanup_free void *b = NULL;
		if (posix_memalign(&b, DIRECT_ALIGN, count ? count : 1))
			return -ENOMEM;
		ssize_t r = pread(n->ofd, b, count, (off_t)off);
		if (r < 0)
			return -errno;
		memcpy(buf, b, (size_t)r);
		return r;
	}
	ssize_t r = pread(n->ofd, buf, count, (off_t)off);
	return r < 0 ? -errno : r;
}

static ssize_t l_write(void *vfs, struct p9_node *n, uint64_t off, const void *buf, size_t count)
{
	struct p9_localfs *fs = vfs;
	if (fs->readonly)
		return -EROFS;
	if (n->ofd < 0)
		return -EBADF;
	if (off > (uint64_t)INT64_MAX)
		return -EINVAL;
	cleanup_free void *b = NULL;
	if (needs_bounce(n, buf)) {
		if (posix_memalign(&b, DIRECT_ALIGN, count ? count : 1))
			return -ENOMEM;
		memcpy(b, buf, count);
		buf = b;
	}
	ssize_t r = pwrite(n->ofd, buf, count, (off_t)off); /* O_APPEND fds append at EOF */
	if (r < 0)
		return -errno;
	return r == 0 && count > 0 ? -EIO : r;
}

/* --- directories --------------------------------------------------------------- */

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int l_readdir(void *vfs, struct p9_node *n, uint64_t cookie, p9_fill_fn fill, void *ctx)
{
	struct p9_localfs *fs = vfs;
	if (n->ofd < 0)
		return -EBADF;
	struct stat dst;
	int r = fd_stat(n->fd, &dst);
	if (r)
		return r;
	if (!S_ISDIR(dst.st_mode))
		return -ENOTDIR;
	int idx = dev_index(fs, dst.st_dev);
	if (idx < 0)
		return idx;
	bool at_root = is_root(fs, &dst);
	cleanup_free char *buf = malloc(GETDENTS_BUF);
	if (!buf)
		return -ENOMEM;
	pthread_mutex_lock(&n->mu);
	/* Cookies are the host's d_off, resumed with lseek on the same open
	 * directory: valid for the life of the open fid (host semantics). */
	if (lseek(n->ofd, (off_t)cookie, SEEK_SET) < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		long got = syscall(SYS_getdents64, n->ofd, buf, GETDENTS_BUF);
		if (got < 0) {
			r = -errno;
			break;
		}
		if (got == 0)
			break;
		for (long pos = 0; pos < got;) {
			struct linux_dirent64 *e = (struct linux_dirent64 *)(buf + pos);
			pos += e->d_reclen;
			if (e->d_off == 0)
				continue; /* 0 would mean "rewind" to the client */
			struct p9_dirent d = {
				.offset = (uint64_t)e->d_off,
				.type = fs->model == P9_LOCAL_MAPPED ? DT_UNKNOWN : e->d_type,
				.name = e->d_name,
				.namelen = strlen(e->d_name),
			};
			d.qid.path = qid_path(idx, e->d_ino);
			d.qid.type = e->d_type == DT_DIR ? P9_QTDIR : e->d_type == DT_LNK ? P9_QTSYMLINK : 0;
			if (at_root && strcmp(e->d_name, "..") == 0)
				d.qid.path = qid_path(0, fs->root_ino);
			if (fill(ctx, &d) != 0)
				goto out;
		}
	}
out:
	pthread_mutex_unlock(&n->mu);
	return r;
}

static int new_node_qid(struct p9_localfs *fs, int dirfd, const char *name, struct p9_qid *qid, int *fdp)
{
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = qid_of_fd(fs, fd, qid);
	if (r || !fdp)
		close(fd);
	else
		*fdp = fd;
	return r;
}

static int check_create(struct p9_localfs *fs, const char *name)
{
	if (fs->readonly)
		return -EROFS;
	if (bad_name(name))
		return -ENOENT;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EEXIST;
	return 0;
}

static int l_mkdir(void *vfs, struct p9_node *dir, const char *name, uint32_t mode, uint32_t gid,
		   struct p9_qid *qid)
{
	struct p9_localfs *fs = vfs;
	int r = check_create(fs, name);
	if (r)
		return r;
	if (mkdirat(dir->fd, name, host_mode(fs, mode, true)) < 0)
		return -errno;
	cleanup_close int fd = openat(dir->fd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = own_new(fs, fd, dir->uid, gid, S_IFDIR | (mode & 07777), 0, false);
	if (!r && fs->model == P9_LOCAL_PASSTHROUGH && (mode & 07000)) {
		/* mkdir drops set-gid/sticky bits under some umasks: set them. */
		char p[64];
		procpath(p, sizeof(p), fd);
		if (chmod(p, mode & 07777) < 0)
			r = -errno;
	} else if (!r) {
		r = undo_umask(fs, fd, mode & 0777);
	}
	if (!r)
		r = qid_of_fd(fs, fd, qid);
	if (r)
		unlinkat(dir->fd, name, AT_REMOVEDIR);
	return r;
}

static int l_mknod(void *vfs, struct p9_node *dir, const char *name, uint32_t mode, uint32_t major,
		   uint32_t minor, uint32_t gid, struct p9_qid *qid)
{
	struct p9_localfs *fs = vfs;
	int r = check_create(fs, name);
	if (r)
		return r;
	uint32_t type = mode & S_IFMT;
	if (type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR && type != S_IFBLK && type != S_IFREG)
		return -EINVAL;
	dev_t dev = makedev(major, minor);
	if (fs->model == P9_LOCAL_MAPPED) {
		/* Stored as an empty regular file; type and rdev live in xattrs. */
		if (mknodat(dir->fd, name, S_IFREG | MAPPED_FILE_MODE, 0) < 0)
			return -errno;
	} else if (mknodat(dir->fd, name, type | host_mode(fs, mode, false), dev) < 0) {
		return -errno;
	}
	cleanup_close int fd = -1;
	r = new_node_qid(fs, dir->fd, name, qid, &fd);
	if (!r)
		r = own_new(fs, fd, dir->uid, gid, type | (mode & 07777), dev, true);
	if (!r)
		r = undo_umask(fs, fd, host_mode(fs, mode, false));
	if (!r && fs->model == P9_LOCAL_MAPPED)
		r = qid_of_fd(fs, fd, qid); /* the type now comes from the xattr */
	if (r)
		unlinkat(dir->fd, name, 0);
	return r;
}

static int l_symlink(void *vfs, struct p9_node *dir, const char *name, const char *target, uint32_t gid,
		     struct p9_qid *qid)
{
	struct p9_localfs *fs = vfs;
	int r = check_create(fs, name);
	if (r)
		return r;
	size_t tlen = strlen(target);
	if (tlen == 0 || tlen > P9_SYMLINK_MAX)
		return tlen ? -ENAMETOOLONG : -ENOENT;
	cleanup_close int fd = -1;
	if (fs->model == P9_LOCAL_MAPPED) {
		/* A regular file holding the target (no terminator). */
		int o = openat(dir->fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, MAPPED_FILE_MODE);
		if (o < 0)
			return -errno;
		ssize_t w = write(o, target, tlen);
		r = w == (ssize_t)tlen ? 0 : w < 0 ? -errno : -EIO;
		if (!r)
			r = meta_write(o, dir->uid, gid, S_IFLNK | 0777, 0, false);
		close(o);
		if (!r)
			r = new_node_qid(fs, dir->fd, name, qid, NULL);
	} else {
		if (symlinkat(target, dir->fd, name) < 0)
			return -errno;
		r = new_node_qid(fs, dir->fd, name, qid, &fd);
		if (!r)
			r = own_new(fs, fd, dir->uid, gid, 0, 0, false);
	}
	if (r)
		unlinkat(dir->fd, name, 0);
	return r;
}

static int l_link(void *vfs, struct p9_node *dir, struct p9_node *target, const char *name)
{
	struct p9_localfs *fs = vfs;
	int r = check_create(fs, name);
	if (r)
		return r;
	struct stat st;
	r = fd_stat(target->fd, &st);
	if (r)
		return r;
	if (S_ISDIR(st.st_mode))
		return -EPERM;
	char p[64];
	procpath(p, sizeof(p), target->fd);
	/* AT_SYMLINK_FOLLOW resolves only the /proc magic link: it lands on the
	 * object itself (a symlink gets a hard link, not its target). */
	return linkat(AT_FDCWD, p, dir->fd, name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

static ssize_t l_readlink(void *vfs, struct p9_node *n, char *buf, size_t size)
{
	struct p9_localfs *fs = vfs;
	struct stat st;
	int r = fd_stat(n->fd, &st);
	if (r)
		return r;
	if (fs->model == P9_LOCAL_MAPPED && S_ISREG(st.st_mode)) {
		if (!S_ISLNK(guest_mode(fs, n->fd, &st)))
			return -EINVAL;
		cleanup_close int o = reopen(n->fd, O_RDONLY);
		if (o < 0)
			return o;
		char tmp[P9_SYMLINK_MAX + 1];
		ssize_t got = pread(o, tmp, sizeof(tmp), 0);
		if (got < 0)
			return -errno;
		if ((size_t)got > size || got > P9_SYMLINK_MAX)
			return -ENAMETOOLONG;
		memcpy(buf, tmp, (size_t)got);
		return got;
	}
	if (!S_ISLNK(st.st_mode))
		return -EINVAL;
	char tmp[PATH_MAX + 1];
	ssize_t got = readlinkat(n->fd, "", tmp, sizeof(tmp));
	if (got < 0)
		return -errno;
	if ((size_t)got > size || got > PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(buf, tmp, (size_t)got);
	return got;
}

static int l_unlinkat(void *vfs, struct p9_node *dir, const char *name, int flags)
{
	struct p9_localfs *fs = vfs;
	if (fs->readonly)
		return -EROFS;
	if (bad_name(name))
		return -ENOENT;
	if (flags & ~AT_REMOVEDIR)
		return -EINVAL;
	if (!strcmp(name, "."))
		return -EINVAL;
	if (!strcmp(name, ".."))
		return -ENOTEMPTY;
	return unlinkat(dir->fd, name, flags) < 0 ? -errno : 0;
}

static int l_renameat(void *vfs, struct p9_node *olddir, const char *oldname, struct p9_node *newdir,
		      const char *newname)
{
	struct p9_localfs *fs = vfs;
	if (fs->readonly)
		return -EROFS;
	if (bad_name(oldname) || bad_name(newname))
		return -ENOENT;
	if (!strcmp(oldname, ".") || !strcmp(oldname, "..") || !strcmp(newname, ".") || !strcmp(newname, ".."))
		return -EISDIR;
	return renameat(olddir->fd, oldname, newdir->fd, newname) < 0 ? -errno : 0;
}

static int l_statfs(void *vfs, struct p9_node *n, struct p9_statfs *out)
{
	struct statfs s;
	if (fstatfs(n->fd, &s) < 0)
		return -errno;
	uint64_t fsid;
	memcpy(&fsid, &s.f_fsid, sizeof(fsid));
	*out = (struct p9_statfs){
		.type = (uint32_t)s.f_type,
		.bsize = (uint32_t)s.f_bsize,
		.blocks = s.f_blocks,
		.bfree = s.f_bfree,
		.bavail = s.f_bavail,
		.files = s.f_files,
		.ffree = s.f_ffree,
		.fsid = fsid,
		.namelen = (uint32_t)s.f_namelen,
	};
	return 0;
}

static int l_fsync(void *vfs, struct p9_node *n, bool datasync)
{
	if (n->ofd < 0)
		return -EBADF;
	int r = datasync ? fdatasync(n->ofd) : fsync(n->ofd);
	return r < 0 ? -errno : 0;
}

/* --- locks ------------------------------------------------------------------------ */

static int to_flock(const struct p9_flock *l, struct flock *fl)
{
	if (l->start > (uint64_t)INT64_MAX || l->length > (uint64_t)INT64_MAX ||
	    l->start + l->length > (uint64_t)INT64_MAX)
		return -EINVAL;
	short type = l->type == P9_LOCK_TYPE_RDLCK ? F_RDLCK : l->type == P9_LOCK_TYPE_WRLCK ? F_WRLCK
						   : l->type == P9_LOCK_TYPE_UNLCK ? F_UNLCK : -1;
	if (type < 0)
		return -EINVAL;
	*fl = (struct flock){ .l_type = type, .l_whence = SEEK_SET, .l_start = (off_t)l->start,
			      .l_len = (off_t)l->length, .l_pid = 0 /* OFD locks demand 0 */ };
	return 0;
}

static int l_lock(void *vfs, struct p9_node *n, const struct p9_flock *l, uint32_t flags, struct p9_cancel *c)
{
	if (n->ofd < 0)
		return -EBADF;
	if (flags & ~(uint32_t)P9_LOCK_FLAGS_BLOCK)
		return -EINVAL;
	struct flock fl;
	int r = to_flock(l, &fl);
	if (r)
		return r;
	long backoff = 1;
	for (;;) {
		struct flock try = fl;
		if (fcntl(n->ofd, F_OFD_SETLK, &try) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES)
			return -errno;
		if (!(flags & P9_LOCK_FLAGS_BLOCK) || !c)
			return -EAGAIN;
		/* Poll with a bounded backoff: p9_cancel_sleep returns at once on
		 * Tflush/disconnect (-EINTR) and when the budget ends (-EAGAIN). */
		r = p9_cancel_sleep(c, backoff);
		if (r)
			return r;
		backoff = MIN(backoff * 2, P9_LOCAL_LOCK_POLL_MAX_MS);
	}
}

static int l_getlock(void *vfs, struct p9_node *n, struct p9_flock *l)
{
	if (n->ofd < 0)
		return -EBADF;
	struct flock fl;
	struct p9_flock probe = *l;
	if (probe.type == P9_LOCK_TYPE_UNLCK)
		probe.type = P9_LOCK_TYPE_WRLCK; /* "any conflicting lock" */
	int r = to_flock(&probe, &fl);
	if (r)
		return r;
	if (fcntl(n->ofd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	if (fl.l_type == F_UNLCK) {
		l->type = P9_LOCK_TYPE_UNLCK;
		return 0;
	}
	l->type = fl.l_type == F_RDLCK ? P9_LOCK_TYPE_RDLCK : P9_LOCK_TYPE_WRLCK;
	l->start = (uint64_t)fl.l_start;
	l->length = (uint64_t)fl.l_len;
	/* A classic lock shows the host pid; an OFD lock (another fid, another
	 * VM, a host OFD user) has none (-1): report 0 and say where it is. */
	l->proc_id = fl.l_pid > 0 ? (uint32_t)fl.l_pid : 0;
	snprintf(l->client_id, sizeof(l->client_id), "%s", fl.l_pid > 0 ? "host" : "host-ofd");
	return 0;
}

/* --- xattrs ------------------------------------------------------------------------- */

/* Maps a guest xattr name to the host name. Returns 0, or -errno for a name
 * the guest may not use with this model (hidden ones: -ENODATA for reads). */
static int xname(struct p9_localfs *fs, const char *name, char *out, size_t len, bool for_write)
{
	if (strncmp(name, VIRTFS_PREFIX, strlen(VIRTFS_PREFIX)) == 0)
		return for_write ? -EACCES : -ENODATA;
	if (fs->model == P9_LOCAL_MAPPED) {
		if (strncmp(name, ACL_PREFIX, strlen(ACL_PREFIX)) == 0) {
			snprintf(out, len, "%s%s", VIRTFS_PREFIX, name);
			return 0;
		}
		if (strncmp(name, "user.", 5) != 0)
			return -EOPNOTSUPP;
	}
	snprintf(out, len, "%s", name);
	return 0;
}

static ssize_t l_xattr_get(void *vfs, struct p9_node *n, const char *name, void *buf, size_t size)
{
	struct p9_localfs *fs = vfs;
	char hn[P9_XATTR_NAME_MAX + 32];
	int r = xname(fs, name, hn, sizeof(hn), false);
	if (r)
		return r;
	char p[64];
	procpath(p, sizeof(p), n->fd);
	ssize_t got = getxattr(p, hn, buf, MIN(size, (size_t)P9_XATTR_SIZE_MAX));
	if (got < 0)
		return errno == ENOTSUP && fs->model == P9_LOCAL_PASSTHROUGH ? -ENODATA : -errno;
	return got;
}

static ssize_t l_xattr_list(void *vfs, struct p9_node *n, char *buf, size_t size)
{
	struct p9_localfs *fs = vfs;
	char p[64];
	procpath(p, sizeof(p), n->fd);
	cleanup_free char *all = malloc(P9_XATTR_SIZE_MAX);
	if (!all)
		return -ENOMEM;
	ssize_t got = listxattr(p, all, P9_XATTR_SIZE_MAX);
	if (got < 0)
		return errno == ENOTSUP ? 0 : -errno;
	size_t need = 0;
	/* Two passes over the host list: measure, then copy what the guest sees. */
	for (int pass = 0; pass < 2; pass++) {
		size_t pos = 0;
		for (ssize_t off = 0; off < got;) {
			const char *nm = all + off;
			off += (ssize_t)strnlen(nm, (size_t)(got - off)) + 1;
			const char *shown = nm;
			if (strncmp(nm, VIRTFS_PREFIX, strlen(VIRTFS_PREFIX)) == 0) {
				if (fs->model != P9_LOCAL_MAPPED ||
				    strncmp(nm + strlen(VIRTFS_PREFIX), ACL_PREFIX, strlen(ACL_PREFIX)) != 0)
					continue;
				shown = nm + strlen(VIRTFS_PREFIX);
			} else if (fs->model == P9_LOCAL_MAPPED && strncmp(nm, "user.", 5) != 0) {
				continue;
			}
			size_t l = strlen(shown) + 1;
			if (pass == 1)
				memcpy(buf + pos, shown, l);
			pos += l;
		}
		if (pass == 0) {
			need = pos;
			if (size == 0)
				return (ssize_t)need;
			if (need > size)
				return -ERANGE;
		}
	}
	return (ssize_t)need;
}

static int l_xattr_set(void *vfs, struct p9_node *n, const char *name, const void *value, size_t size, int flags)
{
	struct p9_localfs *fs = vfs;
	if (fs->readonly)
		return -EROFS;
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	if (size > P9_XATTR_SIZE_MAX)
		return -E2BIG;
	char hn[P9_XATTR_NAME_MAX + 32];
	int r = xname(fs, name, hn, sizeof(hn), true);
	if (r)
		return r;
	char p[64];
	procpath(p, sizeof(p), n->fd);
	return setxattr(p, hn, value, size, flags) < 0 ? -errno : 0;
}

static int l_xattr_remove(void *vfs, struct p9_node *n, const char *name)
{
	struct p9_localfs *fs = vfs;
	if (fs->readonly)
		return -EROFS;
	char hn[P9_XATTR_NAME_MAX + 32];
	int r = xname(fs, name, hn, sizeof(hn), true);
	if (r)
		return r;
	char p[64];
	procpath(p, sizeof(p), n->fd);
	return removexattr(p, hn) < 0 ? -errno : 0;
}

const struct p9_fs_ops p9_localfs_ops = {
	.attach = l_attach,
	.clone = l_clone,
	.walk = l_walk,
	.getattr = l_getattr,
	.setattr = l_setattr,
	.open = l_open,
	.create = l_create,
	.read = l_read,
	.write = l_write,
	.readdir = l_readdir,
	.mkdir = l_mkdir,
	.mknod = l_mknod,
	.symlink = l_symlink,
	.link = l_link,
	.readlink = l_readlink,
	.unlinkat = l_unlinkat,
	.renameat = l_renameat,
	.rename = NULL,
	.remove = NULL,
	.statfs = l_statfs,
	.fsync = l_fsync,
	.lock = l_lock,
	.getlock = l_getlock,
	.xattr_get = l_xattr_get,
	.xattr_list = l_xattr_list,
	.xattr_set = l_xattr_set,
	.xattr_remove = l_xattr_remove,
	.release = l_release,
};
