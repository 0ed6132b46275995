/* 9P2000.L server core: connections, tags, fids, workers.
 *
 * Serves one export (struct p9_export, see fs.h) on any number of connected
 * stream fds: the same code serves unix, TCP and vsock (the vsock device
 * hands out socketpair ends). Socket I/O, framing, decoding, Tversion and
 * Tflush run on the caller's event loop (src/util/evloop.h). Requests that
 * cannot wait long (walk, getattr, clunk, statfs, readdir, xattrs, creates,
 * non-blocking locks, reads and writes up to P9_INLINE_IO_MAX on fids not
 * opened SYNC/DSYNC/DIRECT) run there too and are answered in the same loop
 * round: a worker hand-off costs two context switches. The rest (blocking
 * Tlock, Tfsync, truncation, large or synchronous I/O) run on a worker pool,
 * so one blocked request never stalls the others; their replies come back
 * to the loop through an eventfd. Replies leave in completion order, a
 * flushed request's reply (if any) always before its Rflush, nothing on a
 * tag after its Rflush.
 *
 * Protocol checks (fids, msize, counts, names, read-only exports, open-flag
 * translation, xattr fid states) happen here, before any backend call.
 * Malformed framing (size < 7 or > msize), a duplicate tag or a read error
 * closes that connection; a malformed body gets Rlerror(EPROTO); unknown
 * types Rlerror(EOPNOTSUPP). Tauth gets Rlerror(EOPNOTSUPP) (no
 * authentication; Linux never sends it), Tattach with an afid other than
 * NOFID Rlerror(EPERM).
 *
 * Ownership: the server owns its connections (and their fds, once added),
 * fids and the backend node handles it obtained; it never frees the export's
 * backend. Threads: every function must be called from the loop's thread
 * (or while the loop is not running). */
#ifndef LCVM_P9_SERVER_H
#define LCVM_P9_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "p9/fs.h"
#include "util/evloop.h"

#define P9_DEFAULT_WORKERS   4
#define P9_DEFAULT_MAX_FIDS  8192   /* per connection */
#define P9_DEFAULT_INFLIGHT  64     /* requests read ahead per connection */
#define P9_DEFAULT_LOCK_WAIT 1000   /* ms a blocking Tlock waits before BLOCKED */
#define P9_MAX_WORKERS       64
#define P9_IOUNIT_ALIGN      4096   /* file iounit granularity (O_DIRECT) */
#define P9_INLINE_IO_MAX     (128u * 1024) /* Tread/Twrite run on the loop up to this */

struct p9_server;

struct p9_server_opts {
	uint32_t max_msize;     /* 0: P9_MSIZE_MAX; clamped to [P9_MSIZE_MIN, P9_MSIZE_MAX] */
	unsigned nworkers;      /* 0: P9_DEFAULT_WORKERS; capped at P9_MAX_WORKERS */
	bool inline_requests;   /* no threads: run each request on the loop (fuzzing) */
	bool pool_only;         /* every request but Tversion/Tflush on the workers
				 * (also set by LCVM_P9_INLINE=0; measurement) */
	unsigned max_fids;      /* 0: default */
	unsigned max_inflight;  /* 0: default; reading pauses while reached */
	long lock_wait_ms;      /* 0: default; < 0: never wait (BLOCKED at once) */
	/* Called on the loop thread after a connection is gone. */
	void (*on_conn_closed)(void *arg);
	void *arg;
};

/* The export is copied; its backend must outlive the server. opts may be
 * NULL. Returns 0 or -errno. */
int p9_server_new(struct ev_loop *loop, const struct p9_export *exp,
		  const struct p9_server_opts *opts, struct p9_server **out);
/* Serves a connected stream fd; the server owns it from now on (closed on
 * error too). Returns 0 or -errno. */
int p9_server_add_conn(struct p9_server *s, int fd);
/* Connections currently open. */
unsigned p9_server_nconns(const struct p9_server *s);
/* Cancels everything, waits for the workers, releases every node, closes
 * every connection. */
void p9_server_free(struct p9_server *s);

/* Translates Tlopen/Tlcreate L-flags to host O_* flags (bit by bit; only
 * what a backend should honour). Returns -EINVAL for NOACCESS. */
int p9_open_flags(uint32_t lflags);

#endif
