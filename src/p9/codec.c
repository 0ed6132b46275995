/* 9P2000.L codec. See codec.h. Little-endian, bounded cursors whose "bad"
 * flag latches: field readers return zeros after an overrun and the message
 * is judged once at the end. */
#include "p9/codec.h"

#include <errno.h>
#include <string.h>

/* --- cursors --------------------------------------------------------------- */
struct rcur {
	const uint8_t *p;
	size_t len, pos;
	char *arena;
	size_t alen, apos;
	bool bad;
};

struct wcur {
	uint8_t *p;
	size_t cap, pos;
	bool bad;
};

static const uint8_t *rtake(struct rcur *c, size_t n)
{
	if (c->bad || n > c->len - c->pos) {
		c->bad = true;
		return NULL;
	}
	const uint8_t *q = c->p + c->pos;
	c->pos += n;
	return q;
}

static uint8_t r8(struct rcur *c)
{
	const uint8_t *q = rtake(c, 1);
	return q ? q[0] : 0;
}

static uint16_t r16(struct rcur *c)
{
	const uint8_t *q = rtake(c, 2);
	return q ? (uint16_t)(q[0] | q[1] << 8) : 0;
}

static uint32_t r32(struct rcur *c)
{
	const uint8_t *q = rtake(c, 4);
	return q ? (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24 : 0;
}

static uint64_t r64(struct rcur *c)
{
	uint64_t lo = r32(c);
	uint64_t hi = r32(c);
	return lo | hi << 32;
}

static struct p9_str rstr(struct rcur *c)
{
	struct p9_str s = { "", 0 };
	uint16_t n = r16(c);
	const uint8_t *q = rtake(c, n);
	if (!q)
		return s;
	if (c->alen - c->apos < (size_t)n + 1) {
		c->bad = true;
		return s;
	}
	char *dst = c->arena + c->apos;
	memcpy(dst, q, n);
	dst[n] = '\0';
	c->apos += (size_t)n + 1;
	s.s = dst;
	s.len = n;
	return s;
}

static struct p9_qid rqid(struct rcur *c)
{
	struct p9_qid q;
	q.type = r8(c);
	q.version = r32(c);
	q.path = r64(c);
	return q;
}

static uint8_t *wtake(struct wcur *c, size_t n)
{
	if (c->bad || n > c->cap - c->pos) {
		c->bad = true;
		return NULL;
	}
	uint8_t *q = c->p + c->pos;
	c->pos += n;
	return q;
}

static void w8(struct wcur *c, uint8_t v)
{
	uint8_t *q = wtake(c, 1);
	if (q)
		q[0] = v;
}

static void w16(struct wcur *c, uint16_t v)
{
	uint8_t *q = wtake(c, 2);
	if (q) {
		q[0] = (uint8_t)v;
		q[1] = (uint8_t)(v >> 8);
	}
}

static void w32(struct wcur *c, uint32_t v)
{
	uint8_t *q = wtake(c, 4);
	if (q)
		for (int i = 0; i < 4; i++)
			q[i] = (uint8_t)(v >> (8 * i));
}

static void w64(struct wcur *c, uint64_t v)
{
	w32(c, (uint32_t)v);
	w32(c, (uint32_t)(v >> 32));
}

static void wbytes(struct wcur *c, const void *src, size_t n)
{
	uint8_t *q = wtake(c, n);
	if (q && n && q != src)
		memmove(q, src, n);
}

static void wstr(struct wcur *c, struct p9_str s)
{
	w16(c, s.len);
	wbytes(c, s.s, s.len);
}

static void wqid(struct wcur *c, const struct p9_qid *q)
{
	w8(c, q->type);
	w32(c, q->version);
	w64(c, q->path);
}

struct p9_str p9_str(const char *s)
{
	size_t n = strlen(s);
	struct p9_str r = { s, (uint16_t)(n > 0xFFFF ? 0xFFFF : n) };
	return r;
}

/* --- per-message bodies ----------------------------------------------------- */
static void dec_version(struct rcur *c, struct p9_tversion *m)
{
	m->msize = r32(c);
	m->version = rstr(c);
}
static void enc_version(struct wcur *c, const struct p9_tversion *m)
{
	w32(c, m->msize);
	wstr(c, m->version);
}

static void dec_tauth(struct rcur *c, struct p9_tauth *m)
{
	m->afid = r32(c);
	m->uname = rstr(c);
	m->aname = rstr(c);
	m->n_uname = r32(c);
}
static void enc_tauth(struct wcur *c, const struct p9_tauth *m)
{
	w32(c, m->afid);
	wstr(c, m->uname);
	wstr(c, m->aname);
	w32(c, m->n_uname);
}

static void dec_tattach(struct rcur *c, struct p9_tattach *m)
{
	m->fid = r32(c);
	m->afid = r32(c);
	m->uname = rstr(c);
	m->aname = rstr(c);
	m->n_uname = r32(c);
}
static void enc_tattach(struct wcur *c, const struct p9_tattach *m)
{
	w32(c, m->fid);
	w32(c, m->afid);
	wstr(c, m->uname);
	wstr(c, m->aname);
	w32(c, m->n_uname);
}

static void dec_twalk(struct rcur *c, struct p9_twalk *m)
{
	m->fid = r32(c);
	m->newfid = r32(c);
	m->nwname = r16(c);
	if (m->nwname > P9_MAXWELEM) {
		c->bad = true;
		return;
	}
	for (unsigned i = 0; i < m->nwname; i++)
		m->wnames[i] = rstr(c);
}
static void enc_twalk(struct wcur *c, const struct p9_twalk *m)
{
	w32(c, m->fid);
	w32(c, m->newfid);
	w16(c, m->nwname);
	for (unsigned i = 0; i < m->nwname && i < P9_MAXWELEM; i++)
		wstr(c, m->wnames[i]);
}

static void dec_rwalk(struct rcur *c, struct p9_rwalk *m)
{
	m->nwqid = r16(c);
	if (m->nwqid > P9_MAXWELEM) {
		c->bad = true;
		return;
	}
	for (unsigned i = 0; i < m->nwqid; i++)
		m->qids[i] = rqid(c);
}
static void enc_rwalk(struct wcur *c, const struct p9_rwalk *m)
{
	w16(c, m->nwqid);
	for (unsigned i = 0; i < m->nwqid && i < P9_MAXWELEM; i++)
		wqid(c, &m->qids[i]);
}

static void dec_tread(struct rcur *c, struct p9_tread *m)
{
	m->fid = r32(c);
	m->offset = r64(c);
	m->count = r32(c);
}
static void enc_tread(struct wcur *c, const struct p9_tread *m)
{
	w32(c, m->fid);
	w64(c, m->offset);
	w32(c, m->count);
}

static void dec_rdata(struct rcur *c, struct p9_rdata *m)
{
	m->count = r32(c);
	m->data = rtake(c, m->count);
}
static void enc_rdata(struct wcur *c, const struct p9_rdata *m)
{
	w32(c, m->count);
	wbytes(c, m->data, m->count);
}

static void dec_twrite(struct rcur *c, struct p9_twrite *m)
{
	m->fid = r32(c);
	m->offset = r64(c);
	m->count = r32(c);
	m->data = rtake(c, m->count);
}
static void enc_twrite(struct wcur *c, const struct p9_twrite *m)
{
	w32(c, m->fid);
	w64(c, m->offset);
	w32(c, m->count);
	wbytes(c, m->data, m->count);
}

static void dec_statfs(struct rcur *c, struct p9_statfs *m)
{
	m->type = r32(c);
	m->bsize = r32(c);
	m->blocks = r64(c);
	m->bfree = r64(c);
	m->bavail = r64(c);
	m->files = r64(c);
	m->ffree = r64(c);
	m->fsid = r64(c);
	m->namelen = r32(c);
}
static void enc_statfs(struct wcur *c, const struct p9_statfs *m)
{
	w32(c, m->type);
	w32(c, m->bsize);
	w64(c, m->blocks);
	w64(c, m->bfree);
	w64(c, m->bavail);
	w64(c, m->files);
	w64(c, m->ffree);
	w64(c, m->fsid);
	w32(c, m->namelen);
}

static void dec_tlcreate(struct rcur *c, struct p9_tlcreate *m)
{
	m->fid = r32(c);
	m->name = rstr(c);
	m->flags = r32(c);
	m->mode = r32(c);
	m->gid = r32(c);
}
static void enc_tlcreate(struct wcur *c, const struct p9_tlcreate *m)
{
	w32(c, m->fid);
	wstr(c, m->name);
	w32(c, m->flags);
	w32(c, m->mode);
	w32(c, m->gid);
}

static void dec_tsymlink(struct rcur *c, struct p9_tsymlink *m)
{
	m->dfid = r32(c);
	m->name = rstr(c);
	m->symtgt = rstr(c);
	m->gid = r32(c);
}
static void enc_tsymlink(struct wcur *c, const struct p9_tsymlink *m)
{
	w32(c, m->dfid);
	wstr(c, m->name);
	wstr(c, m->symtgt);
	w32(c, m->gid);
}

static void dec_tmknod(struct rcur *c, struct p9_tmknod *m)
{
	m->dfid = r32(c);
	m->name = rstr(c);
	m->mode = r32(c);
	m->major = r32(c);
	m->minor = r32(c);
	m->gid = r32(c);
}
static void enc_tmknod(struct wcur *c, const struct p9_tmknod *m)
{
	w32(c, m->dfid);
	wstr(c, m->name);
	w32(c, m->mode);
	w32(c, m->major);
	w32(c, m->minor);
	w32(c, m->gid);
}

static void dec_trename(struct rcur *c, struct p9_trename *m)
{
	m->fid = r32(c);
	m->dfid = r32(c);
	m->name = rstr(c);
}
static void enc_trename(struct wcur *c, const struct p9_trename *m)
{
	w32(c, m->fid);
	w32(c, m->dfid);
	wstr(c, m->name);
}

static void dec_rgetattr(struct rcur *c, struct p9_attr *m)
{
	m->valid = r64(c);
	m->qid = rqid(c);
	m->mode = r32(c);
	m->uid = r32(c);
	m->gid = r32(c);
	m->nlink = r64(c);
	m->rdev = r64(c);
	m->size = r64(c);
	m->blksize = r64(c);
	m->blocks = r64(c);
	m->atime_sec = r64(c);
	m->atime_nsec = r64(c);
	m->mtime_sec = r64(c);
	m->mtime_nsec = r64(c);
	m->ctime_sec = r64(c);
	m->ctime_nsec = r64(c);
	m->btime_sec = r64(c);
	m->btime_nsec = r64(c);
	m->gen = r64(c);
	m->data_version = r64(c);
}
static void enc_rgetattr(struct wcur *c, const struct p9_attr *m)
{
	w64(c, m->valid);
	wqid(c, &m->qid);
	w32(c, m->mode);
	w32(c, m->uid);
	w32(c, m->gid);
	w64(c, m->nlink);
	w64(c, m->rdev);
	w64(c, m->size);
	w64(c, m->blksize);
	w64(c, m->blocks);
	w64(c, m->atime_sec);
	w64(c, m->atime_nsec);
	w64(c, m->mtime_sec);
	w64(c, m->mtime_nsec);
	w64(c, m->ctime_sec);
	w64(c, m->ctime_nsec);
	w64(c, m->btime_sec);
	w64(c, m->btime_nsec);
	w64(c, m->gen);
	w64(c, m->data_version);
}

static void dec_tsetattr(struct rcur *c, struct p9_tsetattr *m)
{
	m->fid = r32(c);
	m->attr.valid = r32(c);
	m->attr.mode = r32(c);
	m->attr.uid = r32(c);
	m->attr.gid = r32(c);
	m->attr.size = r64(c);
	m->attr.atime_sec = r64(c);
	m->attr.atime_nsec = r64(c);
	m->attr.mtime_sec = r64(c);
	m->attr.mtime_nsec = r64(c);
}
static void enc_tsetattr(struct wcur *c, const struct p9_tsetattr *m)
{
	w32(c, m->fid);
	w32(c, m->attr.valid);
	w32(c, m->attr.mode);
	w32(c, m->attr.uid);
	w32(c, m->attr.gid);
	w64(c, m->attr.size);
	w64(c, m->attr.atime_sec);
	w64(c, m->attr.atime_nsec);
	w64(c, m->attr.mtime_sec);
	w64(c, m->attr.mtime_nsec);
}

static void dec_txattrwalk(struct rcur *c, struct p9_txattrwalk *m)
{
	m->fid = r32(c);
	m->newfid = r32(c);
	m->name = rstr(c);
}
static void enc_txattrwalk(struct wcur *c, const struct p9_txattrwalk *m)
{
	w32(c, m->fid);
	w32(c, m->newfid);
	wstr(c, m->name);
}

static void dec_txattrcreate(struct rcur *c, struct p9_txattrcreate *m)
{
	m->fid = r32(c);
	m->name = rstr(c);
	m->attr_size = r64(c);
	m->flags = r32(c);
}
static void enc_txattrcreate(struct wcur *c, const struct p9_txattrcreate *m)
{
	w32(c, m->fid);
	wstr(c, m->name);
	w64(c, m->attr_size);
	w32(c, m->flags);
}

static void dec_tlock(struct rcur *c, struct p9_tlock *m)
{
	m->fid = r32(c);
	m->type = r8(c);
	m->flags = r32(c);
	m->start = r64(c);
	m->length = r64(c);
	m->proc_id = r32(c);
	m->client_id = rstr(c);
}
static void enc_tlock(struct wcur *c, const struct p9_tlock *m)
{
	w32(c, m->fid);
	w8(c, m->type);
	w32(c, m->flags);
	w64(c, m->start);
	w64(c, m->length);
	w32(c, m->proc_id);
	wstr(c, m->client_id);
}

/* Tgetlock has a fid first; Rgetlock does not. */
static void dec_getlock(struct rcur *c, struct p9_getlock *m, bool tmsg)
{
	m->fid = tmsg ? r32(c) : 0;
	m->type = r8(c);
	m->start = r64(c);
	m->length = r64(c);
	m->proc_id = r32(c);
	m->client_id = rstr(c);
}
static void enc_getlock(struct wcur *c, const struct p9_getlock *m, bool tmsg)
{
	if (tmsg)
		w32(c, m->fid);
	w8(c, m->type);
	w64(c, m->start);
	w64(c, m->length);
	w32(c, m->proc_id);
	wstr(c, m->client_id);
}

static void dec_tlink(struct rcur *c, struct p9_tlink *m)
{
	m->dfid = r32(c);
	m->fid = r32(c);
	m->name = rstr(c);
}
static void enc_tlink(struct wcur *c, const struct p9_tlink *m)
{
	w32(c, m->dfid);
	w32(c, m->fid);
	wstr(c, m->name);
}

static void dec_tmkdir(struct rcur *c, struct p9_tmkdir *m)
{
	m->dfid = r32(c);
	m->name = rstr(c);
	m->mode = r32(c);
	m->gid = r32(c);
}
static void enc_tmkdir(struct wcur *c, const struct p9_tmkdir *m)
{
	w32(c, m->dfid);
	wstr(c, m->name);
	w32(c, m->mode);
	w32(c, m->gid);
}

static void dec_trenameat(struct rcur *c, struct p9_trenameat *m)
{
	m->olddirfid = r32(c);
	m->oldname = rstr(c);
	m->newdirfid = r32(c);
	m->newname = rstr(c);
}
static void enc_trenameat(struct wcur *c, const struct p9_trenameat *m)
{
	w32(c, m->olddirfid);
	wstr(c, m->oldname);
	w32(c, m->newdirfid);
	wstr(c, m->newname);
}

static void dec_tunlinkat(struct rcur *c, struct p9_tunlinkat *m)
{
	m->dirfid = r32(c);
	m->name = rstr(c);
	m->flags = r32(c);
}
static void enc_tunlinkat(struct wcur *c, const struct p9_tunlinkat *m)
{
	w32(c, m->dirfid);
	wstr(c, m->name);
	w32(c, m->flags);
}

/* --- dispatch ------------------------------------------------------------- */
int p9_parse_hdr(const uint8_t *buf, size_t len, uint32_t *size, uint8_t *type, uint16_t *tag)
{
	if (len < P9_HDRSZ)
		return -EPROTO;
	*size = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24;
	*type = buf[4];
	*tag = (uint16_t)(buf[5] | buf[6] << 8);
	return *size < P9_HDRSZ ? -EPROTO : 0;
}

/* Returns false for a type without a body codec. */
static bool dec_body(struct rcur *c, struct p9_msg *m)
{
	switch (m->type) {
	case P9_TVERSION: case P9_RVERSION: dec_version(c, &m->u.version); break;
	case P9_TAUTH: dec_tauth(c, &m->u.tauth); break;
	case P9_TATTACH: dec_tattach(c, &m->u.tattach); break;
	case P9_RAUTH: case P9_RATTACH: case P9_RSYMLINK: case P9_RMKNOD: case P9_RMKDIR:
		m->u.rqid.qid = rqid(c);
		break;
	case P9_RLERROR: m->u.rlerror.ecode = r32(c); break;
	case P9_TFLUSH: m->u.tflush.oldtag = r16(c); break;
	case P9_TWALK: dec_twalk(c, &m->u.twalk); break;
	case P9_RWALK: dec_rwalk(c, &m->u.rwalk); break;
	case P9_TREAD: case P9_TREADDIR: dec_tread(c, &m->u.tread); break;
	case P9_RREAD: case P9_RREADDIR: dec_rdata(c, &m->u.rdata); break;
	case P9_TWRITE: dec_twrite(c, &m->u.twrite); break;
	case P9_RWRITE: m->u.rwrite.count = r32(c); break;
	case P9_TCLUNK: case P9_TREMOVE: case P9_TSTATFS: case P9_TREADLINK:
		m->u.tfid.fid = r32(c);
		break;
	case P9_RSTATFS: dec_statfs(c, &m->u.rstatfs); break;
	case P9_TLOPEN:
		m->u.tlopen.fid = r32(c);
		m->u.tlopen.flags = r32(c);
		break;
	case P9_RLOPEN: case P9_RLCREATE:
		m->u.ropen.qid = rqid(c);
		m->u.ropen.iounit = r32(c);
		break;
	case P9_TLCREATE: dec_tlcreate(c, &m->u.tlcreate); break;
	case P9_TSYMLINK: dec_tsymlink(c, &m->u.tsymlink); break;
	case P9_TMKNOD: dec_tmknod(c, &m->u.tmknod); break;
	case P9_TRENAME: dec_trename(c, &m->u.trename); break;
	case P9_RREADLINK: m->u.rreadlink.target = rstr(c); break;
	case P9_TGETATTR:
		m->u.tgetattr.fid = r32(c);
		m->u.tgetattr.request_mask = r64(c);
		break;
	case P9_RGETATTR: dec_rgetattr(c, &m->u.rgetattr); break;
	case P9_TSETATTR: dec_tsetattr(c, &m->u.tsetattr); break;
	case P9_TXATTRWALK: dec_txattrwalk(c, &m->u.txattrwalk); break;
	case P9_RXATTRWALK: m->u.rxattrwalk.size = r64(c); break;
	case P9_TXATTRCREATE: dec_txattrcreate(c, &m->u.txattrcreate); break;
	case P9_TFSYNC:
		m->u.tfsync.fid = r32(c);
		m->u.tfsync.datasync = r32(c);
		break;
	case P9_TLOCK: dec_tlock(c, &m->u.tlock); break;
	case P9_RLOCK: m->u.rlock.status = r8(c); break;
	case P9_TGETLOCK: dec_getlock(c, &m->u.getlock, true); break;
	case P9_RGETLOCK: dec_getlock(c, &m->u.getlock, false); break;
	case P9_TLINK: dec_tlink(c, &m->u.tlink); break;
	case P9_TMKDIR: dec_tmkdir(c, &m->u.tmkdir); break;
	case P9_TRENAMEAT: dec_trenameat(c, &m->u.trenameat); break;
	case P9_TUNLINKAT: dec_tunlinkat(c, &m->u.tunlinkat); break;
	/* Replies without a body. */
	case P9_RFLUSH: case P9_RCLUNK: case P9_RREMOVE: case P9_RRENAME: case P9_RSETATTR:
	case P9_RXATTRCREATE: case P9_RFSYNC: case P9_RLINK: case P9_RRENAMEAT:
	case P9_RUNLINKAT:
		break;
	default:
		return false;
	}
	return true;
}

int p9_decode(const uint8_t *buf, size_t len, struct p9_msg *m, char *arena, size_t arena_len)
{
	uint32_t size;
	memset(m, 0, sizeof(*m));
	int r = p9_parse_hdr(buf, len, &size, &m->type, &m->tag);
	if (r < 0)
		return r;
	if (size != len)
		return -EPROTO;
	struct rcur c = { .p = buf, .len = len, .pos = P9_HDRSZ, .arena = arena, .alen = arena_len };
	if (!dec_body(&c, m))
		return -EOPNOTSUPP;
	/* Every byte must be accounted for: a trailing byte is as malformed as
	 * a missing one. */
	if (c.bad || c.pos != c.len)
		return -EPROTO;
	return 0;
}

static bool enc_body(struct wcur *c, const struct p9_msg *m)
{
	switch (m->type) {
	case P9_TVERSION: case P9_RVERSION: enc_version(c, &m->u.version); break;
	case P9_TAUTH: enc_tauth(c, &m->u.tauth); break;
	case P9_TATTACH: enc_tattach(c, &m->u.tattach); break;
	case P9_RAUTH: case P9_RATTACH: case P9_RSYMLINK: case P9_RMKNOD: case P9_RMKDIR:
		wqid(c, &m->u.rqid.qid);
		break;
	case P9_RLERROR: w32(c, m->u.rlerror.ecode); break;
	case P9_TFLUSH: w16(c, m->u.tflush.oldtag); break;
	case P9_TWALK:
		if (m->u.twalk.nwname > P9_MAXWELEM)
			return false;
		enc_twalk(c, &m->u.twalk);
		break;
	case P9_RWALK:
		if (m->u.rwalk.nwqid > P9_MAXWELEM)
			return false;
		enc_rwalk(c, &m->u.rwalk);
		break;
	case P9_TREAD: case P9_TREADDIR: enc_tread(c, &m->u.tread); break;
	case P9_RREAD: case P9_RREADDIR: enc_rdata(c, &m->u.rdata); break;
	case P9_TWRITE: enc_twrite(c, &m->u.twrite); break;
	case P9_RWRITE: w32(c, m->u.rwrite.count); break;
	case P9_TCLUNK: case P9_TREMOVE: case P9_TSTATFS: case P9_TREADLINK:
		w32(c, m->u.tfid.fid);
		break;
	case P9_RSTATFS: enc_statfs(c, &m->u.rstatfs); break;
	case P9_TLOPEN:
		w32(c, m->u.tlopen.fid);
		w32(c, m->u.tlopen.flags);
		break;
	case P9_RLOPEN: case P9_RLCREATE:
		wqid(c, &m->u.ropen.qid);
		w32(c, m->u.ropen.iounit);
		break;
	case P9_TLCREATE: enc_tlcreate(c, &m->u.tlcreate); break;
	case P9_TSYMLINK: enc_tsymlink(c, &m->u.tsymlink); break;
	case P9_TMKNOD: enc_tmknod(c, &m->u.tmknod); break;
	case P9_TRENAME: enc_trename(c, &m->u.trename); break;
	case P9_RREADLINK: wstr(c, m->u.rreadlink.target); break;
	case P9_TGETATTR:
		w32(c, m->u.tgetattr.fid);
		w64(c, m->u.tgetattr.request_mask);
		break;
	case P9_RGETATTR: enc_rgetattr(c, &m->u.rgetattr); break;
	case P9_TSETATTR: enc_tsetattr(c, &m->u.tsetattr); break;
	case P9_TXATTRWALK: enc_txattrwalk(c, &m->u.txattrwalk); break;
	case P9_RXATTRWALK: w64(c, m->u.rxattrwalk.size); break;
	case P9_TXATTRCREATE: enc_txattrcreate(c, &m->u.txattrcreate); break;
	case P9_TFSYNC:
		w32(c, m->u.tfsync.fid);
		w32(c, m->u.tfsync.datasync);
		break;
	case P9_TLOCK: enc_tlock(c, &m->u.tlock); break;
	case P9_RLOCK: w8(c, m->u.rlock.status); break;
	case P9_TGETLOCK: enc_getlock(c, &m->u.getlock, true); break;
	case P9_RGETLOCK: enc_getlock(c, &m->u.getlock, false); break;
	case P9_TLINK: enc_tlink(c, &m->u.tlink); break;
	case P9_TMKDIR: enc_tmkdir(c, &m->u.tmkdir); break;
	case P9_TRENAMEAT: enc_trenameat(c, &m->u.trenameat); break;
	case P9_TUNLINKAT: enc_tunlinkat(c, &m->u.tunlinkat); break;
	case P9_RFLUSH: case P9_RCLUNK: case P9_RREMOVE: case P9_RRENAME: case P9_RSETATTR:
	case P9_RXATTRCREATE: case P9_RFSYNC: case P9_RLINK: case P9_RRENAMEAT:
	case P9_RUNLINKAT:
		break;
	default:
		return false;
	}
	return true;
}

ssize_t p9_encode(const struct p9_msg *m, uint8_t *buf, size_t cap)
{
	struct wcur c = { .p = buf, .cap = cap };
	w32(&c, 0); /* size, patched below */
	w8(&c, m->type);
	w16(&c, m->tag);
	if (!enc_body(&c, m))
		return -EINVAL;
	if (c.bad || c.pos > 0xFFFFFFFFu)
		return -EMSGSIZE;
	struct wcur h = { .p = buf, .cap = 4 };
	w32(&h, (uint32_t)c.pos);
	return (ssize_t)c.pos;
}

int p9_put_dirent(uint8_t *buf, size_t cap, size_t *pos, const struct p9_dirent *d)
{
	if (d->namelen > 0xFFFF || *pos > cap || p9_dirent_size(d->namelen) > cap - *pos)
		return -EMSGSIZE;
	struct wcur c = { .p = buf, .cap = cap, .pos = *pos };
	wqid(&c, &d->qid);
	w64(&c, d->offset);
	w8(&c, d->type);
	w16(&c, (uint16_t)d->namelen);
	wbytes(&c, d->name, d->namelen);
	*pos = c.pos;
	return 0;
}

int p9_get_dirent(const uint8_t *buf, size_t len, size_t *pos, struct p9_dirent *d,
		  char *namebuf, size_t namebuf_len)
{
	if (*pos > len)
		return -EPROTO;
	struct rcur c = { .p = buf, .len = len, .pos = *pos, .arena = namebuf, .alen = namebuf_len };
	d->qid = rqid(&c);
	d->offset = r64(&c);
	d->type = r8(&c);
	size_t before = c.pos;
	struct p9_str s = rstr(&c);
	if (c.bad) {
		/* Tell a short entry from a short name buffer. */
		if (before + 2 <= len && before + 2 + (size_t)(buf[before] | buf[before + 1] << 8) <= len)
			return -ENAMETOOLONG;
		return -EPROTO;
	}
	d->name = s.s;
	d->namelen = s.len;
	*pos = c.pos;
	return 0;
}

const char *p9_type_name(uint8_t type)
{
	static const struct { uint8_t t; const char *n; } names[] = {
		{ P9_TLERROR, "Tlerror" }, { P9_RLERROR, "Rlerror" }, { P9_TSTATFS, "Tstatfs" },
		{ P9_RSTATFS, "Rstatfs" }, { P9_TLOPEN, "Tlopen" }, { P9_RLOPEN, "Rlopen" },
		{ P9_TLCREATE, "Tlcreate" }, { P9_RLCREATE, "Rlcreate" }, { P9_TSYMLINK, "Tsymlink" },
		{ P9_RSYMLINK, "Rsymlink" }, { P9_TMKNOD, "Tmknod" }, { P9_RMKNOD, "Rmknod" },
		{ P9_TRENAME, "Trename" }, { P9_RRENAME, "Rrename" }, { P9_TREADLINK, "Treadlink" },
		{ P9_RREADLINK, "Rreadlink" }, { P9_TGETATTR, "Tgetattr" }, { P9_RGETATTR, "Rgetattr" },
		{ P9_TSETATTR, "Tsetattr" }, { P9_RSETATTR, "Rsetattr" }, { P9_TXATTRWALK, "Txattrwalk" },
		{ P9_RXATTRWALK, "Rxattrwalk" }, { P9_TXATTRCREATE, "Txattrcreate" },
		{ P9_RXATTRCREATE, "Rxattrcreate" }, { P9_TREADDIR, "Treaddir" },
		{ P9_RREADDIR, "Rreaddir" }, { P9_TFSYNC, "Tfsync" }, { P9_RFSYNC, "Rfsync" },
		{ P9_TLOCK, "Tlock" }, { P9_RLOCK, "Rlock" }, { P9_TGETLOCK, "Tgetlock" },
		{ P9_RGETLOCK, "Rgetlock" }, { P9_TLINK, "Tlink" }, { P9_RLINK, "Rlink" },
		{ P9_TMKDIR, "Tmkdir" }, { P9_RMKDIR, "Rmkdir" }, { P9_TRENAMEAT, "Trenameat" },
		{ P9_RRENAMEAT, "Rrenameat" }, { P9_TUNLINKAT, "Tunlinkat" },
		{ P9_RUNLINKAT, "Runlinkat" }, { P9_TVERSION, "Tversion" }, { P9_RVERSION, "Rversion" },
		{ P9_TAUTH, "Tauth" }, { P9_RAUTH, "Rauth" }, { P9_TATTACH, "Tattach" },
		{ P9_RATTACH, "Rattach" }, { P9_TFLUSH, "Tflush" }, { P9_RFLUSH, "Rflush" },
		{ P9_TWALK, "Twalk" }, { P9_RWALK, "Rwalk" }, { P9_TREAD, "Tread" },
		{ P9_RREAD, "Rread" }, { P9_TWRITE, "Twrite" }, { P9_RWRITE, "Rwrite" },
		{ P9_TCLUNK, "Tclunk" }, { P9_RCLUNK, "Rclunk" }, { P9_TREMOVE, "Tremove" },
		{ P9_RREMOVE, "Rremove" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].t == type)
			return names[i].n;
	return (type & 1) ? "R?" : "T?";
}
