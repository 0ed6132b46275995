/* Minimal blocking 9P2000.L test client with its own wire code. */
#include "p9_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Wire type numbers, written out here on purpose (not from codec.h). */
enum {
	RLERROR = 7, TSTATFS = 8, TLOPEN = 12, TLCREATE = 14, TSYMLINK = 16, TMKNOD = 18,
	TREADLINK = 22, TGETATTR = 24, TSETATTR = 26, TXATTRWALK = 30, TXATTRCREATE = 32,
	TREADDIR = 40, TFSYNC = 50, TLOCK = 52, TGETLOCK = 54, TLINK = 70, TMKDIR = 72,
	TRENAMEAT = 74, TUNLINKAT = 76, TVERSION = 100, TATTACH = 104, TWALK = 110,
	TREAD = 116, TWRITE = 118, TCLUNK = 120,
};

int p9c_init(struct p9c *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->msize = P9C_MAXMSG;
	c->out = malloc(P9C_MAXMSG + 64);
	c->in = malloc(P9C_MAXMSG + 64);
	return c->out && c->in ? 0 : -ENOMEM;
}

void p9c_free(struct p9c *c)
{
	free(c->out);
	free(c->in);
	c->out = c->in = NULL;
}

void p9c_begin(struct p9c *c, uint8_t type, uint16_t tag)
{
	c->olen = 4;
	p9c_put8(c, type);
	p9c_put16(c, tag);
}

void p9c_putbytes(struct p9c *c, const void *p, size_t n)
{
	if (c->olen + n > P9C_MAXMSG + 64)
		n = P9C_MAXMSG + 64 - c->olen;
	memcpy(c->out + c->olen, p, n);
	c->olen += n;
}

void p9c_put8(struct p9c *c, uint8_t v) { p9c_putbytes(c, &v, 1); }
void p9c_put16(struct p9c *c, uint16_t v) { uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) }; p9c_putbytes(c, b, 2); }
void p9c_put32(struct p9c *c, uint32_t v)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	p9c_putbytes(c, b, 4);
}
void p9c_put64(struct p9c *c, uint64_t v)
{
	p9c_put32(c, (uint32_t)v);
	p9c_put32(c, (uint32_t)(v >> 32));
}
void p9c_putstr(struct p9c *c, const char *s)
{
	size_t n = strlen(s);
	p9c_put16(c, (uint16_t)n);
	p9c_putbytes(c, s, n);
}

int p9c_send_raw(struct p9c *c, const void *p, size_t n)
{
	const uint8_t *q = p;
	while (n) {
		ssize_t w = send(c->fd, q, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EPIPE;
		q += w;
		n -= (size_t)w;
	}
	return 0;
}

int p9c_send(struct p9c *c)
{
	uint32_t n = (uint32_t)c->olen;
	for (int i = 0; i < 4; i++)
		c->out[i] = (uint8_t)(n >> (8 * i));
	return p9c_send_raw(c, c->out, c->olen);
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EPIPE;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int p9c_recv(struct p9c *c)
{
	if (read_full(c->fd, c->in, 4) < 0)
		return -EPIPE;
	uint32_t size = (uint32_t)c->in[0] | (uint32_t)c->in[1] << 8 | (uint32_t)c->in[2] << 16 |
			(uint32_t)c->in[3] << 24;
	if (size < 7 || size > P9C_MAXMSG)
		return -EPROTO;
	if (read_full(c->fd, c->in + 4, size - 4) < 0)
		return -EPIPE;
	c->rtype = c->in[4];
	c->rtag = (uint16_t)(c->in[5] | c->in[6] << 8);
	c->rlen = size;
	c->rpos = 7;
	c->rbad = false;
	return 0;
}

const uint8_t *p9c_getbytes(struct p9c *c, size_t n)
{
	if (c->rbad || n > c->rlen - c->rpos) {
		c->rbad = true;
		return NULL;
	}
	const uint8_t *p = c->in + c->rpos;
	c->rpos += n;
	return p;
}

uint8_t p9c_get8(struct p9c *c) { const uint8_t *p = p9c_getbytes(c, 1); return p ? p[0] : 0; }
uint16_t p9c_get16(struct p9c *c) { const uint8_t *p = p9c_getbytes(c, 2); return p ? (uint16_t)(p[0] | p[1] << 8) : 0; }
uint32_t p9c_get32(struct p9c *c)
{
	const uint8_t *p = p9c_getbytes(c, 4);
	return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24 : 0;
}
uint64_t p9c_get64(struct p9c *c)
{
	uint64_t lo = p9c_get32(c);
	return lo | (uint64_t)p9c_get32(c) << 32;
}
struct p9c_qid p9c_getqid(struct p9c *c)
{
	struct p9c_qid q;
	q.type = p9c_get8(c);
	q.version = p9c_get32(c);
	q.path = p9c_get64(c);
	return q;
}
size_t p9c_getstr(struct p9c *c, char *out, size_t cap)
{
	uint16_t n = p9c_get16(c);
	const uint8_t *p = p9c_getbytes(c, n);
	size_t k = p ? (n < cap ? n : cap - 1) : 0;
	if (cap) {
		if (p)
			memcpy(out, p, k);
		out[k] = '\0';
	}
	return p ? n : 0;
}

int p9c_check(struct p9c *c, uint8_t want)
{
	if (c->rtype == RLERROR) {
		uint32_t e = p9c_get32(c);
		return e ? -(int)e : -EPROTO;
	}
	return c->rtype == want ? 0 : -EPROTO;
}

/* Sends the built message with P9C_TAG and waits for its reply. */
static int rpc(struct p9c *c, uint8_t rtype)
{
	int r = p9c_send(c);
	if (!r)
		r = p9c_recv(c);
	if (!r && c->rtag != P9C_TAG)
		r = -EPROTO;
	return r ? r : p9c_check(c, rtype);
}

static int done(struct p9c *c, int r)
{
	if (r == 0 && (c->rbad || c->rpos != c->rlen))
		return -EPROTO; /* every reply must be exactly its layout */
	return r;
}

int p9c_version(struct p9c *c, uint32_t msize, const char *version, uint32_t *msize_out,
		char *ver_out, size_t ver_cap)
{
	p9c_begin(c, TVERSION, 0xFFFF);
	p9c_put32(c, msize);
	p9c_putstr(c, version);
	int r = p9c_send(c);
	if (!r)
		r = p9c_recv(c);
	if (!r)
		r = p9c_check(c, TVERSION + 1);
	if (r)
		return r;
	uint32_t m = p9c_get32(c);
	char tmp[64];
	p9c_getstr(c, ver_out ? ver_out : tmp, ver_out ? ver_cap : sizeof(tmp));
	if (msize_out)
		*msize_out = m;
	c->msize = m;
	return done(c, 0);
}

int p9c_attach(struct p9c *c, uint32_t fid, const char *uname, uint32_t n_uname, struct p9c_qid *qid)
{
	p9c_begin(c, TATTACH, P9C_TAG);
	p9c_put32(c, fid);
	p9c_put32(c, 0xFFFFFFFFu);
	p9c_putstr(c, uname);
	p9c_putstr(c, "");
	p9c_put32(c, n_uname);
	int r = rpc(c, TATTACH + 1);
	if (r)
		return r;
	struct p9c_qid q = p9c_getqid(c);
	if (qid)
		*qid = q;
	return done(c, 0);
}

int p9c_walk(struct p9c *c, uint32_t fid, uint32_t newfid, unsigned n, const char *const *names,
	     struct p9c_qid *qids)
{
	p9c_begin(c, TWALK, P9C_TAG);
	p9c_put32(c, fid);
	p9c_put32(c, newfid);
	p9c_put16(c, (uint16_t)n);
	for (unsigned i = 0; i < n; i++)
		p9c_putstr(c, names[i]);
	int r = rpc(c, TWALK + 1);
	if (r)
		return r;
	unsigned nq = p9c_get16(c);
	for (unsigned i = 0; i < nq; i++) {
		struct p9c_qid q = p9c_getqid(c);
		if (qids && i < 16)
			qids[i] = q;
	}
	r = done(c, 0);
	return r ? r : (int)nq;
}

static int qid_reply(struct p9c *c, struct p9c_qid *qid, bool iounit)
{
	struct p9c_qid q = p9c_getqid(c);
	if (iounit)
		p9c_get32(c);
	if (qid)
		*qid = q;
	return done(c, 0);
}

int p9c_lopen(struct p9c *c, uint32_t fid, uint32_t flags, struct p9c_qid *qid)
{
	p9c_begin(c, TLOPEN, P9C_TAG);
	p9c_put32(c, fid);
	p9c_put32(c, flags);
	int r = rpc(c, TLOPEN + 1);
	return r ? r : qid_reply(c, qid, true);
}

int p9c_lcreate(struct p9c *c, uint32_t fid, const char *name, uint32_t flags, uint32_t mode,
		uint32_t gid, struct p9c_qid *qid)
{
	p9c_begin(c, TLCREATE, P9C_TAG);
	p9c_put32(c, fid);
	p9c_putstr(c, name);
	p9c_put32(c, flags);
	p9c_put32(c, mode);
	p9c_put32(c, gid);
	int r = rpc(c, TLCREATE + 1);
	return r ? r : qid_reply(c, qid, true);
}

ssize_t p9c_read(struct p9c *c, uint32_t fid, uint64_t off, void *buf, uint32_t count)
{
	p9c_begin(c, TREAD, P9C_TAG);
	p9c_put32(c, fid);
	p9c_put64(c, off);
	p9c_put32(c, count);
	int r = rpc(c, TREAD + 1);
	if (r)
		return r;
	uint32_t n = p9c_get32(c);
	const uint8_t *p = p9c_getbytes(c, n);
	if (!p || n > count)
		return -EPROTO;
	memcpy(buf, p, n);
	r = done(c, 0);
	return r ? r : (ssize_t)n;
}

ssize_t p9c_write(struct p9c *c, uint32_t fid, uint64_t off, const void *buf, uint32_t count)
{
	p9c_begin(c, TWRITE, P9C_TAG);
	p9c_put32(c, fid);
	p9c_put64(c, off);
	p9c_put32(c, count);
	p9c_putbytes(c, buf, count);
	int r = rpc(c, TWRITE + 1);
	if (r)
		return r;
	uint32_t n = p9c_get32(c);
	r = done(c, 0);
	return r ? r : (ssize_t)n;
}

static int fid_only(struct p9c *c, uint8_t type, uint32_t fid)
{
	p9c_begin(c, type, P9C_TAG);
	p9c_put32(c, fid);
	return rpc(c, (uint8_t)(type + 1));
}

int p9c_clunk(struct p9c *c, uint32_t fid)
{
	int r = fid_only(c, TCLUNK, fid);
	return done(c, r);
}

ssize_t p9c_readdir(struct p9c *c, uint32_t fid, uint64_t off, uint32_t count, uint8_t *buf)
{
	p9c_begin(c, TREADDIR, P9C_TAG);
	p9c_put32(c, fid);
	p9c_put64(c, off);
	p9c_put32(c, count);
	int r = rpc(c, TREADDIR + 1);
	if (r)
		return r;
	uint32_t n = p9c_get32(c);
	const uint8_t *p = p9c_getbytes(c, n);
	if (!p || n > count)
		return -EPROTO;
	memcpy(buf, p, n);
	r = done(c, 0);
	return r ? r : (ssize_t)n;
}

ssize_t p9c_dirent(const uint8_t *p, size_t len, struct p9c_qid *qid, uint64_t *off, uint8_t *type,
		   char *name, size_t name_cap)
{
	if (len < 24)
		return -EPROTO;
	qid->type = p[0];
	qid->version = (uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24;
	qid->path = 0;
	for (int i = 7; i >= 0; i--)
		qid->path = qid->path << 8 | p[5 + i];
	*off = 0;
	for (int i = 7; i >= 0; i--)
		*off = *off << 8 | p[13 + i];
	*type = p[21];
	size_t n = (size_t)(p[22] | p[23] << 8);
	if (24 + n > len || n + 1 > name_cap)
		return -EPROTO;
	memcpy(name, p + 24, n);
	name[n] = '\0';
	return (ssize_t)(24 + n);
}

int p9c_getattr(struct p9c *c, uint32_t fid, uint64_t mask, struct p9c_attr *a)
{
	p9c_begin(c, TGETATTR, P9C_TAG);
	p9c_put32(c, fid);
	p9c_put64(c, mask);
	int r = rpc(c, TGETATTR + 1);
	if (r)
		return r;
	a->valid = p9c_get64(c);
	a->qid = p9c_getqid(c);
	a->mode = p9c_get32(c);
	a->uid = p9c_get32(c);
	a->gid = p9c_get32(c);
	a->nlink = p9c_get64(c);
	a->rdev = p9c_get64(c);
	a->size = p9c_get64(c);
	p9c_get64(c); /* blksize */
	p9c_get64(c); /* blocks */
	p9c_get64(c); /* atime */
	p9c_get64(c);
	a->mtime_sec = p9c_get64(c);
	a->mtime_nsec = p9c_get64(c);
	for (int i = 0; i < 6; i++)
		p9c_get64(c); /* ctime btime gen data_version */
	return done(c, 0);
}

static int setattr(struct p9c *c, uint32_t fid, uint32_t valid, uint32_t mode, uint64_t size)
{
	p9c_begin(c, TSETATTR, P9C_TAG);
	p9c_put32(c, fid);
	p9c_put32(c, valid);
	p9c_put32(c, mode);
	p9c_put32(c, 0xFFFFFFFFu);
	p9c_put32(c, 0xFFFFFFFFu);
	p9c_put64(c, size);
	for (int i = 0; i < 4; i++)
		p9c_put64(c, 0);
	return done(c, rpc(c, TSETATTR + 1));
}

int p9c_setattr_size(struct p9c *c, uint32_t fid, uint64_t size) { return setattr(c, fid, 0x8 | 0x20 | 0x40, 0, size); }
int p9c_setattr_mode(struct p9c *c, uint32_t fid, uint32_t mode) { return setattr(c, fid, 0x1 | 0x40, mode, 0); }

int p9c_mkdir(struct p9c *c, uint32_t dfid, const char *name, uint32_t mode, uint32_t gid,
	      struct p9c_qid *qid)
{
	p9c_begin(c, TMKDIR, P9C_TAG);
	p9c_put32(c, dfid);
	p9c_putstr(c, name);
	p9c_put32(c, mode);
	p9c_put32(c, gid);
	int r = rpc(c, TMKDIR + 1);
	return r ? r : qid_reply(c, qid, false);
}

int p9c_mknod(struct p9c *c, uint32_t dfid, const char *name, uint32_t mode, uint32_t major,
	      uint32_t minor, uint32_t gid, struct p9c_qid *qid)
{
	p9c_begin(c, TMKNOD, P9C_TAG);
	p9c_put32(c, dfid);
	p9c_putstr(c, name);
	p9c_put32(c, mode);
	p9c_put32(c, major);
	p9c_put32(c, minor);
	p9c_put32(c, gid);
	int r = rpc(c, TMKNOD + 1);
	return r ? r : qid_reply(c, qid, false);
}

int p9c_symlink(struct p9c *c, uint32_t dfid, const char *name, const char *target, uint32_t gid,
		struct p9c_qid *qid)
{
	p9c_begin(c, TSYMLINK, P9C_TAG);
	p9c_put32(c, dfid);
	p9c_putstr(c, name);
	p9c_putstr(c, target);
	p9c_put32(c, gid);
	int r = rpc(c, TSYMLINK + 1);
	return r ? r : qid_reply(c, qid, false);
}

int p9c_readlink(struct p9c *c, uint32_t fid, char *out, size_t cap)
{
	int r = fid_only(c, TREADLINK, fid);
	if (r)
		return r;
	p9c_getstr(c, out, cap);
	return done(c, 0);
}

int p9c_link(struct p9c *c, uint32_t dfid, uint32_t fid, const char *name)
{
	p9c_begin(c, TLINK, P9C_TAG);
	p9c_put32(c, dfid);
	p9c_put32(c, fid);
	p9c_putstr(c, name);
	return done(c, rpc(c, TLINK + 1));
}

int p9c_unlinkat(struct p9c *c, uint32_t dfid, const char *name, uint32_t flags)
{
	p9c_begin(c, TUNLINKAT, P9C_TAG);
	p9c_put32(c, dfid);
	p9c_putstr(c, name);
	p9c_put32(c, flags);
	return done(c, rpc(c, TUNLINKAT + 1));
}

int p9c_renameat(struct p9c *c, uint32_t odfid, const char *oname, uint32_t ndfid, const char *nname)
{
	p9c_begin(c, TRENAMEAT, P9C_TAG);
	p9c_put32(c, odfid);
	p9c_putstr(c, oname);
	p9c_put32(c, ndfid);
	p9c_putstr(c, nname);
	return done(c, rpc(c, TRENAMEAT + 1));
}

int p9c_xattrwalk(struct p9c *c, uint32_t fid, uint32_t newfid, const char *name, uint64_t *size)
{
	p9c_begin(c, TXATTRWALK, P9C_TAG);
	p9c_put32(c, fid);
	p9c_put32(c, newfid);
	p9c_putstr(c, name);
	int r = rpc(c, TXATTRWALK + 1);
	if (r)
		return r;
	*size = p9c_get64(c);
	return done(c, 0);
}

int p9c_xattrcreate(struct p9c *c, uint32_t fid, const char *name, uint64_t size, uint32_t flags)
{
	p9c_begin(c, TXATTRCREATE, P9C_TAG);
	p9c_put32(c, fid);
	p9c_putstr(c, name);
	p9c_put64(c, size);
	p9c_put32(c, flags);
	return done(c, rpc(c, TXATTRCREATE + 1));
}

int p9c_send_lock(struct p9c *c, uint16_t tag, uint32_t fid, uint8_t type, uint32_t flags,
		  uint64_t start, uint64_t len)
{
	p9c_begin(c, TLOCK, tag);
	p9c_put32(c, fid);
	p9c_put8(c, type);
	p9c_put32(c, flags);
	p9c_put64(c, start);
	p9c_put64(c, len);
	p9c_put32(c, 42);
	p9c_putstr(c, "guest");
	return p9c_send(c);
}

int p9c_lock(struct p9c *c, uint32_t fid, uint8_t type, uint32_t flags, uint64_t start, uint64_t len,
	     uint8_t *status)
{
	int r = p9c_send_lock(c, P9C_TAG, fid, type, flags, start, len);
	if (!r)
		r = p9c_recv(c);
	if (!r)
		r = p9c_check(c, TLOCK + 1);
	if (r)
		return r;
	*status = p9c_get8(c);
	return done(c, 0);
}

int p9c_getlock(struct p9c *c, uint32_t fid, uint8_t *type, uint64_t *start, uint64_t *len)
{
	p9c_begin(c, TGETLOCK, P9C_TAG);
	p9c_put32(c, fid);
	p9c_put8(c, *type);
	p9c_put64(c, *start);
	p9c_put64(c, *len);
	p9c_put32(c, 42);
	p9c_putstr(c, "guest");
	int r = rpc(c, TGETLOCK + 1);
	if (r)
		return r;
	*type = p9c_get8(c);
	*start = p9c_get64(c);
	*len = p9c_get64(c);
	p9c_get32(c);
	char id[80];
	p9c_getstr(c, id, sizeof(id));
	return done(c, 0);
}

int p9c_statfs(struct p9c *c, uint32_t fid, uint32_t *type, uint32_t *namelen)
{
	int r = fid_only(c, TSTATFS, fid);
	if (r)
		return r;
	*type = p9c_get32(c);
	for (int i = 0; i < 7; i++)
		i == 0 ? (void)p9c_get32(c) : (void)p9c_get64(c);
	*namelen = p9c_get32(c);
	return done(c, 0);
}

int p9c_fsync(struct p9c *c, uint32_t fid)
{
	p9c_begin(c, TFSYNC, P9C_TAG);
	p9c_put32(c, fid);
	p9c_put32(c, 0);
	return done(c, rpc(c, TFSYNC + 1));
}
