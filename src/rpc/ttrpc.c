/* ttrpc client and server over a non-blocking stream fd (see ttrpc.h).
 *
 * Checked against containerd/ttrpc (channel.go, client.go, server.go,
 * request.pb.go / request.proto):
 *   - header: 10 bytes, length u32 BE (payload only), stream id u32 BE,
 *     type u8 (1 request, 2 response, 3 data), flags u8; messageLengthMax is
 *     4 << 20 and applies to the payload.
 *   - client: stream ids start at 1 and grow by 2; a unary request has flags
 *     0; the deadline goes into Request.timeout_nano (nanoseconds left).
 *   - Request{service=1, method=2, payload=3 bytes, timeout_nano=4,
 *     metadata=5}, Response{status=1 google.rpc.Status, payload=2}; a
 *     response whose status is absent or code 0 is a success.
 *   - server: an even stream id, a stream id not above the last one and an
 *     undecodable Request are answered with INVALID_ARGUMENT on that stream id;
 *     unknown service or method with UNIMPLEMENTED; the reply carries
 *     status {code 0} on success.
 * Deliberate differences: containerd discards an oversized message and
 * answers RESOURCE_EXHAUSTED, and its server ignores unknown frame types; we
 * close the connection in both cases (fail closed: the peer is either ours or
 * broken). We never send or accept streams (data frames are ignored by the
 * server and fail the call with -EPROTO on the client).
 *
 * Structure: struct tconn is the shared transport (frame reader, write
 * queue, EV_WRITE only while the queue is non-empty). Objects are never freed
 * under a running callback: client and server count nested callbacks (busy)
 * and a free requested meanwhile is finished when the outermost returns. */
#include "rpc/ttrpc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ttrpc.pb-c.h"
#include "util/cleanup.h"
#include "util/evloop.h"

#define READ_CHUNK 65536u
#define READS_PER_WAKE 8    /* then yield to other fds (level-triggered) */
#define OUTQ_KEEP 65536u    /* a drained write buffer above this is freed */

/* --- codec ----------------------------------------------------------------*/

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void ttrpc_hdr_encode(const struct ttrpc_hdr *h, uint8_t out[TTRPC_HDR_LEN])
{
	put_be32(out, h->length);
	put_be32(out + 4, h->stream_id);
	out[8] = h->type;
	out[9] = h->flags;
}

int ttrpc_hdr_decode(const uint8_t in[TTRPC_HDR_LEN], struct ttrpc_hdr *h)
{
	h->length = get_be32(in);
	h->stream_id = get_be32(in + 4);
	h->type = in[8];
	h->flags = in[9];
	if (h->length > TTRPC_MAX_MSG)
		return -EMSGSIZE;
	if (h->type < TTRPC_TYPE_REQUEST || h->type > TTRPC_TYPE_DATA)
		return -EINVAL;
	return 0;
}

void ttrpc_reader_init(struct ttrpc_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void ttrpc_reader_release(struct ttrpc_reader *r)
{
	free(r->payload);
	ttrpc_reader_init(r);
}

void ttrpc_reader_next(struct ttrpc_reader *r)
{
	ttrpc_reader_release(r);
}

/* Makes room for `need` payload bytes, growing geometrically up to the
 * frame's length (+1 so an empty frame still has a buffer). */
static int reader_grow(struct ttrpc_reader *r, size_t need)
{
	if (need <= r->pcap)
		return 0;
	size_t cap = r->pcap ? r->pcap : 4096;
	while (cap < need)
		cap *= 2;
	cap = MIN(cap, (size_t)r->hdr.length + 1);
	uint8_t *p = realloc(r->payload, cap);
	if (!p)
		return -ENOMEM;
	r->payload = p;
	r->pcap = cap;
	return 0;
}

int ttrpc_reader_feed(struct ttrpc_reader *r, const uint8_t *p, size_t n, size_t *used)
{
	size_t off = 0;
	*used = 0;
	if (r->hgot < TTRPC_HDR_LEN) {
		size_t k = MIN(TTRPC_HDR_LEN - r->hgot, n);
		memcpy(r->hbuf + r->hgot, p, k);
		r->hgot += k;
		off = k;
		*used = off;
		if (r->hgot < TTRPC_HDR_LEN)
			return 0;
		int err = ttrpc_hdr_decode(r->hbuf, &r->hdr);
		if (err)
			return err;
		r->pgot = 0;
		err = reader_grow(r, 1);
		if (err)
			return err;
	}
	size_t k = MIN((size_t)r->hdr.length - r->pgot, n - off);
	if (k) {
		int err = reader_grow(r, r->pgot + k);
		if (err)
			return err;
		memcpy(r->payload + r->pgot, p + off, k);
	}
	r->pgot += k;
	*used = off + k;
	return r->pgot == r->hdr.length ? 1 : 0;
}

/* --- transport --------------------------------------------------------------*/

/* Returns 0 to go on, 1 to stop reading (owner being freed), <0 to close. */
typedef int (*frame_fn)(void *ctx, const struct ttrpc_hdr *h, const uint8_t *payload);

struct tconn {
	struct ev_loop *loop;
	int fd;
	unsigned events;   /* interest currently registered */
	bool not_socket;   /* send(2) said ENOTSOCK: use write(2) */
	bool broken;       /* a write failed; the owner tears down from its io callback */
	bool pause_full;   /* stop reading while the write queue is over TTRPC_MAX_OUTQ */
	struct ttrpc_reader rd;
	uint8_t *in; /* READ_CHUNK bytes; [in_off, in_len) read but not dispatched */
	size_t in_off, in_len;
	uint8_t *out;
	size_t out_off, out_len, out_cap;
};

static size_t tconn_queued(const struct tconn *t)
{
	return t->out_len - t->out_off;
}

static bool tconn_has_input(const struct tconn *t)
{
	return t->in_off < t->in_len;
}

static bool tconn_can_read(const struct tconn *t)
{
	return !t->pause_full || tconn_queued(t) <= TTRPC_MAX_OUTQ;
}

static void tconn_update_events(struct tconn *t)
{
	if (t->fd < 0)
		return;
	unsigned want = 0;
	if (tconn_can_read(t))
		want |= EV_READ;
	/* A broken fd keeps EV_WRITE so the loop calls the owner to tear it down;
	 * so does input left over from a pause once it may be dispatched (the
	 * socket may have nothing new to say, but it is writable). */
	if (tconn_queued(t) || t->broken || (tconn_has_input(t) && tconn_can_read(t)))
		want |= EV_WRITE;
	if (want != t->events && ev_mod(t->loop, t->fd, want) == 0)
		t->events = want;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int tconn_open(struct tconn *t, struct ev_loop *loop, int fd, ev_fd_cb cb, void *data)
{
	t->loop = loop;
	t->fd = -1;
	int err = set_nonblock(fd);
	if (err)
		return err;
	err = ev_add(loop, fd, EV_READ, cb, data);
	if (err)
		return err;
	t->fd = fd;
	t->events = EV_READ;
	return 0;
}

static void tconn_close(struct tconn *t)
{
	if (t->fd >= 0) {
		ev_del(t->loop, t->fd);
		close(t->fd);
		t->fd = -1;
	}
	free(t->out);
	t->out = NULL;
	t->out_off = t->out_len = t->out_cap = 0;
	free(t->in);
	t->in = NULL;
	t->in_off = t->in_len = 0;
	ttrpc_reader_release(&t->rd);
}

/* Writes what the socket takes now. 0 or -errno (connection unusable). */
static int tconn_flush(struct tconn *t)
{
	while (t->fd >= 0 && !t->broken && tconn_queued(t)) {
		const uint8_t *p = t->out + t->out_off;
		size_t n = tconn_queued(t);
		ssize_t w = t->not_socket ? write(t->fd, p, n) : send(t->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK && !t->not_socket) {
			t->not_socket = true;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0) {
			t->broken = true;
			break;
		}
		t->out_off += (size_t)w;
	}
	if (!tconn_queued(t)) {
		t->out_off = t->out_len = 0;
		if (t->out_cap > OUTQ_KEEP) {
			free(t->out);
			t->out = NULL;
			t->out_cap = 0;
		}
	}
	tconn_update_events(t);
	return t->broken ? -EPIPE : 0;
}

/* Room for n more bytes at t->out + t->out_len. */
static int tconn_reserve(struct tconn *t, size_t n)
{
	if (t->out_cap - t->out_len >= n)
		return 0;
	if (t->out_off) { /* compact before growing */
		memmove(t->out, t->out + t->out_off, tconn_queued(t));
		t->out_len -= t->out_off;
		t->out_off = 0;
		if (t->out_cap - t->out_len >= n)
			return 0;
	}
	size_t cap = t->out_cap ? t->out_cap : 4096;
	while (cap - t->out_len < n) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	uint8_t *p = realloc(t->out, cap);
	if (!p)
		return -ENOMEM;
	t->out = p;
	t->out_cap = cap;
	return 0;
}

/* Queues one frame holding the packed envelope and tries to write it now.
 * A write failure only marks the connection broken: the owner learns it from
 * its io callback, so no callback ever runs from here. */
static int tconn_send(struct tconn *t, uint32_t sid, uint8_t type, const ProtobufCMessage *env)
{
	if (t->fd < 0 || t->broken)
		return -ECONNRESET;
	size_t len = protobuf_c_message_get_packed_size(env);
	if (len > TTRPC_MAX_MSG)
		return -EMSGSIZE;
	int err = tconn_reserve(t, TTRPC_HDR_LEN + len);
	if (err)
		return err;
	struct ttrpc_hdr h = { .length = (uint32_t)len, .stream_id = sid, .type = type };
	ttrpc_hdr_encode(&h, t->out + t->out_len);
	protobuf_c_message_pack(env, t->out + t->out_len + TTRPC_HDR_LEN);
	t->out_len += TTRPC_HDR_LEN + len;
	tconn_flush(t);
	return 0;
}

/* Dispatches the frames in the input buffer. It stops at each frame while
 * the write queue is over the limit (pause_full), keeping the rest: one read
 * of tiny requests with large answers cannot queue more than one answer
 * beyond TTRPC_MAX_OUTQ. Returns like tconn_read. */
static int tconn_parse(struct tconn *t, frame_fn on_frame, void *ctx)
{
	while (tconn_has_input(t)) {
		if (!tconn_can_read(t))
			return 0;
		size_t used;
		int r = ttrpc_reader_feed(&t->rd, t->in + t->in_off, t->in_len - t->in_off, &used);
		t->in_off += used;
		if (r < 0)
			return r;
		if (r == 0 && used == 0)
			return -EPROTO; /* cannot happen; never spin on it */
		if (r == 0)
			continue;
		r = on_frame(ctx, &t->rd.hdr, t->rd.payload);
		ttrpc_reader_next(&t->rd);
		if (r)
			return r;
		if (t->broken)
			return -EPIPE; /* no point answering more */
	}
	t->in_off = t->in_len = 0;
	return 0;
}

/* Dispatches buffered input, then reads and dispatches more. 0: wait for
 * more; 1: on_frame asked to stop; <0: close (-ECONNRESET end of file,
 * -EPROTO/-EMSGSIZE/-EINVAL bad frame, -ENOMEM). */
static int tconn_read(struct tconn *t, frame_fn on_frame, void *ctx)
{
	int r = tconn_parse(t, on_frame, ctx);
	for (int round = 0; r == 0 && round < READS_PER_WAKE && t->fd >= 0; round++) {
		if (tconn_has_input(t) || !tconn_can_read(t))
			break; /* paused */
		if (!t->in && !(t->in = malloc(READ_CHUNK)))
			return -ENOMEM;
		ssize_t got = read(t->fd, t->in, READ_CHUNK);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -ECONNRESET;
		t->in_off = 0;
		t->in_len = (size_t)got;
		r = tconn_parse(t, on_frame, ctx);
	}
	if (r == 0)
		tconn_update_events(t);
	return r;
}

/* --- client ---------------------------------------------------------------*/

struct pending {
	struct ttrpc_client *c;
	uint32_t sid; /* 0: free slot */
	ttrpc_reply_cb cb;
	void *opaque;
	const ProtobufCMessageDescriptor *desc;
	long long timer; /* 0: none */
};

struct ttrpc_client {
	struct tconn io;
	int dead; /* 0 while connected, else the errno calls now get */
	uint32_t next_sid;
	unsigned busy;
	bool freeing;
	void (*close_cb)(void *opaque, int err);
	void *close_opaque;
	struct pending calls[TTRPC_MAX_INFLIGHT];
};

/* Frees the slot (and its timer) and returns what the callback needs. */
static struct pending pending_take(struct pending *slot)
{
	struct pending p = *slot;
	if (slot->timer)
		ev_timer_del(slot->c->io.loop, slot->timer);
	slot->sid = 0;
	slot->timer = 0;
	slot->cb = NULL;
	return p;
}

static void client_fail_all(struct ttrpc_client *c, int err)
{
	for (size_t i = 0; i < TTRPC_MAX_INFLIGHT; i++) {
		if (!c->calls[i].sid)
			continue;
		struct pending p = pending_take(&c->calls[i]);
		p.cb(p.opaque, err, NULL, err == -ETIMEDOUT ? "deadline exceeded" : "");
	}
}

static void client_destroy(struct ttrpc_client *c)
{
	tconn_close(&c->io);
	free(c);
}

/* Ends a nested callback section; finishes a free requested inside it. */
static void client_leave(struct ttrpc_client *c)
{
	if (--c->busy == 0 && c->freeing)
		client_destroy(c);
}

static void client_disconnect(struct ttrpc_client *c, int err)
{
	c->dead = err == -EPROTO ? -EPROTO : -ECONNRESET;
	tconn_close(&c->io);
	client_fail_all(c, c->dead);
	if (c->close_cb && !c->freeing)
		c->close_cb(c->close_opaque, c->dead);
}

static void client_deliver(struct pending *p, const uint8_t *buf, size_t len)
{
	Ttrpc__Response *r = ttrpc__response__unpack(NULL, len, buf);
	if (!r) {
		p->cb(p->opaque, -EPROTO, NULL, "undecodable ttrpc response");
		return;
	}
	if (r->status && r->status->code != TTRPC_OK) {
		/* Negative codes would read as local errnos. */
		int code = r->status->code < 0 ? TTRPC_UNKNOWN : r->status->code;
		p->cb(p->opaque, code, NULL, r->status->message ? r->status->message : "");
	} else {
		ProtobufCMessage *m =
			protobuf_c_message_unpack(p->desc, NULL, r->payload.len, r->payload.data);
		if (m)
			p->cb(p->opaque, TTRPC_OK, m, "");
		else
			p->cb(p->opaque, -EPROTO, NULL, "undecodable response payload");
	}
	ttrpc__response__free_unpacked(r, NULL);
}

static int client_frame(void *ctx, const struct ttrpc_hdr *h, const uint8_t *payload)
{
	struct ttrpc_client *c = ctx;
	if (h->type == TTRPC_TYPE_REQUEST)
		return 0; /* servers do not call clients */
	struct pending *slot = NULL;
	for (size_t i = 0; i < TTRPC_MAX_INFLIGHT && h->stream_id; i++)
		if (c->calls[i].sid == h->stream_id)
			slot = &c->calls[i];
	if (!slot)
		return 0; /* a late answer to a call that timed out */
	struct pending p = pending_take(slot);
	if (h->type == TTRPC_TYPE_DATA)
		p.cb(p.opaque, -EPROTO, NULL, "data frame for a unary call");
	else
		client_deliver(&p, payload, h->length);
	return c->freeing ? 1 : 0;
}

static void client_io(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct ttrpc_client *c = data;
	int err = 0;
	c->busy++;
	if (events & EV_WRITE)
		err = tconn_flush(&c->io);
	if (!err && ((events & (EV_READ | EV_HUP)) || tconn_has_input(&c->io)))
		err = tconn_read(&c->io, client_frame, c);
	if (!err && c->io.broken)
		err = -EPIPE;
	if (err < 0 && !c->freeing)
		client_disconnect(c, err == -EMSGSIZE || err == -EINVAL ? -EPROTO : err);
	client_leave(c);
}

static long client_deadline(struct ev_loop *loop, long long id, void *data)
{
	struct pending *slot = data;
	struct ttrpc_client *c = slot->c;
	slot->timer = 0; /* the loop deletes it: EV_NOMORE */
	struct pending p = pending_take(slot);
	c->busy++;
	p.cb(p.opaque, -ETIMEDOUT, NULL, "deadline exceeded");
	client_leave(c);
	return EV_NOMORE;
}

struct ttrpc_client *ttrpc_client_new(struct ev_loop *loop, int fd)
{
	struct ttrpc_client *c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->next_sid = 1;
	for (size_t i = 0; i < TTRPC_MAX_INFLIGHT; i++)
		c->calls[i].c = c;
	int err = tconn_open(&c->io, loop, fd, client_io, c);
	if (err) {
		free(c);
		errno = -err;
		return NULL;
	}
	return c;
}

void ttrpc_client_set_close_cb(struct ttrpc_client *c, void (*cb)(void *opaque, int err),
			       void *opaque)
{
	c->close_cb = cb;
	c->close_opaque = opaque;
}

void ttrpc_client_free(struct ttrpc_client *c)
{
	if (!c || c->freeing)
		return;
	c->freeing = true;
	c->busy++;
	client_fail_all(c, -ECANCELED);
	client_leave(c);
}

int ttrpc_call(struct ttrpc_client *c, const char *service, const char *method,
	       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
	       int timeout_ms, ttrpc_reply_cb cb, void *opaque)
{
	if (c->freeing)
		return -ECANCELED;
	if (c->dead)
		return c->dead;
	if (timeout_ms < 0 || !cb || !resp_desc || !service || !method)
		return -EINVAL;
	if (c->next_sid > UINT32_MAX - 2)
		return -EOVERFLOW; /* ids must grow; reconnect instead */
	struct pending *slot = NULL;
	for (size_t i = 0; i < TTRPC_MAX_INFLIGHT && !slot; i++)
		if (!c->calls[i].sid)
			slot = &c->calls[i];
	if (!slot)
		return -EAGAIN;

	size_t len = req ? protobuf_c_message_get_packed_size(req) : 0;
	if (len > TTRPC_MAX_MSG)
		return -EMSGSIZE;
	cleanup_free uint8_t *buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	if (req)
		protobuf_c_message_pack(req, buf);
	Ttrpc__Request env = TTRPC__REQUEST__INIT;
	env.service = (char *)service;
	env.method = (char *)method;
	env.payload.data = buf;
	env.payload.len = len;
	env.timeout_nano = (int64_t)timeout_ms * 1000000;

	long long timer = 0;
	if (timeout_ms > 0) {
		timer = ev_timer_add(c->io.loop, timeout_ms, client_deadline, slot);
		if (timer < 0)
			return (int)timer;
	}
	int err = tconn_send(&c->io, c->next_sid, TTRPC_TYPE_REQUEST, &env.base);
	if (err) {
		if (timer)
			ev_timer_del(c->io.loop, timer);
		return err;
	}
	*slot = (struct pending){ .c = c, .sid = c->next_sid, .cb = cb, .opaque = opaque,
				  .desc = resp_desc, .timer = timer };
	c->next_sid += 2;
	return 0;
}

/* --- server ---------------------------------------------------------------*/

struct sconn {
	struct tconn io;
	struct ttrpc_server *srv;
	uint32_t last_sid;
	unsigned inflight;
	struct ttrpc_call *calls; /* unanswered, doubly linked */
	struct sconn *prev, *next;
};

struct ttrpc_call {
	struct sconn *conn; /* NULL once the connection is gone */
	uint32_t sid;
	ProtobufCMessage *req;
	struct ttrpc_call *prev, *next;
};

struct ttrpc_server {
	struct ev_loop *loop;
	const struct ttrpc_method *methods;
	size_t nmethods;
	void *opaque;
	struct sconn *conns;
	unsigned nconns;
	int listen_fd;
	long long accept_timer;
	unsigned busy;
	bool freeing;
};

static void call_unlink(struct ttrpc_call *call)
{
	struct sconn *sc = call->conn;
	if (!sc)
		return;
	if (call->prev)
		call->prev->next = call->next;
	else
		sc->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	call->prev = call->next = NULL;
	call->conn = NULL;
	sc->inflight--;
}

static void sconn_close(struct sconn *sc)
{
	/* Unanswered calls outlive the connection; their answers are dropped. */
	while (sc->calls)
		call_unlink(sc->calls);
	tconn_close(&sc->io);
	struct ttrpc_server *s = sc->srv;
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		s->conns = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	s->nconns--;
	free(sc);
}

static void server_destroy(struct ttrpc_server *s)
{
	while (s->conns)
		sconn_close(s->conns);
	if (s->listen_fd >= 0)
		ev_del(s->loop, s->listen_fd);
	if (s->accept_timer > 0)
		ev_timer_del(s->loop, s->accept_timer);
	free(s);
}

static void server_leave(struct ttrpc_server *s)
{
	if (--s->busy == 0 && s->freeing)
		server_destroy(s);
}

/* Sends an error status; a failure to queue it closes the connection later. */
static void send_status(struct sconn *sc, uint32_t sid, int code, const char *msg)
{
	Ttrpc__Status st = TTRPC__STATUS__INIT;
	st.code = code;
	st.message = (char *)msg;
	Ttrpc__Response r = TTRPC__RESPONSE__INIT;
	r.status = &st;
	if (tconn_send(&sc->io, sid, TTRPC_TYPE_RESPONSE, &r.base) < 0) {
		sc->io.broken = true;
		tconn_update_events(&sc->io);
	}
}

static const struct ttrpc_method *server_lookup(const struct ttrpc_server *s, const char *service,
						const char *method)
{
	for (size_t i = 0; i < s->nmethods; i++)
		if (strcmp(s->methods[i].service, service) == 0 &&
		    strcmp(s->methods[i].method, method) == 0)
			return &s->methods[i];
	return NULL;
}

/* Decodes one Request and starts its call, or answers it with an error. */
static void server_request(struct sconn *sc, uint32_t sid, const uint8_t *buf, size_t len)
{
	char msg[256];
	Ttrpc__Request *rq = ttrpc__request__unpack(NULL, len, buf);
	if (!rq) {
		send_status(sc, sid, TTRPC_INVALID_ARGUMENT, "undecodable ttrpc request");
		return;
	}
	const struct ttrpc_method *m = server_lookup(sc->srv, rq->service, rq->method);
	if (!m) {
		snprintf(msg, sizeof(msg), "method /%.100s/%.100s not implemented", rq->service,
			 rq->method);
		send_status(sc, sid, TTRPC_UNIMPLEMENTED, msg);
		ttrpc__request__free_unpacked(rq, NULL);
		return;
	}
	if (sc->inflight >= TTRPC_MAX_INFLIGHT) {
		send_status(sc, sid, TTRPC_RESOURCE_EXHAUSTED, "too many calls in flight");
		ttrpc__request__free_unpacked(rq, NULL);
		return;
	}
	ProtobufCMessage *req =
		protobuf_c_message_unpack(m->req_desc, NULL, rq->payload.len, rq->payload.data);
	ttrpc__request__free_unpacked(rq, NULL);
	struct ttrpc_call *call = req ? calloc(1, sizeof(*call)) : NULL;
	if (!call) {
		if (req)
			protobuf_c_message_free_unpacked(req, NULL);
		snprintf(msg, sizeof(msg), "cannot decode %s request", m->method);
		send_status(sc, sid, req ? TTRPC_RESOURCE_EXHAUSTED : TTRPC_INVALID_ARGUMENT, msg);
		return;
	}
	call->conn = sc;
	call->sid = sid;
	call->req = req;
	call->next = sc->calls;
	if (sc->calls)
		sc->calls->prev = call;
	sc->calls = call;
	sc->inflight++;
	m->handler(call, req, sc->srv->opaque);
}

static int server_frame(void *ctx, const struct ttrpc_hdr *h, const uint8_t *payload)
{
	struct sconn *sc = ctx;
	if (h->type != TTRPC_TYPE_REQUEST)
		return 0; /* no streaming methods; responses are not for a server */
	if (!(h->stream_id & 1u)) {
		send_status(sc, h->stream_id, TTRPC_INVALID_ARGUMENT, "stream id must be odd");
		return 0;
	}
	if (h->stream_id <= sc->last_sid) {
		send_status(sc, h->stream_id, TTRPC_INVALID_ARGUMENT,
			    "stream id cannot be re-used and must increase");
		return 0;
	}
	sc->last_sid = h->stream_id;
	server_request(sc, h->stream_id, payload, h->length);
	return sc->srv->freeing ? 1 : 0;
}

static void sconn_io(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct sconn *sc = data;
	struct ttrpc_server *s = sc->srv;
	int err = 0;
	s->busy++;
	if (events & EV_WRITE)
		err = tconn_flush(&sc->io);
	if (!err && ((events & (EV_READ | EV_HUP)) || tconn_has_input(&sc->io)))
		err = tconn_read(&sc->io, server_frame, sc);
	/* Hang-up or error while reads are paused: nobody will read our replies. */
	if (!err && (events & EV_HUP) && !tconn_can_read(&sc->io))
		err = -ECONNRESET;
	if (!err && sc->io.broken)
		err = -EPIPE;
	if (err < 0 && !s->freeing)
		sconn_close(sc);
	server_leave(s);
}

struct ttrpc_server *ttrpc_server_new(struct ev_loop *loop, const struct ttrpc_method *methods,
				      size_t nmethods, void *opaque)
{
	struct ttrpc_server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->loop = loop;
	s->methods = methods;
	s->nmethods = nmethods;
	s->opaque = opaque;
	s->listen_fd = -1;
	return s;
}

void ttrpc_server_free(struct ttrpc_server *s)
{
	if (!s || s->freeing)
		return;
	s->freeing = true;
	s->busy++;
	server_leave(s);
}

int ttrpc_server_add_conn(struct ttrpc_server *s, int fd)
{
	if (s->nconns >= TTRPC_MAX_CONNS)
		return -EMFILE;
	struct sconn *sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	int err = tconn_open(&sc->io, s->loop, fd, sconn_io, sc);
	if (err) {
		free(sc);
		return err;
	}
	sc->io.pause_full = true;
	sc->srv = s;
	sc->next = s->conns;
	if (s->conns)
		s->conns->prev = sc;
	s->conns = sc;
	s->nconns++;
	return 0;
}

static void server_accept(struct ev_loop *loop, int fd, unsigned events, void *data);

static long server_accept_resume(struct ev_loop *loop, long long id, void *data)
{
	struct ttrpc_server *s = data;
	s->accept_timer = 0;
	if (ev_add(loop, s->listen_fd, EV_READ, server_accept, s) < 0)
		return 1000;
	return EV_NOMORE;
}

static void server_accept(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct ttrpc_server *s = data;
	for (int i = 0; i < 16; i++) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c >= 0) {
			if (ttrpc_server_add_conn(s, c) < 0)
				close(c);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Out of descriptors: pause instead of spinning on a ready fd. */
			long long t = ev_timer_add(loop, 1000, server_accept_resume, s);
			if (t > 0) {
				ev_del(loop, fd);
				s->accept_timer = t;
			}
			return;
		}
		if (errno != EINTR && errno != ECONNABORTED && errno != EPROTO)
			return; /* EAGAIN: drained */
	}
}

int ttrpc_server_listen(struct ttrpc_server *s, int listen_fd)
{
	if (s->listen_fd >= 0)
		return -EBUSY;
	int err = set_nonblock(listen_fd);
	if (err)
		return err;
	err = ev_add(s->loop, listen_fd, EV_READ, server_accept, s);
	if (err)
		return err;
	s->listen_fd = listen_fd;
	return 0;
}

static void call_free(struct ttrpc_call *call)
{
	call_unlink(call);
	protobuf_c_message_free_unpacked(call->req, NULL);
	free(call);
}

void ttrpc_reply(struct ttrpc_call *call, const ProtobufCMessage *resp)
{
	struct sconn *sc = call->conn;
	if (sc) {
		size_t len = resp ? protobuf_c_message_get_packed_size(resp) : 0;
		/* Leaves room for the envelope around the payload. */
		uint8_t *buf = len <= TTRPC_MAX_MSG - 64 ? malloc(len + 1) : NULL;
		if (buf) {
			if (resp)
				protobuf_c_message_pack(resp, buf);
			Ttrpc__Status st = TTRPC__STATUS__INIT;
			Ttrpc__Response r = TTRPC__RESPONSE__INIT;
			r.status = &st;
			r.payload.data = buf;
			r.payload.len = len;
			if (tconn_send(&sc->io, call->sid, TTRPC_TYPE_RESPONSE, &r.base) < 0) {
				sc->io.broken = true;
				tconn_update_events(&sc->io);
			}
			free(buf);
		} else {
			send_status(sc, call->sid, TTRPC_INTERNAL,
				    len > TTRPC_MAX_MSG - 64 ? "response too large" : "out of memory");
		}
	}
	call_free(call);
}

void ttrpc_reply_error(struct ttrpc_call *call, int code, const char *fmt, ...)
{
	if (call->conn) {
		char msg[TTRPC_MAX_ERRMSG];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		send_status(call->conn, call->sid, code == TTRPC_OK ? TTRPC_UNKNOWN : code, msg);
	}
	call_free(call);
}

bool ttrpc_call_connected(const struct ttrpc_call *call)
{
	return call->conn != NULL;
}
