/* vsock packet codec and connection engine, driven without rings: guest
 * packets go in through vsock_engine_guest_pkt, host->guest packets come out
 * of vsock_engine_next_pkt, host sides are real socketpairs. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"
#include "util/cleanup.h"
#include "util/evloop.h"
#include "vsock/vsock_proto.h"

#define CID 3u
#define REFUSED_PORT 99u

struct env {
	struct ev_loop *loop;
	struct vsock_engine *e;
	int peer[64];         /* host ends handed out by guest_connect, by order */
	int npeer;
	uint32_t last_port;
	int wakes;
	int done_calls, done_result;
	int sndbuf;           /* > 0: shrink the device end's send buffer */
};

static int t_guest_connect(void *opaque, uint32_t port)
{
	struct env *v = opaque;
	v->last_port = port;
	if (port == REFUSED_PORT || v->npeer == 64)
		return -ECONNREFUSED;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	v->peer[v->npeer++] = sv[1];
	if (v->sndbuf)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v->sndbuf, sizeof(v->sndbuf));
	return sv[0];
}

static void t_wake(void *opaque) { ((struct env *)opaque)->wakes++; }

static const struct vsock_host_ops ops = { .guest_connect = t_guest_connect };

static void env_init(struct env *v)
{
	memset(v, 0, sizeof(*v));
	v->loop = ev_loop_new();
	v->e = vsock_engine_new(v->loop, CID, &ops, v, t_wake, v);
}

static void env_fini(struct env *v)
{
	vsock_engine_free(v->e);
	for (int i = 0; i < v->npeer; i++)
		if (v->peer[i] >= 0)
			close(v->peer[i]);
	ev_loop_free(v->loop);
}

static void on_done(void *opaque, int result)
{
	struct env *v = opaque;
	v->done_calls++;
	v->done_result = result;
}

/* A guest packet (src = guest:gport, dst = host:hport). */
static void gpkt(struct env *v, uint16_t op, uint32_t gport, uint32_t hport, uint32_t flags,
		 uint32_t buf_alloc, uint32_t fwd_cnt, const void *data, uint32_t len)
{
	struct vsock_hdr h = {
		.src_cid = CID, .dst_cid = 2, .src_port = gport, .dst_port = hport, .len = len,
		.type = VSOCK_TYPE_STREAM, .op = op, .flags = flags, .buf_alloc = buf_alloc,
		.fwd_cnt = fwd_cnt,
	};
	struct iovec iov = { (void *)data, len };
	vsock_engine_guest_pkt(v->e, &h, &iov, 1);
}

static uint8_t rxbuf[VSOCK_MAX_PAYLOAD];

/* Next host->guest packet into rxbuf with payload capacity cap. */
static int next(struct env *v, struct vsock_hdr *h, size_t cap)
{
	memset(h, 0xaa, sizeof(*h));
	struct iovec iov = { rxbuf, cap };
	return vsock_engine_next_pkt(v->e, h, &iov, 1, cap);
}

/* Runs loop rounds until nothing happens (no sleeps: timeout 0). */
static void settle(struct env *v)
{
	for (int i = 0; i < 10 && ev_run_once(v->loop, 0) > 0; i++) {
	}
}

static bool peer_eof(int fd)
{
	char c;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 1000) != 1)
		return false;
	return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

/* Guest connects gport -> hport; checks the RESPONSE. Returns the host end. */
static int establish(struct env *v, uint32_t gport, uint32_t hport, uint32_t guest_buf)
{
	int n0 = v->npeer;
	gpkt(v, VSOCK_OP_REQUEST, gport, hport, 0, guest_buf, 0, NULL, 0);
	struct vsock_hdr h;
	if (!T_CHECK(next(v, &h, 4096) == 1) || !T_CHECK_EQ_INT(h.op, VSOCK_OP_RESPONSE) ||
	    !T_CHECK_EQ_INT(v->npeer, n0 + 1))
		return -1;
	T_CHECK_EQ_INT(h.src_port, hport);
	T_CHECK_EQ_INT(h.dst_port, gport);
	return v->peer[n0];
}

/* ---- codec --------------------------------------------------------------- */

static void t_hdr_roundtrip(void)
{
	struct vsock_hdr h = {
		.src_cid = 0x0102030405060708ull, .dst_cid = 2, .src_port = 0x11223344,
		.dst_port = 0x55667788, .len = 0x99aabbcc, .type = 1, .op = 5, .flags = 3,
		.buf_alloc = 262144, .fwd_cnt = 0xdeadbeef,
	};
	uint8_t raw[VSOCK_HDR_SIZE];
	vsock_hdr_encode(&h, raw);
	/* little-endian at the spec's offsets */
	T_CHECK_EQ_INT(raw[0], 0x08);
	T_CHECK_EQ_INT(raw[7], 0x01);
	T_CHECK_EQ_INT(raw[8], 2);
	T_CHECK_EQ_INT(raw[16], 0x44);
	T_CHECK_EQ_INT(raw[24], 0xcc);
	T_CHECK_EQ_INT(raw[28], 1);
	T_CHECK_EQ_INT(raw[30], 5);
	T_CHECK_EQ_INT(raw[32], 3);
	T_CHECK_EQ_INT(raw[38], 4); /* 262144 = 0x40000 */
	T_CHECK_EQ_INT(raw[43], 0xde);
	struct vsock_hdr d;
	T_CHECK_EQ_INT(vsock_hdr_decode(raw, sizeof(raw), &d), 0);
	T_CHECK(memcmp(&h, &d, sizeof(h)) == 0);
}

static void t_hdr_hostile(void)
{
	uint8_t raw[VSOCK_HDR_SIZE + 4];
	struct vsock_hdr d;
	memset(raw, 0xff, sizeof(raw));
	T_CHECK_EQ_INT(vsock_hdr_decode(raw, 43, &d), -EINVAL);
	T_CHECK_EQ_INT(vsock_hdr_decode(raw, 0, &d), -EINVAL);
	T_CHECK_EQ_INT(vsock_hdr_decode(raw, sizeof(raw), &d), 0);
	T_CHECK(d.src_cid == UINT64_MAX && d.len == UINT32_MAX && d.op == 0xffff);
}

static void t_credit_math(void)
{
	T_CHECK_EQ_INT(vsock_peer_free(262144, 0, 0), 262144);
	T_CHECK_EQ_INT(vsock_peer_free(262144, 1000, 400), 262144 - 600);
	/* across the u32 wrap: sent 0x10 past it, peer consumed up to 0xfffffff0 */
	T_CHECK_EQ_INT(vsock_peer_free(262144, 0x10, 0xfffffff0u), 262144 - 0x20);
	T_CHECK_EQ_INT(vsock_peer_free(100, 100, 0), 0);
	/* a peer claiming more consumed than sent gets nothing (fails closed) */
	T_CHECK_EQ_INT(vsock_peer_free(262144, 5, 10), 0);
	T_CHECK_EQ_INT(vsock_peer_free(0, 0, 0), 0);
}

/* ---- guest-initiated connections ----------------------------------------- */

static void t_request_response(void)
{
	struct env v;
	env_init(&v);
	gpkt(&v, VSOCK_OP_REQUEST, 1234, 52, 0, 262144, 0, NULL, 0);
	T_CHECK_EQ_INT(v.last_port, 52);
	struct vsock_hdr h;
	T_CHECK(next(&v, &h, 4096) == 1);
	T_CHECK_EQ_INT(h.op, VSOCK_OP_RESPONSE);
	T_CHECK_EQ_INT(h.src_cid, 2);
	T_CHECK_EQ_INT(h.dst_cid, CID);
	T_CHECK_EQ_INT(h.src_port, 52);
	T_CHECK_EQ_INT(h.dst_port, 1234);
	T_CHECK_EQ_INT(h.type, VSOCK_TYPE_STREAM);
	T_CHECK_EQ_INT(h.len, 0);
	T_CHECK_EQ_INT(h.buf_alloc, VSOCK_BUF_ALLOC);
	T_CHECK_EQ_INT(h.fwd_cnt, 0);
	T_CHECK_EQ_INT(vsock_engine_nconns(v.e), 1);
	T_CHECK(!vsock_engine_has_output(v.e));
	T_CHECK_EQ_INT(next(&v, &h, 4096), 0);
	env_fini(&v);
}

static void t_request_refused(void)
{
	struct env v;
	env_init(&v);
	gpkt(&v, VSOCK_OP_REQUEST, 1234, REFUSED_PORT, 0, 262144, 0, NULL, 0);
	struct vsock_hdr h;
	T_CHECK(next(&v, &h, 4096) == 1);
	T_CHECK_EQ_INT(h.op, VSOCK_OP_RST);
	T_CHECK_EQ_INT(h.src_port, REFUSED_PORT);
	T_CHECK_EQ_INT(h.dst_port, 1234);
	T_CHECK_EQ_INT(vsock_engine_nconns(v.e), 0);
	env_fini(&v);
}

static void t_strays(void)
{
	struct env v;
	env_init(&v);
	struct vsock_hdr h;
	/* unknown key, not REQUEST/RST: RST */
	gpkt(&v, VSOCK_OP_RW, 7, 8, 0, 0, 0, "x", 1);
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_RST && h.dst_port == 7 && h.src_port == 8);
	gpkt(&v, VSOCK_OP_SHUTDOWN, 7, 8, 3, 0, 0, NULL, 0);
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_RST);
	/* RST for an unknown key: ignored */
	gpkt(&v, VSOCK_OP_RST, 7, 8, 0, 0, 0, NULL, 0);
	T_CHECK(!vsock_engine_has_output(v.e));
	/* wrong type: RST, no connect attempted */
	v.last_port = 0;
	struct vsock_hdr q = { .src_cid = CID, .dst_cid = 2, .src_port = 9, .dst_port = 10,
			       .type = 2, .op = VSOCK_OP_REQUEST };
	vsock_engine_guest_pkt(v.e, &q, NULL, 0);
	T_CHECK_EQ_INT(v.last_port, 0);
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_RST && h.dst_port == 9);
	/* wrong CIDs, oversized payload: dropped silently */
	q.type = 1;
	q.src_cid = CID + 1;
	vsock_engine_guest_pkt(v.e, &q, NULL, 0);
	q.src_cid = CID | 1ull << 32;
	vsock_engine_guest_pkt(v.e, &q, NULL, 0);
	q.src_cid = CID;
	q.dst_cid = 1;
	vsock_engine_guest_pkt(v.e, &q, NULL, 0);
	q.dst_cid = 2;
	q.len = VSOCK_MAX_PAYLOAD + 1;
	vsock_engine_guest_pkt(v.e, &q, NULL, 0);
	T_CHECK_EQ_INT(v.last_port, 0);
	T_CHECK(!vsock_engine_has_output(v.e));
	/* unknown op on a live connection: RST and closed */
	int fd = establish(&v, 20, 30, 262144);
	gpkt(&v, 42, 20, 30, 0, 262144, 0, NULL, 0);
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_RST);
	T_CHECK_EQ_INT(vsock_engine_nconns(v.e), 0);
	T_CHECK(peer_eof(fd));
	/* RESPONSE on an established connection: RST */
	fd = establish(&v, 21, 30, 262144);
	gpkt(&v, VSOCK_OP_RESPONSE, 21, 30, 0, 262144, 0, NULL, 0);
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_RST);
	T_CHECK_EQ_INT(vsock_engine_nconns(v.e), 0);
	env_fini(&v);
}

static void t_guest_to_host_data(void)
{
	struct env v;
	env_init(&v);
	int fd = establish(&v, 1000, 52, 262144);
	gpkt(&v, VSOCK_OP_RW, 1000, 52, 0, 262144, 0, "hello", 5);
	char buf[16] = { 0 };
	T_CHECK_EQ_INT(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 5);
	T_CHECK_EQ_STR(buf, "hello");
	/* CREDIT_REQUEST: answered with our fwd_cnt */
	gpkt(&v, VSOCK_OP_CREDIT_REQUEST, 1000, 52, 0, 262144, 0, NULL, 0);
	struct vsock_hdr h;
	T_CHECK(next(&v, &h, 4096) == 1);
	T_CHECK_EQ_INT(h.op, VSOCK_OP_CREDIT_UPDATE);
	T_CHECK_EQ_INT(h.fwd_cnt, 5);
	T_CHECK_EQ_INT(h.buf_alloc, VSOCK_BUF_ALLOC);
	env_fini(&v);
}

static void t_host_to_guest_credit(void)
{
	struct env v;
	env_init(&v);
	int fd = establish(&v, 1000, 52, 10); /* guest buffers only 10 bytes */
	T_CHECK_EQ_INT(send(fd, "0123456789abcdef", 16, 0), 16);
	settle(&v);
	T_CHECK(v.wakes > 0);
	struct vsock_hdr h;
	T_CHECK(next(&v, &h, 4096) == 1);
	T_CHECK_EQ_INT(h.op, VSOCK_OP_RW);
	T_CHECK_EQ_INT(h.len, 10);
	T_CHECK(memcmp(rxbuf, "0123456789", 10) == 0);
	/* credit exhausted: one CREDIT_REQUEST, then silence */
	settle(&v);
	T_CHECK(next(&v, &h, 4096) == 1);
	T_CHECK_EQ_INT(h.op, VSOCK_OP_CREDIT_REQUEST);
	settle(&v);
	T_CHECK(!vsock_engine_has_output(v.e));
	/* guest consumed 4: four more bytes */
	gpkt(&v, VSOCK_OP_CREDIT_UPDATE, 1000, 52, 0, 10, 4, NULL, 0);
	T_CHECK(next(&v, &h, 4096) == 1);
	T_CHECK_EQ_INT(h.op, VSOCK_OP_RW);
	T_CHECK_EQ_INT(h.len, 4);
	T_CHECK(memcmp(rxbuf, "abcd", 4) == 0);
	/* the rx buffer's capacity bounds the packet too */
	gpkt(&v, VSOCK_OP_CREDIT_UPDATE, 1000, 52, 0, 262144, 14, NULL, 0);
	T_CHECK(next(&v, &h, 1) == 1);
	T_CHECK(h.op == VSOCK_OP_RW && h.len == 1 && rxbuf[0] == 'e');
	T_CHECK(next(&v, &h, 4096) == 1);
	T_CHECK(h.op == VSOCK_OP_RW && h.len == 1 && rxbuf[0] == 'f');
	/* a peer claiming to have consumed more than we sent gets nothing */
	T_CHECK_EQ_INT(send(fd, "zz", 2, 0), 2);
	gpkt(&v, VSOCK_OP_CREDIT_UPDATE, 1000, 52, 0, 262144, 1000, NULL, 0);
	settle(&v);
	T_CHECK(next(&v, &h, 4096) == 1);
	T_CHECK_EQ_INT(h.op, VSOCK_OP_CREDIT_REQUEST);
	T_CHECK(!vsock_engine_has_output(v.e));
	env_fini(&v);
}

static void t_overrun_rst(void)
{
	struct env v;
	env_init(&v);
	int fd = establish(&v, 1000, 52, 262144);
	static uint8_t chunk[VSOCK_MAX_PAYLOAD];
	memset(chunk, 'q', sizeof(chunk));
	/* The host never reads: the socket fills, then the backlog. A guest
	 * that sends far beyond our buf_alloc must be reset. */
	int sent = 0;
	for (; sent < 64 && vsock_engine_nconns(v.e) == 1; sent++)
		gpkt(&v, VSOCK_OP_RW, 1000, 52, 0, 262144, 0, chunk, sizeof(chunk));
	T_CHECK_EQ_INT(vsock_engine_nconns(v.e), 0);
	struct vsock_hdr h;
	bool rst = false;
	while (next(&v, &h, 4096) == 1)
		rst |= h.op == VSOCK_OP_RST && h.dst_port == 1000;
	T_CHECK(rst);
	(void)fd;
	env_fini(&v);
}

/* An honest guest (respecting our credit) against a slow host reader never
 * gets reset, and every byte arrives in order. */
static void t_backlog_honest(void)
{
	struct env v;
	env_init(&v);
	v.sndbuf = 4096;
	int fd = establish(&v, 1000, 52, 262144);
	static uint8_t chunk[VSOCK_MAX_PAYLOAD];
	uint32_t tx = 0, fwd_seen = 0, got = 0;
	const uint32_t total = 4u << 20;
	uint8_t rb[8192];
	bool bad = false;
	for (int round = 0; round < 100000 && got < total; round++) {
		/* guest sends what our last advertised credit allows */
		uint32_t room = vsock_peer_free(VSOCK_BUF_ALLOC, tx, fwd_seen);
		uint32_t n = MIN(MIN(room, (uint32_t)sizeof(chunk)), total - tx);
		if (n) {
			for (uint32_t i = 0; i < n; i++)
				chunk[i] = (uint8_t)((tx + i) * 7);
			gpkt(&v, VSOCK_OP_RW, 1000, 52, 0, 262144, 0, chunk, n);
			tx += n;
		}
		if (!T_CHECK_EQ_INT(vsock_engine_nconns(v.e), 1))
			break;
		ssize_t r = recv(fd, rb, sizeof(rb), MSG_DONTWAIT);
		for (ssize_t i = 0; i < r; i++)
			bad |= rb[i] != (uint8_t)((got + (uint32_t)i) * 7);
		if (r > 0)
			got += (uint32_t)r;
		settle(&v);
		struct vsock_hdr h;
		while (next(&v, &h, 4096) == 1)
			if (h.op == VSOCK_OP_CREDIT_UPDATE)
				fwd_seen = h.fwd_cnt;
	}
	T_CHECK_EQ_INT(got, total);
	T_CHECK(!bad);
	env_fini(&v);
}

/* ---- shutdown ------------------------------------------------------------ */

static void t_guest_shutdown_send(void)
{
	struct env v;
	env_init(&v);
	int fd = establish(&v, 1000, 52, 262144);
	gpkt(&v, VSOCK_OP_RW, 1000, 52, 0, 262144, 0, "bye", 3);
	gpkt(&v, VSOCK_OP_SHUTDOWN, 1000, 52, VSOCK_SHUTDOWN_SEND, 262144, 0, NULL, 0);
	char buf[8];
	T_CHECK_EQ_INT(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 3);
	T_CHECK(peer_eof(fd)); /* host app sees EOF */
	/* host -> guest still open */
	T_CHECK_EQ_INT(send(fd, "up", 2, 0), 2);
	settle(&v);
	struct vsock_hdr h;
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_RW && h.len == 2);
	/* sticky: a later SHUTDOWN RCV makes both, so the connection ends */
	gpkt(&v, VSOCK_OP_SHUTDOWN, 1000, 52, VSOCK_SHUTDOWN_RCV, 262144, 0, NULL, 0);
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_RST);
	T_CHECK_EQ_INT(vsock_engine_nconns(v.e), 0);
	env_fini(&v);
}

static void t_guest_shutdown_rcv(void)
{
	struct env v;
	env_init(&v);
	int fd = establish(&v, 1000, 52, 262144);
	gpkt(&v, VSOCK_OP_SHUTDOWN, 1000, 52, VSOCK_SHUTDOWN_RCV, 262144, 0, NULL, 0);
	T_CHECK_EQ_INT(send(fd, "nope", 4, 0), 4);
	settle(&v);
	T_CHECK(!vsock_engine_has_output(v.e)); /* no RW after RCV */
	/* guest -> host still flows */
	gpkt(&v, VSOCK_OP_RW, 1000, 52, 0, 262144, 0, "ok", 2);
	char buf[4];
	T_CHECK_EQ_INT(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 2);
	env_fini(&v);
}

static void t_guest_close_flushes(void)
{
	struct env v;
	env_init(&v);
	v.sndbuf = 4096;
	int fd = establish(&v, 1000, 52, 262144);
	static uint8_t chunk[VSOCK_MAX_PAYLOAD];
	memset(chunk, 'z', sizeof(chunk));
	gpkt(&v, VSOCK_OP_RW, 1000, 52, 0, 262144, 0, chunk, sizeof(chunk));
	gpkt(&v, VSOCK_OP_SHUTDOWN, 1000, 52, 3, 262144, 0, NULL, 0);
	struct vsock_hdr h;
	while (next(&v, &h, 4096) == 1) /* backlog first, RST after */
		T_CHECK(h.op != VSOCK_OP_RST);
	T_CHECK_EQ_INT(vsock_engine_nconns(v.e), 1);
	size_t got = 0;
	char buf[8192];
	for (int i = 0; i < 10000; i++) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r == 0)
			break;
		if (r > 0)
			got += (size_t)r;
		ev_run_once(v.loop, 0);
	}
	T_CHECK_EQ_INT(got, sizeof(chunk));
	bool rst = false;
	while (next(&v, &h, 4096) == 1)
		rst |= h.op == VSOCK_OP_RST;
	T_CHECK(rst);
	T_CHECK_EQ_INT(vsock_engine_nconns(v.e), 0);
	env_fini(&v);
}

static void t_guest_close_empty(void)
{
	struct env v;
	env_init(&v);
	int fd = establish(&v, 1000, 52, 262144);
	gpkt(&v, VSOCK_OP_SHUTDOWN, 1000, 52, 3, 262144, 0, NULL, 0);
	struct vsock_hdr h;
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_RST && h.dst_port == 1000);
	T_CHECK(peer_eof(fd));
	/* a later RST from the guest is not answered */
	gpkt(&v, VSOCK_OP_RST, 1000, 52, 0, 0, 0, NULL, 0);
	T_CHECK(!vsock_engine_has_output(v.e));
	env_fini(&v);
}

static void t_host_half_close(void)
{
	struct env v;
	env_init(&v);
	int fd = establish(&v, 1000, 52, 262144);
	T_CHECK_EQ_INT(send(fd, "last", 4, 0), 4);
	shutdown(fd, SHUT_WR);
	settle(&v);
	struct vsock_hdr h;
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_RW && h.len == 4);
	settle(&v);
	T_CHECK(next(&v, &h, 4096) == 1);
	T_CHECK_EQ_INT(h.op, VSOCK_OP_SHUTDOWN);
	T_CHECK_EQ_INT(h.flags, VSOCK_SHUTDOWN_SEND);
	settle(&v);
	T_CHECK(!vsock_engine_has_output(v.e));
	/* guest -> host still open */
	gpkt(&v, VSOCK_OP_RW, 1000, 52, 0, 262144, 0, "more", 4);
	char buf[8];
	T_CHECK_EQ_INT(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 4);
	env_fini(&v);
}

static void t_host_full_close(void)
{
	struct env v;
	env_init(&v);
	vsock_engine_set_timeouts(v.e, 50, 50);
	int fd = establish(&v, 1000, 52, 262144);
	close(fd);
	v.peer[0] = -1;
	settle(&v);
	struct vsock_hdr h;
	T_CHECK(next(&v, &h, 4096) == 1);
	T_CHECK_EQ_INT(h.op, VSOCK_OP_SHUTDOWN);
	T_CHECK_EQ_INT(h.flags, 3);
	T_CHECK(!vsock_engine_has_output(v.e));
	/* the guest never answers: RST at the deadline */
	for (int i = 0; i < 100 && !vsock_engine_has_output(v.e); i++)
		ev_run_once(v.loop, 100);
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_RST);
	T_CHECK_EQ_INT(vsock_engine_nconns(v.e), 0);
	/* a guest that answers with RST ends it at once */
	fd = establish(&v, 1001, 52, 262144);
	close(fd);
	v.peer[1] = -1;
	settle(&v);
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_SHUTDOWN);
	gpkt(&v, VSOCK_OP_RST, 1001, 52, 0, 0, 0, NULL, 0);
	T_CHECK_EQ_INT(vsock_engine_nconns(v.e), 0);
	T_CHECK(!vsock_engine_has_output(v.e));
	env_fini(&v);
}

/* Regression: a host socket that hangs up while the guest has no credit is
 * no longer watched by epoll; the rest of its data and then its EOF must
 * still reach the guest once credit returns (64 MiB through `lcvm run -i`
 * never ended before). */
static void t_host_close_while_credit_blocked(void)
{
	struct env v;
	env_init(&v);
	vsock_engine_set_timeouts(v.e, 5000, 5000);
	int fd = establish(&v, 1000, 52, 10);
	T_CHECK_EQ_INT(send(fd, "0123456789abcdef", 16, 0), 16);
	settle(&v);
	struct vsock_hdr h;
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_RW && h.len == 10);
	settle(&v);
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_CREDIT_REQUEST);
	close(fd); /* the host side is done: hang-up with 6 bytes still unread */
	v.peer[0] = -1;
	settle(&v);
	gpkt(&v, VSOCK_OP_CREDIT_UPDATE, 1000, 52, 0, 262144, 10, NULL, 0);
	settle(&v);
	T_CHECK(next(&v, &h, 4096) == 1);
	T_CHECK(h.op == VSOCK_OP_RW && h.len == 6 && memcmp(rxbuf, "abcdef", 6) == 0);
	settle(&v);
	T_CHECK(next(&v, &h, 4096) == 1);
	T_CHECK_EQ_INT(h.op, VSOCK_OP_SHUTDOWN);
	T_CHECK(h.flags & VSOCK_SHUTDOWN_SEND);
	env_fini(&v);
}

static void t_request_on_live_key(void)
{
	struct env v;
	env_init(&v);
	int old = establish(&v, 1000, 52, 262144);
	int fresh = establish(&v, 1000, 52, 262144);
	T_CHECK(peer_eof(old));
	T_CHECK_EQ_INT(vsock_engine_nconns(v.e), 1);
	gpkt(&v, VSOCK_OP_RW, 1000, 52, 0, 262144, 0, "n", 1);
	char c;
	T_CHECK_EQ_INT(recv(fresh, &c, 1, MSG_DONTWAIT), 1);
	env_fini(&v);
}

/* ---- host-initiated connections ------------------------------------------ */

static void t_host_connect(void)
{
	struct env v;
	env_init(&v);
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	uint32_t port = 0;
	T_CHECK_EQ_INT(vsock_engine_connect(v.e, 1024, sv[0], on_done, &v, &port), 0);
	T_CHECK_EQ_INT(port, VSOCK_HOST_PORT_FIRST);
	T_CHECK_EQ_INT(v.done_calls, 0); /* never from inside connect */
	struct vsock_hdr h;
	T_CHECK(next(&v, &h, 4096) == 1);
	T_CHECK_EQ_INT(h.op, VSOCK_OP_REQUEST);
	T_CHECK_EQ_INT(h.src_port, port);
	T_CHECK_EQ_INT(h.dst_port, 1024);
	T_CHECK_EQ_INT(h.buf_alloc, VSOCK_BUF_ALLOC);
	/* client bytes sent before the guest accepted wait for it */
	T_CHECK_EQ_INT(send(sv[1], "early", 5, 0), 5);
	settle(&v);
	T_CHECK(!vsock_engine_has_output(v.e));
	gpkt(&v, VSOCK_OP_RESPONSE, 1024, port, 0, 262144, 0, NULL, 0);
	T_CHECK_EQ_INT(v.done_calls, 1);
	T_CHECK_EQ_INT(v.done_result, 0);
	settle(&v);
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_RW && h.len == 5);
	T_CHECK(memcmp(rxbuf, "early", 5) == 0);
	gpkt(&v, VSOCK_OP_RW, 1024, port, 0, 262144, 5, "reply", 5);
	char buf[8];
	T_CHECK_EQ_INT(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 5);
	/* round robin: the next connection gets the next port */
	int sv2[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv2);
	T_CHECK_EQ_INT(vsock_engine_connect(v.e, 1024, sv2[0], on_done, &v, &port), 0);
	T_CHECK_EQ_INT(port, VSOCK_HOST_PORT_FIRST + 1);
	/* refused by the guest: done(-ECONNREFUSED), fd closed, no RST back */
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_REQUEST);
	gpkt(&v, VSOCK_OP_RST, 1024, port, 0, 0, 0, NULL, 0);
	T_CHECK_EQ_INT(v.done_calls, 2);
	T_CHECK_EQ_INT(v.done_result, -ECONNREFUSED);
	T_CHECK(peer_eof(sv2[1]));
	T_CHECK(!vsock_engine_has_output(v.e));
	close(sv[1]);
	close(sv2[1]);
	env_fini(&v);
}

static void t_host_connect_timeout_and_reset(void)
{
	struct env v;
	env_init(&v);
	vsock_engine_set_timeouts(v.e, 50, 50);
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	uint32_t port;
	T_CHECK_EQ_INT(vsock_engine_connect(v.e, 7, sv[0], on_done, &v, &port), 0);
	struct vsock_hdr h;
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_REQUEST);
	for (int i = 0; i < 100 && !v.done_calls; i++)
		ev_run_once(v.loop, 100);
	T_CHECK_EQ_INT(v.done_result, -ETIMEDOUT);
	T_CHECK(peer_eof(sv[1]));
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_RST && h.src_port == port);
	close(sv[1]);
	/* an other op than RESPONSE while connecting: RST */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	T_CHECK_EQ_INT(vsock_engine_connect(v.e, 7, sv[0], on_done, &v, &port), 0);
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_REQUEST);
	gpkt(&v, VSOCK_OP_RW, 7, port, 0, 262144, 0, "x", 1);
	T_CHECK_EQ_INT(v.done_calls, 2);
	T_CHECK(v.done_result < 0);
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_RST);
	close(sv[1]);
	/* guest reset: pending connect fails, established ones close, queue empties */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	T_CHECK_EQ_INT(vsock_engine_connect(v.e, 7, sv[0], on_done, &v, &port), 0);
	T_CHECK(next(&v, &h, 4096) == 1 && h.op == VSOCK_OP_REQUEST);
	int g = establish(&v, 1000, 52, 262144);
	gpkt(&v, VSOCK_OP_RW, 5, 5, 0, 0, 0, NULL, 0); /* queues a stray RST */
	vsock_engine_reset(v.e);
	T_CHECK_EQ_INT(v.done_calls, 3);
	T_CHECK_EQ_INT(v.done_result, -ECONNRESET);
	T_CHECK_EQ_INT(vsock_engine_nconns(v.e), 0);
	T_CHECK(!vsock_engine_has_output(v.e));
	T_CHECK(peer_eof(sv[1]));
	T_CHECK(peer_eof(g));
	close(sv[1]);
	env_fini(&v);
}

/* A host app that stops reading throttles only its own connection. */
static void t_no_head_of_line(void)
{
	struct env v;
	env_init(&v);
	int slow = establish(&v, 1000, 52, 262144);
	int fast = establish(&v, 1001, 53, 262144);
	static uint8_t chunk[VSOCK_MAX_PAYLOAD];
	for (int i = 0; i < 3; i++) /* within credit: no reset */
		gpkt(&v, VSOCK_OP_RW, 1000, 52, 0, 262144, 0, chunk, sizeof(chunk));
	T_CHECK_EQ_INT(vsock_engine_nconns(v.e), 2);
	gpkt(&v, VSOCK_OP_RW, 1001, 53, 0, 262144, 0, "f", 1);
	char c;
	T_CHECK_EQ_INT(recv(fast, &c, 1, MSG_DONTWAIT), 1);
	/* and host->guest from both interleave round robin */
	T_CHECK_EQ_INT(send(slow, "aaaa", 4, 0), 4);
	T_CHECK_EQ_INT(send(fast, "bbbb", 4, 0), 4);
	settle(&v);
	struct vsock_hdr h;
	int seen[2] = { 0, 0 };
	while (next(&v, &h, 2) == 1)
		if (h.op == VSOCK_OP_RW)
			seen[h.dst_port - 1000] += (int)h.len;
	T_CHECK_EQ_INT(seen[0], 4);
	T_CHECK_EQ_INT(seen[1], 4);
	env_fini(&v);
}

int main(void)
{
	T_RUN(t_hdr_roundtrip);
	T_RUN(t_hdr_hostile);
	T_RUN(t_credit_math);
	T_RUN(t_request_response);
	T_RUN(t_request_refused);
	T_RUN(t_strays);
	T_RUN(t_guest_to_host_data);
	T_RUN(t_host_to_guest_credit);
	T_RUN(t_overrun_rst);
	T_RUN(t_backlog_honest);
	T_RUN(t_guest_shutdown_send);
	T_RUN(t_guest_shutdown_rcv);
	T_RUN(t_guest_close_flushes);
	T_RUN(t_guest_close_empty);
	T_RUN(t_host_half_close);
	T_RUN(t_host_full_close);
	T_RUN(t_host_close_while_credit_blocked);
	T_RUN(t_request_on_live_key);
	T_RUN(t_host_connect);
	T_RUN(t_host_connect_timeout_and_reset);
	T_RUN(t_no_head_of_line);
	return t_done();
}
