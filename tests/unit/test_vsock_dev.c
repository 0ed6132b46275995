/* vsock device end to end over rings: a fake driver (tests/unit/fake_driver.h)
 * plays QEMU 7.2 and a Linux 6.1 guest's virtio-vsock transport; the host
 * side is the hybrid unix convention. No sleeps: every wait runs the loop. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fake_driver.h"
#include "test.h"
#include "util/cleanup.h"
#include "util/evloop.h"
#include "vsock/hybrid.h"
#include "vsock/vsock_dev.h"

#define CID 3u
#define RXQ 0u
#define TXQ 1u
#define RX_BUF 3776u         /* Linux 6.1.149+ rx buffer */
#define GUEST_BUF 262144u    /* Linux buf_alloc */
#define NRX 64

struct env {
	char dir[64], uds[128];
	struct ev_loop *loop;
	struct hybrid *h;
	struct vsock_dev *d;
	struct fdrv *dr;
	int tx_out;                  /* tx chains not completed yet */
	bool split_rx;               /* 6.1.0-style 44 + 4096 rx chains */
};

static int post_rx(struct env *v, int n)
{
	for (int i = 0; i < n; i++) {
		struct fdrv_buf one = { NULL, RX_BUF, true };
		struct fdrv_buf two[2] = { { NULL, 44, true }, { NULL, 4096, true } };
		int r = v->split_rx ? fdrv_post(v->dr, RXQ, two, 2, FDRV_DIRECT)
				    : fdrv_post(v->dr, RXQ, &one, 1, FDRV_DIRECT);
		if (r < 0)
			return r;
	}
	fdrv_kick(v->dr, RXQ);
	return 0;
}

static void pump(struct env *v)
{
	fdrv_pump(v->loop);
	uint32_t id, len;
	while (fdrv_get_used(v->dr, TXQ, &id, &len) == 1)
		v->tx_out--;
}

static bool env_init(struct env *v)
{
	memset(v, 0, sizeof(*v));
	strcpy(v->dir, "/tmp/lcvm-vsd-XXXXXX");
	if (!mkdtemp(v->dir))
		return false;
	snprintf(v->uds, sizeof(v->uds), "%s/v.sock", v->dir);
	struct lc_err e = { { 0 } };
	v->loop = ev_loop_new();
	v->h = hybrid_new(v->loop, v->uds, &e);
	v->d = v->h ? vsock_dev_new(v->loop, CID, &hybrid_host_ops, v->h) : NULL;
	if (!v->d || hybrid_listen(v->h, v->d, &e) < 0 || !vsock_dev_vu(v->d))
		return false;
	struct fdrv_opts o = { .ram_size = 8u << 20 };
	v->dr = fdrv_new(&o);
	if (!v->dr || fdrv_connect(v->dr, vsock_dev_vu(v->d)) < 0 ||
	    fdrv_realize(v->dr, v->loop) < 0 || fdrv_start(v->dr, v->loop) < 0)
		return false;
	if (post_rx(v, NRX) < 0)
		return false;
	pump(v);
	return true;
}

static void env_fini(struct env *v)
{
	vsock_dev_free(v->d);
	hybrid_free(v->h);
	fdrv_free(v->dr);
	ev_loop_free(v->loop);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", v->dir);
	if (system(cmd)) { /* best effort */ }
}

/* Guest -> device: one packet on tx (indirect header + payload, like Linux
 * with INDIRECT_DESC; control packets as one direct descriptor). */
static void gsend(struct env *v, uint16_t op, uint32_t gport, uint32_t hport, uint32_t flags,
		  uint32_t fwd_cnt, const void *data, uint32_t len)
{
	struct vsock_hdr h = {
		.src_cid = CID, .dst_cid = 2, .src_port = gport, .dst_port = hport, .len = len,
		.type = 1, .op = op, .flags = flags, .buf_alloc = GUEST_BUF, .fwd_cnt = fwd_cnt,
	};
	uint8_t raw[VSOCK_HDR_SIZE];
	vsock_hdr_encode(&h, raw);
	struct fdrv_buf b[2] = { { raw, sizeof(raw), false }, { data, len, false } };
	if (len)
		fdrv_post(v->dr, TXQ, b, 2, FDRV_INDIRECT);
	else
		fdrv_post(v->dr, TXQ, b, 1, FDRV_DIRECT);
	v->tx_out++;
	fdrv_kick(v->dr, TXQ);
}

/* Device -> guest: the next completed rx buffer, replaced at once. */
static int grecv(struct env *v, struct vsock_hdr *h, uint8_t *payload)
{
	uint32_t id, len;
	if (fdrv_get_used(v->dr, RXQ, &id, &len) != 1)
		return 0;
	uint8_t buf[4200];
	size_t n = fdrv_read_in(v->dr, RXQ, (uint16_t)id, buf, sizeof(buf));
	post_rx(v, 1);
	if (!T_CHECK(len >= VSOCK_HDR_SIZE && len <= n) ||
	    vsock_hdr_decode(buf, n, h) < 0 || !T_CHECK_EQ_INT(h->len, len - VSOCK_HDR_SIZE))
		return -1;
	T_CHECK_EQ_INT(h->src_cid, 2);
	T_CHECK_EQ_INT(h->dst_cid, CID);
	if (payload)
		memcpy(payload, buf + VSOCK_HDR_SIZE, h->len);
	return 1;
}

/* Pumps until a packet arrives; 0 if none came. */
static int gwait(struct env *v, struct vsock_hdr *h, uint8_t *payload)
{
	for (int i = 0; i < 50; i++) {
		int r = grecv(v, h, payload);
		if (r)
			return r;
		pump(v);
	}
	return 0;
}

static int listen_at(struct env *v, uint32_t port)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s_%u", v->uds, port);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 8) < 0) {
		close(l);
		return -1;
	}
	return l;
}

static int accept_nb(int l)
{
	struct pollfd p = { .fd = l, .events = POLLIN };
	if (poll(&p, 1, 0) != 1)
		return -1;
	return accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* Guest connects gport -> host port; returns the accepted host socket. */
static int guest_connect(struct env *v, int l, uint32_t gport, uint32_t hport)
{
	gsend(v, VSOCK_OP_REQUEST, gport, hport, 0, 0, NULL, 0);
	pump(v);
	struct vsock_hdr h;
	if (!T_CHECK(gwait(v, &h, NULL) == 1) || !T_CHECK_EQ_INT(h.op, VSOCK_OP_RESPONSE))
		return -1;
	T_CHECK_EQ_INT(h.src_port, hport);
	T_CHECK_EQ_INT(h.dst_port, gport);
	return accept_nb(l);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* LCVM_VSOCK_STREAM_MIB=64 measures bigger transfers (default 4 MiB). */
static uint32_t stream_bytes(void)
{
	const char *s = getenv("LCVM_VSOCK_STREAM_MIB");
	unsigned long m = s ? strtoul(s, NULL, 10) : 0;
	return (m > 0 && m <= 1024 ? (uint32_t)m : 4u) << 20;
}

static uint8_t pat(uint32_t off) { return (uint8_t)(off * 131u + (off >> 12)); }

static void t_realize_config(void)
{
	struct env v;
	if (!T_CHECK(env_init(&v)))
		return;
	const uint8_t *c = fdrv_config(v.dr);
	T_CHECK(c[0] == CID && c[1] == 0 && c[4] == 0 && c[7] == 0);
	uint64_t f = fdrv_offered_features(v.dr);
	T_CHECK((f & VSOCK_DEV_FEATURES) == VSOCK_DEV_FEATURES);
	T_CHECK(!(f & (1ull << 1))); /* no SEQPACKET */
	T_CHECK((fdrv_offered_protocol(v.dr) & VSOCK_DEV_PROTOCOL_FEATURES) ==
		VSOCK_DEV_PROTOCOL_FEATURES);
	env_fini(&v);
}

static void t_guest_connect_refused(void)
{
	struct env v;
	if (!T_CHECK(env_init(&v)))
		return;
	gsend(&v, VSOCK_OP_REQUEST, 1000, 77, 0, 0, NULL, 0); /* nobody at <uds>_77 */
	pump(&v);
	struct vsock_hdr h;
	T_CHECK(gwait(&v, &h, NULL) == 1);
	T_CHECK_EQ_INT(h.op, VSOCK_OP_RST);
	T_CHECK_EQ_INT(h.dst_port, 1000);
	T_CHECK(fdrv_take_call(v.dr, RXQ) > 0); /* the guest was interrupted */
	env_fini(&v);
}

/* Tx completions are signalled late but always: with the next rx batch, once
 * VSOCK_DEV_TX_NOTIFY_BATCH are owed, or after VSOCK_DEV_TX_NOTIFY_MS when
 * nothing else comes (a missed one would leave the guest's ring full). */
static void t_tx_notify_coalesced(void)
{
	struct env v;
	if (!T_CHECK(env_init(&v)))
		return;
	fdrv_take_call(v.dr, TXQ);
	fdrv_take_call(v.dr, RXQ);
	/* A REQUEST nobody serves: tx completion and the RST on rx, both signalled. */
	fdrv_set_used_event(v.dr, TXQ, fdrv_avail_idx(v.dr, TXQ));
	gsend(&v, VSOCK_OP_REQUEST, 1000, 77, 0, 0, NULL, 0);
	pump(&v);
	T_CHECK(fdrv_take_call(v.dr, RXQ) > 0);
	T_CHECK(fdrv_take_call(v.dr, TXQ) > 0);
	struct vsock_hdr h;
	T_CHECK(gwait(&v, &h, NULL) == 1 && h.op == VSOCK_OP_RST);
	/* An RST for an unknown connection produces nothing on rx: the tx call
	 * still comes, from the timer (bounded wait, 5 s). */
	fdrv_set_used_event(v.dr, TXQ, fdrv_avail_idx(v.dr, TXQ)); /* as Linux: the next one */
	gsend(&v, VSOCK_OP_RST, 1001, 78, 0, 0, NULL, 0);
	uint64_t calls = 0;
	for (int i = 0; i < 50 && !(calls = fdrv_take_call(v.dr, TXQ)); i++) {
		ev_run_once(v.loop, 100);
		pump(&v);
	}
	T_CHECK(calls > 0);
	T_CHECK_EQ_INT(v.tx_out, 0);
	/* A batch of VSOCK_DEV_TX_NOTIFY_BATCH tx-only packets: signalled at once. */
	fdrv_set_used_event(v.dr, TXQ, fdrv_avail_idx(v.dr, TXQ));
	for (unsigned i = 0; i < VSOCK_DEV_TX_NOTIFY_BATCH; i++)
		gsend(&v, VSOCK_OP_RST, 1002 + i, 79, 0, 0, NULL, 0);
	pump(&v);
	T_CHECK_EQ_INT(v.tx_out, 0);
	T_CHECK(fdrv_take_call(v.dr, TXQ) > 0);
	env_fini(&v);
}

/* Guest -> host 4 MiB, honouring the credit the device advertises. */
static void t_stream_guest_to_host(void)
{
	struct env v;
	if (!T_CHECK(env_init(&v)))
		return;
	int l = listen_at(&v, 52);
	int s = guest_connect(&v, l, 1000, 52);
	if (!T_CHECK(s >= 0))
		goto out;
	const uint32_t total = stream_bytes();
	static uint8_t chunk[VSOCK_MAX_PAYLOAD], rb[65536];
	uint32_t sent = 0, got = 0, peer_fwd = 0;
	bool bad = false;
	double t0 = now_s();
	for (int round = 0; round < 10000000 && got < total; round++) {
		uint32_t room = vsock_peer_free(VSOCK_BUF_ALLOC, sent, peer_fwd);
		for (int k = 0; k < 4 && room && sent < total && v.tx_out < 64; k++) {
			uint32_t n = MIN(MIN(room, (uint32_t)sizeof(chunk)), total - sent);
			for (uint32_t i = 0; i < n; i++)
				chunk[i] = pat(sent + i);
			gsend(&v, VSOCK_OP_RW, 1000, 52, 0, 0, chunk, n);
			sent += n;
			room -= n;
		}
		pump(&v);
		ssize_t r;
		while ((r = recv(s, rb, sizeof(rb), MSG_DONTWAIT)) > 0) {
			for (ssize_t i = 0; i < r; i++)
				bad |= rb[i] != pat(got + (uint32_t)i);
			got += (uint32_t)r;
		}
		pump(&v);
		struct vsock_hdr h;
		while (grecv(&v, &h, NULL) == 1) {
			T_CHECK(h.op == VSOCK_OP_CREDIT_UPDATE);
			peer_fwd = h.fwd_cnt;
		}
	}
	double dt = now_s() - t0;
	T_CHECK_EQ_INT(got, total);
	T_CHECK(!bad);
	T_CHECK(fdrv_take_call(v.dr, TXQ) > 0); /* completed tx buffers were signalled */
	fprintf(stderr, "guest->host %u MiB in %.3f s\n", total >> 20, dt);
	/* guest close: host sees EOF, guest gets RST */
	gsend(&v, VSOCK_OP_SHUTDOWN, 1000, 52, 3, 0, NULL, 0);
	pump(&v);
	struct vsock_hdr h;
	T_CHECK(gwait(&v, &h, NULL) == 1 && h.op == VSOCK_OP_RST);
	char c;
	T_CHECK_EQ_INT(recv(s, &c, 1, MSG_DONTWAIT), 0);
	close(s);
out:
	close(l);
	env_fini(&v);
}

/* Host -> guest 4 MiB; the guest model never lets the device exceed its
 * buf_alloc and sends CREDIT_UPDATE like Linux. */
static void host_to_guest(bool split_rx)
{
	struct env v;
	if (!T_CHECK(env_init(&v)))
		return;
	v.split_rx = split_rx;
	int l = listen_at(&v, 52);
	int s = guest_connect(&v, l, 1000, 52);
	if (!T_CHECK(s >= 0))
		goto out;
	const uint32_t total = stream_bytes();
	static uint8_t wb[65536], pl[4200];
	uint32_t written = 0, got = 0, last_sent = 0;
	bool bad = false, overrun = false;
	double t0 = now_s();
	for (int round = 0; round < 10000000 && got < total; round++) {
		if (written < total) {
			uint32_t n = MIN((uint32_t)sizeof(wb), total - written);
			for (uint32_t i = 0; i < n; i++)
				wb[i] = pat(written + i);
			ssize_t r = send(s, wb, n, MSG_DONTWAIT);
			if (r > 0)
				written += (uint32_t)r;
		}
		pump(&v);
		struct vsock_hdr h;
		while (grecv(&v, &h, pl) == 1) {
			if (h.op != VSOCK_OP_RW)
				continue;
			for (uint32_t i = 0; i < h.len; i++)
				bad |= pl[i] != pat(got + i);
			got += h.len;
			overrun |= got - last_sent > GUEST_BUF;
			/* the app reads at once; Linux's update rule */
			if (GUEST_BUF - (got - last_sent) < VSOCK_MAX_PAYLOAD) {
				gsend(&v, VSOCK_OP_CREDIT_UPDATE, 1000, 52, 0, got, NULL, 0);
				last_sent = got;
			}
		}
	}
	double dt = now_s() - t0;
	T_CHECK_EQ_INT(got, total);
	T_CHECK(!bad);
	T_CHECK(!overrun);
	T_CHECK(fdrv_take_call(v.dr, RXQ) > 0);
	fprintf(stderr, "host->guest %u MiB in %.3f s (%s rx buffers)\n", total >> 20, dt,
		split_rx ? "44+4096" : "3776");
	/* host half-close: SHUTDOWN SEND only, guest -> host stays open */
	shutdown(s, SHUT_WR);
	pump(&v);
	struct vsock_hdr h;
	T_CHECK(gwait(&v, &h, NULL) == 1);
	T_CHECK_EQ_INT(h.op, VSOCK_OP_SHUTDOWN);
	T_CHECK_EQ_INT(h.flags, VSOCK_SHUTDOWN_SEND);
	gsend(&v, VSOCK_OP_RW, 1000, 52, 0, got, "tail", 4);
	pump(&v);
	char tb[8];
	T_CHECK_EQ_INT(recv(s, tb, sizeof(tb), MSG_DONTWAIT), 4);
	close(s);
out:
	close(l);
	env_fini(&v);
}

static void t_stream_host_to_guest(void) { host_to_guest(false); }
static void t_stream_host_to_guest_split_rx(void) { host_to_guest(true); }

/* Hybrid host connect: CONNECT/OK, bytes after the LF kept for the guest. */
static void t_hybrid_connect(void)
{
	struct env v;
	if (!T_CHECK(env_init(&v)))
		return;
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, v.uds);
	T_CHECK(connect(c, (struct sockaddr *)&a, sizeof(a)) == 0);
	T_CHECK_EQ_INT(send(c, "CONNECT 1024\nxyz", 16, 0), 16);
	pump(&v);
	struct vsock_hdr h;
	T_CHECK(gwait(&v, &h, NULL) == 1);
	T_CHECK_EQ_INT(h.op, VSOCK_OP_REQUEST);
	T_CHECK_EQ_INT(h.dst_port, 1024);
	T_CHECK_EQ_INT(h.src_port, VSOCK_HOST_PORT_FIRST);
	uint32_t hp = h.src_port;
	gsend(&v, VSOCK_OP_RESPONSE, 1024, hp, 0, 0, NULL, 0);
	pump(&v);
	char line[32] = { 0 };
	T_CHECK_EQ_INT(recv(c, line, sizeof(line) - 1, MSG_DONTWAIT), 14);
	T_CHECK_EQ_STR(line, "OK 1073741824\n");
	uint8_t pl[4200];
	T_CHECK(gwait(&v, &h, pl) == 1);
	T_CHECK(h.op == VSOCK_OP_RW && h.len == 3 && memcmp(pl, "xyz", 3) == 0);
	gsend(&v, VSOCK_OP_RW, 1024, hp, 0, 3, "pong", 4);
	pump(&v);
	char rb[8] = { 0 };
	T_CHECK_EQ_INT(recv(c, rb, sizeof(rb), MSG_DONTWAIT), 4);
	T_CHECK_EQ_STR(rb, "pong");
	/* host full close: SHUTDOWN 3; the guest's RST ends it */
	close(c);
	pump(&v);
	T_CHECK(gwait(&v, &h, NULL) == 1);
	T_CHECK(h.op == VSOCK_OP_SHUTDOWN && h.flags == 3);
	gsend(&v, VSOCK_OP_RST, 1024, hp, 0, 0, NULL, 0);
	pump(&v);
	T_CHECK_EQ_INT(vsock_dev_nconns(v.d), 0);
	/* a refused CONNECT: the client is closed */
	c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	T_CHECK(connect(c, (struct sockaddr *)&a, sizeof(a)) == 0);
	T_CHECK_EQ_INT(send(c, "CONNECT 9\n", 10, 0), 10);
	pump(&v);
	T_CHECK(gwait(&v, &h, NULL) == 1 && h.op == VSOCK_OP_REQUEST);
	T_CHECK_EQ_INT(h.src_port, VSOCK_HOST_PORT_FIRST + 1);
	gsend(&v, VSOCK_OP_RST, 9, h.src_port, 0, 0, NULL, 0);
	pump(&v);
	T_CHECK_EQ_INT(recv(c, rb, sizeof(rb), MSG_DONTWAIT), 0);
	close(c);
	env_fini(&v);
}

/* A guest reset (rings moved, base 0) drops every connection. */
static void t_guest_reset(void)
{
	struct env v;
	if (!T_CHECK(env_init(&v)))
		return;
	int l = listen_at(&v, 52);
	int s = guest_connect(&v, l, 1000, 52);
	T_CHECK(s >= 0);
	T_CHECK_EQ_INT(vsock_dev_nconns(v.d), 1);
	T_CHECK_EQ_INT(fdrv_stop(v.dr, v.loop), 0);
	T_CHECK_EQ_INT(vsock_dev_nconns(v.d), 1); /* a stop alone keeps them (stop/cont) */
	fdrv_move_rings(v.dr, RXQ);
	fdrv_move_rings(v.dr, TXQ);
	fdrv_set_base(v.dr, RXQ, 0);
	fdrv_set_base(v.dr, TXQ, 0);
	T_CHECK_EQ_INT(fdrv_start(v.dr, v.loop), 0);
	pump(&v);
	T_CHECK_EQ_INT(vsock_dev_nconns(v.d), 0);
	char c;
	T_CHECK_EQ_INT(recv(s, &c, 1, MSG_DONTWAIT), 0);
	close(s);
	close(l);
	env_fini(&v);
}

int main(void)
{
	T_RUN(t_realize_config);
	T_RUN(t_guest_connect_refused);
	T_RUN(t_tx_notify_coalesced);
	T_RUN(t_stream_guest_to_host);
	T_RUN(t_stream_host_to_guest);
	T_RUN(t_stream_host_to_guest_split_rx);
	T_RUN(t_hybrid_connect);
	T_RUN(t_guest_reset);
	return t_done();
}
