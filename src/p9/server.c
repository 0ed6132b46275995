/* 9P2000.L server core. See server.h.
 *
 * Threads and locks. The loop thread owns connections, their buffers, the
 * tag lists and the flush chains. Workers run handlers; they touch only the
 * fid table (conn->mu), fids (fid->mu, fid->io_mu) and node refs. Order:
 * fid->io_mu -> fid->mu -> conn->mu; the worker queue and done queue locks
 * are leaves. A request holds its connection alive (conn->nreqs) until the
 * loop thread has completed it.
 *
 * Lifetimes. A fid is refcounted (table + each request using it); a backend
 * node is refcounted separately (struct nref) because a fid's node can be
 * replaced (in-place walk, Tlcreate) while another request still uses the
 * old one: release() runs when the last user lets go. */
#include "p9/server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "p9/codec.h"
#include "util/cleanup.h"

#define FID_BUCKETS 256
#define OUT_HIGH_WATER (4u * P9_MSIZE_MAX) /* stop reading while this much is unsent */
#define SMALL_REPLY 512                     /* every fixed-size reply fits */
#define NTYPES 256

/* --- cancellation tokens (fs.h) ---------------------------------------------- */
struct p9_cancel {
	atomic_bool cancelled;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void (*hook)(void *);
	void *hook_arg;
	long long deadline_ms; /* monotonic; immutable once the op runs */
};

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cancel_init(struct p9_cancel *c)
{
	atomic_init(&c->cancelled, false);
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &a);
	pthread_condattr_destroy(&a);
	c->hook = NULL;
	c->deadline_ms = 0;
}

static void cancel_destroy(struct p9_cancel *c)
{
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
}

static void cancel_fire(struct p9_cancel *c)
{
	pthread_mutex_lock(&c->mu);
	if (!atomic_exchange(&c->cancelled, true)) {
		pthread_cond_broadcast(&c->cv);
		if (c->hook)
			c->hook(c->hook_arg);
	}
	pthread_mutex_unlock(&c->mu);
}

bool p9_cancel_requested(struct p9_cancel *c)
{
	return atomic_load(&c->cancelled);
}

long p9_cancel_budget_ms(struct p9_cancel *c)
{
	if (atomic_load(&c->cancelled))
		return 0;
	long long left = c->deadline_ms - now_ms();
	return left > 0 ? (long)MIN(left, 0x7fffffffLL) : 0;
}

int p9_cancel_sleep(struct p9_cancel *c, long ms)
{
	pthread_mutex_lock(&c->mu);
	long long until = MIN(now_ms() + (ms > 0 ? ms : 0), c->deadline_ms);
	struct timespec ts = { .tv_sec = (time_t)(until / 1000), .tv_nsec = (long)(until % 1000) * 1000000 };
	while (!atomic_load(&c->cancelled) && now_ms() < until)
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&c->mu);
	if (atomic_load(&c->cancelled))
		return -EINTR;
	return now_ms() >= c->deadline_ms ? -EAGAIN : 0;
}

void p9_cancel_set_hook(struct p9_cancel *c, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&c->mu);
	c->hook = fn;
	c->hook_arg = arg;
	bool now = fn && atomic_load(&c->cancelled);
	pthread_mutex_unlock(&c->mu);
	if (now)
		fn(arg);
}

/* --- structures ------------------------------------------------------------- */
struct nref {
	struct p9_node *node;
	atomic_int refs;
};

enum fid_state { FID_NONE, FID_OPENING, FID_OPEN, FID_XREAD, FID_XWRITE };

struct fid {
	uint32_t num;
	int refs;               /* under conn->mu */
	bool in_table;          /* under conn->mu */
	struct fid *next;       /* hash chain, under conn->mu */
	pthread_mutex_t mu;     /* state, qid, nref, x* */
	pthread_mutex_t io_mu;  /* serialises readdir and xattr writes */
	enum fid_state state;
	bool slow_io;           /* opened SYNC/DSYNC/DIRECT: I/O waits for the disk */
	struct p9_qid qid;
	struct nref *nref;      /* NULL for xattr-read fids */
	uint32_t uid;           /* n_uname of the attach it descends from */
	uint8_t *xbuf;          /* xattr snapshot (XREAD) or pending value (XWRITE) */
	size_t xsize, xfill;
	char *xname;
	int xflags;
};

struct conn;

struct req {
	struct conn *c;
	struct req *qnext;      /* worker queue / done queue */
	struct req *lnext;      /* conn tag list (inflight or zombies) */
	struct req *flushers;   /* Tflush requests answered after this one */
	struct req *fnext;
	uint16_t tag;
	uint8_t type;
	uint8_t *in;
	char *arena;
	struct p9_msg m;
	struct p9_cancel cancel;
	bool abandoned;         /* set by the worker: cancelled, send nothing */
	bool suppress;          /* set by the loop: session reset, send nothing */
	bool zombie;
	bool ran_inline;        /* executed on the loop thread */
	long long t0_ns;        /* decoded (stats only) */
	uint8_t *out;
	size_t outlen, outcap;
};

struct conn {
	struct p9_server *s;
	struct conn *next, *prev;
	int fd;
	uint32_t msize;
	bool versioned;
	bool dead;
	uint8_t *ibuf;
	size_t ilen, icap;
	uint8_t *obuf;
	size_t olen, ooff, ocap;
	struct req *inflight, *zombies;
	unsigned ninflight;     /* requests in the tag list */
	unsigned nreqs;         /* every request not yet completed (incl. zombies) */
	pthread_mutex_t mu;
	struct fid *fids[FID_BUCKETS];
	unsigned nfids;
};

struct p9_server {
	struct ev_loop *loop;
	struct p9_export exp;
	struct p9_server_opts o;
	pthread_t threads[P9_MAX_WORKERS];
	unsigned nthreads;
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	struct req *qhead, *qtail;
	bool quit;
	pthread_mutex_t dmu;
	struct req *dhead, *dtail;
	int efd;
	struct conn *conns;
	unsigned nconns;
	bool inline_meta;       /* cheap requests run on the loop thread */
	bool stats;             /* LCVM_P9_STATS: per-type timing to stderr */
	struct p9_type_stats {
		unsigned long n, n_inline;
		unsigned long long ns, max_ns;
	} st[NTYPES];
	unsigned long sends, sends_partial;
};

static void conn_update_events(struct conn *c);
static void conn_process_input(struct conn *c);
static void conn_kill(struct conn *c);

/* --- node refs and fids ------------------------------------------------------ */
static struct nref *nref_new(struct p9_node *n)
{
	struct nref *r = malloc(sizeof(*r));
	if (!r)
		return NULL;
	r->node = n;
	atomic_init(&r->refs, 1);
	return r;
}

static int nref_put(struct p9_server *s, struct nref *r)
{
	if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
		return 0;
	int ret = s->exp.ops->release(s->exp.fs, r->node);
	free(r);
	return ret;
}

/* Wraps a node fresh from the backend; releases it on allocation failure. */
static struct nref *nref_wrap(struct p9_server *s, struct p9_node *n)
{
	struct nref *r = nref_new(n);
	if (!r)
		s->exp.ops->release(s->exp.fs, n);
	return r;
}

static unsigned fid_hash(uint32_t num)
{
	return (num * 2654435761u) >> 24 & (FID_BUCKETS - 1);
}

static struct fid *fid_get(struct conn *c, uint32_t num)
{
	pthread_mutex_lock(&c->mu);
	struct fid *f = c->fids[fid_hash(num)];
	while (f && f->num != num)
		f = f->next;
	if (f)
		f->refs++;
	pthread_mutex_unlock(&c->mu);
	return f;
}

static void fid_free(struct p9_server *s, struct fid *f)
{
	nref_put(s, f->nref);
	pthread_mutex_destroy(&f->mu);
	pthread_mutex_destroy(&f->io_mu);
	free(f->xbuf);
	free(f->xname);
	free(f);
}

static void fid_put(struct conn *c, struct fid *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&c->mu);
	bool last = --f->refs == 0;
	pthread_mutex_unlock(&c->mu);
	if (last)
		fid_free(c->s, f);
}

static struct fid *fid_alloc(uint32_t num)
{
	struct fid *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->num = num;
	f->refs = 1;
	pthread_mutex_init(&f->mu, NULL);
	pthread_mutex_init(&f->io_mu, NULL);
	return f;
}

/* Inserts f (the caller's reference moves to the table). -EBADF when num is
 * NOFID, -EINVAL when in use (existing fid untouched), -EMFILE at the cap. */
static int fid_insert(struct conn *c, struct fid *f)
{
	if (f->num == P9_NOFID)
		return -EBADF;
	pthread_mutex_lock(&c->mu);
	unsigned h = fid_hash(f->num);
	int ret = 0;
	for (struct fid *g = c->fids[h]; g; g = g->next)
		if (g->num == f->num)
			ret = -EINVAL;
	if (!ret && c->nfids >= c->s->o.max_fids)
		ret = -EMFILE;
	if (!ret) {
		f->next = c->fids[h];
		c->fids[h] = f;
		f->in_table = true;
		c->nfids++;
	}
	pthread_mutex_unlock(&c->mu);
	return ret;
}

/* Removes num from the table; returns the table's reference (or NULL). */
static struct fid *fid_remove(struct conn *c, uint32_t num)
{
	pthread_mutex_lock(&c->mu);
	struct fid **pp = &c->fids[fid_hash(num)];
	while (*pp && (*pp)->num != num)
		pp = &(*pp)->next;
	struct fid *f = *pp;
	if (f) {
		*pp = f->next;
		f->in_table = false;
		c->nfids--;
	}
	pthread_mutex_unlock(&c->mu);
	return f;
}

static void fid_clear_all(struct conn *c)
{
	for (unsigned h = 0; h < FID_BUCKETS; h++) {
		for (;;) {
			pthread_mutex_lock(&c->mu);
			struct fid *f = c->fids[h];
			if (f) {
				c->fids[h] = f->next;
				f->in_table = false;
				c->nfids--;
			}
			pthread_mutex_unlock(&c->mu);
			if (!f)
				break;
			fid_put(c, f);
		}
	}
}

/* A reference to the fid's current node, or NULL (xattr-read fid). */
static struct nref *fid_node(struct fid *f)
{
	pthread_mutex_lock(&f->mu);
	struct nref *r = f->nref;
	if (r)
		atomic_fetch_add(&r->refs, 1);
	pthread_mutex_unlock(&f->mu);
	return r;
}

/* --- helpers ------------------------------------------------------------------ */
static int check_name(const struct p9_str *n)
{
	if (n->len == 0 || memchr(n->s, '/', n->len) || memchr(n->s, '\0', n->len))
		return -ENOENT;
	if (n->len > P9_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static bool is_dot(const struct p9_str *n)
{
	return (n->len == 1 && n->s[0] == '.') || (n->len == 2 && n->s[0] == '.' && n->s[1] == '.');
}

/* Names for create-type messages: "."/".." exist already. */
static int check_new_name(const struct p9_str *n)
{
	int r = check_name(n);
	if (r)
		return r;
	return is_dot(n) ? -EEXIST : 0;
}

static bool rdonly(const struct conn *c)
{
	return c->s->exp.flags & P9_EXPORT_RDONLY;
}

int p9_open_flags(uint32_t l)
{
	static const struct { uint32_t p9; int host; } map[] = {
		{ P9_DOTL_EXCL, O_EXCL },
		{ P9_DOTL_TRUNC, O_TRUNC },
		{ P9_DOTL_APPEND, O_APPEND },
		{ P9_DOTL_DSYNC, O_DSYNC },
		{ P9_DOTL_SYNC, O_SYNC },
		{ P9_DOTL_NOATIME, O_NOATIME },
		{ P9_DOTL_DIRECTORY, O_DIRECTORY },
		/* Honoured, not dropped as QEMU does: the backend opens the host
		 * file O_DIRECT and copes with buffer alignment; iounit keeps
		 * chunks block-aligned (file_iounit). */
		{ P9_DOTL_DIRECT, O_DIRECT },
		/* Dropped on purpose: CREATE (implied by Tlcreate), NOCTTY,
		 * NONBLOCK, FASYNC, LARGEFILE, NOFOLLOW and CLOEXEC (the backend
		 * always sets its own). */
	};
	int acc;
	switch (l & 3) {
	case P9_DOTL_RDONLY: acc = O_RDONLY; break;
	case P9_DOTL_WRONLY: acc = O_WRONLY; break;
	case P9_DOTL_RDWR: acc = O_RDWR; break;
	default: return -EINVAL; /* NOACCESS: no safe host meaning */
	}
	int out = acc;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (l & map[i].p9)
			out |= map[i].host;
	return out;
}

/* Rlopen/Rlcreate iounit: 0 (= msize - 24) for directories; for files
 * msize - 24 rounded down to P9_IOUNIT_ALIGN, so the client's chunks of a
 * large aligned read or write stay aligned on the host (O_DIRECT needs it,
 * and the host filesystem likes it). */
static uint32_t file_iounit(const struct conn *c, const struct p9_qid *q)
{
	if (q->type & P9_QTDIR)
		return 0;
	/* Below 2 * ALIGN this is 0, which the client reads as msize - 24. */
	return (c->msize - P9_IOHDRSZ) & ~(uint32_t)(P9_IOUNIT_ALIGN - 1);
}

static uint32_t iohdr_count(const struct conn *c, uint32_t count)
{
	/* Keep every reply strictly below msize (6.1 tears down otherwise). */
	return MIN(count, c->msize - P9_IOHDRSZ);
}

/* --- request handlers (worker threads) -------------------------------------- *
 * Each returns 0 with the reply body in *rep, or -errno for Rlerror. */
#define OPS(r) ((r)->c->s->exp.ops)
#define FS(r) ((r)->c->s->exp.fs)

static int h_attach(struct req *r, struct p9_msg *rep)
{
	const struct p9_tattach *t = &r->m.u.tattach;
	if (t->afid != P9_NOFID)
		return -EPERM;
	if (memchr(t->uname.s, '\0', t->uname.len) || memchr(t->aname.s, '\0', t->aname.len))
		return -EINVAL;
	struct fid *f = fid_alloc(t->fid);
	if (!f)
		return -ENOMEM;
	struct p9_node *n;
	int ret = OPS(r)->attach(FS(r), t->uname.s, t->n_uname, t->aname.s, &n, &f->qid);
	if (ret) {
		fid_free(r->c->s, f);
		return ret;
	}
	f->nref = nref_wrap(r->c->s, n);
	f->uid = t->n_uname;
	ret = f->nref ? fid_insert(r->c, f) : -ENOMEM;
	if (ret) {
		fid_free(r->c->s, f);
		return ret;
	}
	rep->u.rqid.qid = f->qid;
	return 0;
}

/* Walks names from node start; returns qids walked and the final node in
 * *end (a reference), or -errno when the first element failed. */
static int walk_names(struct req *r, struct nref *start, struct p9_rwalk *w, struct nref **end)
{
	const struct p9_twalk *t = &r->m.u.twalk;
	struct nref *cur = start;
	atomic_fetch_add(&cur->refs, 1);
	int ret = 0;
	w->nwqid = 0;
	for (unsigned i = 0; i < t->nwname; i++) {
		ret = check_name(&t->wnames[i]);
		struct p9_node *n = NULL;
		if (!ret)
			ret = OPS(r)->walk(FS(r), cur->node, t->wnames[i].s, &n, &w->qids[i]);
		if (ret)
			break;
		struct nref *next = nref_wrap(r->c->s, n);
		if (!next) {
			ret = -ENOMEM;
			break;
		}
		nref_put(r->c->s, cur);
		cur = next;
		w->nwqid++;
	}
	if (w->nwqid == 0 && ret) {
		nref_put(r->c->s, cur);
		return ret;
	}
	*end = cur;
	return 0;
}

static int h_walk(struct req *r, struct p9_msg *rep)
{
	const struct p9_twalk *t = &r->m.u.twalk;
	struct fid *f = fid_get(r->c, t->fid);
	if (!f)
		return -EBADF;
	struct nref *start = fid_node(f);
	pthread_mutex_lock(&f->mu);
	enum fid_state st = f->state;
	struct p9_qid qid = f->qid;
	uint32_t uid = f->uid;
	pthread_mutex_unlock(&f->mu);
	int ret = 0;
	struct nref *end = NULL;
	if (!start || st == FID_XWRITE)
		ret = -EBADF;
	else if (t->newfid == t->fid && st != FID_NONE && t->nwname > 0)
		ret = -EINVAL; /* in-place walk of an open fid */
	else if (t->newfid == t->fid && t->nwname == 0)
		ret = 0;       /* no-op clone onto itself */
	else if (t->nwname == 0) {
		struct p9_node *n;
		ret = OPS(r)->clone(FS(r), start->node, &n);
		if (!ret)
			end = nref_wrap(r->c->s, n);
		if (!ret && !end)
			ret = -ENOMEM;
	} else {
		ret = walk_names(r, start, &rep->u.rwalk, &end);
	}
	nref_put(r->c->s, start);
	if (ret || !end) {
		fid_put(r->c, f);
		return ret;
	}
	if (rep->u.rwalk.nwqid < t->nwname) {
		/* Partial walk: reply the qids, create nothing. */
		nref_put(r->c->s, end);
		fid_put(r->c, f);
		return 0;
	}
	if (t->nwname > 0)
		qid = rep->u.rwalk.qids[t->nwname - 1];
	if (t->newfid == t->fid) {
		pthread_mutex_lock(&f->mu);
		struct nref *old = f->state == FID_NONE ? f->nref : end;
		if (f->state == FID_NONE) {
			f->nref = end;
			f->qid = qid;
		} else {
			ret = -EINVAL; /* opened meanwhile */
		}
		pthread_mutex_unlock(&f->mu);
		nref_put(r->c->s, old);
		fid_put(r->c, f);
		return ret;
	}
	fid_put(r->c, f);
	struct fid *nf = fid_alloc(t->newfid);
	if (!nf) {
		nref_put(r->c->s, end);
		return -ENOMEM;
	}
	nf->nref = end;
	nf->qid = qid;
	nf->uid = uid;
	ret = fid_insert(r->c, nf);
	if (ret)
		fid_free(r->c->s, nf);
	return ret;
}

/* Looks up fid and a reference to its node; checks its state when want >= 0. */
struct use {
	struct fid *f;
	struct nref *n;
	enum fid_state st;
	struct p9_qid qid;
};

static int use_fid(struct req *r, uint32_t num, struct use *u)
{
	memset(u, 0, sizeof(*u));
	u->f = fid_get(r->c, num);
	if (!u->f)
		return -EBADF;
	u->n = fid_node(u->f);
	pthread_mutex_lock(&u->f->mu);
	u->st = u->f->state;
	u->qid = u->f->qid;
	pthread_mutex_unlock(&u->f->mu);
	return 0;
}

static void unuse(struct req *r, struct use *u)
{
	nref_put(r->c->s, u->n);
	fid_put(r->c, u->f);
	u->n = NULL;
	u->f = NULL;
}

/* Uses a fid that must have a node (not an xattr fid). */
static int use_node(struct req *r, uint32_t num, struct use *u)
{
	int ret = use_fid(r, num, u);
	if (!ret && (!u->n || u->st == FID_XWRITE || u->st == FID_XREAD)) {
		unuse(r, u);
		ret = -EBADF;
	}
	return ret;
}

static int h_lopen(struct req *r, struct p9_msg *rep)
{
	const struct p9_tlopen *t = &r->m.u.tlopen;
	int flags = p9_open_flags(t->flags);
	if (flags < 0)
		return flags;
	if (rdonly(r->c) && ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)))
		return -EROFS;
	struct use u;
	int ret = use_node(r, t->fid, &u);
	if (ret)
		return ret;
	pthread_mutex_lock(&u.f->mu);
	if (u.f->state != FID_NONE)
		ret = -EINVAL;
	else
		u.f->state = FID_OPENING;
	pthread_mutex_unlock(&u.f->mu);
	if (!ret) {
		ret = OPS(r)->open(FS(r), u.n->node, flags, &rep->u.ropen.qid);
		pthread_mutex_lock(&u.f->mu);
		u.f->state = ret ? FID_NONE : FID_OPEN;
		u.f->slow_io = flags & (O_SYNC | O_DSYNC | O_DIRECT);
		if (!ret)
			u.f->qid = rep->u.ropen.qid;
		pthread_mutex_unlock(&u.f->mu);
	}
	rep->u.ropen.iounit = ret ? 0 : file_iounit(r->c, &rep->u.ropen.qid);
	unuse(r, &u);
	return ret;
}

static int h_lcreate(struct req *r, struct p9_msg *rep)
{
	const struct p9_tlcreate *t = &r->m.u.tlcreate;
	if (rdonly(r->c))
		return -EROFS;
	int ret = check_new_name(&t->name);
	if (ret)
		return ret;
	int flags = p9_open_flags(t->flags);
	if (flags < 0)
		return flags;
	struct use u;
	if ((ret = use_node(r, t->fid, &u)))
		return ret;
	pthread_mutex_lock(&u.f->mu);
	if (u.f->state != FID_NONE)
		ret = -EINVAL;
	else if (!(u.f->qid.type & P9_QTDIR))
		ret = -ENOTDIR;
	else
		u.f->state = FID_OPENING;
	pthread_mutex_unlock(&u.f->mu);
	if (!ret) {
		struct p9_node *n = NULL;
		struct nref *nr = NULL;
		ret = OPS(r)->create(FS(r), u.n->node, t->name.s, flags, t->mode, t->gid, &n,
				     &rep->u.ropen.qid);
		if (!ret && !(nr = nref_wrap(r->c->s, n)))
			ret = -ENOMEM;
		pthread_mutex_lock(&u.f->mu);
		struct nref *old = NULL;
		if (!ret) {
			old = u.f->nref;
			u.f->nref = nr;
			u.f->qid = rep->u.ropen.qid;
			u.f->slow_io = flags & (O_SYNC | O_DSYNC | O_DIRECT);
		}
		u.f->state = ret ? FID_NONE : FID_OPEN;
		pthread_mutex_unlock(&u.f->mu);
		nref_put(r->c->s, old);
	}
	rep->u.ropen.iounit = ret ? 0 : file_iounit(r->c, &rep->u.ropen.qid);
	unuse(r, &u);
	return ret;
}

struct rdctx {
	uint8_t *buf;
	size_t cap, pos;
	bool full;
};

static int fill_dirent(void *ctx, const struct p9_dirent *d)
{
	struct rdctx *x = ctx;
	if (x->full || p9_put_dirent(x->buf, x->cap, &x->pos, d) < 0) {
		x->full = true;
		return 1;
	}
	return 0;
}

static int h_readdir(struct req *r, struct p9_msg *rep)
{
	const struct p9_tread *t = &r->m.u.tread;
	struct use u;
	int ret = use_node(r, t->fid, &u);
	if (ret)
		return ret;
	if (u.st != FID_OPEN)
		ret = -EBADF;
	else if (!(u.qid.type & P9_QTDIR))
		ret = -ENOTDIR;
	if (!ret) {
		struct rdctx x = { .buf = r->out + P9_RDATA_HDRSZ, .cap = iohdr_count(r->c, t->count) };
		pthread_mutex_lock(&u.f->io_mu);
		ret = OPS(r)->readdir(FS(r), u.n->node, t->offset, fill_dirent, &x);
		pthread_mutex_unlock(&u.f->io_mu);
		if (!ret && x.pos == 0 && x.full)
			ret = -EINVAL; /* not even one entry fits: an empty reply would end the listing */
		rep->u.rdata.count = (uint32_t)x.pos;
		rep->u.rdata.data = x.buf;
	}
	unuse(r, &u);
	return ret;
}

static int h_read(struct req *r, struct p9_msg *rep)
{
	const struct p9_tread *t = &r->m.u.tread;
	struct use u;
	int ret = use_fid(r, t->fid, &u);
	if (ret)
		return ret;
	uint32_t count = iohdr_count(r->c, t->count);
	uint8_t *dst = r->out + P9_RDATA_HDRSZ;
	ssize_t n = 0;
	if (u.st == FID_XREAD) {
		pthread_mutex_lock(&u.f->mu);
		if (t->offset < u.f->xsize) {
			n = (ssize_t)MIN((uint64_t)count, u.f->xsize - t->offset);
			memcpy(dst, u.f->xbuf + t->offset, (size_t)n);
		}
		pthread_mutex_unlock(&u.f->mu);
	} else if (u.st != FID_OPEN || !u.n) {
		n = -EBADF;
	} else {
		n = OPS(r)->read(FS(r), u.n->node, t->offset, dst, count);
		if (n > (ssize_t)count)
			n = -EIO; /* a backend bug must not overrun the reply */
	}
	unuse(r, &u);
	if (n < 0)
		return (int)n;
	rep->u.rdata.count = (uint32_t)n;
	rep->u.rdata.data = dst;
	return 0;
}

static int h_write(struct req *r, struct p9_msg *rep)
{
	const struct p9_twrite *t = &r->m.u.twrite;
	struct use u;
	int ret = use_fid(r, t->fid, &u);
	if (ret)
		return ret;
	ssize_t n;
	if (u.st == FID_XWRITE) {
		pthread_mutex_lock(&u.f->mu);
		if (t->offset != u.f->xfill)
			n = -EINVAL;           /* chunks come in order from 0 */
		else if (t->count > u.f->xsize - u.f->xfill)
			n = -ENOSPC;           /* beyond the declared size */
		else {
			memcpy(u.f->xbuf + u.f->xfill, t->data, t->count);
			u.f->xfill += t->count;
			n = t->count;
		}
		pthread_mutex_unlock(&u.f->mu);
	} else if (u.st != FID_OPEN || !u.n) {
		n = -EBADF;
	} else if (rdonly(r->c)) {
		n = -EROFS;
	} else {
		n = t->count ? OPS(r)->write(FS(r), u.n->node, t->offset, t->data, t->count) : 0;
		if (n == 0 && t->count)
			n = -EIO;                  /* 0 would make the client resend forever */
		if (n > (ssize_t)t->count)
			n = -EIO;
	}
	unuse(r, &u);
	if (n < 0)
		return (int)n;
	rep->u.rwrite.count = (uint32_t)n;
	return 0;
}

/* Commits a pending xattr write (at clunk). */
static int xattr_commit(struct req *r, struct fid *f)
{
	if (f->xfill != f->xsize)
		return -EINVAL;
	struct nref *n = fid_node(f);
	if (!n)
		return -EBADF;
	int ret;
	if (f->xsize == 0)
		ret = OPS(r)->xattr_remove(FS(r), n->node, f->xname);
	else
		ret = OPS(r)->xattr_set(FS(r), n->node, f->xname, f->xbuf, f->xsize, f->xflags);
	nref_put(r->c->s, n);
	return ret;
}

static int h_clunk(struct req *r, bool remove)
{
	struct fid *f = fid_remove(r->c, r->m.u.tfid.fid);
	if (!f)
		return -EBADF;
	int ret = 0;
	pthread_mutex_lock(&f->mu);
	enum fid_state st = f->state;
	pthread_mutex_unlock(&f->mu);
	if (remove) {
		struct nref *n = fid_node(f);
		if (rdonly(r->c))
			ret = -EROFS;
		else if (!OPS(r)->remove)
			ret = -EOPNOTSUPP;
		else if (!n)
			ret = -EBADF;
		else
			ret = OPS(r)->remove(FS(r), n->node);
		nref_put(r->c->s, n);
	} else if (st == FID_XWRITE) {
		pthread_mutex_lock(&f->io_mu);
		ret = xattr_commit(r, f);
		pthread_mutex_unlock(&f->io_mu);
	}
	/* The fid is gone whatever happened. Drop its node now so that a close
	 * error reaches this reply when nobody else holds the node. */
	pthread_mutex_lock(&f->mu);
	struct nref *n = f->nref;
	f->nref = NULL;
	pthread_mutex_unlock(&f->mu);
	int rret = nref_put(r->c->s, n);
	fid_put(r->c, f);
	return ret ? ret : rret;
}

static int h_xattrwalk(struct req *r, struct p9_msg *rep)
{
	const struct p9_txattrwalk *t = &r->m.u.txattrwalk;
	if (memchr(t->name.s, '\0', t->name.len))
		return -EINVAL;
	if (t->name.len > P9_XATTR_NAME_MAX)
		return -ERANGE;
	struct use u;
	int ret = use_node(r, t->fid, &u);
	if (ret)
		return ret;
	struct fid *nf = fid_alloc(t->newfid);
	ssize_t n = nf ? 0 : -ENOMEM;
	size_t alloc = 0;
	/* Size, then value; a value that grew in between is retried. */
	for (int tries = 0; nf && tries < 4; tries++) {
		n = t->name.len ? OPS(r)->xattr_get(FS(r), u.n->node, t->name.s, NULL, 0)
				: OPS(r)->xattr_list(FS(r), u.n->node, NULL, 0);
		if (n < 0)
			break;
		if (n > P9_XATTR_SIZE_MAX) {
			n = t->name.len ? -E2BIG : -ERANGE;
			break;
		}
		free(nf->xbuf);
		nf->xbuf = malloc(n ? (size_t)n : 1);
		if (!nf->xbuf) {
			n = -ENOMEM;
			break;
		}
		alloc = (size_t)n;
		if (n == 0)
			break;
		n = t->name.len ? OPS(r)->xattr_get(FS(r), u.n->node, t->name.s, nf->xbuf, (size_t)n)
				: OPS(r)->xattr_list(FS(r), u.n->node, (char *)nf->xbuf, (size_t)n);
		if (n != -ERANGE)
			break;
	}
	if (n > (ssize_t)alloc)
		n = -EIO; /* the backend overran what it asked for */
	unuse(r, &u);
	if (n < 0) {
		if (nf)
			fid_free(r->c->s, nf);
		return (int)n;
	}
	nf->state = FID_XREAD;
	nf->xsize = (size_t)n;
	ret = fid_insert(r->c, nf);
	if (ret) {
		fid_free(r->c->s, nf);
		return ret;
	}
	rep->u.rxattrwalk.size = (uint64_t)n;
	return 0;
}

static int h_xattrcreate(struct req *r)
{
	const struct p9_txattrcreate *t = &r->m.u.txattrcreate;
	if (rdonly(r->c))
		return -EROFS;
	if (t->name.len == 0 || memchr(t->name.s, '\0', t->name.len))
		return -EINVAL;
	if (t->name.len > P9_XATTR_NAME_MAX)
		return -ERANGE;
	if (t->flags & ~3u || t->flags == 3)
		return -EINVAL;
	if (t->attr_size > P9_XATTR_SIZE_MAX)
		return -E2BIG;
	struct use u;
	int ret = use_node(r, t->fid, &u);
	if (ret)
		return ret;
	uint8_t *buf = malloc(t->attr_size ? (size_t)t->attr_size : 1);
	char *name = strdup(t->name.s);
	pthread_mutex_lock(&u.f->mu);
	if (!buf || !name) {
		ret = -ENOMEM;
	} else if (u.f->state != FID_NONE) {
		ret = -EINVAL;
	} else {
		u.f->state = FID_XWRITE;
		u.f->xbuf = take_ptr(&buf);
		u.f->xname = take_ptr(&name);
		u.f->xsize = (size_t)t->attr_size;
		u.f->xfill = 0;
		u.f->xflags = (int)t->flags;
	}
	pthread_mutex_unlock(&u.f->mu);
	free(buf);
	free(name);
	unuse(r, &u);
	return ret;
}

static int h_getattr(struct req *r, struct p9_msg *rep)
{
	struct use u;
	int ret = use_node(r, r->m.u.tgetattr.fid, &u);
	if (ret)
		return ret;
	ret = OPS(r)->getattr(FS(r), u.n->node, r->m.u.tgetattr.request_mask, &rep->u.rgetattr);
	/* DATA_VERSION is reserved: send 0 with its bit clear. */
	rep->u.rgetattr.valid &= ~P9_GETATTR_DATA_VERSION;
	rep->u.rgetattr.data_version = 0;
	unuse(r, &u);
	return ret;
}

static int h_setattr(struct req *r)
{
	if (rdonly(r->c))
		return -EROFS;
	struct use u;
	int ret = use_node(r, r->m.u.tsetattr.fid, &u);
	if (ret)
		return ret;
	ret = OPS(r)->setattr(FS(r), u.n->node, &r->m.u.tsetattr.attr);
	unuse(r, &u);
	return ret;
}

static int h_mkdir(struct req *r, struct p9_msg *rep)
{
	const struct p9_tmkdir *t = &r->m.u.tmkdir;
	if (rdonly(r->c))
		return -EROFS;
	int ret = check_new_name(&t->name);
	struct use u;
	if (ret || (ret = use_node(r, t->dfid, &u)))
		return ret;
	ret = OPS(r)->mkdir(FS(r), u.n->node, t->name.s, t->mode, t->gid, &rep->u.rqid.qid);
	unuse(r, &u);
	return ret;
}

static int h_mknod(struct req *r, struct p9_msg *rep)
{
	const struct p9_tmknod *t = &r->m.u.tmknod;
	if (rdonly(r->c))
		return -EROFS;
	int ret = check_new_name(&t->name);
	struct use u;
	if (ret || (ret = use_node(r, t->dfid, &u)))
		return ret;
	ret = OPS(r)->mknod(FS(r), u.n->node, t->name.s, t->mode, t->major, t->minor, t->gid,
			    &rep->u.rqid.qid);
	unuse(r, &u);
	return ret;
}

static int h_symlink(struct req *r, struct p9_msg *rep)
{
	const struct p9_tsymlink *t = &r->m.u.tsymlink;
	if (rdonly(r->c))
		return -EROFS;
	int ret = check_new_name(&t->name);
	if (ret)
		return ret;
	if (t->symtgt.len == 0)
		return -ENOENT;
	if (memchr(t->symtgt.s, '\0', t->symtgt.len))
		return -EINVAL;
	if (t->symtgt.len > P9_SYMLINK_MAX)
		return -ENAMETOOLONG;
	struct use u;
	if ((ret = use_node(r, t->dfid, &u)))
		return ret;
	ret = OPS(r)->symlink(FS(r), u.n->node, t->name.s, t->symtgt.s, t->gid, &rep->u.rqid.qid);
	unuse(r, &u);
	return ret;
}

static int h_link(struct req *r)
{
	const struct p9_tlink *t = &r->m.u.tlink;
	if (rdonly(r->c))
		return -EROFS;
	int ret = check_new_name(&t->name);
	struct use d, u;
	if (ret || (ret = use_node(r, t->dfid, &d)))
		return ret;
	if (!(ret = use_node(r, t->fid, &u))) {
		ret = OPS(r)->link(FS(r), d.n->node, u.n->node, t->name.s);
		unuse(r, &u);
	}
	unuse(r, &d);
	return ret;
}

static int h_readlink(struct req *r, struct p9_msg *rep)
{
	struct use u;
	int ret = use_node(r, r->m.u.tfid.fid, &u);
	if (ret)
		return ret;
	/* The target goes into the arena's tail: the reply buffer is sized
	 * for it separately. */
	char *buf = (char *)r->out + SMALL_REPLY;
	ssize_t n = OPS(r)->readlink(FS(r), u.n->node, buf, P9_SYMLINK_MAX);
	unuse(r, &u);
	if (n < 0)
		return (int)n;
	if (n > P9_SYMLINK_MAX)
		return -ENAMETOOLONG;
	rep->u.rreadlink.target.s = buf;
	rep->u.rreadlink.target.len = (uint16_t)n;
	return 0;
}

static int h_unlinkat(struct req *r)
{
	const struct p9_tunlinkat *t = &r->m.u.tunlinkat;
	if (rdonly(r->c))
		return -EROFS;
	if (t->flags & ~(uint32_t)P9_DOTL_AT_REMOVEDIR)
		return -EINVAL;
	int ret = check_name(&t->name);
	if (ret)
		return ret;
	if (is_dot(&t->name))
		return t->name.len == 1 ? -EINVAL : -ENOTEMPTY;
	struct use u;
	if ((ret = use_node(r, t->dirfid, &u)))
		return ret;
	ret = OPS(r)->unlinkat(FS(r), u.n->node, t->name.s, t->flags ? AT_REMOVEDIR : 0);
	unuse(r, &u);
	return ret;
}

static int h_renameat(struct req *r)
{
	const struct p9_trenameat *t = &r->m.u.trenameat;
	if (rdonly(r->c))
		return -EROFS;
	int ret = check_name(&t->oldname);
	if (!ret)
		ret = check_name(&t->newname);
	if (ret)
		return ret;
	if (is_dot(&t->oldname) || is_dot(&t->newname))
		return -EISDIR;
	struct use o, n;
	if ((ret = use_node(r, t->olddirfid, &o)))
		return ret;
	if (!(ret = use_node(r, t->newdirfid, &n))) {
		ret = OPS(r)->renameat(FS(r), o.n->node, t->oldname.s, n.n->node, t->newname.s);
		unuse(r, &n);
	}
	unuse(r, &o);
	return ret;
}

static int h_rename(struct req *r)
{
	const struct p9_trename *t = &r->m.u.trename;
	if (rdonly(r->c))
		return -EROFS;
	if (!OPS(r)->rename)
		return -EOPNOTSUPP;
	int ret = check_new_name(&t->name);
	if (ret)
		return ret == -EEXIST ? -EISDIR : ret;
	struct use f, d;
	if ((ret = use_node(r, t->fid, &f)))
		return ret;
	if (!(ret = use_node(r, t->dfid, &d))) {
		ret = OPS(r)->rename(FS(r), f.n->node, d.n->node, t->name.s);
		unuse(r, &d);
	}
	unuse(r, &f);
	return ret;
}

static int h_statfs(struct req *r, struct p9_msg *rep)
{
	struct use u;
	int ret = use_node(r, r->m.u.tfid.fid, &u);
	if (ret)
		return ret;
	ret = OPS(r)->statfs(FS(r), u.n->node, &rep->u.rstatfs);
	unuse(r, &u);
	return ret;
}

static int h_fsync(struct req *r)
{
	struct use u;
	int ret = use_node(r, r->m.u.tfsync.fid, &u);
	if (ret)
		return ret;
	ret = u.st == FID_OPEN ? OPS(r)->fsync(FS(r), u.n->node, r->m.u.tfsync.datasync != 0) : -EBADF;
	unuse(r, &u);
	return ret;
}

static int copy_client_id(char *dst, const struct p9_str *s)
{
	if (s->len > P9_LOCK_CLIENT_MAX || memchr(s->s, '\0', s->len))
		return -EINVAL;
	memcpy(dst, s->s, s->len);
	dst[s->len] = '\0';
	return 0;
}

static int h_lock(struct req *r, struct p9_msg *rep)
{
	const struct p9_tlock *t = &r->m.u.tlock;
	struct p9_flock l = { .type = t->type, .start = t->start, .length = t->length, .proc_id = t->proc_id };
	if (t->type > P9_LOCK_TYPE_UNLCK || (t->flags & ~(uint32_t)P9_LOCK_FLAGS_BLOCK))
		return -EINVAL;
	int ret = copy_client_id(l.client_id, &t->client_id);
	struct use u;
	if (ret || (ret = use_node(r, t->fid, &u)))
		return ret;
	if (u.st != FID_OPEN) {
		unuse(r, &u);
		return -EBADF;
	}
	long wait = r->c->s->o.lock_wait_ms;
	r->cancel.deadline_ms = now_ms() + (wait > 0 ? wait : 0);
	bool block = t->flags & P9_LOCK_FLAGS_BLOCK;
	ret = OPS(r)->lock(FS(r), u.n->node, &l, t->flags, block ? &r->cancel : NULL);
	unuse(r, &u);
	if (ret == -EAGAIN) {
		rep->u.rlock.status = P9_LOCK_BLOCKED;
		return 0;
	}
	rep->u.rlock.status = P9_LOCK_SUCCESS;
	return ret;
}

static int h_getlock(struct req *r, struct p9_msg *rep)
{
	const struct p9_getlock *t = &r->m.u.getlock;
	struct p9_flock l = { .type = t->type, .start = t->start, .length = t->length, .proc_id = t->proc_id };
	if (t->type > P9_LOCK_TYPE_UNLCK)
		return -EINVAL;
	int ret = copy_client_id(l.client_id, &t->client_id);
	struct use u;
	if (ret || (ret = use_node(r, t->fid, &u)))
		return ret;
	ret = u.st == FID_OPEN ? OPS(r)->getlock(FS(r), u.n->node, &l) : -EBADF;
	unuse(r, &u);
	if (ret)
		return ret;
	/* The client_id goes into the reply buffer's tail, like readlink's. */
	char *id = (char *)r->out + SMALL_REPLY;
	size_t n = strnlen(l.client_id, P9_LOCK_CLIENT_MAX);
	memcpy(id, l.client_id, n);
	rep->u.getlock = (struct p9_getlock){ .type = l.type, .start = l.start, .length = l.length,
		.proc_id = l.proc_id, .client_id = { id, (uint16_t)n } };
	return 0;
}

/* Runs one decoded request; fills r->out with the encoded reply. */
static void exec_req(struct req *r)
{
	struct p9_msg rep;
	memset(&rep, 0, sizeof(rep));
	int ret;
	if (p9_cancel_requested(&r->cancel)) {
		r->abandoned = true; /* flushed before it started */
		return;
	}
	switch (r->type) {
	case P9_TATTACH: ret = h_attach(r, &rep); break;
	case P9_TWALK: ret = h_walk(r, &rep); break;
	case P9_TLOPEN: ret = h_lopen(r, &rep); break;
	case P9_TLCREATE: ret = h_lcreate(r, &rep); break;
	case P9_TREAD: ret = h_read(r, &rep); break;
	case P9_TWRITE: ret = h_write(r, &rep); break;
	case P9_TREADDIR: ret = h_readdir(r, &rep); break;
	case P9_TCLUNK: ret = h_clunk(r, false); break;
	case P9_TREMOVE: ret = h_clunk(r, true); break;
	case P9_TGETATTR: ret = h_getattr(r, &rep); break;
	case P9_TSETATTR: ret = h_setattr(r); break;
	case P9_TXATTRWALK: ret = h_xattrwalk(r, &rep); break;
	case P9_TXATTRCREATE: ret = h_xattrcreate(r); break;
	case P9_TMKDIR: ret = h_mkdir(r, &rep); break;
	case P9_TMKNOD: ret = h_mknod(r, &rep); break;
	case P9_TSYMLINK: ret = h_symlink(r, &rep); break;
	case P9_TLINK: ret = h_link(r); break;
	case P9_TREADLINK: ret = h_readlink(r, &rep); break;
	case P9_TUNLINKAT: ret = h_unlinkat(r); break;
	case P9_TRENAMEAT: ret = h_renameat(r); break;
	case P9_TRENAME: ret = h_rename(r); break;
	case P9_TSTATFS: ret = h_statfs(r, &rep); break;
	case P9_TFSYNC: ret = h_fsync(r); break;
	case P9_TLOCK: ret = h_lock(r, &rep); break;
	case P9_TGETLOCK: ret = h_getlock(r, &rep); break;
	case P9_TAUTH: ret = -EOPNOTSUPP; break; /* no authentication offered */
	default: ret = -EOPNOTSUPP; break;
	}
	if (ret == -EINTR && p9_cancel_requested(&r->cancel)) {
		r->abandoned = true;
		return;
	}
	rep.tag = r->tag;
	if (ret < 0) {
		rep.type = P9_RLERROR;
		/* Never 0 and never outside Linux's errno range. */
		rep.u.rlerror.ecode = (uint32_t)(-ret > 0 && -ret < 4096 ? -ret : EIO);
	} else {
		rep.type = (uint8_t)(r->type + 1);
	}
	ssize_t n = p9_encode(&rep, r->out, r->outcap);
	if (n < 0) {
		struct p9_msg e = { .type = P9_RLERROR, .tag = r->tag, .u.rlerror.ecode = EIO };
		n = p9_encode(&e, r->out, r->outcap);
	}
	r->outlen = n > 0 ? (size_t)n : 0;
}

/* --- requests and the worker pool ----------------------------------------------- */
static void req_free(struct req *r)
{
	cancel_destroy(&r->cancel);
	free(r->in);
	free(r->arena);
	free(r->out);
	free(r);
}

static size_t reply_cap(const struct conn *c, const struct p9_msg *m)
{
	switch (m->type) {
	case P9_TREAD: case P9_TREADDIR:
		return P9_RDATA_HDRSZ + iohdr_count(c, m->u.tread.count);
	case P9_TREADLINK:
		return SMALL_REPLY + P9_SYMLINK_MAX + 1;
	case P9_TGETLOCK:
		return SMALL_REPLY + P9_LOCK_CLIENT_MAX + 1;
	default:
		return SMALL_REPLY;
	}
}

static void *worker_main(void *arg)
{
	struct p9_server *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->qmu);
		while (!s->qhead && !s->quit)
			pthread_cond_wait(&s->qcv, &s->qmu);
		struct req *r = s->qhead;
		if (r) {
			s->qhead = r->qnext;
			if (!s->qhead)
				s->qtail = NULL;
		}
		pthread_mutex_unlock(&s->qmu);
		if (!r)
			return NULL;
		exec_req(r);
		pthread_mutex_lock(&s->dmu);
		r->qnext = NULL;
		if (s->dtail)
			s->dtail->qnext = r;
		else
			s->dhead = r;
		s->dtail = r;
		pthread_mutex_unlock(&s->dmu);
		uint64_t one = 1;
		if (write(s->efd, &one, sizeof(one)) < 0) { /* counter full: a wake is pending */ }
	}
}

static void list_remove(struct req **head, struct req *r)
{
	for (struct req **pp = head; *pp; pp = &(*pp)->lnext)
		if (*pp == r) {
			*pp = r->lnext;
			return;
		}
}

static struct req *find_tag(struct conn *c, uint16_t tag)
{
	for (struct req *r = c->inflight; r; r = r->lnext)
		if (r->tag == tag)
			return r;
	return NULL;
}

static int out_append(struct conn *c, const uint8_t *p, size_t n)
{
	if (c->ooff == c->olen)
		c->ooff = c->olen = 0;
	if (c->ocap - c->olen < n) {
		if (c->ooff) {
			memmove(c->obuf, c->obuf + c->ooff, c->olen - c->ooff);
			c->olen -= c->ooff;
			c->ooff = 0;
		}
		if (c->ocap - c->olen < n) {
			size_t cap = MAX(c->ocap * 2, c->olen + n);
			uint8_t *nb = realloc(c->obuf, cap);
			if (!nb)
				return -ENOMEM;
			c->obuf = nb;
			c->ocap = cap;
		}
	}
	memcpy(c->obuf + c->olen, p, n);
	c->olen += n;
	return 0;
}

static void conn_flush_out(struct conn *c)
{
	while (!c->dead && c->ooff < c->olen) {
		ssize_t n = send(c->fd, c->obuf + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_kill(c);
			return;
		}
		c->ooff += (size_t)n;
		c->s->sends++;
		c->s->sends_partial += c->ooff < c->olen;
	}
}

/* LCVM_P9_STATS: where the host time of each request type goes. */
static void print_stats(struct p9_server *s)
{
	fprintf(stderr, "p9 stats: type count inline avg_us max_us (decoded -> reply queued)\n");
	for (unsigned i = 0; i < NTYPES; i++) {
		struct p9_type_stats *t = &s->st[i];
		if (t->n)
			fprintf(stderr, "p9 stats: %3u %8lu %8lu %8.1f %8.1f\n", i, t->n, t->n_inline,
				(double)t->ns / (double)t->n / 1e3, (double)t->max_ns / 1e3);
	}
	fprintf(stderr, "p9 stats: sends %lu, partial (socket full) %lu\n", s->sends, s->sends_partial);
	memset(s->st, 0, sizeof(s->st));
	s->sends = s->sends_partial = 0;
}

static void conn_free(struct conn *c)
{
	struct p9_server *s = c->s;
	if (s->stats)
		print_stats(s);
	fid_clear_all(c);
	ev_del(s->loop, c->fd);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	pthread_mutex_destroy(&c->mu);
	free(c->ibuf);
	free(c->obuf);
	void (*cb)(void *) = s->o.on_conn_closed;
	void *arg = s->o.arg;
	free(c);
	if (cb)
		cb(arg);
}

/* Sends r's reply unless it must stay silent, then answers the Tflush
 * requests waiting on it, in order: never a reply on a tag after Rflush. */
static void req_complete(struct req *r)
{
	struct conn *c = r->c;
	list_remove(r->zombie ? &c->zombies : &c->inflight, r);
	if (!r->zombie)
		c->ninflight--;
	if (!c->dead && !r->abandoned && !r->suppress && r->outlen)
		if (out_append(c, r->out, r->outlen) < 0)
			conn_kill(c);
	if (c->s->stats && r->t0_ns) {
		struct p9_type_stats *t = &c->s->st[r->type];
		unsigned long long d = (unsigned long long)(now_ns() - r->t0_ns);
		t->n++;
		t->n_inline += r->ran_inline;
		t->ns += d;
		t->max_ns = MAX(t->max_ns, d);
	}
	struct req *f = r->flushers;
	while (f) {
		struct req *next = f->fnext;
		req_complete(f);
		f = next;
	}
	c->nreqs--;
	req_free(r);
}

/* Called after completions: frees a dead connection once idle, else
 * writes and resumes reading. */
static void conn_settle(struct conn *c)
{
	if (c->dead) {
		if (c->nreqs == 0)
			conn_free(c);
		return;
	}
	conn_flush_out(c);
	if (c->dead) {
		if (c->nreqs == 0)
			conn_free(c);
		return;
	}
	conn_process_input(c);
	if (c->dead) {
		if (c->nreqs == 0)
			conn_free(c);
		return;
	}
	conn_update_events(c);
}

static void on_done(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct p9_server *s = data;
	uint64_t v;
	if (read(s->efd, &v, sizeof(v)) < 0) { /* EAGAIN: drained already */ }
	pthread_mutex_lock(&s->dmu);
	struct req *r = s->dhead;
	s->dhead = s->dtail = NULL;
	pthread_mutex_unlock(&s->dmu);
	while (r) {
		struct req *next = r->qnext;
		struct conn *c = r->c;
		req_complete(r);
		/* Settle only after the last completion of this conn in the
		 * batch would be nicer; settling each time is correct too. */
		conn_settle(c);
		r = next;
	}
}

/* Whether r is cheap enough to run on the loop thread: a worker hand-off
 * costs two context switches and, on a busy host, a scheduler delay, which
 * is most of a metadata request's host time. Whatever may wait (a blocking
 * Tlock, fsync, large or synchronous I/O, truncation) stays on the workers. */
static bool runs_inline(struct conn *c, const struct req *r)
{
	uint32_t fid, count;
	switch (r->type) {
	case P9_TREAD:
		fid = r->m.u.tread.fid, count = r->m.u.tread.count;
		break;
	case P9_TWRITE:
		fid = r->m.u.twrite.fid, count = r->m.u.twrite.count;
		break;
	case P9_TLOCK:
		return !(r->m.u.tlock.flags & P9_LOCK_FLAGS_BLOCK);
	case P9_TSETATTR:
		return !(r->m.u.tsetattr.attr.valid & P9_SETATTR_SIZE);
	case P9_TFSYNC:
		return false;
	default:
		return true;
	}
	if (count > P9_INLINE_IO_MAX)
		return false;
	struct fid *f = fid_get(c, fid);
	if (!f)
		return true; /* answered with EBADF at once */
	pthread_mutex_lock(&f->mu);
	bool slow = f->slow_io || f->state == FID_XWRITE;
	pthread_mutex_unlock(&f->mu);
	fid_put(c, f);
	return !slow;
}

static void dispatch(struct conn *c, struct req *r)
{
	struct p9_server *s = c->s;
	r->lnext = c->inflight;
	c->inflight = r;
	c->ninflight++;
	c->nreqs++;
	if (s->o.inline_requests || (s->inline_meta && runs_inline(c, r))) {
		r->ran_inline = true;
		exec_req(r);
		req_complete(r);
		return;
	}
	pthread_mutex_lock(&s->qmu);
	r->qnext = NULL;
	if (s->qtail)
		s->qtail->qnext = r;
	else
		s->qhead = r;
	s->qtail = r;
	pthread_cond_signal(&s->qcv);
	pthread_mutex_unlock(&s->qmu);
}

/* Cancels every request on c; with reset, also silences them and frees
 * their tags (Tversion, disconnect). */
static void conn_cancel_all(struct conn *c, bool reset)
{
	for (struct req *r = c->inflight; r; r = r->lnext)
		cancel_fire(&r->cancel);
	for (struct req *r = c->zombies; r; r = r->lnext)
		cancel_fire(&r->cancel);
	if (!reset)
		return;
	while (c->inflight) {
		struct req *r = c->inflight;
		c->inflight = r->lnext;
		r->suppress = true;
		r->zombie = true;
		r->lnext = c->zombies;
		c->zombies = r;
	}
	c->ninflight = 0;
}

static void conn_kill(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	conn_cancel_all(c, true);
	ev_del(c->s->loop, c->fd);
	shutdown(c->fd, SHUT_RDWR);
}

/* Sends a reply built on the loop thread (Tversion, Tflush, early errors). */
static void reply_now(struct conn *c, struct p9_msg *m)
{
	uint8_t buf[SMALL_REPLY];
	ssize_t n = p9_encode(m, buf, sizeof(buf));
	if (n < 0 || out_append(c, buf, (size_t)n) < 0)
		conn_kill(c);
}

static void reply_error(struct conn *c, uint16_t tag, int err)
{
	struct p9_msg m = { .type = P9_RLERROR, .tag = tag, .u.rlerror.ecode = (uint32_t)err };
	reply_now(c, &m);
}

static void do_version(struct conn *c, const struct p9_msg *m)
{
	/* Tversion resets the session: every request is silenced, every fid
	 * clunked. */
	conn_cancel_all(c, true);
	fid_clear_all(c);
	c->versioned = false;
	struct p9_msg rep = { .type = P9_RVERSION, .tag = m->tag };
	uint32_t msize = MIN(m->u.version.msize, c->s->o.max_msize);
	if (m->u.version.msize < P9_MSIZE_MIN) {
		reply_error(c, m->tag, EMSGSIZE);
		return;
	}
	rep.u.version.msize = msize;
	if (m->u.version.version.len >= 8 && memcmp(m->u.version.version.s, P9_VERSION_L, 8) == 0) {
		rep.u.version.version = p9_str(P9_VERSION_L);
		c->msize = msize;
		c->versioned = true;
	} else {
		rep.u.version.version = p9_str("unknown");
	}
	reply_now(c, &rep);
}

static void do_flush(struct conn *c, struct req *f)
{
	struct req *victim = find_tag(c, f->m.u.tflush.oldtag);
	struct p9_msg rep = { .type = P9_RFLUSH, .tag = f->tag };
	f->outlen = (size_t)p9_encode(&rep, f->out, f->outcap);
	f->lnext = c->inflight;
	c->inflight = f;
	c->ninflight++;
	c->nreqs++;
	if (!victim) {
		req_complete(f); /* nothing in progress: Rflush at once */
		return;
	}
	/* Answered after the victim (and after earlier flushes of it). */
	struct req **pp = &victim->flushers;
	while (*pp)
		pp = &(*pp)->fnext;
	*pp = f;
	cancel_fire(&victim->cancel);
}

/* Handles one framed message in c->ibuf[0..size). Returns false when the
 * connection died. */
static bool conn_on_msg(struct conn *c, const uint8_t *p, uint32_t size)
{
	uint32_t sz;
	uint8_t type;
	uint16_t tag;
	p9_parse_hdr(p, size, &sz, &type, &tag);
	if (find_tag(c, tag)) {
		conn_kill(c); /* a duplicate tag: the client lost track */
		return false;
	}
	struct req *r = calloc(1, sizeof(*r));
	if (r) {
		r->in = malloc(size);
		r->arena = malloc(size);
		cancel_init(&r->cancel);
	}
	if (!r || !r->in || !r->arena) {
		if (r)
			req_free(r);
		conn_kill(c);
		return false;
	}
	memcpy(r->in, p, size);
	if (c->s->stats)
		r->t0_ns = now_ns();
	r->c = c;
	r->tag = tag;
	r->type = type;
	int ret = p9_decode(r->in, size, &r->m, r->arena, size);
	if (ret == 0 && type == P9_TVERSION) {
		do_version(c, &r->m);
		req_free(r);
		return !c->dead;
	}
	if (ret == 0 && !c->versioned)
		ret = -EPROTO;
	if (ret == 0 && (type & 1))
		ret = -EOPNOTSUPP; /* a reply sent to us */
	if (ret < 0) {
		req_free(r);
		reply_error(c, tag, -ret);
		return !c->dead;
	}
	r->outcap = reply_cap(c, &r->m);
	r->out = malloc(r->outcap);
	if (!r->out) {
		req_free(r);
		conn_kill(c);
		return false;
	}
	if (type == P9_TFLUSH)
		do_flush(c, r);
	else
		dispatch(c, r);
	return !c->dead;
}

static bool can_read(const struct conn *c)
{
	return !c->dead && c->ninflight < c->s->o.max_inflight && c->olen - c->ooff < OUT_HIGH_WATER;
}

/* Consumes whole messages from the input buffer while limits allow. */
static void conn_process_input(struct conn *c)
{
	size_t off = 0;
	while (can_read(c) && c->ilen - off >= 4) {
		const uint8_t *p = c->ibuf + off;
		uint32_t size = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		uint32_t cap = c->versioned ? c->msize : c->s->o.max_msize;
		if (size < P9_HDRSZ || size > cap) {
			conn_kill(c); /* a stream cannot be resynchronised */
			return;
		}
		if (c->ilen - off < size)
			break;
		off += size;
		if (!conn_on_msg(c, p, size))
			return;
	}
	if (off) {
		memmove(c->ibuf, c->ibuf + off, c->ilen - off);
		c->ilen -= off;
	}
}

static void conn_update_events(struct conn *c)
{
	if (c->dead)
		return;
	unsigned ev = (can_read(c) ? EV_READ : 0) | (c->ooff < c->olen ? EV_WRITE : 0);
	if (ev_mod(c->s->loop, c->fd, ev) < 0)
		conn_kill(c);
}

static void on_conn(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct conn *c = data;
	if (events & EV_WRITE)
		conn_flush_out(c);
	bool eof = false;
	while (!c->dead && (events & (EV_READ | EV_HUP)) && can_read(c)) {
		if (c->ilen == c->icap) {
			conn_process_input(c);
			if (c->ilen == c->icap || !can_read(c))
				break;
		}
		ssize_t n = recv(c->fd, c->ibuf + c->ilen, c->icap - c->ilen, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			eof = true;
			break;
		}
		c->ilen += (size_t)n;
		conn_process_input(c);
	}
	if (!c->dead && (eof || ((events & EV_HUP) && !(events & EV_READ))))
		conn_kill(c);
	conn_settle(c);
}

/* --- public API ------------------------------------------------------------------ */
int p9_server_new(struct ev_loop *loop, const struct p9_export *exp,
		  const struct p9_server_opts *opts, struct p9_server **out)
{
	if (!exp || !exp->ops)
		return -EINVAL;
	struct p9_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->exp = *exp;
	if (opts)
		s->o = *opts;
	if (!s->o.max_msize)
		s->o.max_msize = P9_MSIZE_MAX;
	s->o.max_msize = MAX(MIN(s->o.max_msize, (uint32_t)P9_MSIZE_MAX), (uint32_t)P9_MSIZE_MIN);
	if (!s->o.nworkers)
		s->o.nworkers = P9_DEFAULT_WORKERS;
	s->o.nworkers = MIN(s->o.nworkers, (unsigned)P9_MAX_WORKERS);
	if (!s->o.max_fids)
		s->o.max_fids = P9_DEFAULT_MAX_FIDS;
	if (!s->o.max_inflight)
		s->o.max_inflight = P9_DEFAULT_INFLIGHT;
	if (!s->o.lock_wait_ms)
		s->o.lock_wait_ms = P9_DEFAULT_LOCK_WAIT;
	/* Diagnostics knobs (bench/9p.sh): LCVM_P9_STATS=1 prints per-type
	 * timing when a connection closes; LCVM_P9_INLINE=0 sends every request
	 * to the workers (to measure what inline execution saves). */
	const char *ev = getenv("LCVM_P9_STATS");
	s->stats = ev && *ev && strcmp(ev, "0") != 0;
	ev = getenv("LCVM_P9_INLINE");
	s->inline_meta = !s->o.pool_only && !(ev && strcmp(ev, "0") == 0);
	pthread_mutex_init(&s->qmu, NULL);
	pthread_cond_init(&s->qcv, NULL);
	pthread_mutex_init(&s->dmu, NULL);
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ret = s->efd < 0 ? -errno : ev_add(loop, s->efd, EV_READ, on_done, s);
	for (unsigned i = 0; !ret && !s->o.inline_requests && i < s->o.nworkers; i++) {
		ret = -pthread_create(&s->threads[i], NULL, worker_main, s);
		if (!ret)
			s->nthreads++;
	}
	if (ret) {
		p9_server_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

int p9_server_add_conn(struct p9_server *s, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	int fl = fcntl(fd, F_GETFL);
	if (!c || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int err = c ? -errno : -ENOMEM;
		free(c);
		close(fd);
		return err;
	}
	c->s = s;
	c->fd = fd;
	c->msize = s->o.max_msize;
	c->icap = (size_t)s->o.max_msize + P9_HDRSZ;
	c->ibuf = malloc(c->icap);
	pthread_mutex_init(&c->mu, NULL);
	int ret = c->ibuf ? ev_add(s->loop, fd, EV_READ, on_conn, c) : -ENOMEM;
	if (ret) {
		pthread_mutex_destroy(&c->mu);
		free(c->ibuf);
		free(c);
		close(fd);
		return ret;
	}
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	return 0;
}

unsigned p9_server_nconns(const struct p9_server *s)
{
	return s->nconns;
}

void p9_server_free(struct p9_server *s)
{
	if (!s)
		return;
	for (struct conn *c = s->conns; c; c = c->next)
		conn_kill(c);
	pthread_mutex_lock(&s->qmu);
	s->quit = true; /* workers drain the queue (cancelled: no backend calls) then exit */
	pthread_cond_broadcast(&s->qcv);
	pthread_mutex_unlock(&s->qmu);
	for (unsigned i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	/* Complete what the workers finished; conns free themselves when idle. */
	struct req *r = s->dhead;
	s->dhead = s->dtail = NULL;
	while (r) {
		struct req *next = r->qnext;
		struct conn *c = r->c;
		req_complete(r);
		if (c->nreqs == 0)
			conn_free(c);
		r = next;
	}
	while (s->conns)
		conn_free(s->conns); /* idle dead connections */
	if (s->efd >= 0) {
		ev_del(s->loop, s->efd);
		close(s->efd);
	}
	pthread_mutex_destroy(&s->qmu);
	pthread_cond_destroy(&s->qcv);
	pthread_mutex_destroy(&s->dmu);
	free(s);
}
