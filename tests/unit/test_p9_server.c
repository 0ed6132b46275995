/* The 9P server core against fs_mem, driven by the independent test client
 * (tests/unit/p9_client.c) over a socketpair; the server's loop runs in a
 * thread of its own, like in the monitor. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p9/fs_mem.h"
#include "p9/server.h"
#include "p9_client.h"
#include "test.h"

#define NOFID 0xFFFFFFFFu
#define QTDIR 0x80
#define L_RDONLY 0
#define L_RDWR 2
#define L_DIRECTORY 0200000
#define RLOCK 53
#define RFLUSH 109

struct fx {
	struct ev_loop *loop;
	struct p9_server *srv;
	struct p9_memfs *mem;
	pthread_t th;
	int closed[2];   /* the server's on_conn_closed writes a byte here */
	int fd;          /* client end */
	struct p9c c;
};

static void on_closed(void *arg)
{
	struct fx *f = arg;
	if (write(f->closed[1], "x", 1) < 0) { /* test will notice */ }
}

static void *loop_main(void *arg)
{
	ev_run(arg);
	return NULL;
}

static bool fx_start_opts(struct fx *f, struct p9_server_opts *o, unsigned exp_flags)
{
	memset(f, 0, sizeof(*f));
	int sv[2];
	f->mem = p9_memfs_new();
	f->loop = ev_loop_new();
	if (!T_CHECK(f->mem && f->loop) || !T_CHECK(pipe(f->closed) == 0) ||
	    !T_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0))
		return false;
	struct p9_export e = { &p9_memfs_ops, f->mem, exp_flags };
	o->on_conn_closed = on_closed;
	o->arg = f;
	if (!T_CHECK_EQ_INT(p9_server_new(f->loop, &e, o, &f->srv), 0))
		return false;
	if (!T_CHECK_EQ_INT(p9_server_add_conn(f->srv, sv[0]), 0))
		return false;
	f->fd = sv[1];
	p9c_init(&f->c, f->fd);
	return T_CHECK(pthread_create(&f->th, NULL, loop_main, f->loop) == 0);
}

static bool fx_start(struct fx *f)
{
	struct p9_server_opts o = { .lock_wait_ms = 60000 };
	return fx_start_opts(f, &o, 0);
}

/* Waits (blocking read, no sleeps) until the server reports the
 * connection gone. */
static void fx_wait_closed(struct fx *f)
{
	char b;
	T_CHECK(read(f->closed[0], &b, 1) == 1);
}

static void fx_stop(struct fx *f)
{
	if (f->fd > 0) {
		close(f->fd);
		fx_wait_closed(f);
	}
	ev_stop(f->loop);
	pthread_join(f->th, NULL);
	p9_server_free(f->srv);
	T_CHECK_EQ_INT(p9_memfs_live_nodes(f->mem), 0); /* every node released */
	p9_memfs_free(f->mem);
	ev_loop_free(f->loop);
	p9c_free(&f->c);
	close(f->closed[0]);
	close(f->closed[1]);
}

/* Tversion + Tattach(fid 0). */
static bool fx_session(struct fx *f)
{
	return T_CHECK_EQ_INT(p9c_version(&f->c, 65536, "9P2000.L", NULL, NULL, 0), 0) &&
	       T_CHECK_EQ_INT(p9c_attach(&f->c, 0, "nobody", NOFID, NULL), 0);
}

static int walk1(struct fx *f, uint32_t fid, uint32_t newfid, const char *name)
{
	return p9c_walk(&f->c, fid, newfid, name ? 1 : 0, &name, NULL);
}

/* Creates and opens dir/name on a fresh fid (clone + Tlcreate). */
static int create_file(struct fx *f, uint32_t dir, uint32_t fid, const char *name)
{
	int r = walk1(f, dir, fid, NULL);
	return r < 0 ? r : p9c_lcreate(&f->c, fid, name, L_RDWR, 0644, 0, NULL);
}

/* Open flags are translated bit by bit; O_DIRECT is honoured, not dropped. */
static void t_open_flags(void)
{
	T_CHECK_EQ_INT(p9_open_flags(2 | 040000), O_RDWR | O_DIRECT);
	T_CHECK_EQ_INT(p9_open_flags(1 | 02000 | 010000), O_WRONLY | O_APPEND | O_DSYNC);
	T_CHECK_EQ_INT(p9_open_flags(0 | 0100 | 0400 | 04000 | 0400000 | 02000000), O_RDONLY);
	T_CHECK_EQ_INT(p9_open_flags(3), -EINVAL);
}

static void t_version(void)
{
	struct fx f;
	if (!fx_start(&f))
		return;
	uint32_t msize;
	char ver[32];
	T_CHECK_EQ_INT(p9c_version(&f.c, 8u << 20, "9P2000.L", &msize, ver, sizeof(ver)), 0);
	T_CHECK_EQ_INT(msize, 1u << 20);          /* lowered to the server's cap */
	T_CHECK_EQ_STR(ver, "9P2000.L");
	T_CHECK_EQ_INT(p9c_version(&f.c, 8192, "9P2000.L", &msize, ver, sizeof(ver)), 0);
	T_CHECK_EQ_INT(msize, 8192);              /* never raised */
	T_CHECK_EQ_INT(p9c_version(&f.c, 8192, "9P2000.u", &msize, ver, sizeof(ver)), 0);
	T_CHECK_EQ_STR(ver, "unknown");
	T_CHECK_EQ_INT(p9c_attach(&f.c, 0, "", NOFID, NULL), -EPROTO); /* not negotiated */
	T_CHECK_EQ_INT(p9c_version(&f.c, 1024, "9P2000.L", &msize, ver, sizeof(ver)), -EMSGSIZE);
	fx_stop(&f);
}

static void t_attach_walk_rw(void)
{
	struct fx f;
	if (!fx_start(&f) || !fx_session(&f))
		return;
	struct p9c_qid root, q[16];
	T_CHECK_EQ_INT(p9c_attach(&f.c, 1, "", 1000, &root), 0);
	T_CHECK(root.type & QTDIR);
	T_CHECK_EQ_INT(p9c_attach(&f.c, 1, "", 1000, NULL), -EINVAL);   /* fid in use */
	T_CHECK_EQ_INT(create_file(&f, 1, 2, "hello"), 0);
	const char msg[] = "hello, 9p";
	T_CHECK_EQ_INT(p9c_write(&f.c, 2, 0, msg, sizeof(msg)), sizeof(msg));
	char buf[64] = { 0 };
	T_CHECK_EQ_INT(p9c_read(&f.c, 2, 0, buf, sizeof(buf)), sizeof(msg));
	T_CHECK_EQ_STR(buf, msg);
	T_CHECK_EQ_INT(p9c_read(&f.c, 2, sizeof(msg), buf, sizeof(buf)), 0); /* EOF */
	struct p9c_attr a;
	T_CHECK_EQ_INT(p9c_getattr(&f.c, 2, 0x3fff, &a), 0);
	T_CHECK_EQ_INT(a.size, sizeof(msg));
	T_CHECK(S_ISREG(a.mode));
	T_CHECK_EQ_INT(a.uid, 1000);              /* owner = the attach's n_uname */
	T_CHECK_EQ_INT(a.valid & 0x7ff, 0x7ff);
	T_CHECK_EQ_INT(a.valid & 0x2000, 0);      /* DATA_VERSION stays clear */
	/* Walks: to the file, partial, bad names, "..", in place. */
	T_CHECK_EQ_INT(walk1(&f, 0, 3, "hello"), 1);
	T_CHECK_EQ_INT(p9c_lopen(&f.c, 3, L_RDONLY, NULL), 0);
	T_CHECK_EQ_INT(p9c_lopen(&f.c, 3, L_RDONLY, NULL), -EINVAL);  /* already open */
	T_CHECK_EQ_INT(walk1(&f, 3, 3, ".."), -EINVAL);    /* in-place walk of an open fid */
	const char *two[] = { "hello", "nope" };
	T_CHECK_EQ_INT(p9c_walk(&f.c, 0, 4, 2, two, q), 1); /* short Rwalk ... */
	T_CHECK_EQ_INT(p9c_clunk(&f.c, 4), -EBADF);         /* ... created nothing */
	T_CHECK_EQ_INT(walk1(&f, 0, 4, "nope"), -ENOENT);
	T_CHECK_EQ_INT(walk1(&f, 0, 4, "a/b"), -ENOENT);
	T_CHECK_EQ_INT(walk1(&f, 0, 4, ""), -ENOENT);
	const char *up[] = { "..", ".." };
	T_CHECK_EQ_INT(p9c_walk(&f.c, 0, 4, 2, up, q), 2);
	T_CHECK_EQ_INT(q[1].path, root.path);                /* clamped at the root */
	T_CHECK_EQ_INT(p9c_mkdir(&f.c, 0, "d", 040755, 0, NULL), 0);
	const char *in[] = { "d" };
	T_CHECK_EQ_INT(p9c_walk(&f.c, 4, 4, 1, in, q), 1);  /* in place */
	T_CHECK(q[0].type & QTDIR);
	T_CHECK_EQ_INT(p9c_lopen(&f.c, 4, L_RDONLY | L_DIRECTORY, NULL), 0);
	/* Bad fids. */
	T_CHECK_EQ_INT(p9c_read(&f.c, 99, 0, buf, 1), -EBADF);
	T_CHECK_EQ_INT(p9c_clunk(&f.c, 99), -EBADF);
	T_CHECK_EQ_INT(p9c_read(&f.c, 0, 0, buf, 1), -EBADF);  /* not open */
	T_CHECK_EQ_INT(p9c_lopen(&f.c, 0, 3, NULL), -EINVAL);  /* NOACCESS */
	for (uint32_t fid = 0; fid <= 4; fid++)
		T_CHECK_EQ_INT(p9c_clunk(&f.c, fid), 0);
	T_CHECK_EQ_INT(p9c_clunk(&f.c, 0), -EBADF);
	fx_stop(&f);
}

static void t_too_many_walk_names(void)
{
	struct fx f;
	if (!fx_start(&f) || !fx_session(&f))
		return;
	const char *names[17];
	for (int i = 0; i < 17; i++)
		names[i] = "..";
	T_CHECK(p9c_walk(&f.c, 0, 1, 17, names, NULL) < 0);
	T_CHECK_EQ_INT(p9c_walk(&f.c, 0, 1, 16, names, NULL), 16);
	fx_stop(&f);
}

static void t_fid_limit(void)
{
	struct fx f;
	struct p9_server_opts o = { .max_fids = 8 };
	if (!fx_start_opts(&f, &o, 0) || !fx_session(&f))
		return;
	for (uint32_t fid = 1; fid < 8; fid++)
		T_CHECK_EQ_INT(walk1(&f, 0, fid, NULL), 0);
	T_CHECK_EQ_INT(walk1(&f, 0, 8, NULL), -EMFILE);
	T_CHECK_EQ_INT(p9c_clunk(&f.c, 7), 0);
	T_CHECK_EQ_INT(walk1(&f, 0, 8, NULL), 0);
	T_CHECK_EQ_INT(walk1(&f, 0, NOFID, NULL), -EBADF);  /* NOFID is never a fid */
	fx_stop(&f);
}

static void t_create_types(void)
{
	struct fx f;
	if (!fx_start(&f) || !fx_session(&f))
		return;
	struct p9c_qid q;
	char buf[128];
	T_CHECK_EQ_INT(p9c_mknod(&f.c, 0, "fifo", S_IFIFO | 0644, 0, 0, 0, NULL), 0);
	T_CHECK_EQ_INT(p9c_mknod(&f.c, 0, "fifo", S_IFIFO | 0644, 0, 0, 0, NULL), -EEXIST);
	T_CHECK_EQ_INT(p9c_mknod(&f.c, 0, "..", S_IFIFO | 0644, 0, 0, 0, NULL), -EEXIST);
	T_CHECK_EQ_INT(p9c_mknod(&f.c, 0, "chr", S_IFCHR | 0600, 1, 3, 0, NULL), 0);
	T_CHECK_EQ_INT(walk1(&f, 0, 1, "fifo"), 1);
	struct p9c_attr a;
	T_CHECK_EQ_INT(p9c_getattr(&f.c, 1, 0x7ff, &a), 0);
	T_CHECK(S_ISFIFO(a.mode));
	T_CHECK_EQ_INT(p9c_lopen(&f.c, 1, L_RDONLY, NULL), -ENXIO); /* never opened */
	T_CHECK_EQ_INT(walk1(&f, 0, 2, "chr"), 1);
	T_CHECK_EQ_INT(p9c_getattr(&f.c, 2, 0x7ff, &a), 0);
	T_CHECK_EQ_INT(a.rdev, (1 << 8) | 3);
	T_CHECK_EQ_INT(p9c_symlink(&f.c, 0, "ln", "target/path", 0, &q), 0);
	T_CHECK_EQ_INT(q.type, 0x02);
	T_CHECK_EQ_INT(walk1(&f, 0, 3, "ln"), 1);
	T_CHECK_EQ_INT(p9c_readlink(&f.c, 3, buf, sizeof(buf)), 0);
	T_CHECK_EQ_STR(buf, "target/path");
	T_CHECK_EQ_INT(p9c_link(&f.c, 0, 1, "fifo2"), 0);
	T_CHECK_EQ_INT(p9c_getattr(&f.c, 1, 0x7ff, &a), 0);
	T_CHECK_EQ_INT(a.nlink, 2);
	T_CHECK_EQ_INT(p9c_renameat(&f.c, 0, "fifo2", 0, "fifo3"), 0);
	T_CHECK_EQ_INT(walk1(&f, 0, 4, "fifo2"), -ENOENT);
	T_CHECK_EQ_INT(p9c_renameat(&f.c, 0, ".", 0, "x"), -EISDIR);
	T_CHECK_EQ_INT(p9c_unlinkat(&f.c, 0, "fifo3", 0), 0);
	T_CHECK_EQ_INT(p9c_unlinkat(&f.c, 0, "fifo3", 0), -ENOENT);
	T_CHECK_EQ_INT(p9c_unlinkat(&f.c, 0, ".", 0), -EINVAL);
	T_CHECK_EQ_INT(p9c_unlinkat(&f.c, 0, "fifo", 0x1), -EINVAL); /* unknown flag */
	T_CHECK_EQ_INT(p9c_mkdir(&f.c, 0, "d", 040755, 0, NULL), 0);
	T_CHECK_EQ_INT(p9c_unlinkat(&f.c, 0, "d", 0), -EISDIR);
	T_CHECK_EQ_INT(p9c_unlinkat(&f.c, 0, "d", 0x200), 0);
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	T_CHECK_EQ_INT(p9c_mkdir(&f.c, 0, longname, 040755, 0, NULL), -ENAMETOOLONG);
	uint32_t type, namelen;
	T_CHECK_EQ_INT(p9c_statfs(&f.c, 0, &type, &namelen), 0);
	T_CHECK_EQ_INT(namelen, 255);
	fx_stop(&f);
}

static void t_xattrs(void)
{
	struct fx f;
	if (!fx_start(&f) || !fx_session(&f))
		return;
	uint64_t size;
	char buf[64] = { 0 };
	T_CHECK_EQ_INT(p9c_xattrwalk(&f.c, 0, 1, "user.k", &size), -ENODATA);
	T_CHECK_EQ_INT(walk1(&f, 0, 1, NULL), 0);
	T_CHECK_EQ_INT(p9c_xattrcreate(&f.c, 1, "user.k", 5, 0), 0);
	T_CHECK_EQ_INT(p9c_write(&f.c, 1, 0, "val", 3), 3);
	T_CHECK_EQ_INT(p9c_write(&f.c, 1, 3, "ue!", 3), -ENOSPC); /* past the declared size */
	T_CHECK_EQ_INT(p9c_write(&f.c, 1, 3, "ue", 2), 2);
	T_CHECK_EQ_INT(p9c_clunk(&f.c, 1), 0);                     /* the set happens here */
	T_CHECK_EQ_INT(p9c_xattrwalk(&f.c, 0, 1, "user.k", &size), 0);
	T_CHECK_EQ_INT(size, 5);
	T_CHECK_EQ_INT(p9c_read(&f.c, 1, 0, buf, sizeof(buf)), 5);
	T_CHECK(memcmp(buf, "value", 5) == 0);
	T_CHECK_EQ_INT(p9c_read(&f.c, 1, 2, buf, 2), 2);
	T_CHECK(memcmp(buf, "lu", 2) == 0);
	T_CHECK_EQ_INT(p9c_clunk(&f.c, 1), 0);
	T_CHECK_EQ_INT(p9c_xattrwalk(&f.c, 0, 1, "", &size), 0);   /* list */
	T_CHECK_EQ_INT(size, 7);
	T_CHECK_EQ_INT(p9c_read(&f.c, 1, 0, buf, sizeof(buf)), 7);
	T_CHECK_EQ_STR(buf, "user.k");
	T_CHECK_EQ_INT(p9c_clunk(&f.c, 1), 0);
	/* Short write: the commit fails at clunk, the fid is gone anyway. */
	T_CHECK_EQ_INT(walk1(&f, 0, 1, NULL), 0);
	T_CHECK_EQ_INT(p9c_xattrcreate(&f.c, 1, "user.k2", 4, 0), 0);
	T_CHECK_EQ_INT(p9c_write(&f.c, 1, 0, "ab", 2), 2);
	T_CHECK_EQ_INT(p9c_clunk(&f.c, 1), -EINVAL);
	T_CHECK_EQ_INT(p9c_clunk(&f.c, 1), -EBADF);
	T_CHECK_EQ_INT(walk1(&f, 0, 1, NULL), 0);
	T_CHECK_EQ_INT(p9c_xattrcreate(&f.c, 1, "user.k", 70000, 0), -E2BIG);
	T_CHECK_EQ_INT(p9c_xattrcreate(&f.c, 1, "user.k", 0, 4), -EINVAL);
	/* removexattr = size 0 + REPLACE. */
	T_CHECK_EQ_INT(p9c_xattrcreate(&f.c, 1, "user.k", 0, 2), 0);
	T_CHECK_EQ_INT(p9c_clunk(&f.c, 1), 0);
	T_CHECK_EQ_INT(p9c_xattrwalk(&f.c, 0, 1, "user.k", &size), -ENODATA);
	fx_stop(&f);
}

/* Receives one reply; returns its tag and type. */
static bool recv_one(struct fx *f, uint16_t *tag, uint8_t *type)
{
	if (!T_CHECK_EQ_INT(p9c_recv(&f->c), 0))
		return false;
	*tag = f->c.rtag;
	*type = f->c.rtype;
	return true;
}

/* fid 1 and fid 2 open the same file "f". */
static bool two_openers(struct fx *f)
{
	return T_CHECK_EQ_INT(create_file(f, 0, 1, "f"), 0) &&
	       T_CHECK_EQ_INT(walk1(f, 0, 2, "f"), 1) &&
	       T_CHECK_EQ_INT(p9c_lopen(&f->c, 2, L_RDWR, NULL), 0);
}

static void t_locks(void)
{
	struct fx f;
	if (!fx_start(&f) || !fx_session(&f) || !two_openers(&f))
		return;
	uint8_t st;
	T_CHECK_EQ_INT(p9c_lock(&f.c, 1, 1, 0, 0, 0, &st), 0);
	T_CHECK_EQ_INT(st, 0);                                /* SUCCESS */
	T_CHECK_EQ_INT(p9c_lock(&f.c, 2, 0, 0, 10, 5, &st), 0);
	T_CHECK_EQ_INT(st, 1);                                /* BLOCKED: conflict */
	uint8_t type = 2;
	uint64_t start = 0, len = 0;
	T_CHECK_EQ_INT(p9c_getlock(&f.c, 2, &type, &start, &len), 0);
	T_CHECK_EQ_INT(type, 1);                              /* the WRLCK of fid 1 */
	T_CHECK_EQ_INT(p9c_lock(&f.c, 2, 7, 0, 0, 0, &st), -EINVAL);
	T_CHECK_EQ_INT(p9c_lock(&f.c, 2, 0, 2, 0, 0, &st), -EINVAL); /* RECLAIM */
	/* A blocking lock (tag 7) waits in a worker; the unlock by fid 1
	 * (tag 8) wakes it. Both replies come, in either order, SUCCESS. */
	T_CHECK_EQ_INT(p9c_send_lock(&f.c, 7, 2, 1, 1, 0, 0), 0);
	T_CHECK_EQ_INT(p9c_send_lock(&f.c, 8, 1, 2, 0, 0, 0), 0);
	unsigned tags = 0;
	uint16_t tag;
	uint8_t rt;
	for (int i = 0; i < 2 && recv_one(&f, &tag, &rt); i++) {
		T_CHECK_EQ_INT(rt, RLOCK);
		T_CHECK_EQ_INT(p9c_get8(&f.c), 0);
		tags |= 1u << (tag & 15);
	}
	T_CHECK_EQ_INT(tags, (1u << 7) | (1u << 8));
	type = 2;
	T_CHECK_EQ_INT(p9c_getlock(&f.c, 1, &type, &start, &len), 0);
	T_CHECK_EQ_INT(type, 1);                              /* now fid 2 holds it */
	/* Clunk releases fid 2's locks. */
	T_CHECK_EQ_INT(p9c_clunk(&f.c, 2), 0);
	type = 2;
	T_CHECK_EQ_INT(p9c_getlock(&f.c, 1, &type, &start, &len), 0);
	T_CHECK_EQ_INT(type, 2);
	fx_stop(&f);
}

/* Waits for the next reply for at most 10 s, so a request stuck behind the
 * workers fails the test instead of hanging it. */
static bool reply_within(struct fx *f)
{
	struct pollfd p = { .fd = f->fd, .events = POLLIN };
	return T_CHECK(poll(&p, 1, 10000) == 1);
}

/* Metadata and small I/O run on the loop thread: they are answered while
 * the only worker waits on a lock, and the blocked request still completes
 * once the lock frees. */
static void t_inline_while_workers_blocked(void)
{
	struct fx f;
	struct p9_server_opts o = { .lock_wait_ms = 60000, .nworkers = 1 };
	if (!fx_start_opts(&f, &o, 0) || !fx_session(&f) || !two_openers(&f))
		return;
	uint8_t st;
	T_CHECK_EQ_INT(p9c_lock(&f.c, 1, 1, 0, 0, 0, &st), 0);
	T_CHECK_EQ_INT(p9c_send_lock(&f.c, 7, 2, 1, 1, 0, 0), 0); /* waits in the worker */
	struct p9c_attr a;
	p9c_begin(&f.c, 24 /* Tgetattr */, P9C_TAG);
	p9c_put32(&f.c, 1);
	p9c_put64(&f.c, 0x7ff);
	T_CHECK_EQ_INT(p9c_send(&f.c), 0);
	if (reply_within(&f) && T_CHECK_EQ_INT(p9c_recv(&f.c), 0))
		T_CHECK_EQ_INT(f.c.rtag, P9C_TAG);
	T_CHECK_EQ_INT(walk1(&f, 0, 3, "f"), 1);
	T_CHECK_EQ_INT(p9c_lopen(&f.c, 3, L_RDWR, NULL), 0);
	T_CHECK_EQ_INT(p9c_write(&f.c, 3, 0, "hello", 5), 5);
	char buf[8] = "";
	T_CHECK_EQ_INT(p9c_read(&f.c, 3, 0, buf, sizeof(buf)), 5);
	T_CHECK(memcmp(buf, "hello", 5) == 0);
	T_CHECK_EQ_INT(p9c_getattr(&f.c, 3, 0x7ff, &a), 0);
	T_CHECK_EQ_INT(p9c_clunk(&f.c, 3), 0);
	/* Unlock (tag 8): both replies come, both SUCCESS. */
	T_CHECK_EQ_INT(p9c_send_lock(&f.c, 8, 1, 2, 0, 0, 0), 0);
	unsigned tags = 0;
	uint16_t tag;
	uint8_t rt;
	for (int i = 0; i < 2 && reply_within(&f) && recv_one(&f, &tag, &rt); i++) {
		T_CHECK_EQ_INT(rt, RLOCK);
		T_CHECK_EQ_INT(p9c_get8(&f.c), 0);
		tags |= 1u << (tag & 15);
	}
	T_CHECK_EQ_INT(tags, (1u << 7) | (1u << 8));
	fx_stop(&f);
}

static void t_flush_blocked_lock(void)
{
	struct fx f;
	if (!fx_start(&f) || !fx_session(&f) || !two_openers(&f))
		return;
	uint8_t st;
	T_CHECK_EQ_INT(p9c_lock(&f.c, 1, 1, 0, 0, 0, &st), 0);
	T_CHECK_EQ_INT(st, 0);
	/* Flush of a tag not in flight: Rflush at once. */
	p9c_begin(&f.c, 108, 9);
	p9c_put16(&f.c, 1234);
	T_CHECK_EQ_INT(p9c_send(&f.c), 0);
	uint16_t tag;
	uint8_t rt;
	if (recv_one(&f, &tag, &rt)) {
		T_CHECK_EQ_INT(tag, 9);
		T_CHECK_EQ_INT(rt, RFLUSH);
	}
	/* Blocking lock from fid 2 (tag 7) then Tflush(7) (tag 8): only
	 * Rflush comes, and nothing for tag 7 afterwards. */
	T_CHECK_EQ_INT(p9c_send_lock(&f.c, 7, 2, 1, 1, 0, 0), 0);
	p9c_begin(&f.c, 108, 8);
	p9c_put16(&f.c, 7);
	T_CHECK_EQ_INT(p9c_send(&f.c), 0);
	if (recv_one(&f, &tag, &rt)) {
		T_CHECK_EQ_INT(tag, 8);
		T_CHECK_EQ_INT(rt, RFLUSH);
	}
	/* The next reply on the wire is the next request's. */
	uint8_t type = 2;
	uint64_t start = 0, len = 0;
	T_CHECK_EQ_INT(p9c_getlock(&f.c, 2, &type, &start, &len), 0);
	T_CHECK_EQ_INT(type, 1); /* fid 1 still holds it: the flushed lock was not taken */
	T_CHECK_EQ_INT(p9c_lock(&f.c, 1, 2, 0, 0, 0, &st), 0);
	type = 2;
	T_CHECK_EQ_INT(p9c_getlock(&f.c, 1, &type, &start, &len), 0);
	T_CHECK_EQ_INT(type, 2);
	fx_stop(&f);
}

static void t_duplicate_tag(void)
{
	struct fx f;
	if (!fx_start(&f) || !fx_session(&f) || !two_openers(&f))
		return;
	uint8_t st;
	T_CHECK_EQ_INT(p9c_lock(&f.c, 1, 1, 0, 0, 0, &st), 0);
	T_CHECK_EQ_INT(p9c_send_lock(&f.c, 7, 2, 1, 1, 0, 0), 0); /* stays in flight */
	T_CHECK_EQ_INT(p9c_send_lock(&f.c, 7, 2, 1, 1, 0, 0), 0); /* same tag */
	T_CHECK_EQ_INT(p9c_recv(&f.c), -EPIPE);                   /* connection closed */
	fx_wait_closed(&f);
	close(f.fd);
	f.fd = -1;
	fx_stop(&f);
}

static void t_disconnect_in_flight(void)
{
	struct fx f;
	if (!fx_start(&f) || !fx_session(&f) || !two_openers(&f))
		return;
	uint8_t st;
	T_CHECK_EQ_INT(p9c_lock(&f.c, 1, 1, 0, 0, 0, &st), 0);
	T_CHECK_EQ_INT(p9c_mkdir(&f.c, 0, "d", 040755, 0, NULL), 0);
	T_CHECK_EQ_INT(walk1(&f, 0, 3, "d"), 1);
	T_CHECK_EQ_INT(p9c_send_lock(&f.c, 7, 2, 1, 1, 0, 0), 0); /* blocked in a worker */
	for (uint16_t t = 10; t < 20; t++) {                      /* more in flight */
		p9c_begin(&f.c, 24, t);
		p9c_put32(&f.c, 3);
		p9c_put64(&f.c, 0x3fff);
		T_CHECK_EQ_INT(p9c_send(&f.c), 0);
	}
	fx_stop(&f); /* closes, waits for the server, checks no node leaked */
}

static void t_readonly(void)
{
	struct fx f;
	struct p9_server_opts o = { 0 };
	if (!fx_start_opts(&f, &o, P9_EXPORT_RDONLY) || !fx_session(&f))
		return;
	T_CHECK_EQ_INT(p9c_mkdir(&f.c, 0, "d", 040755, 0, NULL), -EROFS);
	T_CHECK_EQ_INT(walk1(&f, 0, 1, NULL), 0);
	T_CHECK_EQ_INT(p9c_lopen(&f.c, 1, L_RDWR, NULL), -EROFS);
	T_CHECK_EQ_INT(p9c_lcreate(&f.c, 1, "x", L_RDWR, 0644, 0, NULL), -EROFS);
	T_CHECK_EQ_INT(p9c_setattr_mode(&f.c, 1, 0700), -EROFS);
	T_CHECK_EQ_INT(p9c_xattrcreate(&f.c, 1, "user.x", 1, 0), -EROFS);
	T_CHECK_EQ_INT(p9c_lopen(&f.c, 1, L_RDONLY | L_DIRECTORY, NULL), 0);
	fx_stop(&f);
}

static void t_malformed(void)
{
	struct fx f;
	if (!fx_start(&f) || !fx_session(&f))
		return;
	/* A Tgetattr one byte short: Rlerror(EPROTO), the session goes on. */
	p9c_begin(&f.c, 24, 3);
	p9c_put32(&f.c, 0);
	p9c_put32(&f.c, 0);
	T_CHECK_EQ_INT(p9c_send(&f.c), 0);
	if (T_CHECK_EQ_INT(p9c_recv(&f.c), 0))
		T_CHECK_EQ_INT(p9c_check(&f.c, 25), -EPROTO);
	/* A legacy type: EOPNOTSUPP. */
	p9c_begin(&f.c, 124, 3);
	p9c_put32(&f.c, 0);
	T_CHECK_EQ_INT(p9c_send(&f.c), 0);
	if (T_CHECK_EQ_INT(p9c_recv(&f.c), 0))
		T_CHECK_EQ_INT(p9c_check(&f.c, 125), -EOPNOTSUPP);
	T_CHECK_EQ_INT(p9c_attach(&f.c, 5, "", 0, NULL), 0);
	/* Tauth: no authentication. */
	p9c_begin(&f.c, 102, 3);
	p9c_put32(&f.c, 9);
	p9c_putstr(&f.c, "");
	p9c_putstr(&f.c, "");
	p9c_put32(&f.c, 0);
	T_CHECK_EQ_INT(p9c_send(&f.c), 0);
	if (T_CHECK_EQ_INT(p9c_recv(&f.c), 0))
		T_CHECK_EQ_INT(p9c_check(&f.c, 103), -EOPNOTSUPP);
	/* A message larger than msize closes the connection. */
	uint8_t big[4] = { 0x00, 0x00, 0x02, 0x00 }; /* 128 KiB > 64 KiB */
	T_CHECK_EQ_INT(p9c_send_raw(&f.c, big, 4), 0);
	T_CHECK_EQ_INT(p9c_recv(&f.c), -EPIPE);
	fx_wait_closed(&f);
	close(f.fd);
	f.fd = -1;
	fx_stop(&f);
}

static void t_tiny_size_closes(void)
{
	struct fx f;
	if (!fx_start(&f) || !fx_session(&f))
		return;
	uint8_t tiny[7] = { 6, 0, 0, 0, 24, 0, 0 };
	T_CHECK_EQ_INT(p9c_send_raw(&f.c, tiny, 7), 0);
	T_CHECK_EQ_INT(p9c_recv(&f.c), -EPIPE);
	fx_wait_closed(&f);
	close(f.fd);
	f.fd = -1;
	fx_stop(&f);
}

static void t_version_resets(void)
{
	struct fx f;
	if (!fx_start(&f) || !fx_session(&f))
		return;
	T_CHECK_EQ_INT(walk1(&f, 0, 1, NULL), 0);
	T_CHECK_EQ_INT(p9c_version(&f.c, 65536, "9P2000.L", NULL, NULL, 0), 0);
	T_CHECK_EQ_INT(walk1(&f, 1, 2, NULL), -EBADF); /* every fid clunked */
	fx_stop(&f);
}

/* --- readdir of 100 000 entries with changes during the listing ------------------- */
#define NENT 100000
#define BATCH 32

static bool make_many(struct fx *f, unsigned n)
{
	char name[32];
	for (unsigned i = 0; i < n; i += BATCH) {
		unsigned k = n - i < BATCH ? n - i : BATCH;
		for (unsigned j = 0; j < k; j++) {
			snprintf(name, sizeof(name), "e%06u", i + j);
			p9c_begin(&f->c, 18, (uint16_t)(100 + j));  /* Tmknod S_IFREG */
			p9c_put32(&f->c, 0);
			p9c_putstr(&f->c, name);
			p9c_put32(&f->c, S_IFREG | 0644);
			p9c_put32(&f->c, 0);
			p9c_put32(&f->c, 0);
			p9c_put32(&f->c, 0);
			if (p9c_send(&f->c) < 0)
				return false;
		}
		for (unsigned j = 0; j < k; j++)
			if (p9c_recv(&f->c) < 0 || p9c_check(&f->c, 19) < 0)
				return false;
	}
	return true;
}

static void t_readdir_100k(void)
{
	struct fx f;
	if (!fx_start(&f) || !fx_session(&f))
		return;
	if (!T_CHECK(make_many(&f, NENT)))
		goto out;
	T_CHECK_EQ_INT(walk1(&f, 0, 1, NULL), 0);
	T_CHECK_EQ_INT(p9c_lopen(&f.c, 1, L_RDONLY | L_DIRECTORY, NULL), 0);
	unsigned char *seen = calloc(NENT, 1);
	uint8_t *buf = malloc(8192);
	unsigned dots = 0, added_seen = 0, pages = 0;
	bool changed = false, dup = false, bad = false;
	uint64_t off = 0;
	for (;;) {
		ssize_t n = p9c_readdir(&f.c, 1, off, 8192, buf);
		if (!T_CHECK(n >= 0) || n == 0)
			break;
		pages++;
		for (size_t pos = 0; pos < (size_t)n;) {
			struct p9c_qid q;
			uint8_t type;
			char name[300];
			ssize_t k = p9c_dirent(buf + pos, (size_t)n - pos, &q, &off, &type, name, sizeof(name));
			if (!T_CHECK(k > 0))
				goto done;
			pos += (size_t)k;
			if (name[0] == '.')
				dots++;
			else if (name[0] == 'n')
				added_seen++;
			else {
				unsigned i = (unsigned)atoi(name + 1);
				if (i >= NENT || type != 8)
					bad = true;
				else if (seen[i]++)
					dup = true;
			}
		}
		if (!changed) {
			/* Mid-listing: remove entries not seen yet and one seen,
			 * add new ones. Survivors must still come exactly once. */
			changed = true;
			char name[32];
			for (unsigned i = NENT - 10; i < NENT; i++) {
				snprintf(name, sizeof(name), "e%06u", i);
				T_CHECK_EQ_INT(p9c_unlinkat(&f.c, 0, name, 0), 0);
			}
			T_CHECK_EQ_INT(p9c_unlinkat(&f.c, 0, "e000000", 0), 0);
			for (unsigned i = 0; i < 10; i++) {
				snprintf(name, sizeof(name), "n%u", i);
				T_CHECK_EQ_INT(p9c_mknod(&f.c, 0, name, S_IFREG | 0644, 0, 0, 0, NULL), 0);
			}
		}
	}
done:
	T_CHECK(!dup);
	T_CHECK(!bad);
	T_CHECK_EQ_INT(dots, 2);
	T_CHECK(pages > 100);
	unsigned missing = 0;
	for (unsigned i = 1; i < NENT - 10; i++)
		missing += seen[i] != 1;
	T_CHECK_EQ_INT(missing, 0);
	for (unsigned i = NENT - 10; i < NENT; i++)
		T_CHECK_EQ_INT(seen[i], 0);
	T_CHECK_EQ_INT(seen[0], 1); /* removed after it was listed */
	T_CHECK(added_seen <= 10);
	/* A buffer too small for even one entry: EINVAL, not an empty page. */
	T_CHECK_EQ_INT(p9c_readdir(&f.c, 1, 0, 10, buf), -EINVAL);
	free(seen);
	free(buf);
out:
	fx_stop(&f);
}

int main(void)
{
	T_RUN(t_open_flags);
	T_RUN(t_version);
	T_RUN(t_attach_walk_rw);
	T_RUN(t_too_many_walk_names);
	T_RUN(t_fid_limit);
	T_RUN(t_create_types);
	T_RUN(t_xattrs);
	T_RUN(t_locks);
	T_RUN(t_flush_blocked_lock);
	T_RUN(t_inline_while_workers_blocked);
	T_RUN(t_duplicate_tag);
	T_RUN(t_disconnect_in_flight);
	T_RUN(t_readonly);
	T_RUN(t_malformed);
	T_RUN(t_tiny_size_closes);
	T_RUN(t_version_resets);
	T_RUN(t_readdir_100k);
	return t_done();
}
