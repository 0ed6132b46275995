/* Split virtqueue (src/vsock/virtq.c) against the fake driver over real
 * shared memory: the driver writes through one mapping of the memfd, the
 * device reads through its own per-region mappings. */
#include "fake_driver.h"
#include "test.h"
#include "util/cleanup.h"
#include "vsock/virtq.h"

#include <errno.h>
#include <stdlib.h>

#define ALL_F ((1ULL << 32) | (1ULL << VQ_F_INDIRECT_DESC) | (1ULL << VQ_F_EVENT_IDX))

struct env {
	struct fdrv *dr;
	struct vq_mem mem;
	struct virtq q;
	struct vq_elem e;
};

static bool env_init(struct env *v, const struct fdrv_opts *o, uint64_t features, uint16_t start)
{
	memset(v, 0, sizeof(*v));
	v->dr = fdrv_new(o);
	if (!T_CHECK(v->dr != NULL))
		return false;
	fdrv_set_indices(v->dr, 0, start);
	void *d, *a, *u;
	if (T_CHECK_EQ_INT(fdrv_device_mem(v->dr, &v->mem), 0) &&
	    T_CHECK_EQ_INT(fdrv_ring_host(v->dr, 0, &v->mem, &d, &a, &u), 0) &&
	    T_CHECK_EQ_INT(vq_setup(&v->q, &v->mem, fdrv_qsize(v->dr), d, a, u, start, features), 0))
		return true;
	fdrv_free(v->dr); /* the case returns at once */
	v->dr = NULL;
	return false;
}

static void env_done(struct env *v)
{
	fdrv_free(v->dr);
}

/* Pops one chain expecting a failure code, then checks the driver got it
 * back with used len 0. */
static void expect_bad_chain(struct env *v, int head)
{
	T_CHECK_EQ_INT(vq_pop(&v->q, &v->e), -EINVAL);
	uint32_t id = 999, len = 999;
	T_CHECK_EQ_INT(fdrv_get_used(v->dr, 0, &id, &len), 1);
	T_CHECK_EQ_INT(id, head);
	T_CHECK_EQ_INT(len, 0);
}

static void t_setup_rejects_bad_rings(void)
{
	struct env v;
	if (!env_init(&v, NULL, ALL_F, 0))
		return;
	void *d, *a, *u;
	fdrv_ring_host(v.dr, 0, &v.mem, &d, &a, &u);
	struct virtq q;
	T_CHECK_EQ_INT(vq_setup(&q, &v.mem, 0, d, a, u, 0, ALL_F), -EINVAL);
	T_CHECK_EQ_INT(vq_setup(&q, &v.mem, 100, d, a, u, 0, ALL_F), -EINVAL);
	T_CHECK_EQ_INT(vq_setup(&q, &v.mem, 128, (uint8_t *)d + 8, a, u, 0, ALL_F), -EINVAL);
	T_CHECK_EQ_INT(vq_setup(&q, &v.mem, 128, d, (uint8_t *)a + 1, u, 0, ALL_F), -EINVAL);
	T_CHECK_EQ_INT(vq_setup(&q, &v.mem, 128, d, a, (uint8_t *)u + 2, 0, ALL_F), -EINVAL);
	/* a used ring running past the end of guest memory */
	uint8_t *end = v.mem.r[0].host + v.mem.r[0].size;
	T_CHECK_EQ_INT(vq_setup(&q, &v.mem, 128, d, a, end - 512, 0, ALL_F), -EINVAL);
	uint8_t outside[64] __attribute__((aligned(16)));
	T_CHECK_EQ_INT(vq_setup(&q, &v.mem, 1, outside, a, u, 0, ALL_F), -EINVAL);
	T_CHECK_EQ_INT(vq_pop(&q, &v.e), 0); /* unconfigured queue: nothing, no crash */
	T_CHECK_EQ_INT(vq_avail_count(&q), 0);
	env_done(&v);
}

static void t_single_readable(void)
{
	struct env v;
	if (!env_init(&v, NULL, ALL_F, 0))
		return;
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 0);
	const char msg[44] = "vsock header bytes";
	struct fdrv_buf b = { msg, sizeof(msg), false };
	int head = fdrv_post(v.dr, 0, &b, 1, FDRV_DIRECT);
	T_CHECK_EQ_INT(vq_avail_count(&v.q), 1);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 1);
	T_CHECK_EQ_INT(v.e.head, head);
	T_CHECK_EQ_INT(v.e.n_out, 1);
	T_CHECK_EQ_INT(v.e.n_in, 0);
	T_CHECK_EQ_INT(v.e.out_bytes, 44);
	char got[64] = { 0 };
	T_CHECK_EQ_INT(vq_read_out(&v.e, 0, got, sizeof(got)), 44);
	T_CHECK(memcmp(got, msg, 44) == 0);
	T_CHECK_EQ_INT(vq_read_out(&v.e, 40, got, sizeof(got)), 4);
	vq_push(&v.q, &v.e, 100); /* clamped to the writable size: 0 */
	uint32_t id, len;
	T_CHECK_EQ_INT(fdrv_get_used(v.dr, 0, &id, &len), 1);
	T_CHECK_EQ_INT(id, head);
	T_CHECK_EQ_INT(len, 0);
	T_CHECK_EQ_INT(fdrv_get_used(v.dr, 0, &id, &len), 0);
	env_done(&v);
}

static void t_rx_split_and_many(void)
{
	struct env v;
	if (!env_init(&v, NULL, ALL_F, 0))
		return;
	/* Linux 6.1.0 rx layout: 44-byte header + 4096 data, both writable */
	struct fdrv_buf rx[2] = { { NULL, 44, true }, { NULL, 4096, true } };
	int head = fdrv_post(v.dr, 0, rx, 2, FDRV_DIRECT);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 1);
	T_CHECK_EQ_INT(v.e.n_in, 2);
	T_CHECK_EQ_INT(v.e.in_bytes, 4140);
	uint8_t pkt[100];
	for (unsigned i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)i;
	T_CHECK_EQ_INT(vq_write_in(&v.e, 0, pkt, sizeof(pkt)), 100);
	T_CHECK_EQ_INT(vq_write_in(&v.e, 4130, pkt, sizeof(pkt)), 10); /* short at the end */
	vq_push(&v.q, &v.e, 100);
	uint32_t id, len;
	T_CHECK_EQ_INT(fdrv_get_used(v.dr, 0, &id, &len), 1);
	T_CHECK_EQ_INT(id, head);
	T_CHECK_EQ_INT(len, 100);
	uint8_t back[4140];
	T_CHECK_EQ_INT(fdrv_read_in(v.dr, 0, (uint16_t)head, back, sizeof(back)), 4140);
	T_CHECK(memcmp(back, pkt, 100) == 0); /* header/data boundary crossed at 44 */
	T_CHECK(back[100] == 0xee);

	/* 3 readable + 20 writable direct descriptors */
	struct fdrv_buf many[23];
	char src[3][8] = { "aaaaaaa", "bbbbbbb", "ccccccc" };
	for (unsigned i = 0; i < 23; i++)
		many[i] = (struct fdrv_buf){ i < 3 ? src[i] : NULL, i < 3 ? 8 : 16, i >= 3 };
	fdrv_post(v.dr, 0, many, 23, FDRV_DIRECT);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 1);
	T_CHECK_EQ_INT(v.e.n_out, 3);
	T_CHECK_EQ_INT(v.e.n_in, 20);
	T_CHECK_EQ_INT(v.e.out_bytes, 24);
	T_CHECK_EQ_INT(v.e.in_bytes, 320);
	char rd[24];
	T_CHECK_EQ_INT(vq_read_out(&v.e, 0, rd, 24), 24);
	T_CHECK(memcmp(rd, "aaaaaaa\0bbbbbbb\0ccccccc\0", 24) == 0);
	vq_push(&v.q, &v.e, 0);
	env_done(&v);
}

static void t_indirect_and_mixed(void)
{
	struct env v;
	if (!env_init(&v, NULL, ALL_F, 0))
		return;
	/* Linux tx RW with INDIRECT_DESC: one indirect descriptor -> (44, len) */
	char hdr[44] = "H", payload[300];
	memset(payload, 'p', sizeof(payload));
	struct fdrv_buf tx[2] = { { hdr, 44, false }, { payload, 300, false } };
	fdrv_post(v.dr, 0, tx, 2, FDRV_INDIRECT);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 1);
	T_CHECK_EQ_INT(v.e.n_out, 2);
	T_CHECK_EQ_INT(v.e.out_bytes, 344);
	char p[300];
	T_CHECK_EQ_INT(vq_read_out(&v.e, 44, p, sizeof(p)), 300);
	T_CHECK(memcmp(p, payload, 300) == 0);
	vq_push(&v.q, &v.e, 0);

	/* direct readable header, then an indirect table of writable buffers */
	struct fdrv_buf mix[3] = { { hdr, 44, false }, { NULL, 64, true }, { NULL, 64, true } };
	fdrv_post(v.dr, 0, mix, 3, FDRV_MIXED);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 1);
	T_CHECK_EQ_INT(v.e.n_out, 1);
	T_CHECK_EQ_INT(v.e.n_in, 2);
	T_CHECK_EQ_INT(v.e.in_bytes, 128);
	vq_push(&v.q, &v.e, 128);
	env_done(&v);

	/* without the feature an indirect descriptor is a bad chain */
	if (!env_init(&v, NULL, 1ULL << 32, 0))
		return;
	int head = fdrv_post(v.dr, 0, tx, 2, FDRV_INDIRECT);
	expect_bad_chain(&v, head);
	env_done(&v);
}

static void t_wraparound(void)
{
	struct env v;
	if (!env_init(&v, NULL, ALL_F, 65530))
		return;
	char b[8] = "x";
	for (unsigned round = 0; round < 20; round++) {
		/* two outstanding chains per round, completed in reverse order */
		struct fdrv_buf buf = { b, sizeof(b), false };
		int h1 = fdrv_post(v.dr, 0, &buf, 1, FDRV_DIRECT);
		int h2 = fdrv_post(v.dr, 0, &buf, 1, FDRV_INDIRECT);
		struct vq_elem e1, e2;
		T_CHECK_EQ_INT(vq_avail_count(&v.q), 2);
		T_CHECK_EQ_INT(vq_pop(&v.q, &e1), 1);
		T_CHECK_EQ_INT(vq_pop(&v.q, &e2), 1);
		vq_push(&v.q, &e2, 0);
		vq_push(&v.q, &e1, 0);
		uint32_t id, len;
		T_CHECK_EQ_INT(fdrv_get_used(v.dr, 0, &id, &len), 1);
		T_CHECK_EQ_INT(id, h2);
		T_CHECK_EQ_INT(fdrv_get_used(v.dr, 0, &id, &len), 1);
		T_CHECK_EQ_INT(id, h1);
	}
	T_CHECK_EQ_INT(fdrv_used_idx(v.dr, 0), (uint16_t)(65530 + 40));
	T_CHECK_EQ_INT(v.q.last_avail, (uint16_t)(65530 + 40));
	T_CHECK(!v.q.broken);
	env_done(&v);
}

static void t_hostile_chains(void)
{
	struct env v;
	if (!env_init(&v, NULL, ALL_F, 0))
		return;
	struct fdrv_desc *d0 = fdrv_desc(v.dr, 0, 0), *d1 = fdrv_desc(v.dr, 0, 1);
	uint64_t buf = fdrv_alloc(v.dr, 4096, 16);
	uint64_t end = FDRV_GPA_BASE + fdrv_ram_size(v.dr);

	/* loop 0 -> 1 -> 0 */
	*d0 = (struct fdrv_desc){ buf, 8, VQ_DESC_F_NEXT, 1 };
	*d1 = (struct fdrv_desc){ buf, 8, VQ_DESC_F_NEXT, 0 };
	fdrv_avail_add(v.dr, 0, 0);
	expect_bad_chain(&v, 0);
	/* next out of range */
	*d1 = (struct fdrv_desc){ buf, 8, VQ_DESC_F_NEXT, 128 };
	fdrv_avail_add(v.dr, 0, 0);
	expect_bad_chain(&v, 0);
	/* address below, past, and straddling the end of RAM; huge length */
	uint64_t bad_addr[] = { 0, FDRV_GPA_BASE - 8, end, end - 4, ~0ULL - 4, buf };
	uint32_t bad_len[] = { 8, 16, 8, 8, 8, 0xffffffffu };
	for (unsigned i = 0; i < ARRAY_SIZE(bad_addr); i++) {
		*d0 = (struct fdrv_desc){ bad_addr[i], bad_len[i], 0, 0 };
		fdrv_avail_add(v.dr, 0, 0);
		expect_bad_chain(&v, 0);
	}
	/* writable before readable */
	*d0 = (struct fdrv_desc){ buf, 8, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 1 };
	*d1 = (struct fdrv_desc){ buf + 8, 8, 0, 0 };
	fdrv_avail_add(v.dr, 0, 0);
	expect_bad_chain(&v, 0);
	/* indirect: nested, combined with NEXT, bad length, table outside RAM */
	uint64_t tab = fdrv_alloc(v.dr, 64, 16);
	struct fdrv_desc *t = fdrv_host(v.dr, tab);
	uint64_t tab2 = fdrv_alloc(v.dr, 16, 16); /* a valid inner table */
	*(struct fdrv_desc *)fdrv_host(v.dr, tab2) = (struct fdrv_desc){ buf, 8, 0, 0 };
	t[0] = (struct fdrv_desc){ buf, 8, VQ_DESC_F_NEXT, 1 };
	t[1] = (struct fdrv_desc){ tab2, 16, VQ_DESC_F_INDIRECT, 0 };
	struct fdrv_desc bad_ind[] = {
		{ tab, 32, VQ_DESC_F_INDIRECT, 0 },                     /* nested inside */
		{ tab, 16, VQ_DESC_F_INDIRECT | VQ_DESC_F_NEXT, 1 },    /* with NEXT */
		{ tab, 24, VQ_DESC_F_INDIRECT, 0 },                     /* not whole entries */
		{ tab, 0, VQ_DESC_F_INDIRECT, 0 },
		{ end - 16, 32, VQ_DESC_F_INDIRECT, 0 },
		{ tab, 16 * (VQ_MAX_CHAIN + 1), VQ_DESC_F_INDIRECT, 0 }, /* over the cap */
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad_ind); i++) {
		*d0 = bad_ind[i];
		*d1 = (struct fdrv_desc){ buf, 8, 0, 0 };
		fdrv_avail_add(v.dr, 0, 0);
		expect_bad_chain(&v, 0);
	}
	/* loop inside an indirect table, and next beyond its end */
	t[0] = (struct fdrv_desc){ buf, 8, VQ_DESC_F_NEXT, 1 };
	t[1] = (struct fdrv_desc){ buf, 8, VQ_DESC_F_NEXT, 0 };
	*d0 = (struct fdrv_desc){ tab, 32, VQ_DESC_F_INDIRECT, 0 };
	fdrv_avail_add(v.dr, 0, 0);
	expect_bad_chain(&v, 0);
	t[1] = (struct fdrv_desc){ buf, 8, VQ_DESC_F_NEXT, 2 };
	fdrv_avail_add(v.dr, 0, 0);
	expect_bad_chain(&v, 0);
	/* more segments than VQ_MAX_SEGS */
	uint64_t big = fdrv_alloc(v.dr, 16 * (VQ_MAX_SEGS + 1), 16);
	struct fdrv_desc *bt = fdrv_host(v.dr, big);
	for (unsigned i = 0; i <= VQ_MAX_SEGS; i++)
		bt[i] = (struct fdrv_desc){ buf, 4, i < VQ_MAX_SEGS ? VQ_DESC_F_NEXT : 0,
					    (uint16_t)(i + 1) };
	*d0 = (struct fdrv_desc){ big, 16 * (VQ_MAX_SEGS + 1), VQ_DESC_F_INDIRECT, 0 };
	fdrv_avail_add(v.dr, 0, 0);
	expect_bad_chain(&v, 0);
	/* after all that the ring still works */
	T_CHECK(!v.q.broken);
	char ok[4] = "ok!";
	struct fdrv_buf b = { ok, 4, false };
	int head = fdrv_post(v.dr, 0, &b, 1, FDRV_DIRECT);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 1);
	T_CHECK_EQ_INT(v.e.head, head);
	env_done(&v);
}

static void t_broken_ring(void)
{
	struct env v;
	if (!env_init(&v, NULL, ALL_F, 0))
		return;
	/* avail idx jumps by more than the ring size */
	fdrv_set_avail_idx(v.dr, 0, 129);
	T_CHECK_EQ_INT(vq_avail_count(&v.q), 0);
	T_CHECK(v.q.broken);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), -EIO);
	T_CHECK_EQ_INT(fdrv_used_idx(v.dr, 0), 0); /* nothing completed */
	env_done(&v);

	/* head index out of range */
	if (!env_init(&v, NULL, ALL_F, 0))
		return;
	fdrv_avail_add(v.dr, 0, 128);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), -EIO);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), -EIO); /* latched */
	/* a fresh setup (ring restart) clears the latch */
	void *d, *a, *u;
	fdrv_ring_host(v.dr, 0, &v.mem, &d, &a, &u);
	T_CHECK_EQ_INT(vq_setup(&v.q, &v.mem, 128, d, a, u, 1, ALL_F), 0);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 0);
	env_done(&v);
}

static void t_region_crossing(void)
{
	struct fdrv_opts o = { .nregions = 2 };
	struct env v;
	if (!env_init(&v, &o, ALL_F, 0))
		return;
	T_CHECK_EQ_INT(v.mem.nregions, 2);
	/* device mappings of the two halves are not adjacent: the buffer
	 * must come back as two iovecs with the right bytes */
	uint64_t mid = FDRV_GPA_BASE + fdrv_ram_size(v.dr) / 2;
	uint8_t *h = fdrv_host(v.dr, mid - 10);
	for (unsigned i = 0; i < 30; i++)
		h[i] = (uint8_t)(i + 1);
	*fdrv_desc(v.dr, 0, 0) = (struct fdrv_desc){ mid - 10, 30, 0, 0 };
	fdrv_avail_add(v.dr, 0, 0);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 1);
	T_CHECK_EQ_INT(v.e.n_out, 2);
	T_CHECK_EQ_INT(v.e.iov[0].len, 10);
	T_CHECK_EQ_INT(v.e.iov[1].len, 20);
	uint8_t got[30];
	T_CHECK_EQ_INT(vq_read_out(&v.e, 0, got, 30), 30);
	T_CHECK(memcmp(got, h, 30) == 0);
	T_CHECK(vq_gpa_to_host(&v.mem, mid - 10, 30) == NULL); /* one region only */
	T_CHECK(vq_gpa_to_host(&v.mem, mid - 10, 10) != NULL);
	T_CHECK(vq_uva_to_host(&v.mem, mid - 10, 1) == NULL); /* a gpa is no uva */
	T_CHECK(vq_uva_to_host(&v.mem, fdrv_gpa_to_uva(v.dr, mid), 1) == v.mem.r[1].host);
	vq_push(&v.q, &v.e, 0);
	env_done(&v);
}

static void t_event_idx(void)
{
	struct env v;
	if (!env_init(&v, NULL, ALL_F, 0))
		return;
	char b[4] = "abc";
	struct fdrv_buf buf = { b, 4, false };
	/* an empty pop asks for a kick at the current index */
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 0);
	T_CHECK_EQ_INT(fdrv_avail_event(v.dr, 0), 0);
	for (int i = 0; i < 3; i++)
		fdrv_post(v.dr, 0, &buf, 1, FDRV_DIRECT);
	struct vq_elem e[3];
	for (int i = 0; i < 3; i++)
		T_CHECK_EQ_INT(vq_pop(&v.q, &e[i]), 1);
	T_CHECK_EQ_INT(fdrv_avail_event(v.dr, 0), 3); /* the driver kicks again at 3 */
	/* driver wants an interrupt once used passes 1 */
	fdrv_set_used_event(v.dr, 0, 1);
	vq_push(&v.q, &e[0], 0);
	T_CHECK(vq_should_notify(&v.q)); /* first notification always */
	T_CHECK(!vq_should_notify(&v.q)); /* nothing new */
	vq_push(&v.q, &e[1], 0);          /* used 1 -> 2 crosses used_event 1 */
	T_CHECK(vq_should_notify(&v.q));
	vq_push(&v.q, &e[2], 0);          /* 2 -> 3: event 1 not in [2, 3) */
	T_CHECK(!vq_should_notify(&v.q));
	fdrv_set_used_event(v.dr, 0, 5);
	for (int i = 0; i < 4; i++) {
		fdrv_post(v.dr, 0, &buf, 1, FDRV_DIRECT);
		T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 1);
		vq_push(&v.q, &v.e, 0);
	}
	T_CHECK(vq_should_notify(&v.q)); /* batch 3 -> 7 contains 5 */
	/* enable_notify reports buffers that raced in */
	fdrv_post(v.dr, 0, &buf, 1, FDRV_DIRECT);
	T_CHECK(vq_enable_notify(&v.q));
	T_CHECK_EQ_INT(fdrv_avail_event(v.dr, 0), 7);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 1);
	T_CHECK(!vq_enable_notify(&v.q));
	env_done(&v);
}

static void t_no_event_idx(void)
{
	struct env v;
	if (!env_init(&v, NULL, (1ULL << 32) | (1ULL << VQ_F_INDIRECT_DESC), 0))
		return;
	char b[4] = "abc";
	struct fdrv_buf buf = { b, 4, false };
	fdrv_set_used_event(v.dr, 0, 0xabcd);
	fdrv_post(v.dr, 0, &buf, 1, FDRV_DIRECT);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 1);
	T_CHECK_EQ_INT(fdrv_avail_event(v.dr, 0), 0); /* not written without the feature */
	vq_push(&v.q, &v.e, 0);
	T_CHECK(vq_should_notify(&v.q));
	fdrv_set_avail_flags(v.dr, 0, 1); /* NO_INTERRUPT */
	fdrv_post(v.dr, 0, &buf, 1, FDRV_DIRECT);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 1);
	vq_push(&v.q, &v.e, 0);
	T_CHECK(!vq_should_notify(&v.q));
	vq_disable_notify(&v.q);
	T_CHECK_EQ_INT(fdrv_used_flags(v.dr, 0), 1);
	T_CHECK(!vq_enable_notify(&v.q));
	T_CHECK_EQ_INT(fdrv_used_flags(v.dr, 0), 0);
	env_done(&v);
}

static void t_unpop(void)
{
	struct env v;
	if (!env_init(&v, NULL, ALL_F, 0))
		return;
	struct fdrv_buf buf = { NULL, 3776, true };
	int head = fdrv_post(v.dr, 0, &buf, 1, FDRV_DIRECT);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 1);
	vq_unpop(&v.q);
	T_CHECK_EQ_INT(vq_avail_count(&v.q), 1);
	T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 1);
	T_CHECK_EQ_INT(v.e.head, head);
	T_CHECK_EQ_INT(v.e.in_bytes, 3776);
	env_done(&v);
}

static void t_largest_ring(void)
{
	/* num 32768: index arithmetic at the spec maximum */
	struct fdrv_opts o = { .qsize = 32768, .nqueues = 1, .ram_size = 16u << 20 };
	struct env v;
	if (!env_init(&v, &o, ALL_F, 65535))
		return;
	struct fdrv_buf buf = { "z", 1, false };
	for (int i = 0; i < 3; i++)
		fdrv_post(v.dr, 0, &buf, 1, FDRV_DIRECT);
	for (int i = 0; i < 3; i++) {
		T_CHECK_EQ_INT(vq_pop(&v.q, &v.e), 1);
		vq_push(&v.q, &v.e, 0);
	}
	T_CHECK_EQ_INT(fdrv_used_idx(v.dr, 0), 2);
	env_done(&v);
}

int main(void)
{
	T_RUN(t_setup_rejects_bad_rings);
	T_RUN(t_single_readable);
	T_RUN(t_rx_split_and_many);
	T_RUN(t_indirect_and_mixed);
	T_RUN(t_wraparound);
	T_RUN(t_hostile_chains);
	T_RUN(t_broken_ring);
	T_RUN(t_region_crossing);
	T_RUN(t_event_idx);
	T_RUN(t_no_event_idx);
	T_RUN(t_unpop);
	T_RUN(t_largest_ring);
	return t_done();
}
