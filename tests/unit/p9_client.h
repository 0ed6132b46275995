/* A minimal blocking 9P2000.L test client. It has its OWN little-endian
 * encoder/decoder (not src/p9/codec.c) so server tests do not check the
 * codec against itself. Linked into every unit test binary: p9c_ prefix.
 *
 * Raw layer: p9c_begin, p9c_put..., p9c_send build and send any message (also
 * malformed ones); p9c_recv reads one reply; p9c_get... read its body.
 * Call layer: one request with tag P9C_TAG, waits for its reply; returns 0,
 * -ecode for Rlerror, -EPROTO for anything unexpected, -EPIPE on EOF. */
#ifndef LCVM_TEST_P9_CLIENT_H
#define LCVM_TEST_P9_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define P9C_TAG 1
#define P9C_MAXMSG (1u << 20)

struct p9c_qid {
	uint8_t type;
	uint32_t version;
	uint64_t path;
};

struct p9c {
	int fd;
	uint32_t msize;
	uint8_t *out;
	size_t olen;
	uint8_t *in;
	/* last reply */
	uint8_t rtype;
	uint16_t rtag;
	size_t rlen, rpos;
	bool rbad;
};

int p9c_init(struct p9c *c, int fd);   /* does not own fd */
void p9c_free(struct p9c *c);

void p9c_begin(struct p9c *c, uint8_t type, uint16_t tag);
void p9c_put8(struct p9c *c, uint8_t v);
void p9c_put16(struct p9c *c, uint16_t v);
void p9c_put32(struct p9c *c, uint32_t v);
void p9c_put64(struct p9c *c, uint64_t v);
void p9c_putstr(struct p9c *c, const char *s);
void p9c_putbytes(struct p9c *c, const void *p, size_t n);
int p9c_send(struct p9c *c);                       /* patches size[4] */
int p9c_send_raw(struct p9c *c, const void *p, size_t n);
int p9c_recv(struct p9c *c);                       /* 0, -EPIPE, -EPROTO */
uint8_t p9c_get8(struct p9c *c);
uint16_t p9c_get16(struct p9c *c);
uint32_t p9c_get32(struct p9c *c);
uint64_t p9c_get64(struct p9c *c);
struct p9c_qid p9c_getqid(struct p9c *c);
/* Copies a string reply field (NUL-terminated, truncated to cap-1). */
size_t p9c_getstr(struct p9c *c, char *out, size_t cap);
const uint8_t *p9c_getbytes(struct p9c *c, size_t n);

/* After p9c_recv: 0 when the reply has type want, -ecode for Rlerror. */
int p9c_check(struct p9c *c, uint8_t want);

int p9c_version(struct p9c *c, uint32_t msize, const char *version, uint32_t *msize_out,
		char *ver_out, size_t ver_cap);
int p9c_attach(struct p9c *c, uint32_t fid, const char *uname, uint32_t n_uname, struct p9c_qid *qid);
/* Returns the number of qids in Rwalk (>= 0) or -ecode. */
int p9c_walk(struct p9c *c, uint32_t fid, uint32_t newfid, unsigned n, const char *const *names,
	     struct p9c_qid *qids);
int p9c_lopen(struct p9c *c, uint32_t fid, uint32_t flags, struct p9c_qid *qid);
int p9c_lcreate(struct p9c *c, uint32_t fid, const char *name, uint32_t flags, uint32_t mode,
		uint32_t gid, struct p9c_qid *qid);
ssize_t p9c_read(struct p9c *c, uint32_t fid, uint64_t off, void *buf, uint32_t count);
ssize_t p9c_write(struct p9c *c, uint32_t fid, uint64_t off, const void *buf, uint32_t count);
int p9c_clunk(struct p9c *c, uint32_t fid);
/* Raw Rreaddir data into buf; returns its byte count. */
ssize_t p9c_readdir(struct p9c *c, uint32_t fid, uint64_t off, uint32_t count, uint8_t *buf);
/* Parses one entry of Rreaddir data; returns bytes used or -EPROTO. */
ssize_t p9c_dirent(const uint8_t *p, size_t len, struct p9c_qid *qid, uint64_t *off, uint8_t *type,
		   char *name, size_t name_cap);

struct p9c_attr {
	uint64_t valid;
	struct p9c_qid qid;
	uint32_t mode, uid, gid;
	uint64_t nlink, rdev, size;
	uint64_t mtime_sec, mtime_nsec;
};
int p9c_getattr(struct p9c *c, uint32_t fid, uint64_t mask, struct p9c_attr *a);
int p9c_setattr_size(struct p9c *c, uint32_t fid, uint64_t size);
int p9c_setattr_mode(struct p9c *c, uint32_t fid, uint32_t mode);
int p9c_mkdir(struct p9c *c, uint32_t dfid, const char *name, uint32_t mode, uint32_t gid,
	      struct p9c_qid *qid);
int p9c_mknod(struct p9c *c, uint32_t dfid, const char *name, uint32_t mode, uint32_t major,
	      uint32_t minor, uint32_t gid, struct p9c_qid *qid);
int p9c_symlink(struct p9c *c, uint32_t dfid, const char *name, const char *target, uint32_t gid,
		struct p9c_qid *qid);
int p9c_readlink(struct p9c *c, uint32_t fid, char *out, size_t cap);
int p9c_link(struct p9c *c, uint32_t dfid, uint32_t fid, const char *name);
int p9c_unlinkat(struct p9c *c, uint32_t dfid, const char *name, uint32_t flags);
int p9c_renameat(struct p9c *c, uint32_t odfid, const char *oname, uint32_t ndfid, const char *nname);
int p9c_xattrwalk(struct p9c *c, uint32_t fid, uint32_t newfid, const char *name, uint64_t *size);
int p9c_xattrcreate(struct p9c *c, uint32_t fid, const char *name, uint64_t size, uint32_t flags);
/* Sends a Tlock with tag without waiting (pipelining tests). */
int p9c_send_lock(struct p9c *c, uint16_t tag, uint32_t fid, uint8_t type, uint32_t flags,
		  uint64_t start, uint64_t len);
int p9c_lock(struct p9c *c, uint32_t fid, uint8_t type, uint32_t flags, uint64_t start, uint64_t len,
	     uint8_t *status);
int p9c_getlock(struct p9c *c, uint32_t fid, uint8_t *type, uint64_t *start, uint64_t *len);
int p9c_statfs(struct p9c *c, uint32_t fid, uint32_t *type, uint32_t *namelen);
int p9c_fsync(struct p9c *c, uint32_t fid);

#endif
