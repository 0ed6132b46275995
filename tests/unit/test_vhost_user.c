/* vhost-user back-end (src/vsock/vhost_user.c) driven like QEMU 7.2 drives
 * vhost-user-vsock: real messages over a socketpair, guest RAM in a memfd,
 * rings written by the fake driver. The "device" here is a tiny tx sink /
 * rx source standing in for vsock_dev.c. */
#include "fake_driver.h"
#include "test.h"
#include "util/evloop.h"
#include "vsock/vhost_user.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RX 0
#define TX 1
#define DEV_F ((1ULL << 32) | (1ULL << VQ_F_INDIRECT_DESC) | (1ULL << VQ_F_EVENT_IDX))
#define PROTO_MQ_CONFIG ((1ULL << VU_PROTO_F_MQ) | (1ULL << VU_PROTO_F_CONFIG))

struct env {
	struct ev_loop *loop;
	struct fdrv *dr;
	struct vu_dev *d;
	unsigned kicks[2], resets, tx_done;
	int last_err;
	uint8_t tx[1024];
	size_t tx_len;
};

/* tx sink: every kick drains the tx ring, as vsock_dev must. */
static void on_kick(void *opaque, unsigned idx)
{
	struct env *v = opaque;
	v->kicks[idx]++;
	struct virtq *q = vu_dev_queue(v->d, idx);
	if (idx != TX || !q)
		return;
	struct vq_elem e;
	int r;
	while ((r = vq_pop(q, &e)) != 0) {
		if (r < 0) {
			v->last_err = r;
			if (r == -EIO)
				break;
			continue;
		}
		v->tx_len = vq_read_out(&e, 0, v->tx, sizeof(v->tx));
		vq_push(q, &e, 0);
		v->tx_done++;
	}
	vu_dev_notify(v->d, TX);
}

static void on_reset(void *opaque)
{
	struct env *v = opaque;
	v->resets++;
}

static const struct vu_dev_ops ops = { on_kick, on_reset };
static const uint8_t cid3[8] = { 3, 0, 0, 0, 0, 0, 0, 0 };

static void env_done(struct env *v)
{
	vu_dev_free(v->d);
	fdrv_free(v->dr);
	if (v->loop)
		ev_loop_free(v->loop);
}

/* Device + driver, connected and realized (not started). */
static bool env_init(struct env *v, const struct fdrv_opts *o, uint64_t proto)
{
	memset(v, 0, sizeof(*v));
	struct vu_dev_config cfg = { DEV_F, proto, cid3, sizeof(cid3), 2 };
	v->loop = ev_loop_new();
	v->dr = fdrv_new(o);
	v->d = v->loop ? vu_dev_new(v->loop, &cfg, &ops, v) : NULL;
	if (T_CHECK(v->d && v->dr) && T_CHECK_EQ_INT(fdrv_connect(v->dr, v->d), 0) &&
	    T_CHECK_EQ_INT(fdrv_realize(v->dr, v->loop), 0))
		return true;
	env_done(v);
	return false;
}

static bool env_start(struct env *v, const struct fdrv_opts *o, uint64_t proto)
{
	if (!env_init(v, o, proto))
		return false;
	if (T_CHECK_EQ_INT(fdrv_start(v->dr, v->loop), 0) && T_CHECK(!vu_dev_broken(v->d)))
		return true;
	env_done(v);
	return false;
}

static int post_tx(struct env *v, const char *s, enum fdrv_layout l)
{
	struct fdrv_buf b[2] = { { s, 4, false }, { s + 4, (uint32_t)strlen(s) - 4, false } };
	int h = fdrv_post(v->dr, TX, b, 2, l);
	fdrv_kick(v->dr, TX);
	fdrv_pump(v->loop);
	return h;
}

static void t_realize(void)
{
	struct env v;
	if (!env_init(&v, NULL, PROTO_MQ_CONFIG))
		return;
	uint64_t f = fdrv_offered_features(v.dr);
	T_CHECK_EQ_INT(f, DEV_F | (1ULL << VU_F_PROTOCOL_FEATURES));
	T_CHECK_EQ_INT(fdrv_offered_protocol(v.dr), PROTO_MQ_CONFIG);
	T_CHECK(memcmp(fdrv_config(v.dr), cid3, 8) == 0);
	/* a partial read of config space: bytes [4, 8) plus zeroes past the end */
	struct {
		struct vu_config_hdr h;
		uint8_t data[8];
	} c = { { 0, 8, 0 }, { 0 } };
	c.h.offset = 4;
	struct vu_msg m;
	T_CHECK_EQ_INT(fdrv_send(v.dr, VU_GET_CONFIG, 1, &c, sizeof(c), NULL, 0), 0);
	T_CHECK_EQ_INT(fdrv_recv(v.dr, v.loop, &m), 1);
	T_CHECK_EQ_INT(m.hdr.flags, 0x5);
	T_CHECK_EQ_INT(m.hdr.size, 20);
	T_CHECK_EQ_INT(m.payload[12], 0); /* byte 4 of le64 3 */
	T_CHECK(!vu_dev_broken(v.d));
	/* not started: no queue */
	T_CHECK(vu_dev_queue(v.d, TX) == NULL);
	T_CHECK_EQ_INT(fdrv_recv(v.dr, v.loop, &m), 0); /* nothing unsolicited */
	env_done(&v);
}

static void t_start_traffic(void)
{
	struct env v;
	if (!env_init(&v, NULL, PROTO_MQ_CONFIG))
		return;
	/* the guest posts rx buffers and a tx packet before the device starts */
	struct fdrv_buf rxb = { NULL, 3776, true };
	int rxh = fdrv_post(v.dr, RX, &rxb, 1, FDRV_DIRECT);
	int early = fdrv_post(v.dr, TX, (struct fdrv_buf[]){ { "early", 5, false } }, 1, FDRV_DIRECT);
	T_CHECK_EQ_INT(fdrv_start(v.dr, v.loop), 0);
	T_CHECK_EQ_INT(v.kicks[RX], 1); /* runnable => processed at once */
	T_CHECK_EQ_INT(v.kicks[TX], 1);
	T_CHECK_EQ_INT(v.tx_done, 1);
	T_CHECK(v.tx_len == 5 && memcmp(v.tx, "early", 5) == 0);
	uint32_t id, len;
	T_CHECK_EQ_INT(fdrv_get_used(v.dr, TX, &id, &len), 1);
	T_CHECK_EQ_INT(id, early);
	T_CHECK(fdrv_take_call(v.dr, TX) >= 1);

	/* header + payload, direct and indirect, through the kick eventfd */
	post_tx(&v, "HDR:payload one", FDRV_DIRECT);
	T_CHECK(v.tx_len == 15 && memcmp(v.tx, "HDR:payload one", 15) == 0);
	post_tx(&v, "HDR:payload two", FDRV_INDIRECT);
	T_CHECK(v.tx_len == 15 && memcmp(v.tx, "HDR:payload two", 15) == 0);
	T_CHECK_EQ_INT(v.tx_done, 3);
	T_CHECK_EQ_INT(fdrv_avail_event(v.dr, TX), 3); /* EVENT_IDX: kick me at 3 */

	/* device -> guest on rx */
	struct virtq *q = vu_dev_queue(v.d, RX);
	struct vq_elem e;
	if (T_CHECK(q != NULL) && T_CHECK_EQ_INT(vq_pop(q, &e), 1)) {
		T_CHECK_EQ_INT(vq_write_in(&e, 0, "reply", 5), 5);
		vq_push(q, &e, 5);
		vu_dev_notify(v.d, RX);
	}
	T_CHECK_EQ_INT(fdrv_take_call(v.dr, RX), 1);
	T_CHECK_EQ_INT(fdrv_get_used(v.dr, RX, &id, &len), 1);
	T_CHECK_EQ_INT(id, rxh);
	T_CHECK_EQ_INT(len, 5);
	char back[5];
	fdrv_read_in(v.dr, RX, (uint16_t)rxh, back, 5);
	T_CHECK(memcmp(back, "reply", 5) == 0);
	T_CHECK_EQ_INT(v.resets, 0);
	env_done(&v);
}

static void t_enable_gates_ring(void)
{
	struct env v;
	if (!env_start(&v, NULL, PROTO_MQ_CONFIG))
		return;
	struct vu_state off = { TX, 0 }, on = { TX, 1 };
	fdrv_send(v.dr, VU_SET_VRING_ENABLE, 1, &off, sizeof(off), NULL, 0);
	fdrv_pump(v.loop);
	T_CHECK(vu_dev_queue(v.d, TX) == NULL);
	unsigned k = v.kicks[TX];
	post_tx(&v, "HDR:while disabled", FDRV_DIRECT);
	T_CHECK_EQ_INT(v.kicks[TX], k); /* kick drained, not delivered */
	T_CHECK_EQ_INT(fdrv_used_idx(v.dr, TX), 0);
	fdrv_send(v.dr, VU_SET_VRING_ENABLE, 1, &on, sizeof(on), NULL, 0);
	fdrv_pump(v.loop);
	T_CHECK_EQ_INT(v.kicks[TX], k + 1); /* re-enabled => processed at once */
	T_CHECK_EQ_INT(fdrv_used_idx(v.dr, TX), 1);
	env_done(&v);
}

static void t_stop_cont(void)
{
	struct env v;
	if (!env_start(&v, NULL, PROTO_MQ_CONFIG))
		return;
	for (int i = 0; i < 3; i++)
		post_tx(&v, "HDR:x", FDRV_DIRECT);
	T_CHECK_EQ_INT(fdrv_stop(v.dr, v.loop), 0);
	T_CHECK_EQ_INT(fdrv_stopped_base(v.dr, TX), 3);
	T_CHECK_EQ_INT(fdrv_stopped_base(v.dr, RX), 0);
	T_CHECK(vu_dev_queue(v.d, TX) == NULL);
	/* stopped: the ring is not touched even if the guest posts */
	unsigned k = v.kicks[TX];
	post_tx(&v, "HDR:during stop", FDRV_DIRECT);
	T_CHECK_EQ_INT(v.kicks[TX], k);
	T_CHECK_EQ_INT(fdrv_used_idx(v.dr, TX), 3);
	/* cont: same addresses, our bases => connections survive */
	T_CHECK_EQ_INT(fdrv_start(v.dr, v.loop), 0);
	T_CHECK_EQ_INT(v.resets, 0);
	T_CHECK_EQ_INT(fdrv_used_idx(v.dr, TX), 4); /* the chain posted while stopped */
	T_CHECK(v.tx_len == 15 && memcmp(v.tx, "HDR:during stop", 15) == 0);
	T_CHECK(!vu_dev_broken(v.d));
	env_done(&v);
}

static void t_guest_reset(void)
{
	struct env v;
	if (!env_start(&v, NULL, PROTO_MQ_CONFIG))
		return;
	post_tx(&v, "HDR:before", FDRV_DIRECT);
	T_CHECK_EQ_INT(fdrv_stop(v.dr, v.loop), 0);
	/* reboot: new rings, base 0 */
	fdrv_move_rings(v.dr, RX);
	fdrv_move_rings(v.dr, TX);
	T_CHECK_EQ_INT(fdrv_start(v.dr, v.loop), 0);
	T_CHECK_EQ_INT(v.resets, 1); /* once, not once per ring */
	post_tx(&v, "HDR:after", FDRV_DIRECT);
	T_CHECK(v.tx_len == 9 && memcmp(v.tx, "HDR:after", 9) == 0);
	/* same addresses but a base we did not return: also a reset */
	T_CHECK_EQ_INT(fdrv_stop(v.dr, v.loop), 0);
	fdrv_set_base(v.dr, TX, 0);
	fdrv_set_indices(v.dr, TX, 0);
	T_CHECK_EQ_INT(fdrv_start(v.dr, v.loop), 0);
	T_CHECK_EQ_INT(v.resets, 2);
	env_done(&v);
}

static void t_eof_and_reconnect(void)
{
	struct env v;
	if (!env_start(&v, NULL, PROTO_MQ_CONFIG))
		return;
	fdrv_disconnect(v.dr);
	fdrv_pump(v.loop);
	T_CHECK_EQ_INT(v.resets, 1);
	T_CHECK(!vu_dev_connected(v.d));
	T_CHECK(!vu_dev_broken(v.d));
	T_CHECK(vu_dev_queue(v.d, TX) == NULL);
	/* a new front-end starts from scratch */
	T_CHECK_EQ_INT(fdrv_connect(v.dr, v.d), 0);
	T_CHECK_EQ_INT(fdrv_realize(v.dr, v.loop), 0);
	fdrv_move_rings(v.dr, TX);
	fdrv_move_rings(v.dr, RX);
	T_CHECK_EQ_INT(fdrv_start(v.dr, v.loop), 0);
	post_tx(&v, "HDR:again", FDRV_DIRECT);
	T_CHECK_EQ_INT(fdrv_used_idx(v.dr, TX), 1);
	env_done(&v);
}

static void t_reply_ack(void)
{
	struct env v;
	/* fdrv_start sends SET_MEM_TABLE with NEED_REPLY and checks the ack */
	if (!env_start(&v, NULL, PROTO_MQ_CONFIG | (1ULL << VU_PROTO_F_REPLY_ACK)))
		return;
	struct vu_state s = { TX, 1 };
	fdrv_send(v.dr, VU_SET_VRING_ENABLE, VU_FLAG_VERSION | VU_FLAG_NEED_REPLY, &s, sizeof(s),
		  NULL, 0);
	struct vu_msg m;
	T_CHECK_EQ_INT(fdrv_recv(v.dr, v.loop, &m), 1);
	T_CHECK_EQ_INT(m.hdr.request, VU_SET_VRING_ENABLE);
	T_CHECK_EQ_INT(m.hdr.flags, 0x5);
	T_CHECK_EQ_INT(m.hdr.size, 8);
	uint64_t ack = 1;
	memcpy(&ack, m.payload, 8);
	T_CHECK_EQ_INT(ack, 0);
	env_done(&v);

	/* without REPLY_ACK negotiated NEED_REPLY gets no answer */
	if (!env_start(&v, NULL, PROTO_MQ_CONFIG))
		return;
	fdrv_send(v.dr, VU_SET_VRING_ENABLE, VU_FLAG_VERSION | VU_FLAG_NEED_REPLY, &s, sizeof(s),
		  NULL, 0);
	T_CHECK_EQ_INT(fdrv_recv(v.dr, v.loop, &m), 0);
	env_done(&v);
}

/* One hostile message after realize (and start when `started`): the device
 * must latch broken, drop the connection, reset, and stay usable. */
struct bad {
	const char *what;
	uint32_t req, flags, size;
	const void *payload;
	unsigned nfds;
	bool started;
};

static void check_bad(const struct bad *b)
{
	struct env v;
	if (!(b->started ? env_start(&v, NULL, PROTO_MQ_CONFIG) : env_init(&v, NULL, PROTO_MQ_CONFIG)))
		return;
	unsigned resets = v.resets;
	int fds[3] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	/* memory tables get a real 1 MiB memfd, except the unmappable case */
	if (b->req == VU_SET_MEM_TABLE && !strstr(b->what, "not mappable")) {
		close(fds[0]);
		fds[0] = memfd_create("small", MFD_CLOEXEC); /* 1 MiB file */
		T_CHECK_EQ_INT(ftruncate(fds[0], 1 << 20), 0);
	}
	if (b->payload || b->size == 0) {
		fdrv_send(v.dr, b->req, b->flags, b->payload, b->size, fds, b->nfds);
	} else { /* a header announcing more than we send */
		struct vu_hdr h = { b->req, b->flags, b->size };
		T_CHECK_EQ_INT(write(fdrv_sock(v.dr), &h, sizeof(h)), sizeof(h));
	}
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	struct vu_msg m;
	int r = fdrv_recv(v.dr, v.loop, &m);
	if (!T_CHECK_EQ_INT(r, -EPIPE) || !T_CHECK(vu_dev_broken(v.d)) ||
	    !T_CHECK_EQ_INT(v.resets, resets + 1))
		fprintf(stderr, "  hostile message not refused: %s\n", b->what);
	T_CHECK(vu_dev_queue(v.d, TX) == NULL);
	/* the next front-end is served again */
	fdrv_disconnect(v.dr);
	T_CHECK_EQ_INT(fdrv_connect(v.dr, v.d), 0);
	T_CHECK(!vu_dev_broken(v.d));
	T_CHECK_EQ_INT(fdrv_realize(v.dr, v.loop), 0);
	env_done(&v);
}

static void t_malformed(void)
{
	uint64_t u64 = 0, no_v1 = DEV_F & ~(1ULL << 32), packed = DEV_F | (1ULL << 34);
	uint64_t kick_nofd = TX | VU_VRING_NOFD, kick_q7 = 7, kick_junk = TX | 0x10000;
	struct vu_state num100 = { TX, 100 }, num0 = { TX, 0 }, q5 = { 5, 128 },
			big_base = { TX, 70000 }, enable2 = { TX, 2 };
	struct {
		struct vu_mem_hdr h;
		struct vu_region r[9];
	} mt = { { 1, 0 }, { { FDRV_GPA_BASE, 1 << 20, FDRV_UVA_BASE, 0 } } };
	struct {
		struct vu_mem_hdr h;
		struct vu_region r[1];
	} mt0 = { { 1, 0 }, { { FDRV_GPA_BASE, 0, FDRV_UVA_BASE, 0 } } },
	  mtbig = { { 1, 0 }, { { FDRV_GPA_BASE, 1ULL << 30, FDRV_UVA_BASE, 0 } } },
	  mtov = { { 1, 0 }, { { FDRV_GPA_BASE, 4096, FDRV_UVA_BASE, ~0ULL - 100 } } };
	struct {
		struct vu_mem_hdr h;
		struct vu_region r[9];
	} mt9 = { { 9, 0 }, { { 0 } } };
	struct {
		struct vu_config_hdr h;
		uint8_t d[300];
	} cfg_big = { { 0, 300, 0 }, { 0 } }, cfg_off = { { 252, 8, 0 }, { 0 } };
	struct vu_addr log = { TX, 1, 0, 0, 0, 0 }, outside = { TX, 0, 0x1000, 0x2000, 0x3000, 0 };
	const struct bad cases[] = {
		{ "unknown request", 99, 1, 0, NULL, 0, false },
		{ "SET_LOG_BASE", VU_SET_LOG_BASE, 1, 8, &u64, 0, false },
		{ "SET_CONFIG", VU_SET_CONFIG, 1, 20, &cfg_off, 0, false },
		{ "version 2 flags", VU_GET_FEATURES, 2, 0, NULL, 0, false },
		{ "GET_FEATURES with payload", VU_GET_FEATURES, 1, 8, &u64, 0, false },
		{ "GET_FEATURES with an fd", VU_GET_FEATURES, 1, 0, NULL, 1, false },
		{ "huge size", VU_SET_FEATURES, 1, 1u << 20, NULL, 0, false },
		{ "SET_FEATURES short", VU_SET_FEATURES, 1, 4, &u64, 0, false },
		{ "SET_FEATURES without VERSION_1", VU_SET_FEATURES, 1, 8, &no_v1, 0, false },
		{ "SET_FEATURES packed ring", VU_SET_FEATURES, 1, 8, &packed, 0, false },
		{ "SET_VRING_NUM 100", VU_SET_VRING_NUM, 1, 8, &num100, 0, false },
		{ "SET_VRING_NUM 0", VU_SET_VRING_NUM, 1, 8, &num0, 0, false },
		{ "SET_VRING_NUM queue 5", VU_SET_VRING_NUM, 1, 8, &q5, 0, false },
		{ "SET_VRING_BASE 70000", VU_SET_VRING_BASE, 1, 8, &big_base, 0, false },
		{ "SET_VRING_ENABLE 2", VU_SET_VRING_ENABLE, 1, 8, &enable2, 0, false },
		{ "GET_VRING_BASE queue 5", VU_GET_VRING_BASE, 1, 8, &q5, 0, true },
		{ "KICK NOFD with an fd", VU_SET_VRING_KICK, 1, 8, &kick_nofd, 1, false },
		{ "KICK without fd", VU_SET_VRING_KICK, 1, 8, &u64, 0, false },
		{ "KICK with 2 fds", VU_SET_VRING_KICK, 1, 8, &u64, 2, false },
		{ "CALL queue 7", VU_SET_VRING_CALL, 1, 8, &kick_q7, 1, false },
		{ "CALL junk bits", VU_SET_VRING_CALL, 1, 8, &kick_junk, 1, false },
		{ "MEM_TABLE 9 regions", VU_SET_MEM_TABLE, 1, sizeof(mt9), &mt9, 3, false },
		{ "MEM_TABLE size mismatch", VU_SET_MEM_TABLE, 1, 8 + 32 + 8, &mt, 1, false },
		{ "MEM_TABLE fd count", VU_SET_MEM_TABLE, 1, 8 + 32, &mt, 2, false },
		{ "MEM_TABLE no fd", VU_SET_MEM_TABLE, 1, 8 + 32, &mt, 0, false },
		{ "MEM_TABLE empty region", VU_SET_MEM_TABLE, 1, sizeof(mt0), &mt0, 1, false },
		{ "MEM_TABLE past the memfd's end", VU_SET_MEM_TABLE, 1, sizeof(mtbig), &mtbig, 1, false },
		{ "MEM_TABLE offset overflow", VU_SET_MEM_TABLE, 1, sizeof(mtov), &mtov, 1, false },
		{ "MEM_TABLE fd not mappable", VU_SET_MEM_TABLE, 1, 8 + 32, &mt, 1, false },
		{ "GET_CONFIG 300 bytes", VU_GET_CONFIG, 1, sizeof(cfg_big), &cfg_big, 0, false },
		{ "GET_CONFIG past 256", VU_GET_CONFIG, 1, 20, &cfg_off, 0, false },
		{ "GET_CONFIG short", VU_GET_CONFIG, 1, 8, &cfg_off, 0, false },
		{ "VRING_ADDR with LOG", VU_SET_VRING_ADDR, 1, sizeof(log), &log, 0, false },
		{ "VRING_ADDR outside memory", VU_SET_VRING_ADDR, 1, sizeof(outside), &outside, 0, true },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_bad(&cases[i]);
}

static void t_partial_and_split_messages(void)
{
	struct env v;
	if (!env_init(&v, NULL, PROTO_MQ_CONFIG))
		return;
	/* a GET_FEATURES header in two writes, the second after a loop round */
	struct vu_hdr h = { VU_GET_FEATURES, 1, 0 };
	T_CHECK_EQ_INT(write(fdrv_sock(v.dr), &h, 5), 5);
	struct vu_msg m;
	T_CHECK_EQ_INT(fdrv_recv(v.dr, v.loop, &m), 0);
	T_CHECK_EQ_INT(write(fdrv_sock(v.dr), (char *)&h + 5, 7), 7);
	T_CHECK_EQ_INT(fdrv_recv(v.dr, v.loop, &m), 1);
	T_CHECK_EQ_INT(m.hdr.request, VU_GET_FEATURES);
	T_CHECK_EQ_INT(m.hdr.flags, 0x5);
	/* EOF in the middle of a message is a normal end, not "broken" */
	T_CHECK_EQ_INT(write(fdrv_sock(v.dr), &h, 3), 3);
	fdrv_disconnect(v.dr);
	fdrv_pump(v.loop);
	T_CHECK(!vu_dev_connected(v.d));
	T_CHECK(!vu_dev_broken(v.d));
	env_done(&v);
}

static void t_corrupt_ring_err_fd(void)
{
	struct env v;
	if (!env_start(&v, NULL, PROTO_MQ_CONFIG))
		return;
	fdrv_set_avail_idx(v.dr, TX, 500); /* moved by more than 128 */
	fdrv_kick(v.dr, TX);
	fdrv_pump(v.loop);
	T_CHECK_EQ_INT(v.last_err, -EIO);
	T_CHECK(vu_dev_queue(v.d, TX) == NULL);
	T_CHECK_EQ_INT(fdrv_take_err(v.dr, TX), 1);
	T_CHECK(vu_dev_queue(v.d, RX) != NULL); /* the other ring is unaffected */
	T_CHECK(!vu_dev_broken(v.d));
	/* a bad chain is completed with len 0 and the ring goes on */
	env_done(&v);

	if (!env_start(&v, NULL, PROTO_MQ_CONFIG))
		return;
	struct fdrv_desc *d = fdrv_desc(v.dr, TX, 100); /* not handed out by fdrv_post yet */
	*d = (struct fdrv_desc){ 0x1000, 44, 0, 0 };   /* below guest RAM */
	fdrv_avail_add(v.dr, TX, 100);
	post_tx(&v, "HDR:good", FDRV_DIRECT);
	T_CHECK_EQ_INT(v.last_err, -EINVAL);
	T_CHECK_EQ_INT(fdrv_used_idx(v.dr, TX), 2);
	T_CHECK(v.tx_len == 8 && memcmp(v.tx, "HDR:good", 8) == 0);
	env_done(&v);
}

static void t_notification_suppression(void)
{
	struct env v;
	if (!env_start(&v, NULL, PROTO_MQ_CONFIG))
		return;
	post_tx(&v, "HDR:1", FDRV_DIRECT);
	T_CHECK_EQ_INT(fdrv_take_call(v.dr, TX), 1);
	fdrv_set_used_event(v.dr, TX, 10); /* guest: interrupt me when used passes 10 */
	post_tx(&v, "HDR:2", FDRV_DIRECT);
	T_CHECK_EQ_INT(fdrv_take_call(v.dr, TX), 0);
	for (int i = 0; i < 9; i++)
		post_tx(&v, "HDR:n", FDRV_DIRECT);
	T_CHECK_EQ_INT(fdrv_used_idx(v.dr, TX), 11);
	T_CHECK_EQ_INT(fdrv_take_call(v.dr, TX), 1);
	env_done(&v);

	/* driver without EVENT_IDX: NO_INTERRUPT honoured, avail_event untouched */
	struct fdrv_opts o = { .features = (1ULL << 32) | (1ULL << 30) | (1ULL << VQ_F_INDIRECT_DESC) };
	if (!env_start(&v, &o, PROTO_MQ_CONFIG))
		return;
	fdrv_set_avail_flags(v.dr, TX, 1);
	post_tx(&v, "HDR:1", FDRV_DIRECT);
	T_CHECK_EQ_INT(fdrv_take_call(v.dr, TX), 0);
	fdrv_set_avail_flags(v.dr, TX, 0);
	post_tx(&v, "HDR:2", FDRV_DIRECT);
	T_CHECK_EQ_INT(fdrv_take_call(v.dr, TX), 1);
	T_CHECK_EQ_INT(fdrv_avail_event(v.dr, TX), 0);
	env_done(&v);
}

static void t_two_regions_and_wrap(void)
{
	/* QEMU -m 4G style: two regions of one memfd, the second at an mmap
	 * offset; indices start just below 65536 */
	struct fdrv_opts o = { .nregions = 2 };
	struct env v;
	if (!env_init(&v, &o, PROTO_MQ_CONFIG))
		return;
	fdrv_set_indices(v.dr, TX, 65534);
	T_CHECK_EQ_INT(fdrv_start(v.dr, v.loop), 0);
	uint64_t mid = FDRV_GPA_BASE + fdrv_ram_size(v.dr) / 2;
	memcpy(fdrv_host(v.dr, mid - 4), "HDR:crossing", 12);
	for (int i = 0; i < 4; i++) {
		*fdrv_desc(v.dr, TX, (uint16_t)i) = (struct fdrv_desc){ mid - 4, 12, 0, 0 };
		fdrv_avail_add(v.dr, TX, (uint16_t)i);
	}
	fdrv_kick(v.dr, TX);
	fdrv_pump(v.loop);
	T_CHECK_EQ_INT(v.tx_done, 4);
	T_CHECK(v.tx_len == 12 && memcmp(v.tx, "HDR:crossing", 12) == 0);
	T_CHECK_EQ_INT(fdrv_used_idx(v.dr, TX), 2); /* 65534 + 4 wrapped */
	T_CHECK_EQ_INT(fdrv_stop(v.dr, v.loop), 0);
	T_CHECK_EQ_INT(fdrv_stopped_base(v.dr, TX), 2);
	env_done(&v);
}

static void t_listener(void)
{
	struct env v;
	memset(&v, 0, sizeof(v));
	struct vu_dev_config cfg = { DEV_F, PROTO_MQ_CONFIG, cid3, 8, 2 };
	v.loop = ev_loop_new();
	v.d = v.loop ? vu_dev_new(v.loop, &cfg, &ops, &v) : NULL;
	if (!T_CHECK(v.d != NULL)) {
		env_done(&v);
		return;
	}
	char path[64];
	snprintf(path, sizeof(path), "/tmp/lcvm-vu-test.%d", (int)getpid());
	struct lc_err e = { "" };
	T_CHECK_EQ_INT(vu_dev_listen(v.d, path, &e), 0);
	int c1 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	T_CHECK_EQ_INT(connect(c1, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fdrv_pump(v.loop);
	T_CHECK(vu_dev_connected(v.d));
	T_CHECK_EQ_INT(connect(c2, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fdrv_pump(v.loop);
	char x;
	T_CHECK_EQ_INT(read(c2, &x, 1), 0); /* second front-end refused */
	struct vu_hdr h = { VU_GET_FEATURES, 1, 0 };
	struct vu_msg m;
	T_CHECK_EQ_INT(write(c1, &h, sizeof(h)), sizeof(h));
	fdrv_pump(v.loop);
	T_CHECK_EQ_INT(read(c1, &m, sizeof(m)), 20);
	T_CHECK_EQ_INT(m.hdr.flags, 0x5);
	close(c1);
	close(c2);
	fdrv_pump(v.loop);
	T_CHECK(!vu_dev_connected(v.d));
	T_CHECK(access(path, F_OK) == 0);
	vu_dev_free(v.d);
	v.d = NULL;
	T_CHECK(access(path, F_OK) != 0); /* unlinked */
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	v.d = vu_dev_new(v.loop, &cfg, &ops, &v);
	T_CHECK_EQ_INT(vu_dev_listen(v.d, longp, &e), -ENAMETOOLONG);
	T_CHECK(strstr(e.msg, "too long") != NULL);
	env_done(&v);
}

static void t_handle_msg_direct(void)
{
	/* the socket-less entry point used by the fuzzer */
	struct env v;
	memset(&v, 0, sizeof(v));
	struct vu_dev_config cfg = { DEV_F, PROTO_MQ_CONFIG, cid3, 8, 2 };
	v.loop = ev_loop_new();
	v.d = v.loop ? vu_dev_new(v.loop, &cfg, &ops, &v) : NULL;
	if (!T_CHECK(v.d != NULL)) {
		env_done(&v);
		return;
	}
	struct vu_msg reply;
	struct vu_hdr h = { VU_GET_QUEUE_NUM, 1, 0 };
	T_CHECK_EQ_INT(vu_handle_msg(v.d, &h, NULL, 0, NULL, 0, &reply), 1);
	uint64_t n = 0;
	memcpy(&n, reply.payload, 8);
	T_CHECK_EQ_INT(n, 2);
	int fd = eventfd(0, EFD_CLOEXEC);
	struct vu_hdr bad = { VU_GET_FEATURES, 1, 0 };
	T_CHECK_EQ_INT(vu_handle_msg(v.d, &bad, NULL, 0, &fd, 1, &reply), -EINVAL);
	T_CHECK_EQ_INT(fd, -1); /* closed by the device */
	T_CHECK(vu_dev_broken(v.d));
	T_CHECK_EQ_INT(vu_handle_msg(v.d, &h, NULL, 0, NULL, 0, &reply), -EIO);
	env_done(&v);
}

static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static void t_no_fd_leak(void)
{
	int before = count_fds();
	struct env v;
	if (!env_start(&v, NULL, PROTO_MQ_CONFIG))
		return;
	post_tx(&v, "HDR:x", FDRV_DIRECT);
	fdrv_stop(v.dr, v.loop);
	fdrv_start(v.dr, v.loop); /* replaces kick and call fds */
	fdrv_start(v.dr, v.loop); /* a second memory table replaces the first */
	env_done(&v);
	T_CHECK_EQ_INT(count_fds(), before);
}

int main(void)
{
	T_RUN(t_realize);
	T_RUN(t_start_traffic);
	T_RUN(t_enable_gates_ring);
	T_RUN(t_stop_cont);
	T_RUN(t_guest_reset);
	T_RUN(t_eof_and_reconnect);
	T_RUN(t_reply_ack);
	T_RUN(t_malformed);
	T_RUN(t_partial_and_split_messages);
	T_RUN(t_corrupt_ring_err_fd);
	T_RUN(t_notification_suppression);
	T_RUN(t_two_regions_and_wrap);
	T_RUN(t_listener);
	T_RUN(t_handle_msg_direct);
	T_RUN(t_no_fd_leak);
	return t_done();
}
