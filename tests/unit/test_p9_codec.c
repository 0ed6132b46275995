/* 9P2000.L codec: round trip of every message type, known wire bytes, and
 * hostile input (truncated, oversized, trailing, garbage). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "p9/codec.h"
#include "test.h"

static uint8_t buf[1 << 16];
static char arena[1 << 16];

static struct p9_qid Q(uint8_t t, uint64_t p) { return (struct p9_qid){ t, 7, p }; }

/* Encodes m, decodes it back, and re-encodes the result: both encodings
 * must be identical bytes (every field survived). */
static bool roundtrip(const struct p9_msg *m)
{
	ssize_t n = p9_encode(m, buf, sizeof(buf));
	if (!T_CHECK(n >= P9_HDRSZ))
		return false;
	struct p9_msg d;
	if (!T_CHECK_EQ_INT(p9_decode(buf, (size_t)n, &d, arena, sizeof(arena)), 0))
		return false;
	T_CHECK_EQ_INT(d.type, m->type);
	T_CHECK_EQ_INT(d.tag, m->tag);
	static uint8_t again[1 << 16];
	ssize_t n2 = p9_encode(&d, again, sizeof(again));
	T_CHECK_EQ_INT(n2, n);
	bool same = n2 == n && memcmp(buf, again, (size_t)n) == 0;
	T_CHECK(same);
	/* Every strict prefix is malformed (or a bad header). */
	for (ssize_t cut = 0; cut < n; cut++) {
		uint8_t tmp[1 << 12];
		if (cut > (ssize_t)sizeof(tmp))
			break;
		memcpy(tmp, buf, (size_t)cut);
		if (cut >= 4) { /* keep the size field honest so the body is short */
			tmp[0] = (uint8_t)cut;
			tmp[1] = (uint8_t)(cut >> 8);
			tmp[2] = tmp[3] = 0;
		}
		if (p9_decode(tmp, (size_t)cut, &d, arena, sizeof(arena)) == 0 && cut != n) {
			/* Only messages whose tail is a string or data can end
			 * early legitimately: never, since lengths prefix them. */
			T_CHECK(!"prefix decoded");
			return false;
		}
	}
	return same;
}

static void t_roundtrip_all(void)
{
	static const uint8_t data[] = { 1, 2, 3, 4, 5 };
	struct p9_msg m;
	unsigned types = 0;
#define RT(init) do { memset(&m, 0, sizeof(m)); init; roundtrip(&m); types++; } while (0)
	RT((m.type = P9_TVERSION, m.tag = P9_NOTAG, m.u.version.msize = 8192, m.u.version.version = p9_str("9P2000.L")));
	RT((m.type = P9_RVERSION, m.tag = P9_NOTAG, m.u.version.msize = 4096, m.u.version.version = p9_str("unknown")));
	RT((m.type = P9_TAUTH, m.tag = 1, m.u.tauth = (struct p9_tauth){ 5, p9_str("u"), p9_str("a"), 1000 }));
	RT((m.type = P9_RAUTH, m.tag = 1, m.u.rqid.qid = Q(P9_QTAUTH, 9)));
	RT((m.type = P9_TATTACH, m.tag = 2, m.u.tattach = (struct p9_tattach){ 0, P9_NOFID, p9_str("nobody"), p9_str(""), P9_NONUNAME }));
	RT((m.type = P9_RATTACH, m.tag = 2, m.u.rqid.qid = Q(P9_QTDIR, 2)));
	RT((m.type = P9_RLERROR, m.tag = 3, m.u.rlerror.ecode = ENOENT));
	RT((m.type = P9_TFLUSH, m.tag = 4, m.u.tflush.oldtag = 3));
	RT((m.type = P9_RFLUSH, m.tag = 4));
	RT((m.type = P9_TWALK, m.tag = 5, m.u.twalk.fid = 1, m.u.twalk.newfid = 2, m.u.twalk.nwname = 3,
	    m.u.twalk.wnames[0] = p9_str("a"), m.u.twalk.wnames[1] = p9_str(".."), m.u.twalk.wnames[2] = p9_str("ccc")));
	RT((m.type = P9_RWALK, m.tag = 5, m.u.rwalk.nwqid = 2, m.u.rwalk.qids[0] = Q(P9_QTDIR, 3), m.u.rwalk.qids[1] = Q(0, 4)));
	RT((m.type = P9_TREAD, m.tag = 6, m.u.tread = (struct p9_tread){ 1, 1ull << 40, 4096 }));
	RT((m.type = P9_RREAD, m.tag = 6, m.u.rdata = (struct p9_rdata){ sizeof(data), data }));
	RT((m.type = P9_TWRITE, m.tag = 7, m.u.twrite = (struct p9_twrite){ 1, 10, sizeof(data), data }));
	RT((m.type = P9_RWRITE, m.tag = 7, m.u.rwrite.count = 5));
	RT((m.type = P9_TCLUNK, m.tag = 8, m.u.tfid.fid = 9));
	RT((m.type = P9_RCLUNK, m.tag = 8));
	RT((m.type = P9_TREMOVE, m.tag = 8, m.u.tfid.fid = 9));
	RT((m.type = P9_RREMOVE, m.tag = 8));
	RT((m.type = P9_TSTATFS, m.tag = 9, m.u.tfid.fid = 1));
	RT((m.type = P9_RSTATFS, m.tag = 9, m.u.rstatfs = (struct p9_statfs){ 0xEF53, 4096, 1, 2, 3, 4, 5, 6, 255 }));
	RT((m.type = P9_TLOPEN, m.tag = 10, m.u.tlopen = (struct p9_tlopen){ 1, 02304000 }));
	RT((m.type = P9_RLOPEN, m.tag = 10, m.u.ropen = (struct p9_ropen){ Q(0, 5), 0 }));
	RT((m.type = P9_TLCREATE, m.tag = 11, m.u.tlcreate = (struct p9_tlcreate){ 1, p9_str("f"), 0102, 0644, 100 }));
	RT((m.type = P9_RLCREATE, m.tag = 11, m.u.ropen = (struct p9_ropen){ Q(0, 6), 8168 }));
	RT((m.type = P9_TSYMLINK, m.tag = 12, m.u.tsymlink = (struct p9_tsymlink){ 1, p9_str("l"), p9_str("/t"), 5 }));
	RT((m.type = P9_RSYMLINK, m.tag = 12, m.u.rqid.qid = Q(P9_QTSYMLINK, 7)));
	RT((m.type = P9_TMKNOD, m.tag = 13, m.u.tmknod = (struct p9_tmknod){ 1, p9_str("n"), 020644, 1, 3, 5 }));
	RT((m.type = P9_RMKNOD, m.tag = 13, m.u.rqid.qid = Q(0, 8)));
	RT((m.type = P9_TRENAME, m.tag = 14, m.u.trename = (struct p9_trename){ 1, 2, p9_str("x") }));
	RT((m.type = P9_RRENAME, m.tag = 14));
	RT((m.type = P9_TREADLINK, m.tag = 15, m.u.tfid.fid = 3));
	RT((m.type = P9_RREADLINK, m.tag = 15, m.u.rreadlink.target = p9_str("../x")));
	RT((m.type = P9_TGETATTR, m.tag = 16, m.u.tgetattr = (struct p9_tgetattr){ 1, 0x3fff }));
	RT((m.type = P9_RGETATTR, m.tag = 16, m.u.rgetattr = (struct p9_attr){ 0x17ff, Q(0, 9), 0100644, 1, 2, 3, 4, 5,
	    6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17 }));
	RT((m.type = P9_TSETATTR, m.tag = 17, m.u.tsetattr = (struct p9_tsetattr){ 1, { 0x1ff, 0755, 1, 2, 3, 4, 5, 6, 7 } }));
	RT((m.type = P9_RSETATTR, m.tag = 17));
	RT((m.type = P9_TXATTRWALK, m.tag = 18, m.u.txattrwalk = (struct p9_txattrwalk){ 1, 2, p9_str("user.x") }));
	RT((m.type = P9_RXATTRWALK, m.tag = 18, m.u.rxattrwalk.size = 77));
	RT((m.type = P9_TXATTRCREATE, m.tag = 19, m.u.txattrcreate = (struct p9_txattrcreate){ 2, p9_str("user.y"), 10, 1 }));
	RT((m.type = P9_RXATTRCREATE, m.tag = 19));
	RT((m.type = P9_TREADDIR, m.tag = 20, m.u.tread = (struct p9_tread){ 1, 99, 8192 }));
	RT((m.type = P9_RREADDIR, m.tag = 20, m.u.rdata = (struct p9_rdata){ sizeof(data), data }));
	RT((m.type = P9_TFSYNC, m.tag = 21, m.u.tfsync = (struct p9_tfsync){ 1, 1 }));
	RT((m.type = P9_RFSYNC, m.tag = 21));
	RT((m.type = P9_TLOCK, m.tag = 22, m.u.tlock = (struct p9_tlock){ 1, 1, 1, 10, 0, 42, p9_str("host") }));
	RT((m.type = P9_RLOCK, m.tag = 22, m.u.rlock.status = 1));
	RT((m.type = P9_TGETLOCK, m.tag = 23, m.u.getlock = (struct p9_getlock){ 1, 2, 0, 0, 42, p9_str("host") }));
	RT((m.type = P9_RGETLOCK, m.tag = 23, m.u.getlock = (struct p9_getlock){ 0, 1, 5, 6, 43, p9_str("other") }));
	RT((m.type = P9_TLINK, m.tag = 24, m.u.tlink = (struct p9_tlink){ 1, 2, p9_str("hl") }));
	RT((m.type = P9_RLINK, m.tag = 24));
	RT((m.type = P9_TMKDIR, m.tag = 25, m.u.tmkdir = (struct p9_tmkdir){ 1, p9_str("d"), 040755, 5 }));
	RT((m.type = P9_RMKDIR, m.tag = 25, m.u.rqid.qid = Q(P9_QTDIR, 10)));
	RT((m.type = P9_TRENAMEAT, m.tag = 26, m.u.trenameat = (struct p9_trenameat){ 1, p9_str("a"), 2, p9_str("b") }));
	RT((m.type = P9_RRENAMEAT, m.tag = 26));
	RT((m.type = P9_TUNLINKAT, m.tag = 27, m.u.tunlinkat = (struct p9_tunlinkat){ 1, p9_str("a"), 0x200 }));
	RT((m.type = P9_RUNLINKAT, m.tag = 27));
#undef RT
	T_CHECK_EQ_INT(types, 57); /* 28 T + 28 R + Rlerror */
}

/* Known bytes: catches symmetric mistakes a round trip cannot. */
static void t_wire_bytes(void)
{
	struct p9_msg m = { .type = P9_TVERSION, .tag = P9_NOTAG };
	m.u.version.msize = 0x2000;
	m.u.version.version = p9_str("9P2000.L");
	static const uint8_t want[] = { 21, 0, 0, 0, 100, 0xFF, 0xFF, 0x00, 0x20, 0, 0, 8, 0,
					'9', 'P', '2', '0', '0', '0', '.', 'L' };
	T_CHECK_EQ_INT(p9_encode(&m, buf, sizeof(buf)), sizeof(want));
	T_CHECK(memcmp(buf, want, sizeof(want)) == 0);
	/* Rlerror ENOENT. */
	static const uint8_t err[] = { 11, 0, 0, 0, 7, 1, 0, 2, 0, 0, 0 };
	struct p9_msg d;
	T_CHECK_EQ_INT(p9_decode(err, sizeof(err), &d, arena, sizeof(arena)), 0);
	T_CHECK_EQ_INT(d.type, P9_RLERROR);
	T_CHECK_EQ_INT(d.u.rlerror.ecode, ENOENT);
	/* Decoded strings are NUL-terminated copies. */
	static const uint8_t walk[] = { 20, 0, 0, 0, 110, 3, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 3, 0, 'a', 'b', 'c' };
	uint8_t w2[sizeof(walk)];
	memcpy(w2, walk, sizeof(w2));
	w2[0] = sizeof(walk);
	T_CHECK_EQ_INT(p9_decode(w2, sizeof(w2), &d, arena, sizeof(arena)), 0);
	T_CHECK_EQ_INT(d.u.twalk.nwname, 1);
	T_CHECK_EQ_STR(d.u.twalk.wnames[0].s, "abc");
}

static void t_hostile(void)
{
	struct p9_msg d;
	uint8_t m[64] = { 0 };
	/* size below the header, size != buffer length */
	m[0] = 6;
	T_CHECK_EQ_INT(p9_decode(m, 7, &d, arena, sizeof(arena)), -EPROTO);
	m[0] = 9;
	m[4] = P9_TCLUNK;
	T_CHECK_EQ_INT(p9_decode(m, 11, &d, arena, sizeof(arena)), -EPROTO);
	/* trailing byte after a whole Tclunk */
	m[0] = 12;
	T_CHECK_EQ_INT(p9_decode(m, 12, &d, arena, sizeof(arena)), -EPROTO);
	m[0] = 11;
	T_CHECK_EQ_INT(p9_decode(m, 11, &d, arena, sizeof(arena)), 0);
	/* nwname 17 */
	uint8_t w[] = { 17, 0, 0, 0, P9_TWALK, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 17, 0 };
	T_CHECK_EQ_INT(p9_decode(w, sizeof(w), &d, arena, sizeof(arena)), -EPROTO);
	/* string length beyond the message */
	uint8_t s[] = { 15, 0, 0, 0, P9_TVERSION, 0xFF, 0xFF, 0, 0x20, 0, 0, 200, 0, 'x', 'y' };
	T_CHECK_EQ_INT(p9_decode(s, sizeof(s), &d, arena, sizeof(arena)), -EPROTO);
	/* Twrite count larger than the data present */
	uint8_t tw[] = { 25, 0, 0, 0, P9_TWRITE, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 'a', 'b' };
	T_CHECK_EQ_INT(p9_decode(tw, sizeof(tw), &d, arena, sizeof(arena)), -EPROTO);
	/* Rread with count 0xFFFFFFFF */
	uint8_t rr[] = { 11, 0, 0, 0, P9_RREAD, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF };
	T_CHECK_EQ_INT(p9_decode(rr, sizeof(rr), &d, arena, sizeof(arena)), -EPROTO);
	/* unknown and legacy types: EOPNOTSUPP with the tag kept */
	uint8_t u[] = { 7, 0, 0, 0, 200, 0x34, 0x12 };
	T_CHECK_EQ_INT(p9_decode(u, sizeof(u), &d, arena, sizeof(arena)), -EOPNOTSUPP);
	T_CHECK_EQ_INT(d.tag, 0x1234);
	u[4] = P9_TSTAT;
	T_CHECK_EQ_INT(p9_decode(u, sizeof(u), &d, arena, sizeof(arena)), -EOPNOTSUPP);
	/* an arena too small fails closed instead of overrunning */
	T_CHECK_EQ_INT(p9_decode(s, sizeof(s), &d, arena, 1), -EPROTO);
	/* encoders refuse what does not fit or cannot be said */
	struct p9_msg e = { .type = P9_TWALK };
	e.u.twalk.nwname = 17;
	T_CHECK_EQ_INT(p9_encode(&e, buf, sizeof(buf)), -EINVAL);
	e = (struct p9_msg){ .type = P9_TVERSION };
	e.u.version.version = p9_str("9P2000.L");
	T_CHECK_EQ_INT(p9_encode(&e, buf, 12), -EMSGSIZE);
	e.type = 99;
	T_CHECK_EQ_INT(p9_encode(&e, buf, sizeof(buf)), -EINVAL);
}

/* Random garbage never crashes and never yields a message that re-encodes
 * differently. */
static void t_garbage(void)
{
	unsigned seed = 12345, ok = 0;
	uint8_t g[256];
	for (int i = 0; i < 200000; i++) {
		size_t len = 7 + (size_t)(rand_r(&seed) % 120);
		for (size_t k = 0; k < len; k++)
			g[k] = (uint8_t)rand_r(&seed);
		g[0] = (uint8_t)len;
		g[1] = g[2] = g[3] = 0;
		if (i & 1)
			g[4] = (uint8_t)(6 + (rand_r(&seed) % 122)); /* mostly real types */
		struct p9_msg d;
		if (p9_decode(g, len, &d, arena, sizeof(arena)) != 0)
			continue;
		ok++;
		ssize_t n = p9_encode(&d, buf, sizeof(buf));
		if (!T_CHECK_EQ_INT(n, len) || !T_CHECK(memcmp(buf, g, len) == 0))
			return;
	}
	T_CHECK(ok > 0); /* some garbage happens to be well-formed */
}

static void t_dirents(void)
{
	uint8_t d[100];
	size_t pos = 0;
	struct p9_dirent e = { Q(P9_QTDIR, 5), 77, 4, "sub", 3 };
	T_CHECK_EQ_INT(p9_put_dirent(d, sizeof(d), &pos, &e), 0);
	T_CHECK_EQ_INT(pos, 27);
	e.name = "x";
	e.namelen = 1;
	T_CHECK_EQ_INT(p9_put_dirent(d, sizeof(d), &pos, &e), 0);
	size_t full = pos;
	T_CHECK_EQ_INT(p9_put_dirent(d, full + 10, &pos, &e), -EMSGSIZE);
	T_CHECK_EQ_INT(pos, full); /* nothing written */
	char name[8];
	struct p9_dirent g;
	pos = 0;
	T_CHECK_EQ_INT(p9_get_dirent(d, full, &pos, &g, name, sizeof(name)), 0);
	T_CHECK_EQ_STR(g.name, "sub");
	T_CHECK_EQ_INT(g.offset, 77);
	T_CHECK_EQ_INT(g.qid.path, 5);
	T_CHECK_EQ_INT(p9_get_dirent(d, full, &pos, &g, name, sizeof(name)), 0);
	T_CHECK_EQ_STR(g.name, "x");
	T_CHECK_EQ_INT(pos, full);
	pos = 0;
	T_CHECK_EQ_INT(p9_get_dirent(d, 26, &pos, &g, name, sizeof(name)), -EPROTO);
	pos = 0;
	T_CHECK_EQ_INT(p9_get_dirent(d, full, &pos, &g, name, 3), -ENAMETOOLONG);
}

int main(void)
{
	T_RUN(t_roundtrip_all);
	T_RUN(t_wire_bytes);
	T_RUN(t_hostile);
	T_RUN(t_garbage);
	T_RUN(t_dirents);
	return t_done();
}
