/* fs_local: the host-directory 9P backend, called directly on a temp dir
 * (and once through the server for blocking locks). Needs root for the
 * tmpfs mounts, device nodes and chown; those cases SKIP otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "p9/fs_local.h"
#include "p9/server.h"
#include "p9_client.h"
#include "test.h"

#define OPS (&p9_localfs_ops)

struct fx {
	char dir[64];     /* the whole scratch area */
	char exp[96];     /* the export: dir/export */
	char out[96];     /* outside the export: dir/outside */
	struct p9_localfs *fs;
	struct p9_node *root;
};

static int rm_rf(const char *p)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p);
	return system(cmd);
}

static bool fx_open(struct fx *f, enum p9_local_model model, bool no_openat2, bool ro)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_p9_fs_local.XXXXXX");
	if (!T_CHECK(mkdtemp(f->dir) != NULL))
		return false;
	snprintf(f->exp, sizeof(f->exp), "%s/export", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/outside", f->dir);
	if (!T_CHECK(mkdir(f->exp, 0755) == 0 && mkdir(f->out, 0755) == 0))
		return false;
	char p[160];
	snprintf(p, sizeof(p), "%s/secret", f->out);
	int fd = open(p, O_CREAT | O_WRONLY, 0600);
	if (!T_CHECK(fd >= 0 && write(fd, "outside", 7) == 7))
		return false;
	close(fd);
	struct p9_local_opts o = { .root = f->exp, .model = model, .no_openat2 = no_openat2, .readonly = ro };
	struct lc_err e = { "" };
	if (!T_CHECK_EQ_INT(p9_localfs_new(&o, &f->fs, &e), 0))
		return false;
	T_CHECK(p9_localfs_uses_openat2(f->fs) == !no_openat2);
	struct p9_qid q;
	return T_CHECK_EQ_INT(OPS->attach(f->fs, "", 1000, "", &f->root, &q), 0);
}

static void fx_close(struct fx *f)
{
	if (f->root)
		OPS->release(f->fs, f->root);
	if (f->fs) {
		T_CHECK_EQ_INT(p9_localfs_live_nodes(f->fs), 0);
		p9_localfs_free(f->fs);
	}
	rm_rf(f->dir);
}

/* Host path inside the export. */
static const char *hp(struct fx *f, const char *rel)
{
	static char buf[4][256];
	static int i;
	char *b = buf[i++ % 4];
	snprintf(b, 256, "%s/%s", f->exp, rel);
	return b;
}

static void host_file(struct fx *f, const char *rel, const char *data)
{
	int fd = open(hp(f, rel), O_CREAT | O_WRONLY | O_TRUNC, 0644);
	T_CHECK(fd >= 0 && write(fd, data, strlen(data)) == (ssize_t)strlen(data));
	close(fd);
}

/* Walks a '/'-separated path from n, one component per call like the server. */
static int walkp(struct fx *f, struct p9_node *n, const char *path, struct p9_node **out, struct p9_qid *q)
{
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", path);
	struct p9_node *cur;
	int r = OPS->clone(f->fs, n, &cur);
	if (r)
		return r;
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		struct p9_node *next;
		r = OPS->walk(f->fs, cur, c, &next, q);
		OPS->release(f->fs, cur);
		if (r)
			return r;
		cur = next;
	}
	*out = cur;
	return 0;
}

static struct p9_qid root_qid(struct fx *f)
{
	struct p9_attr a;
	OPS->getattr(f->fs, f->root, P9_GETATTR_ALL, &a);
	return a.qid;
}

/* ---- confinement ------------------------------------------------------------- */

static void confine_dotdot(bool no_openat2)
{
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_PASSTHROUGH, no_openat2, false))
		return fx_close(&f);
	T_CHECK(mkdir(hp(&f, "a"), 0755) == 0 && mkdir(hp(&f, "a/b"), 0755) == 0);
	struct p9_node *n;
	struct p9_qid q, rq = root_qid(&f);
	T_CHECK_EQ_INT(walkp(&f, f.root, "..", &n, &q), 0);
	T_CHECK_EQ_INT(q.path, rq.path); /* ".." at the root stays there */
	OPS->release(f.fs, n);
	T_CHECK_EQ_INT(walkp(&f, f.root, "a/b/../../../..", &n, &q), 0);
	T_CHECK_EQ_INT(q.path, rq.path);
	OPS->release(f.fs, n);
	struct p9_qid qa;
	T_CHECK_EQ_INT(walkp(&f, f.root, "a/b/..", &n, &qa), 0);
	struct stat st;
	stat(hp(&f, "a"), &st);
	T_CHECK_EQ_INT(qa.path, st.st_ino);
	OPS->release(f.fs, n);
	/* Bad names and sub-exports that leave the export. */
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "", &n, &q), -ENOENT);
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "a/b", &n, &q), -ENOENT);
	T_CHECK_EQ_INT(OPS->attach(f.fs, "", 0, "../outside", &n, &q), -EACCES);
	T_CHECK_EQ_INT(OPS->attach(f.fs, "", 0, "a/../..", &n, &q), -EACCES);
	T_CHECK_EQ_INT(OPS->attach(f.fs, "", 0, "/a/b", &n, &q), 0);
	T_CHECK_EQ_INT(q.type, P9_QTDIR);
	OPS->release(f.fs, n);
	fx_close(&f);
}
static void t_confine_dotdot_openat2(void) { confine_dotdot(false); }
static void t_confine_dotdot_fallback(void) { confine_dotdot(true); }

static void confine_symlinks(bool no_openat2)
{
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_PASSTHROUGH, no_openat2, false))
		return fx_close(&f);
	T_CHECK(symlink(f.out, hp(&f, "abs")) == 0);
	T_CHECK(symlink("../outside", hp(&f, "rel")) == 0);
	T_CHECK(symlink("/", hp(&f, "slash")) == 0);
	const char *links[] = { "abs", "rel", "slash" };
	for (size_t i = 0; i < 3; i++) {
		struct p9_node *n, *m;
		struct p9_qid q;
		/* Walking to a symlink gives the link; through it fails. */
		T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, links[i], &n, &q), 0);
		T_CHECK_EQ_INT(q.type, P9_QTSYMLINK);
		T_CHECK_EQ_INT(OPS->walk(f.fs, n, "secret", &m, &q), -ENOTDIR);
		T_CHECK_EQ_INT(OPS->open(f.fs, n, O_RDONLY, &q), -ELOOP);
		T_CHECK_EQ_INT(OPS->open(f.fs, n, O_RDONLY | O_DIRECTORY, &q), -ELOOP);
		char buf[256];
		ssize_t len = OPS->readlink(f.fs, n, buf, sizeof(buf));
		T_CHECK(len > 0);
		OPS->release(f.fs, n);
		struct p9_node *sub;
		char aname[64];
		snprintf(aname, sizeof(aname), "%s/", links[i]);
		T_CHECK(OPS->attach(f.fs, "", 0, aname, &sub, &q) < 0);
	}
	/* Creating through a symlink must not write outside either. */
	struct p9_node *n, *c;
	struct p9_qid q;
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "rel", &n, &q), 0);
	T_CHECK(OPS->create(f.fs, n, "new", O_RDWR, 0644, 0, &c, &q) < 0);
	T_CHECK(OPS->mkdir(f.fs, n, "newdir", 0755, 0, &q) < 0);
	OPS->release(f.fs, n);
	T_CHECK(OPS->create(f.fs, f.root, "abs", O_RDWR, 0644, 0, &c, &q) < 0); /* existing link: ELOOP */
	char p[160];
	snprintf(p, sizeof(p), "%s/new", f.out);
	T_CHECK(access(p, F_OK) < 0);
	fx_close(&f);
}
static void t_confine_symlinks_openat2(void) { confine_symlinks(false); }
static void t_confine_symlinks_fallback(void) { confine_symlinks(true); }

/* A thread swaps a directory and a symlink to the outside while walks run:
 * no walk may ever reach the outside file. */
struct swapper {
	const char *a, *b;
	atomic_bool stop;
	long swaps;
};

static void *swap_main(void *arg)
{
	struct swapper *s = arg;
	while (!atomic_load(&s->stop)) {
		if (renameat2(AT_FDCWD, s->a, AT_FDCWD, s->b, RENAME_EXCHANGE) == 0)
			s->swaps++;
	}
	return NULL;
}

static void race_swap(bool no_openat2)
{
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_PASSTHROUGH, no_openat2, false))
		return fx_close(&f);
	T_CHECK(mkdir(hp(&f, "d"), 0755) == 0);
	host_file(&f, "d/secret", "inside");
	T_CHECK(symlink(f.out, hp(&f, "s")) == 0);
	struct swapper sw = { .a = hp(&f, "d"), .b = hp(&f, "s") };
	atomic_init(&sw.stop, false);
	pthread_t th;
	T_CHECK(pthread_create(&th, NULL, swap_main, &sw) == 0);
	long ok = 0, escaped = 0;
	for (int i = 0; i < 3000; i++) {
		struct p9_node *n;
		struct p9_qid q;
		if (walkp(&f, f.root, i % 2 ? "d/secret" : "s/secret", &n, &q) == 0) {
			char buf[16] = "";
			if (OPS->open(f.fs, n, O_RDONLY, &q) == 0 && OPS->read(f.fs, n, 0, buf, sizeof(buf)) > 0) {
				ok++;
				escaped += strncmp(buf, "outside", 7) == 0;
			}
			OPS->release(f.fs, n);
		}
		struct p9_node *sub;
		if (OPS->attach(f.fs, "", 0, i % 2 ? "d" : "s", &sub, &q) == 0) {
			struct p9_node *m;
			if (OPS->walk(f.fs, sub, "secret", &m, &q) == 0) {
				char buf[16] = "";
				if (OPS->open(f.fs, m, O_RDONLY, &q) == 0 && OPS->read(f.fs, m, 0, buf, 16) > 0)
					escaped += strncmp(buf, "outside", 7) == 0;
				OPS->release(f.fs, m);
			}
			OPS->release(f.fs, sub);
		}
	}
	atomic_store(&sw.stop, true);
	pthread_join(th, NULL);
	T_CHECK_EQ_INT(escaped, 0);
	T_CHECK(ok > 0);      /* the walks did succeed sometimes */
	T_CHECK(sw.swaps > 0); /* and the race really ran */
	fx_close(&f);
}
static void t_race_swap_openat2(void) { race_swap(false); }
static void t_race_swap_fallback(void) { race_swap(true); }

/* ---- special files are never opened on the host ------------------------------ */

static void t_special_never_opened(void)
{
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_PASSTHROUGH, false, false))
		return fx_close(&f);
	T_CHECK(mkfifo(hp(&f, "fifo"), 0666) == 0);
	struct p9_node *n, *c;
	struct p9_qid q;
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "fifo", &n, &q), 0);
	/* Opening a FIFO without a writer would block: these must return. */
	T_CHECK_EQ_INT(OPS->open(f.fs, n, O_RDONLY, &q), -ENXIO);
	T_CHECK_EQ_INT(OPS->open(f.fs, n, O_WRONLY, &q), -ENXIO);
	struct p9_iattr ia = { .valid = P9_SETATTR_SIZE, .size = 0 };
	T_CHECK_EQ_INT(OPS->setattr(f.fs, n, &ia), -EINVAL);
	ia = (struct p9_iattr){ .valid = P9_SETATTR_MODE, .mode = 0600 };
	T_CHECK_EQ_INT(OPS->setattr(f.fs, n, &ia), 0); /* chmod works without opening */
	struct stat st;
	T_CHECK(stat(hp(&f, "fifo"), &st) == 0 && (st.st_mode & 07777) == 0600);
	OPS->release(f.fs, n);
	/* Tlcreate of an existing FIFO name without O_EXCL: refused, not opened. */
	T_CHECK_EQ_INT(OPS->create(f.fs, f.root, "fifo", O_RDONLY, 0644, 0, &c, &q), -ENXIO);
	if (geteuid() == 0) {
		/* A device node: the host's /dev/null must not be reachable via 9P. */
		T_CHECK_EQ_INT(OPS->mknod(f.fs, f.root, "null", S_IFCHR | 0666, 1, 3, 0, &q), 0);
		T_CHECK(stat(hp(&f, "null"), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
		T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "null", &n, &q), 0);
		T_CHECK_EQ_INT(OPS->open(f.fs, n, O_RDWR, &q), -ENXIO);
		OPS->release(f.fs, n);
	}
	/* A socket node. */
	T_CHECK_EQ_INT(OPS->mknod(f.fs, f.root, "sock", S_IFSOCK | 0600, 0, 0, 0, &q), 0);
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "sock", &n, &q), 0);
	T_CHECK_EQ_INT(OPS->open(f.fs, n, O_RDWR, &q), -ENXIO);
	ia = (struct p9_iattr){ .valid = P9_SETATTR_MODE, .mode = 0640 };
	T_CHECK_EQ_INT(OPS->setattr(f.fs, n, &ia), 0);
	OPS->release(f.fs, n);
	fx_close(&f);
}

/* ---- passthrough operations ---------------------------------------------------- */

static void t_passthrough_files(void)
{
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_PASSTHROUGH, false, false))
		return fx_close(&f);
	struct p9_node *n, *m, *d;
	struct p9_qid q, q2;
	T_CHECK_EQ_INT(OPS->create(f.fs, f.root, "f", O_RDWR, 0640, getgid(), &n, &q), 0);
	T_CHECK_EQ_INT(q.type, P9_QTFILE);
	T_CHECK_EQ_INT(OPS->create(f.fs, f.root, "f", O_RDWR | O_EXCL, 0640, 0, &m, &q2), -EEXIST);
	char big[8192];
	memset(big, 'z', sizeof(big));
	T_CHECK_EQ_INT(OPS->write(f.fs, n, 0, big, sizeof(big)), (long)sizeof(big));
	struct p9_attr a;
	T_CHECK_EQ_INT(OPS->getattr(f.fs, n, P9_GETATTR_ALL, &a), 0);
	T_CHECK((a.valid & P9_GETATTR_BASIC) == P9_GETATTR_BASIC);
	T_CHECK_EQ_INT(a.mode, S_IFREG | 0640);
	T_CHECK_EQ_INT(a.size, sizeof(big));
	T_CHECK_EQ_INT(a.nlink, 1);
	T_CHECK(a.blocks >= 16 && a.blksize > 0);
	struct statx sx;
	if (statx(AT_FDCWD, hp(&f, "f"), 0, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME)) {
		T_CHECK(a.valid & P9_GETATTR_BTIME);
		T_CHECK_EQ_INT(a.btime_sec, sx.stx_btime.tv_sec);
	}
	if (geteuid() == 0)
		T_CHECK_EQ_INT(a.uid, 1000); /* owner = the attach's n_uname */
	uint32_t v1 = a.qid.version;
	T_CHECK_EQ_INT(OPS->write(f.fs, n, 8192, "more", 4), 4);
	T_CHECK_EQ_INT(OPS->getattr(f.fs, n, P9_GETATTR_ALL, &a), 0);
	T_CHECK(a.qid.version != v1); /* modification changes qid.version */
	/* Hard links across directories, nlink 1 -> 2 -> 3. */
	T_CHECK_EQ_INT(OPS->mkdir(f.fs, f.root, "sub", 040755, 0, &q2), 0);
	T_CHECK_EQ_INT(q2.type, P9_QTDIR);
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "sub", &d, &q2), 0);
	T_CHECK_EQ_INT(OPS->link(f.fs, f.root, n, "f2"), 0);
	T_CHECK_EQ_INT(OPS->link(f.fs, d, n, "f3"), 0);
	T_CHECK_EQ_INT(OPS->getattr(f.fs, n, P9_GETATTR_ALL, &a), 0);
	T_CHECK_EQ_INT(a.nlink, 3);
	T_CHECK_EQ_INT(OPS->link(f.fs, f.root, d, "dirlink"), -EPERM);
	/* Unlink while open: I/O, getattr and truncate keep working on the fid. */
	T_CHECK_EQ_INT(OPS->unlinkat(f.fs, f.root, "f", 0), 0);
	T_CHECK_EQ_INT(OPS->unlinkat(f.fs, f.root, "f2", 0), 0);
	T_CHECK_EQ_INT(OPS->unlinkat(f.fs, d, "f3", 0), 0);
	T_CHECK_EQ_INT(OPS->getattr(f.fs, n, P9_GETATTR_ALL, &a), 0);
	T_CHECK_EQ_INT(a.nlink, 0);
	T_CHECK_EQ_INT(OPS->write(f.fs, n, 0, "abc", 3), 3);
	char buf[8];
	T_CHECK_EQ_INT(OPS->read(f.fs, n, 0, buf, 3), 3);
	T_CHECK(memcmp(buf, "abc", 3) == 0);
	struct p9_iattr ia = { .valid = P9_SETATTR_SIZE | P9_SETATTR_MTIME | P9_SETATTR_CTIME, .size = 2 };
	T_CHECK_EQ_INT(OPS->setattr(f.fs, n, &ia), 0);
	T_CHECK_EQ_INT(OPS->getattr(f.fs, n, P9_GETATTR_ALL, &a), 0);
	T_CHECK_EQ_INT(a.size, 2);
	T_CHECK_EQ_INT(OPS->fsync(f.fs, n, true), 0);
	OPS->release(f.fs, n);
	/* unlinkat flags and directories. */
	T_CHECK_EQ_INT(OPS->unlinkat(f.fs, f.root, "sub", 0), -EISDIR);
	T_CHECK_EQ_INT(OPS->unlinkat(f.fs, f.root, "sub", 0x1), -EINVAL);
	T_CHECK_EQ_INT(OPS->unlinkat(f.fs, f.root, "sub", AT_REMOVEDIR), 0);
	OPS->release(f.fs, d);
	/* Rename over an open file: the open fid keeps the old object. */
	host_file(&f, "old", "old-data");
	host_file(&f, "new", "new");
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "old", &n, &q), 0);
	T_CHECK_EQ_INT(OPS->open(f.fs, n, O_RDONLY, &q), 0);
	T_CHECK_EQ_INT(OPS->renameat(f.fs, f.root, "new", f.root, "old"), 0);
	T_CHECK_EQ_INT(OPS->read(f.fs, n, 0, buf, 8), 8);
	T_CHECK(memcmp(buf, "old-data", 8) == 0);
	OPS->release(f.fs, n);
	/* O_APPEND writes land at EOF whatever the offset; O_TRUNC truncates. */
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "old", &n, &q), 0);
	T_CHECK_EQ_INT(OPS->open(f.fs, n, O_WRONLY | O_APPEND, &q), 0);
	T_CHECK_EQ_INT(OPS->write(f.fs, n, 0, "XY", 2), 2);
	OPS->release(f.fs, n);
	struct stat st;
	T_CHECK(stat(hp(&f, "old"), &st) == 0 && st.st_size == 5);
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "old", &n, &q), 0);
	T_CHECK_EQ_INT(OPS->open(f.fs, n, O_WRONLY | O_TRUNC, &q), 0);
	OPS->release(f.fs, n);
	T_CHECK(stat(hp(&f, "old"), &st) == 0 && st.st_size == 0);
	/* Directories: no write opens; O_DIRECTORY on a file. */
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "old", &n, &q), 0);
	T_CHECK_EQ_INT(OPS->open(f.fs, n, O_RDONLY | O_DIRECTORY, &q), -ENOTDIR);
	OPS->release(f.fs, n);
	T_CHECK_EQ_INT(OPS->clone(f.fs, f.root, &n), 0);
	T_CHECK_EQ_INT(OPS->open(f.fs, n, O_RDWR, &q), -EISDIR);
	OPS->release(f.fs, n);
	fx_close(&f);
}

/* The guest applied its umask already: the server's own (022 here) must not
 * strip group/other bits again. */
static void t_modes_ignore_server_umask(void)
{
	mode_t old = umask(022);
	struct fx f;
	if (fx_open(&f, P9_LOCAL_PASSTHROUGH, false, false)) {
		struct p9_qid q;
		struct p9_node *n = NULL;
		struct stat st;
		T_CHECK_EQ_INT(OPS->mknod(f.fs, f.root, "fifo", S_IFIFO | 0666, 0, 0, 0, &q), 0);
		T_CHECK(stat(hp(&f, "fifo"), &st) == 0 && (st.st_mode & 07777) == 0666);
		T_CHECK_EQ_INT(OPS->mkdir(f.fs, f.root, "dir", 0777, 0, &q), 0);
		T_CHECK(stat(hp(&f, "dir"), &st) == 0 && (st.st_mode & 07777) == 0777);
		T_CHECK_EQ_INT(OPS->create(f.fs, f.root, "file", O_RDWR, 0666, 0, &n, &q), 0);
		T_CHECK(stat(hp(&f, "file"), &st) == 0 && (st.st_mode & 07777) == 0666);
		if (n)
			OPS->release(f.fs, n);
		T_CHECK_EQ_INT(OPS->mknod(f.fs, f.root, "narrow", S_IFIFO | 0600, 0, 0, 0, &q), 0);
		T_CHECK(stat(hp(&f, "narrow"), &st) == 0 && (st.st_mode & 07777) == 0600);
	}
	fx_close(&f);
	umask(old);
}

static void t_passthrough_nodes(void)
{
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_PASSTHROUGH, false, false))
		return fx_close(&f);
	struct p9_qid q;
	struct stat st;
	T_CHECK_EQ_INT(OPS->mknod(f.fs, f.root, "fifo", S_IFIFO | 0640, 0, 0, 0, &q), 0);
	T_CHECK(lstat(hp(&f, "fifo"), &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0640);
	T_CHECK_EQ_INT(OPS->mknod(f.fs, f.root, "sock", S_IFSOCK | 0600, 0, 0, 0, &q), 0);
	T_CHECK(lstat(hp(&f, "sock"), &st) == 0 && S_ISSOCK(st.st_mode));
	T_CHECK_EQ_INT(OPS->mknod(f.fs, f.root, "reg", S_IFREG | 0600, 0, 0, 0, &q), 0);
	T_CHECK(lstat(hp(&f, "reg"), &st) == 0 && S_ISREG(st.st_mode));
	T_CHECK_EQ_INT(OPS->mknod(f.fs, f.root, "fifo", S_IFIFO | 0640, 0, 0, 0, &q), -EEXIST);
	if (geteuid() == 0) {
		T_CHECK_EQ_INT(OPS->mknod(f.fs, f.root, "blk", S_IFBLK | 0600, 7, 9, 0, &q), 0);
		T_CHECK(lstat(hp(&f, "blk"), &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == makedev(7, 9));
		struct p9_node *n;
		struct p9_attr a;
		T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "blk", &n, &q), 0);
		T_CHECK_EQ_INT(OPS->getattr(f.fs, n, P9_GETATTR_ALL, &a), 0);
		T_CHECK_EQ_INT(a.rdev, makedev(7, 9));
		T_CHECK_EQ_INT(a.mode, S_IFBLK | 0600);
		OPS->release(f.fs, n);
	}
	/* Symlinks are stored verbatim and never followed. */
	T_CHECK_EQ_INT(OPS->symlink(f.fs, f.root, "ln", "../../etc/passwd", 0, &q), 0);
	T_CHECK_EQ_INT(q.type, P9_QTSYMLINK);
	char buf[64];
	T_CHECK(readlink(hp(&f, "ln"), buf, sizeof(buf)) == 16);
	struct p9_node *n;
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "ln", &n, &q), 0);
	T_CHECK_EQ_INT(OPS->readlink(f.fs, n, buf, sizeof(buf)), 16);
	T_CHECK(memcmp(buf, "../../etc/passwd", 16) == 0);
	T_CHECK_EQ_INT(OPS->readlink(f.fs, n, buf, 4), -ENAMETOOLONG);
	OPS->release(f.fs, n);
	/* statfs */
	struct p9_statfs sf;
	T_CHECK_EQ_INT(OPS->statfs(f.fs, f.root, &sf), 0);
	T_CHECK(sf.bsize > 0 && sf.blocks > 0 && sf.namelen >= 255);
	/* A sparse file beyond 4 GiB. */
	struct p9_node *c;
	T_CHECK_EQ_INT(OPS->create(f.fs, f.root, "sparse", O_RDWR, 0644, 0, &c, &q), 0);
	T_CHECK_EQ_INT(OPS->write(f.fs, c, 5ULL << 30, "end", 3), 3);
	struct p9_attr a;
	T_CHECK_EQ_INT(OPS->getattr(f.fs, c, P9_GETATTR_ALL, &a), 0);
	T_CHECK_EQ_INT(a.size, (5ULL << 30) + 3);
	T_CHECK(a.blocks < 1024);
	T_CHECK_EQ_INT(OPS->read(f.fs, c, (5ULL << 30), buf, 8), 3);
	OPS->release(f.fs, c);
	/* setattr: times and (as root) owner. */
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "reg", &n, &q), 0);
	struct p9_iattr ia = { .valid = P9_SETATTR_MTIME | P9_SETATTR_MTIME_SET | P9_SETATTR_ATIME |
					P9_SETATTR_ATIME_SET,
			       .atime_sec = 1000, .mtime_sec = 2000, .mtime_nsec = 5 };
	T_CHECK_EQ_INT(OPS->setattr(f.fs, n, &ia), 0);
	T_CHECK(stat(hp(&f, "reg"), &st) == 0 && st.st_mtim.tv_sec == 2000 && st.st_atim.tv_sec == 1000);
	ia = (struct p9_iattr){ .valid = P9_SETATTR_MODE, .mode = 0104755 };
	T_CHECK_EQ_INT(OPS->setattr(f.fs, n, &ia), 0);
	T_CHECK(stat(hp(&f, "reg"), &st) == 0 && (st.st_mode & 07777) == 0755); /* no set-uid on the host */
	if (geteuid() == 0) {
		ia = (struct p9_iattr){ .valid = P9_SETATTR_UID | P9_SETATTR_GID, .uid = 4321, .gid = 8765 };
		T_CHECK_EQ_INT(OPS->setattr(f.fs, n, &ia), 0);
		T_CHECK(stat(hp(&f, "reg"), &st) == 0 && st.st_uid == 4321 && st.st_gid == 8765);
	}
	OPS->release(f.fs, n);
	fx_close(&f);
}

/* ---- mapped-xattr model -------------------------------------------------------- */

static uint32_t host_x32(const char *path, const char *name)
{
	unsigned char b[4] = { 0 };
	if (lgetxattr(path, name, b, 4) != 4)
		return 0xdeadbeef;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void t_mapped(void)
{
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_MAPPED, false, false))
		return fx_close(&f);
	struct p9_qid q;
	struct p9_node *n, *c;
	struct p9_attr a;
	struct stat st;
	/* A char device: an empty host file 0600, the guest sees S_IFCHR 1:3. */
	T_CHECK_EQ_INT(OPS->mknod(f.fs, f.root, "null", S_IFCHR | 0666, 1, 3, 77, &q), 0);
	T_CHECK(lstat(hp(&f, "null"), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600);
	T_CHECK_EQ_INT(host_x32(hp(&f, "null"), "user.virtfs.mode"), S_IFCHR | 0666);
	T_CHECK_EQ_INT(host_x32(hp(&f, "null"), "user.virtfs.uid"), 1000);
	T_CHECK_EQ_INT(host_x32(hp(&f, "null"), "user.virtfs.gid"), 77);
	unsigned char rdev[8];
	T_CHECK_EQ_INT(lgetxattr(hp(&f, "null"), "user.virtfs.rdev", rdev, 8), 8);
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "null", &n, &q), 0);
	T_CHECK_EQ_INT(OPS->getattr(f.fs, n, P9_GETATTR_ALL, &a), 0);
	T_CHECK_EQ_INT(a.mode, S_IFCHR | 0666);
	T_CHECK_EQ_INT(a.rdev, makedev(1, 3));
	T_CHECK_EQ_INT(a.uid, 1000);
	T_CHECK_EQ_INT(a.gid, 77);
	T_CHECK_EQ_INT(OPS->open(f.fs, n, O_RDWR, &q), -ENXIO); /* the guest opens its own device */
	/* chmod keeps the type; chown changes xattrs, not the host owner. */
	struct p9_iattr ia = { .valid = P9_SETATTR_MODE | P9_SETATTR_UID, .mode = 0620, .uid = 5 };
	T_CHECK_EQ_INT(OPS->setattr(f.fs, n, &ia), 0);
	T_CHECK_EQ_INT(OPS->getattr(f.fs, n, P9_GETATTR_ALL, &a), 0);
	T_CHECK_EQ_INT(a.mode, S_IFCHR | 0620);
	T_CHECK_EQ_INT(a.uid, 5);
	T_CHECK(lstat(hp(&f, "null"), &st) == 0 && st.st_uid == geteuid());
	OPS->release(f.fs, n);
	/* A symlink: a regular file holding the target. */
	T_CHECK_EQ_INT(OPS->symlink(f.fs, f.root, "ln", "/etc/shadow", 0, &q), 0);
	T_CHECK_EQ_INT(q.type, P9_QTSYMLINK);
	T_CHECK(lstat(hp(&f, "ln"), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 11);
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "ln", &n, &q), 0);
	char buf[64];
	T_CHECK_EQ_INT(OPS->readlink(f.fs, n, buf, sizeof(buf)), 11);
	T_CHECK(memcmp(buf, "/etc/shadow", 11) == 0);
	T_CHECK_EQ_INT(OPS->open(f.fs, n, O_RDONLY, &q), -ELOOP);
	OPS->release(f.fs, n);
	/* Files and directories carry the guest mode; the host keeps 0600/0700. */
	T_CHECK_EQ_INT(OPS->create(f.fs, f.root, "f", O_RDWR, 04755, 9, &c, &q), 0);
	T_CHECK_EQ_INT(OPS->getattr(f.fs, c, P9_GETATTR_ALL, &a), 0);
	T_CHECK_EQ_INT(a.mode, S_IFREG | 04755);
	T_CHECK(lstat(hp(&f, "f"), &st) == 0 && (st.st_mode & 07777) == 0600);
	/* The guest can neither read, list nor forge user.virtfs.*. */
	T_CHECK_EQ_INT(OPS->xattr_get(f.fs, c, "user.virtfs.uid", buf, sizeof(buf)), -ENODATA);
	T_CHECK_EQ_INT(OPS->xattr_set(f.fs, c, "user.virtfs.uid", "\0\0\0\0", 4, 0), -EACCES);
	T_CHECK_EQ_INT(OPS->xattr_remove(f.fs, c, "user.virtfs.mode"), -EACCES);
	T_CHECK_EQ_INT(OPS->xattr_set(f.fs, c, "trusted.x", "v", 1, 0), -EOPNOTSUPP);
	T_CHECK_EQ_INT(OPS->xattr_set(f.fs, c, "user.mine", "v", 1, 0), 0);
	T_CHECK_EQ_INT(OPS->xattr_set(f.fs, c, "system.posix_acl_access", "\x02\0\0\0", 4, 0), 0);
	T_CHECK_EQ_INT(lgetxattr(hp(&f, "f"), "user.virtfs.system.posix_acl_access", buf, 8), 4);
	char list[512];
	ssize_t ln = OPS->xattr_list(f.fs, c, list, sizeof(list));
	T_CHECK(ln > 0);
	bool has_mine = false, has_acl = false, leaks = false;
	for (ssize_t off = 0; ln > 0 && off < ln; off += (ssize_t)strlen(list + off) + 1) {
		has_mine |= strcmp(list + off, "user.mine") == 0;
		has_acl |= strcmp(list + off, "system.posix_acl_access") == 0;
		leaks |= strncmp(list + off, "user.virtfs.", 12) == 0;
	}
	T_CHECK(has_mine && has_acl && !leaks);
	T_CHECK_EQ_INT(OPS->xattr_list(f.fs, c, NULL, 0), ln);
	OPS->release(f.fs, c);
	T_CHECK_EQ_INT(OPS->mkdir(f.fs, f.root, "d", 02775, 9, &q), 0);
	T_CHECK(lstat(hp(&f, "d"), &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "d", &n, &q), 0);
	T_CHECK_EQ_INT(OPS->getattr(f.fs, n, P9_GETATTR_ALL, &a), 0);
	T_CHECK_EQ_INT(a.mode, S_IFDIR | 02775);
	OPS->release(f.fs, n);
	fx_close(&f);
}

/* ---- xattrs in passthrough --------------------------------------------------- */

static void t_xattr_passthrough(void)
{
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_PASSTHROUGH, false, false))
		return fx_close(&f);
	host_file(&f, "f", "x");
	struct p9_node *n;
	struct p9_qid q;
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "f", &n, &q), 0);
	char buf[128];
	T_CHECK_EQ_INT(OPS->xattr_set(f.fs, n, "user.a", "one", 3, XATTR_CREATE), 0);
	T_CHECK_EQ_INT(OPS->xattr_set(f.fs, n, "user.a", "two", 3, XATTR_CREATE), -EEXIST);
	T_CHECK_EQ_INT(OPS->xattr_set(f.fs, n, "user.b", "two", 3, XATTR_REPLACE), -ENODATA);
	T_CHECK_EQ_INT(OPS->xattr_set(f.fs, n, "user.a", "three", 5, XATTR_REPLACE), 0);
	T_CHECK_EQ_INT(OPS->xattr_get(f.fs, n, "user.a", NULL, 0), 5);
	T_CHECK_EQ_INT(OPS->xattr_get(f.fs, n, "user.a", buf, 2), -ERANGE);
	T_CHECK_EQ_INT(OPS->xattr_get(f.fs, n, "user.a", buf, sizeof(buf)), 5);
	T_CHECK_EQ_INT(OPS->xattr_set(f.fs, n, "user.a", "x", P9_XATTR_SIZE_MAX + 1, 0), -E2BIG);
	T_CHECK_EQ_INT(OPS->xattr_set(f.fs, n, "user.virtfs.uid", "\0\0\0\0", 4, 0), -EACCES);
	if (geteuid() == 0) {
		T_CHECK_EQ_INT(OPS->xattr_set(f.fs, n, "trusted.t", "tv", 2, 0), 0);
		T_CHECK_EQ_INT(OPS->xattr_get(f.fs, n, "trusted.t", buf, sizeof(buf)), 2);
		T_CHECK_EQ_INT(OPS->xattr_set(f.fs, n, "security.lcvm", "sv", 2, 0), 0);
	}
	ssize_t ln = OPS->xattr_list(f.fs, n, buf, sizeof(buf));
	T_CHECK(ln >= 7 && memmem(buf, (size_t)ln, "user.a", 7) != NULL);
	T_CHECK_EQ_INT(OPS->xattr_list(f.fs, n, buf, 3), -ERANGE);
	T_CHECK_EQ_INT(OPS->xattr_remove(f.fs, n, "user.a"), 0);
	T_CHECK_EQ_INT(OPS->xattr_get(f.fs, n, "user.a", buf, sizeof(buf)), -ENODATA);
	T_CHECK_EQ_INT(OPS->xattr_remove(f.fs, n, "user.a"), -ENODATA);
	OPS->release(f.fs, n);
	fx_close(&f);
}

/* ---- locks --------------------------------------------------------------------- */

static struct p9_node *opened(struct fx *f, const char *name, int flags)
{
	struct p9_node *n = NULL;
	struct p9_qid q;
	if (OPS->walk(f->fs, f->root, name, &n, &q) != 0)
		return NULL;
	if (OPS->open(f->fs, n, flags, &q) != 0) {
		OPS->release(f->fs, n);
		return NULL;
	}
	return n;
}

static struct p9_flock lk(uint8_t type, uint64_t start, uint64_t len)
{
	struct p9_flock l = { .type = type, .start = start, .length = len, .proc_id = 42 };
	strcpy(l.client_id, "guest");
	return l;
}

static void t_locks_between_fids(void)
{
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_PASSTHROUGH, false, false))
		return fx_close(&f);
	host_file(&f, "l", "0123456789");
	struct p9_node *a = opened(&f, "l", O_RDWR), *b = opened(&f, "l", O_RDWR);
	if (!T_CHECK(a && b))
		return fx_close(&f);
	struct p9_flock l = lk(P9_LOCK_TYPE_WRLCK, 2, 3);
	T_CHECK_EQ_INT(OPS->lock(f.fs, a, &l, 0, NULL), 0);
	l = lk(P9_LOCK_TYPE_RDLCK, 4, 1);
	T_CHECK_EQ_INT(OPS->lock(f.fs, b, &l, 0, NULL), -EAGAIN);
	l = lk(P9_LOCK_TYPE_WRLCK, 5, 0); /* just past a's range, to EOF */
	T_CHECK_EQ_INT(OPS->lock(f.fs, b, &l, 0, NULL), 0);
	struct p9_flock g = lk(P9_LOCK_TYPE_UNLCK, 0, 0);
	T_CHECK_EQ_INT(OPS->getlock(f.fs, b, &g), 0);
	T_CHECK_EQ_INT(g.type, P9_LOCK_TYPE_WRLCK);
	T_CHECK_EQ_INT(g.start, 2);
	T_CHECK_EQ_INT(g.length, 3);
	l = lk(P9_LOCK_TYPE_WRLCK, 0, 0);
	T_CHECK_EQ_INT(OPS->lock(f.fs, a, &l, 2 /* RECLAIM */, NULL), -EINVAL);
	/* Releasing a (clunk) drops its locks. */
	OPS->release(f.fs, a);
	g = lk(P9_LOCK_TYPE_UNLCK, 0, 5);
	T_CHECK_EQ_INT(OPS->getlock(f.fs, b, &g), 0);
	T_CHECK_EQ_INT(g.type, P9_LOCK_TYPE_UNLCK);
	l = lk(P9_LOCK_TYPE_UNLCK, 100, 10); /* unlocking what is not held */
	T_CHECK_EQ_INT(OPS->lock(f.fs, b, &l, 0, NULL), 0);
	OPS->release(f.fs, b);
	fx_close(&f);
}

/* A forked host process holds a classic fcntl lock until its pipe closes. */
static pid_t host_holder(const char *path, short type, int *ctl)
{
	int up[2], down[2];
	if (pipe(up) < 0 || pipe(down) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		int fd = open(path, O_RDWR);
		struct flock fl = { .l_type = type, .l_whence = SEEK_SET };
		char ok = fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 ? 'L' : 'E';
		if (write(up[1], &ok, 1) != 1)
			_exit(1);
		char b;
		while (read(down[0], &b, 1) > 0)
			;
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	char b = 0;
	if (read(up[0], &b, 1) != 1 || b != 'L') {
		close(down[1]);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(up[0]);
	*ctl = down[1];
	return pid;
}

static void t_locks_host_process(void)
{
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_PASSTHROUGH, false, false))
		return fx_close(&f);
	host_file(&f, "l", "data");
	struct p9_node *a = opened(&f, "l", O_RDWR);
	int ctl = -1;
	pid_t pid = host_holder(hp(&f, "l"), F_WRLCK, &ctl);
	if (!T_CHECK(a && pid > 0))
		return fx_close(&f);
	struct p9_flock l = lk(P9_LOCK_TYPE_RDLCK, 0, 0);
	T_CHECK_EQ_INT(OPS->lock(f.fs, a, &l, 0, NULL), -EAGAIN);
	struct p9_flock g = lk(P9_LOCK_TYPE_UNLCK, 0, 0);
	T_CHECK_EQ_INT(OPS->getlock(f.fs, a, &g), 0);
	T_CHECK_EQ_INT(g.type, P9_LOCK_TYPE_WRLCK);
	T_CHECK_EQ_INT(g.proc_id, pid);
	close(ctl);
	waitpid(pid, NULL, 0);
	/* Now the backend holds; a host process sees the OFD lock. */
	l = lk(P9_LOCK_TYPE_WRLCK, 0, 0);
	T_CHECK_EQ_INT(OPS->lock(f.fs, a, &l, 0, NULL), 0);
	int fd = open(hp(&f, "l"), O_RDWR);
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	T_CHECK(fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type == F_WRLCK);
	fl = (struct flock){ .l_type = F_RDLCK, .l_whence = SEEK_SET };
	T_CHECK(fcntl(fd, F_SETLK, &fl) < 0 && (errno == EAGAIN || errno == EACCES));
	OPS->release(f.fs, a); /* clunk releases */
	fl = (struct flock){ .l_type = F_RDLCK, .l_whence = SEEK_SET };
	T_CHECK(fcntl(fd, F_SETLK, &fl) == 0);
	close(fd);
	fx_close(&f);
}

/* Blocking Tlock through the server: waits for a host holder, wakes when it
 * unlocks, and a Tflush cancels a wait. */
static void *loop_main(void *arg)
{
	ev_run(arg);
	return NULL;
}

static int recv_tag(struct p9c *c, uint16_t *tag)
{
	int r = p9c_recv(c);
	*tag = c->rtag;
	return r;
}

static void t_blocking_lock_server(void)
{
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_PASSTHROUGH, false, false))
		return fx_close(&f);
	OPS->release(f.fs, f.root);
	f.root = NULL;
	host_file(&f, "l", "data");
	struct ev_loop *loop = ev_loop_new();
	struct p9_export e = { OPS, f.fs, 0 };
	struct p9_server_opts o = { .lock_wait_ms = 60000 };
	struct p9_server *srv = NULL;
	int sv[2];
	if (!T_CHECK(loop && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) ||
	    !T_CHECK_EQ_INT(p9_server_new(loop, &e, &o, &srv), 0) || !T_CHECK_EQ_INT(p9_server_add_conn(srv, sv[0]), 0))
		return fx_close(&f);
	pthread_t th;
	pthread_create(&th, NULL, loop_main, loop);
	struct p9c c;
	p9c_init(&c, sv[1]);
	const char *name = "l";
	T_CHECK_EQ_INT(p9c_version(&c, 65536, "9P2000.L", NULL, NULL, 0), 0);
	T_CHECK_EQ_INT(p9c_attach(&c, 0, "", 0, NULL), 0);
	T_CHECK_EQ_INT(p9c_walk(&c, 0, 1, 1, &name, NULL), 1);
	T_CHECK_EQ_INT(p9c_lopen(&c, 1, 2 /* RDWR */, NULL), 0);
	int ctl = -1;
	pid_t pid = host_holder(hp(&f, "l"), F_WRLCK, &ctl);
	T_CHECK(pid > 0);
	uint8_t st = 9;
	T_CHECK_EQ_INT(p9c_lock(&c, 1, 1, 0, 0, 0, &st), 0);
	T_CHECK_EQ_INT(st, P9_LOCK_BLOCKED); /* non-blocking: BLOCKED at once */
	/* Blocking: the request stays in flight until the host process lets go. */
	T_CHECK_EQ_INT(p9c_send_lock(&c, 7, 1, 1, 1, 0, 0), 0);
	struct p9c_attr ga;
	T_CHECK_EQ_INT(p9c_getattr(&c, 0, P9_GETATTR_BASIC, &ga), 0); /* others still served */
	close(ctl);
	waitpid(pid, NULL, 0);
	uint16_t tag = 0;
	T_CHECK_EQ_INT(recv_tag(&c, &tag), 0);
	T_CHECK_EQ_INT(tag, 7);
	T_CHECK_EQ_INT(c.rtype, 53);
	T_CHECK_EQ_INT(p9c_get8(&c), P9_LOCK_SUCCESS);
	/* A second fid waits on the first and is flushed. */
	T_CHECK_EQ_INT(p9c_walk(&c, 0, 2, 1, &name, NULL), 1);
	T_CHECK_EQ_INT(p9c_lopen(&c, 2, 2, NULL), 0);
	T_CHECK_EQ_INT(p9c_send_lock(&c, 8, 2, 1, 1, 0, 0), 0);
	p9c_begin(&c, 108, 9);
	p9c_put16(&c, 8);
	T_CHECK_EQ_INT(p9c_send(&c), 0);
	T_CHECK_EQ_INT(recv_tag(&c, &tag), 0);
	T_CHECK_EQ_INT(tag, 9); /* Rflush, and no Rlock for tag 8 */
	T_CHECK_EQ_INT(c.rtype, 109);
	/* Clunking fid 1 frees the lock for a host process. */
	T_CHECK_EQ_INT(p9c_clunk(&c, 1), 0);
	int fd = open(hp(&f, "l"), O_RDWR);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	T_CHECK(fcntl(fd, F_SETLK, &fl) == 0);
	close(fd);
	close(sv[1]);
	ev_stop(loop);
	pthread_join(th, NULL);
	p9_server_free(srv);
	ev_loop_free(loop);
	p9c_free(&c);
	fx_close(&f);
}


/* O_DIRECT through the server: the host file is opened O_DIRECT (a
 * misaligned offset is refused by the host as it would be locally), aligned
 * I/O works although the data sits behind a 9P header, and iounit keeps the
 * client's chunks block-aligned. */
static bool host_fd_direct(const char *path)
{
	for (int fd = 3; fd < 1024; fd++) {
		char l[64], target[PATH_MAX], info[256];
		snprintf(l, sizeof(l), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(l, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strcmp(target, path))
			continue;
		snprintf(l, sizeof(l), "/proc/self/fdinfo/%d", fd);
		FILE *fp = fopen(l, "r");
		unsigned flags = 0;
		while (fp && fgets(info, sizeof(info), fp))
			sscanf(info, "flags: %o", &flags);
		if (fp)
			fclose(fp);
		if (flags & O_DIRECT)
			return true;
	}
	return false;
}

static void t_direct_server(void)
{
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_PASSTHROUGH, false, false))
		return fx_close(&f);
	OPS->release(f.fs, f.root);
	f.root = NULL;
	host_file(&f, "d", "");
	int probe = open(hp(&f, "d"), O_RDWR | O_DIRECT);
	if (probe < 0) {
		fx_close(&f);
		return t_skip("the host filesystem of /tmp refuses O_DIRECT");
	}
	close(probe);
	struct ev_loop *loop = ev_loop_new();
	struct p9_export e = { OPS, f.fs, 0 };
	struct p9_server *srv = NULL;
	int sv[2];
	if (!T_CHECK(loop && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) ||
	    !T_CHECK_EQ_INT(p9_server_new(loop, &e, NULL, &srv), 0) || !T_CHECK_EQ_INT(p9_server_add_conn(srv, sv[0]), 0))
		return fx_close(&f);
	pthread_t th;
	pthread_create(&th, NULL, loop_main, loop);
	struct p9c c;
	p9c_init(&c, sv[1]);
	const char *name = "d";
	T_CHECK_EQ_INT(p9c_version(&c, 65536, "9P2000.L", NULL, NULL, 0), 0);
	T_CHECK_EQ_INT(p9c_attach(&c, 0, "", 0, NULL), 0);
	T_CHECK_EQ_INT(p9c_walk(&c, 0, 1, 1, &name, NULL), 1);
	p9c_begin(&c, 12 /* Tlopen */, P9C_TAG);
	p9c_put32(&c, 1);
	p9c_put32(&c, 2 /* RDWR */ | 040000 /* P9_DOTL_DIRECT */);
	T_CHECK_EQ_INT(p9c_send(&c), 0);
	T_CHECK_EQ_INT(p9c_recv(&c), 0);
	T_CHECK_EQ_INT(p9c_check(&c, 13), 0);
	p9c_getqid(&c);
	T_CHECK_EQ_INT(p9c_get32(&c), 61440); /* (65536 - 24) rounded down to 4 KiB */
	T_CHECK(host_fd_direct(hp(&f, "d")));
	static char blk[8192];
	memset(blk, 'x', sizeof(blk));
	T_CHECK_EQ_INT(p9c_write(&c, 1, 0, blk, 8192), 8192);
	T_CHECK_EQ_INT(p9c_write(&c, 1, 100, blk, 512), -EINVAL); /* misaligned: the host refuses */
	char back[4096];
	T_CHECK_EQ_INT(p9c_read(&c, 1, 4096, back, 4096), 4096);
	T_CHECK(back[0] == 'x' && back[4095] == 'x');
	struct stat st;
	T_CHECK(stat(hp(&f, "d"), &st) == 0 && st.st_size == 8192);
	/* Without DIRECT the same misaligned write is fine. */
	T_CHECK_EQ_INT(p9c_walk(&c, 0, 2, 1, &name, NULL), 1);
	T_CHECK_EQ_INT(p9c_lopen(&c, 2, 2, NULL), 0);
	T_CHECK_EQ_INT(p9c_write(&c, 2, 100, blk, 512), 512);
	T_CHECK_EQ_INT(p9c_clunk(&c, 1), 0);
	T_CHECK_EQ_INT(p9c_clunk(&c, 2), 0);
	close(sv[1]);
	ev_stop(loop);
	pthread_join(th, NULL);
	p9_server_free(srv);
	ev_loop_free(loop);
	p9c_free(&c);
	fx_close(&f);
}

/* ---- qids across filesystems, readdir, read-only --------------------------------- */

static void t_qid_two_filesystems(void)
{
	if (geteuid() != 0)
		return t_skip("mounting tmpfs needs root");
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_PASSTHROUGH, false, false))
		return fx_close(&f);
	T_CHECK(mkdir(hp(&f, "m1"), 0755) == 0 && mkdir(hp(&f, "m2"), 0755) == 0);
	if (mount("tmpfs", hp(&f, "m1"), "tmpfs", 0, "size=1m") < 0 ||
	    mount("tmpfs", hp(&f, "m2"), "tmpfs", 0, "size=1m") < 0) {
		umount2(hp(&f, "m1"), MNT_DETACH);
		t_skip("cannot mount tmpfs here");
		return fx_close(&f);
	}
	/* Two fresh tmpfs instances hand out the same inode numbers. */
	host_file(&f, "m1/a", "1");
	host_file(&f, "m2/a", "2");
	struct stat s1, s2;
	stat(hp(&f, "m1/a"), &s1);
	stat(hp(&f, "m2/a"), &s2);
	struct p9_node *n1, *n2;
	struct p9_qid q1, q2, qm1, qm2;
	T_CHECK_EQ_INT(walkp(&f, f.root, "m1/a", &n1, &q1), 0);
	T_CHECK_EQ_INT(walkp(&f, f.root, "m2/a", &n2, &q2), 0);
	if (s1.st_ino == s2.st_ino)
		T_CHECK(q1.path != q2.path);
	T_CHECK(q1.path != q2.path);
	OPS->release(f.fs, n1);
	OPS->release(f.fs, n2);
	T_CHECK_EQ_INT(walkp(&f, f.root, "m1", &n1, &qm1), 0);
	T_CHECK_EQ_INT(walkp(&f, f.root, "m2", &n2, &qm2), 0);
	T_CHECK(qm1.path != qm2.path); /* both tmpfs roots are inode 1 */
	/* Stable for the session. */
	struct p9_node *again;
	struct p9_qid q1b;
	T_CHECK_EQ_INT(walkp(&f, f.root, "m1/a", &again, &q1b), 0);
	T_CHECK_EQ_INT(q1b.path, q1.path);
	OPS->release(f.fs, again);
	OPS->release(f.fs, n1);
	OPS->release(f.fs, n2);
	umount2(hp(&f, "m1"), MNT_DETACH);
	umount2(hp(&f, "m2"), MNT_DETACH);
	fx_close(&f);
}

struct rd {
	unsigned char *seen;
	unsigned n, cap, taken;
	uint64_t last;
	unsigned dups;
};

static int rd_fill(void *ctx, const struct p9_dirent *d)
{
	struct rd *r = ctx;
	if (r->taken == r->cap)
		return 1;
	r->taken++;
	r->last = d->offset;
	unsigned idx;
	char extra;
	char name[300];
	snprintf(name, sizeof(name), "%.*s", (int)d->namelen, d->name);
	if (sscanf(name, "e%6u%c", &idx, &extra) == 1 && idx < r->n) {
		if (r->seen[idx]++)
			r->dups++;
	}
	return 0;
}

static void t_readdir_100k(void)
{
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_PASSTHROUGH, false, false))
		return fx_close(&f);
	const unsigned N = 100000;
	T_CHECK(mkdir(hp(&f, "big"), 0755) == 0);
	int dfd = open(hp(&f, "big"), O_RDONLY | O_DIRECTORY);
	char name[32];
	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "e%06u", i);
		int fd = openat(dfd, name, O_CREAT | O_WRONLY, 0644);
		if (!T_CHECK(fd >= 0))
			break;
		close(fd);
	}
	struct p9_node *n;
	struct p9_qid q;
	T_CHECK_EQ_INT(walkp(&f, f.root, "big", &n, &q), 0);
	T_CHECK_EQ_INT(OPS->open(f.fs, n, O_RDONLY | O_DIRECTORY, &q), 0);
	struct rd r = { .seen = calloc(N, 1), .n = N, .cap = 777 };
	uint64_t cookie = 0;
	unsigned rounds = 0;
	for (;;) {
		r.taken = 0;
		T_CHECK_EQ_INT(OPS->readdir(f.fs, n, cookie, rd_fill, &r), 0);
		if (r.taken == 0)
			break;
		cookie = r.last;
		/* Others come and go while the listing runs. */
		snprintf(name, sizeof(name), "x%06u", rounds);
		close(openat(dfd, name, O_CREAT | O_WRONLY, 0644));
		if (rounds > 3) {
			snprintf(name, sizeof(name), "x%06u", rounds - 3);
			unlinkat(dfd, name, 0);
		}
		if (++rounds > 10 * N / 777)
			break;
	}
	unsigned once = 0;
	for (unsigned i = 0; i < N; i++)
		once += r.seen[i] == 1;
	T_CHECK_EQ_INT(once, N);
	T_CHECK_EQ_INT(r.dups, 0);
	free(r.seen);
	OPS->release(f.fs, n);
	close(dfd);
	fx_close(&f);
}

static void t_readonly(void)
{
	struct fx f;
	if (!fx_open(&f, P9_LOCAL_PASSTHROUGH, false, true))
		return fx_close(&f);
	host_file(&f, "f", "ro");
	T_CHECK(mkdir(hp(&f, "d"), 0755) == 0);
	struct p9_node *n, *c, *d;
	struct p9_qid q;
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "f", &n, &q), 0);
	T_CHECK_EQ_INT(OPS->walk(f.fs, f.root, "d", &d, &q), 0);
	T_CHECK_EQ_INT(OPS->create(f.fs, f.root, "new", O_RDWR, 0644, 0, &c, &q), -EROFS);
	T_CHECK_EQ_INT(OPS->mkdir(f.fs, f.root, "nd", 0755, 0, &q), -EROFS);
	T_CHECK_EQ_INT(OPS->mknod(f.fs, f.root, "p", S_IFIFO | 0644, 0, 0, 0, &q), -EROFS);
	T_CHECK_EQ_INT(OPS->symlink(f.fs, f.root, "s", "t", 0, &q), -EROFS);
	T_CHECK_EQ_INT(OPS->link(f.fs, f.root, n, "h"), -EROFS);
	T_CHECK_EQ_INT(OPS->unlinkat(f.fs, f.root, "f", 0), -EROFS);
	T_CHECK_EQ_INT(OPS->unlinkat(f.fs, f.root, "d", AT_REMOVEDIR), -EROFS);
	T_CHECK_EQ_INT(OPS->renameat(f.fs, f.root, "f", d, "g"), -EROFS);
	struct p9_iattr ia = { .valid = P9_SETATTR_MODE, .mode = 0600 };
	T_CHECK_EQ_INT(OPS->setattr(f.fs, n, &ia), -EROFS);
	T_CHECK_EQ_INT(OPS->xattr_set(f.fs, n, "user.x", "v", 1, 0), -EROFS);
	T_CHECK_EQ_INT(OPS->xattr_remove(f.fs, n, "user.x"), -EROFS);
	T_CHECK_EQ_INT(OPS->open(f.fs, n, O_RDWR, &q), -EROFS);
	T_CHECK_EQ_INT(OPS->open(f.fs, n, O_RDONLY | O_TRUNC, &q), -EROFS);
	T_CHECK_EQ_INT(OPS->open(f.fs, n, O_RDONLY, &q), 0);
	char buf[4];
	T_CHECK_EQ_INT(OPS->read(f.fs, n, 0, buf, 4), 2);
	T_CHECK_EQ_INT(OPS->write(f.fs, n, 0, "x", 1), -EROFS);
	struct stat st;
	T_CHECK(stat(hp(&f, "f"), &st) == 0 && (st.st_mode & 0777) == 0644 && st.st_size == 2);
	OPS->release(f.fs, n);
	OPS->release(f.fs, d);
	fx_close(&f);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	T_RUN(t_confine_dotdot_openat2);
	T_RUN(t_confine_dotdot_fallback);
	T_RUN(t_confine_symlinks_openat2);
	T_RUN(t_confine_symlinks_fallback);
	T_RUN(t_race_swap_openat2);
	T_RUN(t_race_swap_fallback);
	T_RUN(t_special_never_opened);
	T_RUN(t_passthrough_files);
	T_RUN(t_passthrough_nodes);
	T_RUN(t_modes_ignore_server_umask);
	T_RUN(t_mapped);
	T_RUN(t_xattr_passthrough);
	T_RUN(t_locks_between_fids);
	T_RUN(t_locks_host_process);
	T_RUN(t_blocking_lock_server);
	T_RUN(t_direct_server);
	T_RUN(t_qid_two_filesystems);
	T_RUN(t_readdir_100k);
	T_RUN(t_readonly);
	return t_done();
}
