/* In-memory 9P backend. See fs_mem.h.
 *
 * Inodes are refcounted: one reference per directory entry naming them, per
 * node handle, and per child directory (its ".."). Directory entries live
 * twice: in a name hash (lookup) and in an array sorted by cookie (readdir
 * resumes at the first cookie above the one it was given, so removals and
 * additions during a listing neither repeat nor skip surviving entries). */
#include "p9/fs_mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/cleanup.h"

#define COOKIE_FIRST 3   /* 1 = ".", 2 = ".." */
#define NAME_BUCKETS_MIN 16

struct xattr {
	char *name;
	uint8_t *value;
	size_t size;
};

struct dent;

struct inode {
	uint64_t ino;
	uint32_t mode, uid, gid;
	uint32_t nlink;
	uint64_t rdev;
	int refs;
	struct timespec atime, mtime, ctime, btime;
	uint8_t *data;            /* regular file */
	size_t size, cap;
	char *target;             /* symlink */
	struct inode *parent;     /* directory: counted reference */
	struct dent **byname;     /* directory: hash buckets */
	size_t nbuckets;
	struct dent **order;      /* directory: sorted by cookie */
	size_t nent, capent;
	uint64_t next_cookie;
	struct xattr *xattrs;
	size_t nxattrs;
	struct mlock *locks;
};

struct dent {
	char *name;
	struct inode *ino;
	uint64_t cookie;
	struct dent *next;        /* hash chain */
};

struct mlock {
	struct mlock *next;
	const struct p9_node *owner;
	uint8_t type;
	uint64_t start, end;      /* inclusive; end UINT64_MAX = to EOF */
};

struct p9_node {
	struct inode *ino;
	uint32_t uid;
	bool open;
	int flags;
};

struct p9_memfs {
	pthread_mutex_t mu;
	pthread_cond_t lock_cv;   /* locks released */
	struct inode *root;
	uint64_t next_ino;
	unsigned ninodes;
	unsigned live_nodes;
	uint64_t bytes;
};

/* --- inodes -------------------------------------------------------------------- */
static struct timespec now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

static struct inode *inode_new(struct p9_memfs *m, uint32_t mode, uint32_t uid, uint32_t gid)
{
	if (m->ninodes >= P9_MEMFS_MAX_INODES)
		return NULL;
	struct inode *i = calloc(1, sizeof(*i));
	if (!i)
		return NULL;
	i->ino = m->next_ino++;
	i->mode = mode;
	i->uid = uid == 0xFFFFFFFFu ? 0 : uid;
	i->gid = gid == 0xFFFFFFFFu ? 0 : gid;
	i->atime = i->mtime = i->ctime = i->btime = now();
	i->next_cookie = COOKIE_FIRST;
	m->ninodes++;
	return i;
}

static void inode_put(struct p9_memfs *m, struct inode *i)
{
	while (i && --i->refs == 0) {
		struct inode *parent = i->parent;
		m->bytes -= i->size;
		free(i->data);
		free(i->target);
		for (size_t k = 0; k < i->nent; k++) {
			free(i->order[k]->name);
			free(i->order[k]);
		}
		free(i->order);
		free(i->byname);
		for (size_t k = 0; k < i->nxattrs; k++) {
			free(i->xattrs[k].name);
			free(i->xattrs[k].value);
		}
		free(i->xattrs);
		while (i->locks) {
			struct mlock *l = i->locks;
			i->locks = l->next;
			free(l);
		}
		free(i);
		m->ninodes--;
		i = parent; /* a directory held its parent */
	}
}

static bool is_dir(const struct inode *i) { return S_ISDIR(i->mode); }

static struct p9_qid qid_of(const struct inode *i)
{
	struct p9_qid q = { .type = P9_QTFILE, .version = 0, .path = i->ino };
	if (S_ISDIR(i->mode))
		q.type = P9_QTDIR;
	else if (S_ISLNK(i->mode))
		q.type = P9_QTSYMLINK;
	return q;
}

static uint8_t dtype_of(const struct inode *i)
{
	return (uint8_t)((i->mode & S_IFMT) >> 12); /* DT_* = S_IFMT >> 12 on Linux */
}

/* --- directories ---------------------------------------------------------------- */
static size_t name_hash(const char *s, size_t nb)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return (size_t)(h & (nb - 1));
}

static struct dent *dir_lookup(struct inode *d, const char *name)
{
	if (!d->nbuckets)
		return NULL;
	for (struct dent *e = d->byname[name_hash(name, d->nbuckets)]; e; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static int dir_rehash(struct inode *d, size_t nb)
{
	struct dent **b = calloc(nb, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t k = 0; k < d->nent; k++) {
		struct dent *e = d->order[k];
		size_t h = name_hash(e->name, nb);
		e->next = b[h];
		b[h] = e;
	}
	free(d->byname);
	d->byname = b;
	d->nbuckets = nb;
	return 0;
}

/* Adds name -> i (takes a new reference to i). */
static int dir_add(struct inode *d, const char *name, struct inode *i)
{
	if (d->nent == d->capent) {
		size_t cap = d->capent ? d->capent * 2 : 8;
		struct dent **o = realloc(d->order, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		d->order = o;
		d->capent = cap;
	}
	if (d->nent + 1 > d->nbuckets && dir_rehash(d, MAX(d->nbuckets * 2, (size_t)NAME_BUCKETS_MIN)) < 0)
		return -ENOMEM;
	struct dent *e = calloc(1, sizeof(*e));
	if (!e || !(e->name = strdup(name))) {
		free(e);
		return -ENOMEM;
	}
	e->ino = i;
	e->cookie = d->next_cookie++;
	size_t h = name_hash(name, d->nbuckets);
	e->next = d->byname[h];
	d->byname[h] = e;
	d->order[d->nent++] = e; /* cookies only grow: the array stays sorted */
	i->refs++;
	i->nlink++;
	d->mtime = d->ctime = now();
	return 0;
}

/* First index whose cookie is > cookie. */
static size_t dir_after(const struct inode *d, uint64_t cookie)
{
	size_t lo = 0, hi = d->nent;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->order[mid]->cookie <= cookie)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Removes entry e; drops its reference to the inode. */
static void dir_del(struct p9_memfs *m, struct inode *d, struct dent *e)
{
	struct dent **pp = &d->byname[name_hash(e->name, d->nbuckets)];
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	size_t k = dir_after(d, e->cookie - 1);
	memmove(&d->order[k], &d->order[k + 1], (d->nent - k - 1) * sizeof(*d->order));
	d->nent--;
	e->ino->nlink--;
	e->ino->ctime = d->mtime = d->ctime = now();
	inode_put(m, e->ino);
	free(e->name);
	free(e);
}

/* --- nodes ------------------------------------------------------------------------ */
static int node_new(struct p9_memfs *m, struct inode *i, uint32_t uid, struct p9_node **out)
{
	struct p9_node *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->ino = i;
	n->uid = uid;
	i->refs++;
	m->live_nodes++;
	*out = n;
	return 0;
}

static int mem_attach(void *fs, const char *uname, uint32_t n_uname, const char *aname,
		      struct p9_node **root, struct p9_qid *qid)
{
	struct p9_memfs *m = fs;
	if (aname[0] && strcmp(aname, "/") != 0)
		return -ENOENT; /* no sub-exports */
	pthread_mutex_lock(&m->mu);
	int ret = node_new(m, m->root, n_uname, root);
	if (!ret)
		*qid = qid_of(m->root);
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static int mem_clone(void *fs, struct p9_node *n, struct p9_node **out)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	int ret = node_new(m, n->ino, n->uid, out);
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static int mem_walk(void *fs, struct p9_node *dir, const char *name, struct p9_node **out,
		    struct p9_qid *qid)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	struct inode *d = dir->ino, *t = NULL;
	int ret = 0;
	if (!is_dir(d))
		ret = -ENOTDIR;
	else if (strcmp(name, ".") == 0)
		t = d;
	else if (strcmp(name, "..") == 0)
		t = d->parent ? d->parent : d; /* the root is its own parent */
	else {
		struct dent *e = dir_lookup(d, name);
		if (e)
			t = e->ino;
		else
			ret = -ENOENT;
	}
	if (t && !(ret = node_new(m, t, dir->uid, out)))
		*qid = qid_of(t);
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static int mem_getattr(void *fs, struct p9_node *n, uint64_t mask, struct p9_attr *a)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	struct inode *i = n->ino;
	memset(a, 0, sizeof(*a));
	a->valid = P9_GETATTR_BASIC | P9_GETATTR_BTIME | P9_GETATTR_GEN;
	a->qid = qid_of(i);
	a->mode = i->mode;
	a->uid = i->uid;
	a->gid = i->gid;
	a->nlink = is_dir(i) ? i->nlink + 2 : i->nlink;
	a->rdev = i->rdev;
	a->size = S_ISLNK(i->mode) ? strlen(i->target) : i->size;
	a->blksize = 4096;
	a->blocks = (i->size + 511) / 512;
	a->atime_sec = (uint64_t)i->atime.tv_sec;
	a->atime_nsec = (uint64_t)i->atime.tv_nsec;
	a->mtime_sec = (uint64_t)i->mtime.tv_sec;
	a->mtime_nsec = (uint64_t)i->mtime.tv_nsec;
	a->ctime_sec = (uint64_t)i->ctime.tv_sec;
	a->ctime_nsec = (uint64_t)i->ctime.tv_nsec;
	a->btime_sec = (uint64_t)i->btime.tv_sec;
	a->btime_nsec = (uint64_t)i->btime.tv_nsec;
	a->gen = 1;
	pthread_mutex_unlock(&m->mu);
	return 0;
}

static int resize(struct p9_memfs *m, struct inode *i, uint64_t size)
{
	if (size > P9_MEMFS_MAX_FILE)
		return -EFBIG;
	if (size > i->size && m->bytes + (size - i->size) > P9_MEMFS_MAX_BYTES)
		return -ENOSPC;
	if (size > i->cap) {
		size_t cap = MAX((size_t)size, i->cap * 2);
		cap = MIN(cap, (size_t)P9_MEMFS_MAX_FILE);
		uint8_t *d = realloc(i->data, cap);
		if (!d)
			return -ENOMEM;
		i->data = d;
		i->cap = cap;
	}
	if (size > i->size)
		memset(i->data + i->size, 0, (size_t)size - i->size);
	m->bytes = m->bytes - i->size + size;
	i->size = (size_t)size;
	return 0;
}

static int mem_setattr(void *fs, struct p9_node *n, const struct p9_iattr *ia)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	struct inode *i = n->ino;
	int ret = 0;
	struct timespec t = now();
	if (ia->valid & P9_SETATTR_SIZE) {
		if (is_dir(i))
			ret = -EISDIR;
		else if (!S_ISREG(i->mode))
			ret = -EINVAL;
		else
			ret = resize(m, i, ia->size);
		if (!ret)
			i->mtime = t;
	}
	if (!ret && (ia->valid & P9_SETATTR_UID))
		i->uid = ia->uid;
	if (!ret && (ia->valid & P9_SETATTR_GID))
		i->gid = ia->gid;
	if (!ret && (ia->valid & P9_SETATTR_MODE))
		i->mode = (i->mode & S_IFMT) | (ia->mode & 07777);
	if (!ret && (ia->valid & P9_SETATTR_ATIME)) {
		if (ia->valid & P9_SETATTR_ATIME_SET)
			i->atime = (struct timespec){ (time_t)ia->atime_sec, (long)(ia->atime_nsec % 1000000000) };
		else
			i->atime = t;
	}
	if (!ret && (ia->valid & P9_SETATTR_MTIME)) {
		if (ia->valid & P9_SETATTR_MTIME_SET)
			i->mtime = (struct timespec){ (time_t)ia->mtime_sec, (long)(ia->mtime_nsec % 1000000000) };
		else
			i->mtime = t;
	}
	if (!ret)
		i->ctime = t;
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static int open_locked(struct p9_memfs *m, struct p9_node *n, int flags)
{
	struct inode *i = n->ino;
	if (!S_ISREG(i->mode) && !is_dir(i))
		return -ENXIO; /* special files are never opened by the server */
	if ((flags & O_DIRECTORY) && !is_dir(i))
		return -ENOTDIR;
	if (is_dir(i) && ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)))
		return -EISDIR;
	if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
		int ret = resize(m, i, 0);
		if (ret)
			return ret;
	}
	n->open = true;
	n->flags = flags;
	return 0;
}

static int mem_open(void *fs, struct p9_node *n, int flags, struct p9_qid *qid)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	int ret = open_locked(m, n, flags);
	if (!ret)
		*qid = qid_of(n->ino);
	pthread_mutex_unlock(&m->mu);
	return ret;
}

/* Creates an object of mode in d; returns it with the entry's reference. */
static int make(struct p9_memfs *m, struct p9_node *dir, const char *name, uint32_t mode,
		uint32_t gid, struct inode **out)
{
	struct inode *d = dir->ino;
	if (!is_dir(d))
		return -ENOTDIR;
	if (d->nlink == 0 && d != m->root)
		return -ENOENT; /* removed directory */
	if (dir_lookup(d, name))
		return -EEXIST;
	struct inode *i = inode_new(m, mode, dir->uid, gid);
	if (!i)
		return -ENOSPC;
	int ret = dir_add(d, name, i);
	if (ret) {
		i->refs = 1;
		inode_put(m, i);
		return ret;
	}
	if (is_dir(i)) {
		i->parent = d;
		d->refs++;
	}
	*out = i;
	return 0;
}

static int mem_create(void *fs, struct p9_node *dir, const char *name, int flags, uint32_t mode,
		      uint32_t gid, struct p9_node **out, struct p9_qid *qid)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	struct inode *i = NULL;
	struct dent *e = is_dir(dir->ino) ? dir_lookup(dir->ino, name) : NULL;
	int ret;
	if (e)
		ret = (flags & O_EXCL) ? -EEXIST : 0;
	else
		ret = make(m, dir, name, S_IFREG | (mode & 07777), gid, &i);
	if (!ret)
		ret = node_new(m, e ? e->ino : i, dir->uid, out);
	if (!ret) {
		ret = open_locked(m, *out, flags);
		if (ret) {
			inode_put(m, (*out)->ino);
			free(*out);
			m->live_nodes--;
		} else {
			*qid = qid_of((*out)->ino);
		}
	}
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static ssize_t mem_read(void *fs, struct p9_node *n, uint64_t off, void *buf, size_t count)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	struct inode *i = n->ino;
	ssize_t ret = 0;
	if (is_dir(i))
		ret = -EISDIR;
	else if ((n->flags & O_ACCMODE) == O_WRONLY)
		ret = -EBADF;
	else if (off < i->size) {
		ret = (ssize_t)MIN((uint64_t)count, i->size - off);
		memcpy(buf, i->data + off, (size_t)ret);
	}
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static ssize_t mem_write(void *fs, struct p9_node *n, uint64_t off, const void *buf, size_t count)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	struct inode *i = n->ino;
	ssize_t ret = 0;
	if ((n->flags & O_ACCMODE) == O_RDONLY)
		ret = -EBADF;
	else {
		if (n->flags & O_APPEND)
			off = i->size; /* like pwrite on an O_APPEND fd */
		if (off > P9_MEMFS_MAX_FILE || count > P9_MEMFS_MAX_FILE - off)
			ret = -EFBIG;
		else if (off + count > i->size)
			ret = resize(m, i, off + count);
		if (!ret) {
			memcpy(i->data + off, buf, count);
			i->mtime = i->ctime = now();
			ret = (ssize_t)count;
		}
	}
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static int mem_readdir(void *fs, struct p9_node *n, uint64_t cookie, p9_fill_fn fill, void *ctx)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	struct inode *d = n->ino;
	if (!is_dir(d)) {
		pthread_mutex_unlock(&m->mu);
		return -ENOTDIR;
	}
	struct inode *up = d->parent ? d->parent : d;
	struct p9_dirent de = { .type = DT_DIR };
	if (cookie < 1) {
		de = (struct p9_dirent){ qid_of(d), 1, DT_DIR, ".", 1 };
		if (fill(ctx, &de))
			goto out;
	}
	if (cookie < 2) {
		de = (struct p9_dirent){ qid_of(up), 2, DT_DIR, "..", 2 };
		if (fill(ctx, &de))
			goto out;
	}
	for (size_t k = dir_after(d, cookie); k < d->nent; k++) {
		struct dent *e = d->order[k];
		de = (struct p9_dirent){ qid_of(e->ino), e->cookie, dtype_of(e->ino), e->name,
					 strlen(e->name) };
		if (fill(ctx, &de))
			break;
	}
out:
	pthread_mutex_unlock(&m->mu);
	return 0;
}

static int mem_mkdir(void *fs, struct p9_node *dir, const char *name, uint32_t mode, uint32_t gid,
		     struct p9_qid *qid)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	struct inode *i;
	int ret = make(m, dir, name, S_IFDIR | (mode & 07777), gid, &i);
	if (!ret)
		*qid = qid_of(i);
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static int mem_mknod(void *fs, struct p9_node *dir, const char *name, uint32_t mode, uint32_t major,
		     uint32_t minor, uint32_t gid, struct p9_qid *qid)
{
	struct p9_memfs *m = fs;
	uint32_t t = mode & S_IFMT;
	if (t != S_IFIFO && t != S_IFSOCK && t != S_IFCHR && t != S_IFBLK && t != S_IFREG)
		return -EINVAL;
	pthread_mutex_lock(&m->mu);
	struct inode *i;
	int ret = make(m, dir, name, t | (mode & 07777), gid, &i);
	if (!ret) {
		i->rdev = ((uint64_t)major << 8 & 0xfff00) | (minor & 0xff) | ((uint64_t)(minor & ~0xffu) << 12);
		*qid = qid_of(i);
	}
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static int mem_symlink(void *fs, struct p9_node *dir, const char *name, const char *target,
		       uint32_t gid, struct p9_qid *qid)
{
	struct p9_memfs *m = fs;
	char *t = strdup(target);
	if (!t)
		return -ENOMEM;
	pthread_mutex_lock(&m->mu);
	struct inode *i;
	int ret = make(m, dir, name, S_IFLNK | 0777, gid, &i);
	if (!ret) {
		i->target = take_ptr(&t);
		*qid = qid_of(i);
	}
	pthread_mutex_unlock(&m->mu);
	free(t);
	return ret;
}

static int mem_link(void *fs, struct p9_node *dir, struct p9_node *target, const char *name)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	int ret = 0;
	if (is_dir(target->ino))
		ret = -EPERM;
	else if (!is_dir(dir->ino))
		ret = -ENOTDIR;
	else if (target->ino->nlink == 0)
		ret = -ENOENT; /* an unlinked inode cannot be relinked */
	else if (dir_lookup(dir->ino, name))
		ret = -EEXIST;
	else
		ret = dir_add(dir->ino, name, target->ino);
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static ssize_t mem_readlink(void *fs, struct p9_node *n, char *buf, size_t size)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	ssize_t ret;
	if (!S_ISLNK(n->ino->mode))
		ret = -EINVAL;
	else if (strlen(n->ino->target) > size)
		ret = -ENAMETOOLONG;
	else {
		ret = (ssize_t)strlen(n->ino->target);
		memcpy(buf, n->ino->target, (size_t)ret);
	}
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static int mem_unlinkat(void *fs, struct p9_node *dir, const char *name, int flags)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	int ret = 0;
	struct dent *e = is_dir(dir->ino) ? dir_lookup(dir->ino, name) : NULL;
	if (!is_dir(dir->ino))
		ret = -ENOTDIR;
	else if (!e)
		ret = -ENOENT;
	else if ((flags & AT_REMOVEDIR) && !is_dir(e->ino))
		ret = -ENOTDIR;
	else if (!(flags & AT_REMOVEDIR) && is_dir(e->ino))
		ret = -EISDIR;
	else if (is_dir(e->ino) && e->ino->nent)
		ret = -ENOTEMPTY;
	else
		dir_del(m, dir->ino, e);
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static bool is_ancestor(const struct inode *a, const struct inode *d)
{
	for (; d; d = d->parent)
		if (d == a)
			return true;
	return false;
}

static int rename_locked(struct p9_memfs *m, struct inode *od, const char *oname, struct inode *nd,
			 const char *nname)
{
	if (!is_dir(od) || !is_dir(nd))
		return -ENOTDIR;
	struct dent *e = dir_lookup(od, oname);
	if (!e)
		return -ENOENT;
	struct inode *i = e->ino;
	struct dent *t = dir_lookup(nd, nname);
	if (t == e)
		return 0;
	if (is_dir(i) && is_ancestor(i, nd))
		return -EINVAL; /* into its own subtree */
	if (t) {
		if (is_dir(i) && !is_dir(t->ino))
			return -ENOTDIR;
		if (!is_dir(i) && is_dir(t->ino))
			return -EISDIR;
		if (is_dir(t->ino) && t->ino->nent)
			return -ENOTEMPTY;
	}
	i->refs++; /* keep it alive between removal and insertion */
	if (t)
		dir_del(m, nd, t);
	dir_del(m, od, e);
	int ret = dir_add(nd, nname, i);
	if (!ret && is_dir(i) && i->parent != nd) {
		struct inode *old = i->parent;
		i->parent = nd;
		nd->refs++;
		inode_put(m, old);
	}
	inode_put(m, i);
	return ret;
}

static int mem_renameat(void *fs, struct p9_node *olddir, const char *oldname, struct p9_node *newdir,
			const char *newname)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	int ret = rename_locked(m, olddir->ino, oldname, newdir->ino, newname);
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static int mem_statfs(void *fs, struct p9_node *n, struct p9_statfs *st)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	*st = (struct p9_statfs){
		.type = 0x01021994, /* TMPFS_MAGIC */
		.bsize = 4096,
		.blocks = P9_MEMFS_MAX_BYTES / 4096,
		.bfree = (P9_MEMFS_MAX_BYTES - m->bytes) / 4096,
		.bavail = (P9_MEMFS_MAX_BYTES - m->bytes) / 4096,
		.files = P9_MEMFS_MAX_INODES,
		.ffree = P9_MEMFS_MAX_INODES - m->ninodes,
		.fsid = 0x6c63766d, /* "lcvm" */
		.namelen = P9_NAME_MAX,
	};
	pthread_mutex_unlock(&m->mu);
	return 0;
}

static int mem_fsync(void *fs, struct p9_node *n, bool datasync)
{
	return 0;
}

/* --- locks ------------------------------------------------------------------------- */
static uint64_t lock_end(const struct p9_flock *l)
{
	if (l->length == 0 || l->start + l->length - 1 < l->start)
		return UINT64_MAX;
	return l->start + l->length - 1;
}

static struct mlock *lock_conflict(struct inode *i, const struct p9_node *owner, uint8_t type,
				   uint64_t s, uint64_t e)
{
	for (struct mlock *l = i->locks; l; l = l->next)
		if (l->owner != owner && l->start <= e && s <= l->end &&
		    (type == P9_LOCK_TYPE_WRLCK || l->type == P9_LOCK_TYPE_WRLCK || type == P9_LOCK_TYPE_UNLCK))
			return l;
	return NULL;
}

/* Sets [s, e] of owner to type (UNLCK removes), splitting its ranges. */
static int lock_apply(struct inode *i, const struct p9_node *owner, uint8_t type, uint64_t s, uint64_t e)
{
	struct mlock *add = NULL, *tail = NULL;
	if (type != P9_LOCK_TYPE_UNLCK) {
		add = calloc(1, sizeof(*add));
		if (!add)
			return -ENOLCK;
	}
	/* Pieces of owner's ranges outside [s, e] survive; up to one split. */
	for (struct mlock **pp = &i->locks; *pp;) {
		struct mlock *l = *pp;
		if (l->owner != owner || l->end < s || l->start > e) {
			pp = &l->next;
			continue;
		}
		if (l->start < s && l->end > e) {
			tail = calloc(1, sizeof(*tail));
			if (!tail) {
				free(add);
				return -ENOLCK;
			}
			*tail = *l;
			tail->start = e + 1;
			l->end = s - 1;
			tail->next = l->next;
			l->next = tail;
			break;
		}
		if (l->start < s) {
			l->end = s - 1;
			pp = &l->next;
		} else if (l->end > e) {
			l->start = e + 1;
			pp = &l->next;
		} else {
			*pp = l->next;
			free(l);
		}
	}
	if (add) {
		*add = (struct mlock){ .next = i->locks, .owner = owner, .type = type, .start = s, .end = e };
		i->locks = add;
	}
	return 0;
}

static void drop_locks(struct inode *i, const struct p9_node *owner)
{
	lock_apply(i, owner, P9_LOCK_TYPE_UNLCK, 0, UINT64_MAX);
}

static void wake_lockers(void *arg)
{
	struct p9_memfs *m = arg;
	pthread_mutex_lock(&m->mu);
	pthread_cond_broadcast(&m->lock_cv);
	pthread_mutex_unlock(&m->mu);
}

static int mem_lock(void *fs, struct p9_node *n, const struct p9_flock *l, uint32_t flags,
		    struct p9_cancel *c)
{
	struct p9_memfs *m = fs;
	uint64_t s = l->start, e = lock_end(l);
	if (c)
		p9_cancel_set_hook(c, wake_lockers, m);
	pthread_mutex_lock(&m->mu);
	int ret;
	for (;;) {
		if (l->type == P9_LOCK_TYPE_UNLCK || !lock_conflict(n->ino, n, l->type, s, e)) {
			ret = lock_apply(n->ino, n, l->type, s, e);
			if (l->type != P9_LOCK_TYPE_WRLCK)
				pthread_cond_broadcast(&m->lock_cv); /* ranges freed or downgraded */
			break;
		}
		if (!c) {
			ret = -EAGAIN;
			break;
		}
		if (p9_cancel_requested(c)) {
			ret = -EINTR;
			break;
		}
		long budget = p9_cancel_budget_ms(c);
		if (budget <= 0) {
			ret = -EAGAIN;
			break;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += budget / 1000;
		ts.tv_nsec += (budget % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&m->lock_cv, &m->mu, &ts);
	}
	pthread_mutex_unlock(&m->mu);
	if (c)
		p9_cancel_set_hook(c, NULL, NULL);
	return ret;
}

static int mem_getlock(void *fs, struct p9_node *n, struct p9_flock *l)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	struct mlock *x = lock_conflict(n->ino, n, l->type, l->start, lock_end(l));
	if (x) {
		l->type = x->type;
		l->start = x->start;
		l->length = x->end == UINT64_MAX ? 0 : x->end - x->start + 1;
		l->proc_id = 0;
		snprintf(l->client_id, sizeof(l->client_id), "memfs");
	} else {
		l->type = P9_LOCK_TYPE_UNLCK;
	}
	pthread_mutex_unlock(&m->mu);
	return 0;
}

/* --- xattrs ------------------------------------------------------------------------- */
static struct xattr *xfind(struct inode *i, const char *name)
{
	for (size_t k = 0; k < i->nxattrs; k++)
		if (strcmp(i->xattrs[k].name, name) == 0)
			return &i->xattrs[k];
	return NULL;
}

static ssize_t mem_xattr_get(void *fs, struct p9_node *n, const char *name, void *buf, size_t size)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	struct xattr *x = xfind(n->ino, name);
	ssize_t ret;
	if (!x)
		ret = -ENODATA;
	else if (size == 0)
		ret = (ssize_t)x->size;
	else if (size < x->size)
		ret = -ERANGE;
	else {
		memcpy(buf, x->value, x->size);
		ret = (ssize_t)x->size;
	}
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static ssize_t mem_xattr_list(void *fs, struct p9_node *n, char *buf, size_t size)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	struct inode *i = n->ino;
	size_t need = 0;
	for (size_t k = 0; k < i->nxattrs; k++)
		need += strlen(i->xattrs[k].name) + 1;
	ssize_t ret = (ssize_t)need;
	if (size && size < need)
		ret = -ERANGE;
	else if (size)
		for (size_t k = 0, pos = 0; k < i->nxattrs; k++) {
			size_t l = strlen(i->xattrs[k].name) + 1;
			memcpy(buf + pos, i->xattrs[k].name, l);
			pos += l;
		}
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static int mem_xattr_set(void *fs, struct p9_node *n, const char *name, const void *value, size_t size,
			 int flags)
{
	struct p9_memfs *m = fs;
	uint8_t *v = malloc(size ? size : 1);
	char *nm = strdup(name);
	if (!v || !nm) {
		free(v);
		free(nm);
		return -ENOMEM;
	}
	memcpy(v, value, size);
	pthread_mutex_lock(&m->mu);
	struct inode *i = n->ino;
	struct xattr *x = xfind(i, name);
	int ret = 0;
	if (x && (flags & 1))
		ret = -EEXIST;
	else if (!x && (flags & 2))
		ret = -ENODATA;
	else if (!x && i->nxattrs >= P9_MEMFS_MAX_XATTRS)
		ret = -ENOSPC;
	else if (!x) {
		struct xattr *a = realloc(i->xattrs, (i->nxattrs + 1) * sizeof(*a));
		if (!a)
			ret = -ENOMEM;
		else {
			i->xattrs = a;
			x = &a[i->nxattrs++];
			x->name = take_ptr(&nm);
			x->value = NULL;
		}
	}
	if (!ret) {
		free(x->value);
		x->value = take_ptr(&v);
		x->size = size;
		i->ctime = now();
	}
	pthread_mutex_unlock(&m->mu);
	free(v);
	free(nm);
	return ret;
}

static int mem_xattr_remove(void *fs, struct p9_node *n, const char *name)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	struct inode *i = n->ino;
	struct xattr *x = xfind(i, name);
	int ret = 0;
	if (!x)
		ret = -ENODATA;
	else {
		free(x->name);
		free(x->value);
		*x = i->xattrs[--i->nxattrs];
	}
	pthread_mutex_unlock(&m->mu);
	return ret;
}

static int mem_release(void *fs, struct p9_node *n)
{
	struct p9_memfs *m = fs;
	pthread_mutex_lock(&m->mu);
	if (n->ino->locks) {
		drop_locks(n->ino, n);
		pthread_cond_broadcast(&m->lock_cv);
	}
	inode_put(m, n->ino);
	m->live_nodes--;
	pthread_mutex_unlock(&m->mu);
	free(n);
	return 0;
}

const struct p9_fs_ops p9_memfs_ops = {
	.attach = mem_attach,
	.clone = mem_clone,
	.walk = mem_walk,
	.getattr = mem_getattr,
	.setattr = mem_setattr,
	.open = mem_open,
	.create = mem_create,
	.read = mem_read,
	.write = mem_write,
	.readdir = mem_readdir,
	.mkdir = mem_mkdir,
	.mknod = mem_mknod,
	.symlink = mem_symlink,
	.link = mem_link,
	.readlink = mem_readlink,
	.unlinkat = mem_unlinkat,
	.renameat = mem_renameat,
	.rename = NULL,
	.remove = NULL,
	.statfs = mem_statfs,
	.fsync = mem_fsync,
	.lock = mem_lock,
	.getlock = mem_getlock,
	.xattr_get = mem_xattr_get,
	.xattr_list = mem_xattr_list,
	.xattr_set = mem_xattr_set,
	.xattr_remove = mem_xattr_remove,
	.release = mem_release,
};

struct p9_memfs *p9_memfs_new(void)
{
	struct p9_memfs *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->next_ino = 2; /* the guest adds 2 to qid.path: keep away from 0/1 wrap */
	m->root = inode_new(m, S_IFDIR | 0755, 0, 0);
	if (!m->root) {
		free(m);
		return NULL;
	}
	m->root->refs = 1;
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&m->lock_cv, &a);
	pthread_condattr_destroy(&a);
	return m;
}

void p9_memfs_free(struct p9_memfs *m)
{
	if (!m)
		return;
	/* Children hold their parents, not the other way round: empty the
	 * tree depth-first through the entries. */
	struct inode *d = m->root;
	while (d) {
		if (d->nent) {
			struct dent *e = d->order[d->nent - 1];
			if (is_dir(e->ino) && e->ino->nent) {
				d = e->ino;
				continue;
			}
			dir_del(m, d, e);
			continue;
		}
		d = d == m->root ? NULL : d->parent;
	}
	inode_put(m, m->root);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->lock_cv);
	free(m);
}

unsigned p9_memfs_live_nodes(struct p9_memfs *m)
{
	pthread_mutex_lock(&m->mu);
	unsigned n = m->live_nodes;
	pthread_mutex_unlock(&m->mu);
	return n;
}
