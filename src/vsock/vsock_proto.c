#include "vsock/vsock_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/evloop.h"

/* ---- codec --------------------------------------------------------------- */

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}
static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t get_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}
static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}
static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

int vsock_hdr_decode(const void *buf, size_t len, struct vsock_hdr *h)
{
	const uint8_t *p = buf;
	if (len < VSOCK_HDR_SIZE)
		return -EINVAL;
	h->src_cid = get_le64(p + 0);
	h->dst_cid = get_le64(p + 8);
	h->src_port = get_le32(p + 16);
	h->dst_port = get_le32(p + 20);
	h->len = get_le32(p + 24);
	h->type = get_le16(p + 28);
	h->op = get_le16(p + 30);
	h->flags = get_le32(p + 32);
	h->buf_alloc = get_le32(p + 36);
	h->fwd_cnt = get_le32(p + 40);
	return 0;
}

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_SIZE])
{
	put_le64(out + 0, h->src_cid);
	put_le64(out + 8, h->dst_cid);
	put_le32(out + 16, h->src_port);
	put_le32(out + 20, h->dst_port);
	put_le32(out + 24, h->len);
	put_le16(out + 28, h->type);
	put_le16(out + 30, h->op);
	put_le32(out + 32, h->flags);
	put_le32(out + 36, h->buf_alloc);
	put_le32(out + 40, h->fwd_cnt);
}

/* ---- engine state -------------------------------------------------------- */

enum conn_state {
	CS_CONNECTING,   /* host-initiated, REQUEST queued or sent */
	CS_ESTABLISHED,
	CS_CLOSING,      /* SHUTDOWN 3 seen or sent: flush, then RST (deadline timer) */
};

/* Control packets owed to the guest (per-connection flags, not a queue). */
#define P_REQUEST 1u
#define P_RESPONSE 2u
#define P_CREDIT_REQUEST 4u
#define P_CREDIT_UPDATE 8u

enum { L_ALL, L_CTL, L_DATA, L_COUNT };

struct conn;
struct link {
	struct conn *prev, *next;
	bool on;
};
struct clist {
	struct conn *head, *tail;
};

struct conn {
	struct vsock_engine *e;
	uint32_t host_port, guest_port;
	int fd;
	enum conn_state state;
	unsigned pending;
	uint32_t shut_out;        /* SHUTDOWN flags sent to the guest, sticky */
	uint32_t peer_shut;       /* guest's SHUTDOWN flags, sticky */
	/* host -> guest credit */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	/* guest -> host: bytes that reached the host socket, and last advertised */
	uint32_t fwd_cnt, fwd_cnt_sent;
	uint8_t *bl;              /* backlog ring of VSOCK_BUF_ALLOC bytes, lazily allocated */
	uint32_t bl_head, bl_len;
	bool rx_ready;            /* host socket may have data (or EOF) to read */
	bool host_eof;            /* host half-closed: SHUTDOWN SEND sent */
	bool host_wr_shut;        /* we did shutdown(SHUT_WR) after guest SHUTDOWN SEND */
	bool hup;                 /* fd hung up: removed from the loop */
	bool credit_req_sent;
	unsigned ev;              /* current epoll interest */
	long long timer;
	void (*done)(void *opaque, int result);
	void *done_opaque;
	struct conn *hnext;
	struct link link[L_COUNT];
};

#define HASH_SIZE 1024u

struct vsock_engine {
	struct ev_loop *loop;
	uint32_t guest_cid;
	struct vsock_host_ops ops;
	void *opaque;
	void (*wake)(void *);
	void *wake_opaque;
	struct conn *hash[HASH_SIZE];
	struct clist list[L_COUNT];
	unsigned nconns;
	uint32_t next_port;
	struct { uint32_t host, guest; } rst[VSOCK_RST_QUEUE];
	unsigned rst_head, rst_len;
	int connect_ms, close_ms;
};

/* ---- lists and lookup ---------------------------------------------------- */

static void list_add_tail(struct vsock_engine *e, int l, struct conn *c)
{
	struct link *k = &c->link[l];
	if (k->on)
		return;
	k->on = true;
	k->next = NULL;
	k->prev = e->list[l].tail;
	if (k->prev)
		k->prev->link[l].next = c;
	else
		e->list[l].head = c;
	e->list[l].tail = c;
}

static void list_del(struct vsock_engine *e, int l, struct conn *c)
{
	struct link *k = &c->link[l];
	if (!k->on)
		return;
	if (k->prev)
		k->prev->link[l].next = k->next;
	else
		e->list[l].head = k->next;
	if (k->next)
		k->next->link[l].prev = k->prev;
	else
		e->list[l].tail = k->prev;
	memset(k, 0, sizeof(*k));
}

static unsigned hash_key(uint32_t host, uint32_t guest)
{
	return (host * 2654435761u ^ guest * 40503u) % HASH_SIZE;
}

static struct conn *lookup(struct vsock_engine *e, uint32_t host, uint32_t guest)
{
	for (struct conn *c = e->hash[hash_key(host, guest)]; c; c = c->hnext)
		if (c->host_port == host && c->guest_port == guest)
			return c;
	return NULL;
}

static void hash_del(struct vsock_engine *e, struct conn *c)
{
	struct conn **pp = &e->hash[hash_key(c->host_port, c->guest_port)];
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
}

static void wake(struct vsock_engine *e)
{
	if (e->wake)
		e->wake(e->wake_opaque);
}

static void queue_rst(struct vsock_engine *e, uint32_t host, uint32_t guest)
{
	if (e->rst_len == VSOCK_RST_QUEUE)
		return; /* a guest flooding strays while not posting rx buffers */
	unsigned i = (e->rst_head + e->rst_len++) % VSOCK_RST_QUEUE;
	e->rst[i].host = host;
	e->rst[i].guest = guest;
}

/* ---- connection lifetime ------------------------------------------------- */

static void conn_io(struct ev_loop *loop, int fd, unsigned events, void *data);
static long conn_timer(struct ev_loop *loop, long long id, void *data);

/* Adopts fd (non-blocking, registered with no interest yet). */
static int conn_new(struct vsock_engine *e, uint32_t host, uint32_t guest, int fd,
		    struct conn **out)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->e = e;
	c->host_port = host;
	c->guest_port = guest;
	c->fd = fd;
	int r = ev_add(e->loop, fd, 0, conn_io, c);
	if (r < 0) {
		free(c);
		return r;
	}
	unsigned h = hash_key(host, guest);
	c->hnext = e->hash[h];
	e->hash[h] = c;
	list_add_tail(e, L_ALL, c);
	e->nconns++;
	*out = c;
	return 0;
}

/* Ends c: closes its fd, and for an unanswered host connect reports result. */
static void conn_close(struct conn *c, int result)
{
	struct vsock_engine *e = c->e;
	void (*done)(void *, int) = c->state == CS_CONNECTING ? c->done : NULL;
	void *done_opaque = c->done_opaque;
	if (c->timer > 0)
		ev_timer_del(e->loop, c->timer);
	if (!c->hup)
		ev_del(e->loop, c->fd);
	close(c->fd);
	hash_del(e, c);
	for (int l = 0; l < L_COUNT; l++)
		list_del(e, l, c);
	e->nconns--;
	free(c->bl);
	free(c);
	if (done)
		done(done_opaque, result);
}

/* Queues RST for c and ends it (host-side error, protocol violation). */
static void conn_reset(struct conn *c, int result)
{
	queue_rst(c->e, c->host_port, c->guest_port);
	conn_close(c, result);
}

static void conn_set_timer(struct conn *c, int ms)
{
	if (c->timer > 0)
		ev_timer_del(c->e->loop, c->timer);
	long long id = ev_timer_add(c->e->loop, ms, conn_timer, c);
	c->timer = id > 0 ? id : 0;
}

static bool conn_wants_data(struct conn *c)
{
	return c->state == CS_ESTABLISHED && !(c->pending & (P_REQUEST | P_RESPONSE)) &&
	       c->rx_ready && !c->host_eof && !(c->peer_shut & VSOCK_SHUTDOWN_RCV);
}

/* Recomputes list membership and epoll interest after any change. */
static void conn_refresh(struct conn *c)
{
	struct vsock_engine *e = c->e;
	bool data = conn_wants_data(c);
	if (data && vsock_peer_free(c->peer_buf_alloc, c->tx_cnt, c->peer_fwd_cnt) == 0) {
		data = false;
		if (!c->credit_req_sent) {
			c->pending |= P_CREDIT_REQUEST;
			c->credit_req_sent = true;
		}
	}
	if (data)
		list_add_tail(e, L_DATA, c);
	else
		list_del(e, L_DATA, c);
	if (c->pending)
		list_add_tail(e, L_CTL, c);
	else
		list_del(e, L_CTL, c);
	if (c->hup)
		return;
	unsigned ev = 0;
	if (c->state == CS_ESTABLISHED && !c->rx_ready && !c->host_eof &&
	    !(c->peer_shut & VSOCK_SHUTDOWN_RCV))
		ev |= EV_READ;
	if (c->bl_len && c->state != CS_CONNECTING)
		ev |= EV_WRITE;
	if (ev != c->ev && ev_mod(e->loop, c->fd, ev) == 0)
		c->ev = ev;
}

static void maybe_credit_update(struct conn *c)
{
	/* Tell the guest about consumed bytes once a quarter of our buffer is
	 * unadvertised, so a streaming guest never stalls on stale credit. */
	if (c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_BUF_ALLOC / 4)
		c->pending |= P_CREDIT_UPDATE;
}

static ssize_t send_iov(int fd, struct iovec *iov, int n)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r < 0 && errno == ENOTSOCK)
		r = writev(fd, iov, n);
	return r;
}

/* Runs once the backlog is empty: deferred half-close and close. Returns
 * false if c was freed. */
static bool conn_drained(struct conn *c)
{
	if ((c->peer_shut & VSOCK_SHUTDOWN_SEND) && !c->host_wr_shut && !c->hup) {
		shutdown(c->fd, SHUT_WR);
		c->host_wr_shut = true;
	}
	if (c->peer_shut == (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) {
		conn_reset(c, 0);
		return false;
	}
	return true;
}

/* Writes as much backlog as the socket takes. Returns false if c was freed. */
static bool conn_flush(struct conn *c)
{
	while (c->bl_len) {
		struct iovec iov[2];
		uint32_t first = MIN(c->bl_len, VSOCK_BUF_ALLOC - c->bl_head);
		iov[0] = (struct iovec){ c->bl + c->bl_head, first };
		iov[1] = (struct iovec){ c->bl, c->bl_len - first };
		ssize_t n = send_iov(c->fd, iov, iov[1].iov_len ? 2 : 1);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		if (n <= 0) {
			conn_reset(c, -EIO);
			return false;
		}
		c->bl_head = (uint32_t)((c->bl_head + (size_t)n) % VSOCK_BUF_ALLOC);
		c->bl_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	/* A drained backlog may have stalled the guest: advertise the space. */
	if (c->fwd_cnt != c->fwd_cnt_sent)
		c->pending |= P_CREDIT_UPDATE;
	return conn_drained(c);
}

static void conn_io(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct conn *c = data;
	struct vsock_engine *e = c->e;
	(void)loop;
	(void)fd;
	if ((events & EV_HUP) && !(c->ev & EV_READ)) {
		/* EPOLLHUP/ERR (RDHUP is only reported with read interest): the
		 * level-triggered event would spin, so stop watching. Reading
		 * still yields pending data, then EOF or the error. */
		ev_del(c->e->loop, c->fd);
		c->hup = true;
		c->rx_ready = true;
		if (c->state == CS_CONNECTING) {
			conn_reset(c, -ECONNRESET);
			wake(e);
			return;
		}
	} else if (events & (EV_READ | EV_HUP)) {
		c->rx_ready = true;
	}
	if (c->bl_len && (events & (EV_WRITE | EV_HUP)) && c->state != CS_CONNECTING) {
		if (!conn_flush(c)) {
			wake(e);
			return;
		}
	}
	conn_refresh(c);
	wake(e);
}

static long conn_timer(struct ev_loop *loop, long long id, void *data)
{
	struct conn *c = data;
	struct vsock_engine *e = c->e;
	(void)loop;
	(void)id;
	c->timer = 0;
	conn_reset(c, c->state == CS_CONNECTING ? -ETIMEDOUT : 0);
	wake(e);
	return EV_NOMORE;
}

/* ---- guest -> host ------------------------------------------------------- */

/* Copies payload bytes [off, off+len) out of iov into dst. */
static void iov_copy(uint8_t *dst, const struct iovec *iov, int niov, size_t off, size_t len)
{
	for (int i = 0; i < niov && len; i++) {
		size_t l = iov[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t n = MIN(l - off, len);
		memcpy(dst, (uint8_t *)iov[i].iov_base + off, n);
		dst += n;
		len -= n;
		off = 0;
	}
}

/* Trims iov to its first len bytes into out (at most max entries). */
static int iov_trim(struct iovec *out, int max, const struct iovec *iov, int niov, size_t len)
{
	int n = 0;
	for (int i = 0; i < niov && n < max && len; i++) {
		if (!iov[i].iov_len)
			continue;
		out[n] = iov[i];
		if (out[n].iov_len > len)
			out[n].iov_len = len;
		len -= out[n].iov_len;
		n++;
	}
	return n;
}

static void bl_append(struct conn *c, const struct iovec *iov, int niov, size_t off, size_t len)
{
	while (len) {
		uint32_t tail = (c->bl_head + c->bl_len) % VSOCK_BUF_ALLOC;
		size_t n = MIN(len, (size_t)(VSOCK_BUF_ALLOC - tail));
		iov_copy(c->bl + tail, iov, niov, off, n);
		c->bl_len += (uint32_t)n;
		off += n;
		len -= n;
	}
}

/* Returns false if c was freed. */
static bool guest_rw(struct conn *c, const struct vsock_hdr *h, const struct iovec *iov, int niov)
{
	uint32_t len = h->len;
	if (!len || (c->peer_shut & VSOCK_SHUTDOWN_SEND) || c->host_wr_shut || c->hup ||
	    c->state == CS_CLOSING)
		return true; /* nothing can reach the host any more: drop */
	if ((uint64_t)c->bl_len + len > VSOCK_BUF_ALLOC) {
		conn_reset(c, 0); /* the guest overran the credit we gave it */
		return false;
	}
	size_t done = 0;
	if (!c->bl_len) {
		struct iovec t[64];
		int n = iov_trim(t, 64, iov, niov, len);
		ssize_t w = send_iov(c->fd, t, n);
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			conn_reset(c, 0);
			return false;
		}
		done = w > 0 ? (size_t)w : 0;
		c->fwd_cnt += (uint32_t)done;
	}
	if (done < len) {
		if (!c->bl) {
			c->bl = malloc(VSOCK_BUF_ALLOC);
			if (!c->bl) {
				conn_reset(c, 0);
				return false;
			}
			c->bl_head = 0;
		}
		bl_append(c, iov, niov, done, len - done);
	}
	maybe_credit_update(c);
	return true;
}

/* Returns false if c was freed. */
static bool guest_shutdown(struct conn *c, uint32_t flags)
{
	c->peer_shut |= flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
	if (c->bl_len && !c->hup) {
		if (c->peer_shut == (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND) &&
		    c->state != CS_CLOSING) {
			c->state = CS_CLOSING;
			conn_set_timer(c, c->e->close_ms);
		}
		return true; /* conn_flush finishes the job */
	}
	return conn_drained(c);
}

static void guest_request(struct vsock_engine *e, const struct vsock_hdr *h)
{
	if (e->nconns >= VSOCK_MAX_CONNS || !e->ops.guest_connect) {
		queue_rst(e, h->dst_port, h->src_port);
		return;
	}
	int fd = e->ops.guest_connect(e->opaque, h->dst_port);
	if (fd < 0) {
		queue_rst(e, h->dst_port, h->src_port);
		return;
	}
	struct conn *c;
	if (conn_new(e, h->dst_port, h->src_port, fd, &c) < 0) {
		close(fd);
		queue_rst(e, h->dst_port, h->src_port);
		return;
	}
	c->state = CS_ESTABLISHED;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->pending |= P_RESPONSE;
	conn_refresh(c);
}

void vsock_engine_guest_pkt(struct vsock_engine *e, const struct vsock_hdr *h,
			    const struct iovec *payload, int niov)
{
	if (h->src_cid != e->guest_cid || h->dst_cid != VSOCK_HOST_CID ||
	    h->len > VSOCK_MAX_PAYLOAD)
		return; /* not for us, or impossible: drop like the references */
	struct conn *c = lookup(e, h->dst_port, h->src_port);
	if (h->op == VSOCK_OP_RST) {
		if (c) /* never answer an RST */
			conn_close(c, c->state == CS_CONNECTING ? -ECONNREFUSED : 0);
		return;
	}
	if (h->type != VSOCK_TYPE_STREAM) {
		if (c)
			conn_close(c, -ECONNRESET);
		queue_rst(e, h->dst_port, h->src_port);
		return;
	}
	if (h->op == VSOCK_OP_REQUEST) {
		if (c) /* the guest forgot this one */
			conn_close(c, -ECONNRESET);
		guest_request(e, h);
		return;
	}
	if (!c) {
		queue_rst(e, h->dst_port, h->src_port);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (vsock_peer_free(c->peer_buf_alloc, c->tx_cnt, c->peer_fwd_cnt)) {
		c->credit_req_sent = false;
		c->pending &= ~P_CREDIT_REQUEST; /* not sent yet and no longer needed */
	}

	if (c->state == CS_CONNECTING) {
		if (h->op != VSOCK_OP_RESPONSE || (c->pending & P_REQUEST)) {
			conn_reset(c, -ECONNRESET);
			return;
		}
		c->state = CS_ESTABLISHED;
		if (c->timer > 0)
			ev_timer_del(e->loop, c->timer);
		c->timer = 0;
		void (*done)(void *, int) = c->done;
		c->done = NULL;
		conn_refresh(c);
		if (done) /* may write its own greeting (hybrid "OK") before any data */
			done(c->done_opaque, 0);
		return;
	}
	switch (h->op) {
	case VSOCK_OP_RW:
		if (!guest_rw(c, h, payload, niov))
			return;
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= P_CREDIT_UPDATE;
		break;
	case VSOCK_OP_SHUTDOWN:
		if (!guest_shutdown(c, h->flags))
			return;
		break;
	default: /* RESPONSE on an open connection, INVALID, unknown */
		conn_reset(c, 0);
		return;
	}
	conn_refresh(c);
}

/* ---- host -> guest ------------------------------------------------------- */

static void fill_hdr(struct vsock_engine *e, struct vsock_hdr *h, uint32_t host, uint32_t guest,
		     uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSOCK_HOST_CID;
	h->dst_cid = e->guest_cid;
	h->src_port = host;
	h->dst_port = guest;
	h->type = VSOCK_TYPE_STREAM;
	h->op = op;
}

static void conn_hdr(struct conn *c, struct vsock_hdr *h, uint16_t op)
{
	fill_hdr(c->e, h, c->host_port, c->guest_port, op);
	h->buf_alloc = VSOCK_BUF_ALLOC;
	h->fwd_cnt = c->fwd_cnt;
	c->fwd_cnt_sent = c->fwd_cnt; /* every packet advertises our credit */
	c->pending &= ~P_CREDIT_UPDATE;
}

static void next_ctl(struct conn *c, struct vsock_hdr *h)
{
	static const struct { unsigned flag; uint16_t op; } order[] = {
		{ P_REQUEST, VSOCK_OP_REQUEST },
		{ P_RESPONSE, VSOCK_OP_RESPONSE },
		{ P_CREDIT_REQUEST, VSOCK_OP_CREDIT_REQUEST },
		{ P_CREDIT_UPDATE, VSOCK_OP_CREDIT_UPDATE },
	};
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		if (c->pending & order[i].flag) {
			c->pending &= ~order[i].flag;
			conn_hdr(c, h, order[i].op);
			break;
		}
	}
	list_del(c->e, L_CTL, c);
	conn_refresh(c);
}

static bool peer_hung_up(int fd)
{
	struct pollfd p = { .fd = fd, .events = 0 };
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static void next_data(struct conn *c, struct vsock_hdr *h, const struct iovec *payload, int niov,
		      size_t cap)
{
	struct vsock_engine *e = c->e;
	list_del(e, L_DATA, c);
	size_t want = MIN(cap, (size_t)VSOCK_MAX_PAYLOAD);
	want = MIN(want, (size_t)vsock_peer_free(c->peer_buf_alloc, c->tx_cnt, c->peer_fwd_cnt));
	if (!want) { /* a header-only rx buffer: still useful for credit */
		conn_hdr(c, h, VSOCK_OP_CREDIT_UPDATE);
		conn_refresh(c);
		return;
	}
	struct iovec t[64];
	int n = iov_trim(t, 64, payload, niov, want);
	ssize_t r = readv(c->fd, t, n);
	if (r > 0) {
		conn_hdr(c, h, VSOCK_OP_RW);
		h->len = (uint32_t)r;
		c->tx_cnt += (uint32_t)r;
		/* Drained: let epoll say when there is more. A hung-up socket is no
		 * longer watched and stays readable (the rest, then EOF), so keep
		 * reading it or its EOF would never reach the guest. */
		if ((size_t)r < want && !c->hup)
			c->rx_ready = false;
	} else if (r == 0) {
		if (c->hup || peer_hung_up(c->fd)) {
			/* Full close: nothing more can reach the host either. */
			c->bl_len = 0;
			c->shut_out = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
			c->state = CS_CLOSING;
			conn_set_timer(c, e->close_ms);
		} else {
			c->shut_out |= VSOCK_SHUTDOWN_SEND;
			c->host_eof = true;
		}
		c->rx_ready = false;
		conn_hdr(c, h, VSOCK_OP_SHUTDOWN);
		h->flags = c->shut_out;
	} else if (errno == EAGAIN || errno == EINTR) {
		/* Spurious readiness: the buffer is already ours, so spend it on a
		 * credit update rather than wasting it. */
		c->rx_ready = false;
		conn_hdr(c, h, VSOCK_OP_CREDIT_UPDATE);
	} else {
		fill_hdr(e, h, c->host_port, c->guest_port, VSOCK_OP_RST);
		conn_close(c, 0);
		return;
	}
	conn_refresh(c);
}

bool vsock_engine_has_output(const struct vsock_engine *e)
{
	return e->rst_len || e->list[L_CTL].head || e->list[L_DATA].head;
}

int vsock_engine_next_pkt(struct vsock_engine *e, struct vsock_hdr *h,
			  const struct iovec *payload, int niov, size_t cap)
{
	if (e->rst_len) {
		fill_hdr(e, h, e->rst[e->rst_head].host, e->rst[e->rst_head].guest, VSOCK_OP_RST);
		e->rst_head = (e->rst_head + 1) % VSOCK_RST_QUEUE;
		e->rst_len--;
		return 1;
	}
	if (e->list[L_CTL].head) {
		next_ctl(e->list[L_CTL].head, h);
		return 1;
	}
	if (e->list[L_DATA].head) {
		next_data(e->list[L_DATA].head, h, payload, niov, cap);
		return 1;
	}
	return 0;
}

/* ---- host-initiated connections ------------------------------------------ */

static bool port_in_use(struct vsock_engine *e, uint32_t port)
{
	for (struct conn *c = e->list[L_ALL].head; c; c = c->link[L_ALL].next)
		if (c->host_port == port)
			return true;
	return false;
}

int vsock_engine_connect(struct vsock_engine *e, uint32_t guest_port, int fd,
			 void (*done)(void *opaque, int result), void *opaque,
			 uint32_t *host_port)
{
	if (fd < 0)
		return -EBADF;
	if (e->nconns >= VSOCK_MAX_CONNS)
		return -EMFILE;
	uint32_t port;
	do { /* at most nconns ports are taken, so this ends */
		port = e->next_port++;
		if (e->next_port == VSOCK_HOST_PORT_END)
			e->next_port = VSOCK_HOST_PORT_FIRST;
	} while (port_in_use(e, port));
	struct conn *c;
	int r = conn_new(e, port, guest_port, fd, &c);
	if (r < 0)
		return r;
	c->state = CS_CONNECTING;
	c->pending = P_REQUEST;
	c->done = done;
	c->done_opaque = opaque;
	conn_set_timer(c, e->connect_ms);
	conn_refresh(c);
	if (host_port)
		*host_port = port;
	wake(e);
	return 0;
}

/* ---- engine lifetime ----------------------------------------------------- */

struct vsock_engine *vsock_engine_new(struct ev_loop *loop, uint32_t guest_cid,
				      const struct vsock_host_ops *ops, void *opaque,
				      void (*wakefn)(void *wake_opaque), void *wake_opaque)
{
	struct vsock_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->loop = loop;
	e->guest_cid = guest_cid;
	if (ops)
		e->ops = *ops;
	e->opaque = opaque;
	e->wake = wakefn;
	e->wake_opaque = wake_opaque;
	e->next_port = VSOCK_HOST_PORT_FIRST;
	e->connect_ms = VSOCK_CONNECT_TIMEOUT_MS;
	e->close_ms = VSOCK_CLOSE_TIMEOUT_MS;
	return e;
}

void vsock_engine_set_timeouts(struct vsock_engine *e, int connect_ms, int close_ms)
{
	e->connect_ms = connect_ms;
	e->close_ms = close_ms;
}

void vsock_engine_reset(struct vsock_engine *e)
{
	while (e->list[L_ALL].head)
		conn_close(e->list[L_ALL].head, -ECONNRESET);
	e->rst_len = 0;
	e->rst_head = 0;
}

void vsock_engine_free(struct vsock_engine *e)
{
	if (!e)
		return;
	for (struct conn *c = e->list[L_ALL].head; c; c = c->link[L_ALL].next)
		c->done = NULL;
	vsock_engine_reset(e);
	free(e);
}

unsigned vsock_engine_nconns(const struct vsock_engine *e)
{
	return e->nconns;
}
