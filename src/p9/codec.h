/* 9P2000.L codec: bytes <-> structs, no I/O, no allocation.
 *
 * Every message of 9P2000.L (T and R) has a struct in union p9_msg.u and a
 * typed encoder/decoder pair in codec.c; p9_encode()/p9_decode() dispatch on
 * the type. Reads and writes go through a bounded cursor whose overflow flag
 * stays set until checked once at the end of the message (diod's np.c).
 *
 * Ownership: a decoded message points INTO its inputs: Twrite/Rread/Rreaddir
 * data into the message buffer, strings into the caller's arena, where each
 * is copied and NUL-terminated (an arena as large as the message always
 * suffices: every string costs len+1 arena bytes and len+2 message bytes).
 * Both must outlive the struct. Encoders copy everything they are given. */
#ifndef LCVM_P9_CODEC_H
#define LCVM_P9_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p9/fs.h"

#define P9_HDRSZ       7            /* size[4] type[1] tag[2] */
#define P9_NOTAG       0xFFFFu
#define P9_NOFID       0xFFFFFFFFu
#define P9_NONUNAME    0xFFFFFFFFu
#define P9_MAXWELEM    16
#define P9_IOHDRSZ     24           /* client caps Tread/Twrite at msize - 24 */
#define P9_RDATA_HDRSZ 11           /* Rread/Rreaddir: header + count[4] */
#define P9_QIDSZ       13
#define P9_DIRENT_HDRSZ 24          /* qid[13] offset[8] type[1] namelen[2] */
#define P9_MSIZE_MIN   4096
#define P9_MSIZE_MAX   1048576      /* Linux MAX_SOCK_BUF */
#define P9_VERSION_L   "9P2000.L"

enum p9_type {
	P9_TLERROR = 6, P9_RLERROR,
	P9_TSTATFS = 8, P9_RSTATFS,
	P9_TLOPEN = 12, P9_RLOPEN,
	P9_TLCREATE = 14, P9_RLCREATE,
	P9_TSYMLINK = 16, P9_RSYMLINK,
	P9_TMKNOD = 18, P9_RMKNOD,
	P9_TRENAME = 20, P9_RRENAME,
	P9_TREADLINK = 22, P9_RREADLINK,
	P9_TGETATTR = 24, P9_RGETATTR,
	P9_TSETATTR = 26, P9_RSETATTR,
	P9_TXATTRWALK = 30, P9_RXATTRWALK,
	P9_TXATTRCREATE = 32, P9_RXATTRCREATE,
	P9_TREADDIR = 40, P9_RREADDIR,
	P9_TFSYNC = 50, P9_RFSYNC,
	P9_TLOCK = 52, P9_RLOCK,
	P9_TGETLOCK = 54, P9_RGETLOCK,
	P9_TLINK = 70, P9_RLINK,
	P9_TMKDIR = 72, P9_RMKDIR,
	P9_TRENAMEAT = 74, P9_RRENAMEAT,
	P9_TUNLINKAT = 76, P9_RUNLINKAT,
	P9_TVERSION = 100, P9_RVERSION,
	P9_TAUTH = 102, P9_RAUTH,
	P9_TATTACH = 104, P9_RATTACH,
	P9_TERROR = 106, P9_RERROR,
	P9_TFLUSH = 108, P9_RFLUSH,
	P9_TWALK = 110, P9_RWALK,
	P9_TOPEN = 112, P9_ROPEN,
	P9_TCREATE = 114, P9_RCREATE,
	P9_TREAD = 116, P9_RREAD,
	P9_TWRITE = 118, P9_RWRITE,
	P9_TCLUNK = 120, P9_RCLUNK,
	P9_TREMOVE = 122, P9_RREMOVE,
	P9_TSTAT = 124, P9_RSTAT,
	P9_TWSTAT = 126, P9_RWSTAT,
};

/* Tlopen / Tlcreate flags (P9_DOTL_*), octal as on the wire. */
#define P9_DOTL_RDONLY    00000000
#define P9_DOTL_WRONLY    00000001
#define P9_DOTL_RDWR      00000002
#define P9_DOTL_NOACCESS  00000003
#define P9_DOTL_CREATE    00000100
#define P9_DOTL_EXCL      00000200
#define P9_DOTL_NOCTTY    00000400
#define P9_DOTL_TRUNC     00001000
#define P9_DOTL_APPEND    00002000
#define P9_DOTL_NONBLOCK  00004000
#define P9_DOTL_DSYNC     00010000
#define P9_DOTL_FASYNC    00020000
#define P9_DOTL_DIRECT    00040000
#define P9_DOTL_LARGEFILE 00100000
#define P9_DOTL_DIRECTORY 00200000
#define P9_DOTL_NOFOLLOW  00400000
#define P9_DOTL_NOATIME   01000000
#define P9_DOTL_CLOEXEC   02000000
#define P9_DOTL_SYNC      04000000
#define P9_DOTL_AT_REMOVEDIR 0x200

/* A length-counted string. Decoded: s is NUL-terminated in the arena (it may
 * contain NULs before len: callers that need a name check memchr). Encoded:
 * len bytes of s are written. */
struct p9_str {
	const char *s;
	uint16_t len;
};
/* Convenience for encoders: a p9_str over a C string (len capped at 65535). */
struct p9_str p9_str(const char *s);

struct p9_tversion { uint32_t msize; struct p9_str version; };  /* also Rversion */
struct p9_tauth { uint32_t afid; struct p9_str uname, aname; uint32_t n_uname; };
struct p9_tattach { uint32_t fid, afid; struct p9_str uname, aname; uint32_t n_uname; };
struct p9_rqid { struct p9_qid qid; };   /* Rauth Rattach Rsymlink Rmknod Rmkdir */
struct p9_rlerror { uint32_t ecode; };
struct p9_tflush { uint16_t oldtag; };
struct p9_twalk { uint32_t fid, newfid; uint16_t nwname; struct p9_str wnames[P9_MAXWELEM]; };
struct p9_rwalk { uint16_t nwqid; struct p9_qid qids[P9_MAXWELEM]; };
struct p9_tread { uint32_t fid; uint64_t offset; uint32_t count; };  /* also Treaddir */
struct p9_rdata { uint32_t count; const uint8_t *data; };           /* Rread Rreaddir */
struct p9_twrite { uint32_t fid; uint64_t offset; uint32_t count; const uint8_t *data; };
struct p9_rwrite { uint32_t count; };
struct p9_tfid { uint32_t fid; };        /* Tclunk Tremove Tstatfs Treadlink */
struct p9_tlopen { uint32_t fid, flags; };
struct p9_ropen { struct p9_qid qid; uint32_t iounit; };  /* Rlopen Rlcreate */
struct p9_tlcreate { uint32_t fid; struct p9_str name; uint32_t flags, mode, gid; };
struct p9_tsymlink { uint32_t dfid; struct p9_str name, symtgt; uint32_t gid; };
struct p9_tmknod { uint32_t dfid; struct p9_str name; uint32_t mode, major, minor, gid; };
struct p9_trename { uint32_t fid, dfid; struct p9_str name; };
struct p9_rreadlink { struct p9_str target; };
struct p9_tgetattr { uint32_t fid; uint64_t request_mask; };
struct p9_tsetattr { uint32_t fid; struct p9_iattr attr; };
struct p9_txattrwalk { uint32_t fid, newfid; struct p9_str name; };
struct p9_rxattrwalk { uint64_t size; };
struct p9_txattrcreate { uint32_t fid; struct p9_str name; uint64_t attr_size; uint32_t flags; };
struct p9_tfsync { uint32_t fid, datasync; };
struct p9_tlock {
	uint32_t fid; uint8_t type; uint32_t flags; uint64_t start, length;
	uint32_t proc_id; struct p9_str client_id;
};
struct p9_rlock { uint8_t status; };
struct p9_getlock {  /* Tgetlock (with fid) and Rgetlock (fid unused) */
	uint32_t fid; uint8_t type; uint64_t start, length;
	uint32_t proc_id; struct p9_str client_id;
};
struct p9_tlink { uint32_t dfid, fid; struct p9_str name; };
struct p9_tmkdir { uint32_t dfid; struct p9_str name; uint32_t mode, gid; };
struct p9_trenameat { uint32_t olddirfid; struct p9_str oldname; uint32_t newdirfid; struct p9_str newname; };
struct p9_tunlinkat { uint32_t dirfid; struct p9_str name; uint32_t flags; };

struct p9_msg {
	uint8_t type;    /* enum p9_type */
	uint16_t tag;
	union {
		struct p9_tversion version;     /* Tversion, Rversion */
		struct p9_tauth tauth;
		struct p9_tattach tattach;
		struct p9_rqid rqid;
		struct p9_rlerror rlerror;
		struct p9_tflush tflush;
		struct p9_twalk twalk;
		struct p9_rwalk rwalk;
		struct p9_tread tread;          /* Tread, Treaddir */
		struct p9_rdata rdata;          /* Rread, Rreaddir */
		struct p9_twrite twrite;
		struct p9_rwrite rwrite;
		struct p9_tfid tfid;            /* Tclunk Tremove Tstatfs Treadlink */
		struct p9_statfs rstatfs;
		struct p9_tlopen tlopen;
		struct p9_ropen ropen;          /* Rlopen, Rlcreate */
		struct p9_tlcreate tlcreate;
		struct p9_tsymlink tsymlink;
		struct p9_tmknod tmknod;
		struct p9_trename trename;
		struct p9_rreadlink rreadlink;
		struct p9_tgetattr tgetattr;
		struct p9_attr rgetattr;
		struct p9_tsetattr tsetattr;
		struct p9_txattrwalk txattrwalk;
		struct p9_rxattrwalk rxattrwalk;
		struct p9_txattrcreate txattrcreate;
		struct p9_tfsync tfsync;
		struct p9_tlock tlock;
		struct p9_rlock rlock;
		struct p9_getlock getlock;      /* Tgetlock, Rgetlock */
		struct p9_tlink tlink;
		struct p9_tmkdir tmkdir;
		struct p9_trenameat trenameat;
		struct p9_tunlinkat tunlinkat;
	} u;
};

/* Parses the 7-byte header. Returns 0, or -EPROTO when size < 7. */
int p9_parse_hdr(const uint8_t *buf, size_t len, uint32_t *size, uint8_t *type, uint16_t *tag);

/* Decodes one whole message (buf[0..len) including the header; len must
 * equal the size field). Returns 0, -EOPNOTSUPP for a type this codec does
 * not know (legacy 9P2000 types, Rerror, odd garbage: m->type and m->tag
 * are still set), or -EPROTO for a malformed body (short, trailing bytes,
 * nwname > 16, a count that disagrees with the bytes present). arena must be
 * at least len bytes. */
int p9_decode(const uint8_t *buf, size_t len, struct p9_msg *m, char *arena, size_t arena_len);

/* Encodes m into buf (cap bytes). Returns the message size, or -EMSGSIZE
 * when it does not fit, -EINVAL for an unknown type or nwname/nwqid > 16.
 * Data of Rread/Rreaddir/Twrite may already sit at its final place
 * (buf + 11, resp. buf + 23): it is then not copied. */
ssize_t p9_encode(const struct p9_msg *m, uint8_t *buf, size_t cap);

/* Bytes one directory entry takes in Rreaddir data. */
static inline size_t p9_dirent_size(size_t namelen) { return P9_DIRENT_HDRSZ + namelen; }
/* Appends one Rreaddir entry at buf[*pos]; returns 0 or -EMSGSIZE (nothing
 * written) when it does not fit in cap. namelen <= 65535. */
int p9_put_dirent(uint8_t *buf, size_t cap, size_t *pos, const struct p9_dirent *d);
/* Reads one entry from Rreaddir data at *pos; the name is copied to
 * namebuf and NUL-terminated (d->name points there). Returns 0, -EPROTO for
 * a truncated entry, -ENAMETOOLONG when namebuf is too small. */
int p9_get_dirent(const uint8_t *buf, size_t len, size_t *pos, struct p9_dirent *d,
		  char *namebuf, size_t namebuf_len);

/* Name of a message type for logs ("Twalk"), "T?" for unknown ones. */
const char *p9_type_name(uint8_t type);

#endif
