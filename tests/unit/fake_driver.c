/* Fake virtio driver: see fake_driver.h. The driver side of the split ring
 * (virtio 1.x, 2.7): it owns descriptors and the avail ring, reads the used
 * ring, with the barriers a real driver uses. */
#include "fake_driver.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/evloop.h"
#include "vsock/vhost_user.h"

#define GUARD (64u * 1024u)
#define PAGE 4096u
#define MAX_DEV_MAPS 8u

struct posted {
	unsigned n;
	uint64_t gpa[FDRV_MAX_BUFS];
	uint32_t len[FDRV_MAX_BUFS];
	bool write[FDRV_MAX_BUFS];
};

struct fdrv_q {
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t avail_idx;  /* driver's shadow of avail->idx */
	uint16_t last_used;  /* next used entry to read */
	uint16_t next_desc;  /* round-robin descriptor allocation */
	unsigned slot;       /* ring area slot in use (0/1), flipped by fdrv_move_rings */
	int kick_fd, call_fd, err_fd;
	uint16_t base;       /* SET_VRING_BASE for the next fdrv_start */
	struct posted *posted; /* indexed by head */
};

struct dev_map {
	void *res;
	size_t len;
};

struct fdrv {
	struct fdrv_opts o;
	int memfd;
	void *res;          /* PROT_NONE reservation around the driver's view */
	uint8_t *ram;       /* driver's view of gpa FDRV_GPA_BASE */
	size_t ring_set;    /* bytes of one queue's rings, page-aligned */
	size_t data_start, cursor;
	struct fdrv_q q[FDRV_MAX_QUEUES];
	struct dev_map maps[MAX_DEV_MAPS];
	unsigned nmaps;
	/* vhost-user front-end */
	int sock;
	uint64_t offered, offered_proto, acked_proto;
	uint8_t config[8];
};

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static size_t desc_bytes(uint16_t n) { return 16u * n; }
static size_t avail_bytes(uint16_t n) { return 6u + 2u * n; }
static size_t used_bytes(uint16_t n) { return 6u + 8u * n; }

/* Maps len bytes of the memfd at offset off inside a guarded reservation. */
static void *map_guarded(int fd, size_t off, size_t len, void **res)
{
	*res = mmap(NULL, len + 2 * GUARD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (*res == MAP_FAILED)
		return NULL;
	void *p = mmap((uint8_t *)*res + GUARD, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		       fd, (off_t)off);
	if (p == MAP_FAILED) {
		munmap(*res, len + 2 * GUARD);
		return NULL;
	}
	return p;
}

static uint64_t ring_gpa(const struct fdrv *dr, unsigned q, unsigned slot)
{
	return FDRV_GPA_BASE + PAGE + (size_t)(2 * q + slot) * dr->ring_set;
}

static void place_rings(struct fdrv *dr, unsigned q)
{
	struct fdrv_q *Q = &dr->q[q];
	uint16_t n = dr->o.qsize;
	uint64_t base = ring_gpa(dr, q, Q->slot);
	memset(fdrv_host(dr, base), 0, dr->ring_set);
	/* avail and used follow the table back to back (QEMU packs them too),
	 * so an overrun of one ring shows up as corruption of the next. */
	Q->desc_gpa = base;
	Q->avail_gpa = base + desc_bytes(n);
	Q->used_gpa = align_up(Q->avail_gpa + avail_bytes(n), 4);
	Q->avail_idx = Q->last_used = Q->next_desc = 0;
	Q->base = 0;
}

struct fdrv *fdrv_new(const struct fdrv_opts *o)
{
	struct fdrv *dr = calloc(1, sizeof(*dr));
	if (!dr)
		return NULL;
	dr->memfd = -1;
	dr->sock = -1;
	for (unsigned i = 0; i < FDRV_MAX_QUEUES; i++)
		dr->q[i].kick_fd = dr->q[i].call_fd = dr->q[i].err_fd = -1;
	if (o)
		dr->o = *o;
	if (!dr->o.ram_size)
		dr->o.ram_size = 4u << 20;
	if (!dr->o.nregions)
		dr->o.nregions = 1;
	if (!dr->o.nqueues)
		dr->o.nqueues = 2;
	if (!dr->o.qsize)
		dr->o.qsize = 128;
	if (!dr->o.features)
		dr->o.features = (1ULL << 32) | (1ULL << 30) | (1ULL << VQ_F_INDIRECT_DESC) |
				 (1ULL << VQ_F_EVENT_IDX);
	uint16_t n = dr->o.qsize;
	dr->ring_set = align_up(desc_bytes(n) + avail_bytes(n) + 4 + used_bytes(n), PAGE);
	dr->data_start = PAGE + 2 * FDRV_MAX_QUEUES * dr->ring_set;
	if (dr->o.nregions > 2 || dr->o.nqueues > FDRV_MAX_QUEUES || (n & (n - 1)) ||
	    dr->o.ram_size % (2 * PAGE) || dr->data_start + (64u << 10) > dr->o.ram_size)
		goto fail;
	dr->cursor = dr->data_start;
	dr->memfd = memfd_create("fdrv-ram", MFD_CLOEXEC);
	if (dr->memfd < 0 || ftruncate(dr->memfd, (off_t)dr->o.ram_size) < 0)
		goto fail;
	dr->ram = map_guarded(dr->memfd, 0, dr->o.ram_size, &dr->res);
	if (!dr->ram)
		goto fail;
	for (unsigned i = 0; i < dr->o.nqueues; i++) {
		struct fdrv_q *Q = &dr->q[i];
		Q->posted = calloc(n, sizeof(*Q->posted));
		Q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		Q->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		Q->err_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (!Q->posted || Q->kick_fd < 0 || Q->call_fd < 0 || Q->err_fd < 0)
			goto fail;
		place_rings(dr, i);
	}
	return dr;
fail:
	fdrv_free(dr);
	return NULL;
}

void fdrv_free(struct fdrv *dr)
{
	if (!dr)
		return;
	for (unsigned i = 0; i < FDRV_MAX_QUEUES; i++) {
		free(dr->q[i].posted);
		if (dr->q[i].kick_fd >= 0)
			close(dr->q[i].kick_fd);
		if (dr->q[i].call_fd >= 0)
			close(dr->q[i].call_fd);
		if (dr->q[i].err_fd >= 0)
			close(dr->q[i].err_fd);
	}
	for (unsigned i = 0; i < dr->nmaps; i++)
		munmap(dr->maps[i].res, dr->maps[i].len);
	if (dr->ram)
		munmap(dr->res, dr->o.ram_size + 2 * GUARD);
	if (dr->memfd >= 0)
		close(dr->memfd);
	if (dr->sock >= 0)
		close(dr->sock);
	free(dr);
}

uint64_t fdrv_ram_size(const struct fdrv *dr) { return dr->o.ram_size; }
uint16_t fdrv_qsize(const struct fdrv *dr) { return dr->o.qsize; }

uint64_t fdrv_alloc(struct fdrv *dr, size_t len, size_t align)
{
	if (align == 0)
		align = 1;
	size_t size = dr->o.ram_size;
	if (len > size - dr->data_start - align)
		return 0;
	size_t at = align_up(dr->cursor, align);
	if (at + len > size)
		at = align_up(dr->data_start, align);
	dr->cursor = at + (len ? len : 1);
	return FDRV_GPA_BASE + at;
}

void *fdrv_host(struct fdrv *dr, uint64_t gpa)
{
	return dr->ram + (gpa - FDRV_GPA_BASE);
}

/* --- regions -------------------------------------------------------------- */

static uint64_t region_size(const struct fdrv *dr)
{
	return dr->o.ram_size / dr->o.nregions;
}

/* Region i's uva: a gap between regions keeps uva space non-contiguous. */
static uint64_t region_uva(const struct fdrv *dr, unsigned i)
{
	return FDRV_UVA_BASE + i * (region_size(dr) + (1u << 20));
}

uint64_t fdrv_gpa_to_uva(const struct fdrv *dr, uint64_t gpa)
{
	uint64_t off = gpa - FDRV_GPA_BASE;
	unsigned i = (unsigned)(off / region_size(dr));
	return region_uva(dr, i) + off % region_size(dr);
}

int fdrv_device_mem(struct fdrv *dr, struct vq_mem *m)
{
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < dr->o.nregions; i++) {
		if (dr->nmaps >= MAX_DEV_MAPS)
			return -ENOSPC;
		struct dev_map *dm = &dr->maps[dr->nmaps];
		uint64_t sz = region_size(dr);
		void *p = map_guarded(dr->memfd, i * sz, sz, &dm->res);
		if (!p)
			return -errno;
		dm->len = sz + 2 * GUARD;
		dr->nmaps++;
		m->r[i] = (struct vq_region){ .gpa = FDRV_GPA_BASE + i * sz, .size = sz,
					      .uva = region_uva(dr, i), .host = p };
	}
	m->nregions = dr->o.nregions;
	return 0;
}

int fdrv_ring_host(struct fdrv *dr, unsigned q, const struct vq_mem *m, void **desc, void **avail,
		   void **used)
{
	if (q >= dr->o.nqueues)
		return -EINVAL;
	*desc = vq_gpa_to_host(m, dr->q[q].desc_gpa, desc_bytes(dr->o.qsize));
	*avail = vq_gpa_to_host(m, dr->q[q].avail_gpa, avail_bytes(dr->o.qsize));
	*used = vq_gpa_to_host(m, dr->q[q].used_gpa, used_bytes(dr->o.qsize));
	return *desc && *avail && *used ? 0 : -EFAULT;
}

uint64_t fdrv_desc_gpa(const struct fdrv *dr, unsigned q) { return dr->q[q].desc_gpa; }
uint64_t fdrv_avail_gpa(const struct fdrv *dr, unsigned q) { return dr->q[q].avail_gpa; }
uint64_t fdrv_used_gpa(const struct fdrv *dr, unsigned q) { return dr->q[q].used_gpa; }

int fdrv_move_rings(struct fdrv *dr, unsigned q)
{
	if (q >= dr->o.nqueues)
		return -EINVAL;
	dr->q[q].slot ^= 1;
	place_rings(dr, q);
	memset(dr->q[q].posted, 0, dr->o.qsize * sizeof(*dr->q[q].posted));
	return 0;
}

/* --- ring fields (driver side) -------------------------------------------- */

static volatile uint16_t *avail_field(struct fdrv *dr, unsigned q, size_t byte_off)
{
	return (volatile uint16_t *)fdrv_host(dr, dr->q[q].avail_gpa + byte_off);
}

static volatile uint16_t *used_field(const struct fdrv *dr, unsigned q, size_t byte_off)
{
	return (volatile uint16_t *)(dr->ram + (dr->q[q].used_gpa - FDRV_GPA_BASE) + byte_off);
}

struct fdrv_desc *fdrv_desc(struct fdrv *dr, unsigned q, uint16_t i)
{
	return (struct fdrv_desc *)fdrv_host(dr, dr->q[q].desc_gpa) + (i % dr->o.qsize);
}

void fdrv_avail_add(struct fdrv *dr, unsigned q, uint16_t head)
{
	struct fdrv_q *Q = &dr->q[q];
	*avail_field(dr, q, 4 + 2u * (Q->avail_idx % dr->o.qsize)) = head;
	atomic_thread_fence(memory_order_release); /* entry before idx */
	Q->avail_idx++;
	*avail_field(dr, q, 2) = Q->avail_idx;
}

void fdrv_set_avail_idx(struct fdrv *dr, unsigned q, uint16_t idx)
{
	dr->q[q].avail_idx = idx;
	*avail_field(dr, q, 2) = idx;
}

uint16_t fdrv_avail_idx(const struct fdrv *dr, unsigned q) { return dr->q[q].avail_idx; }

void fdrv_set_indices(struct fdrv *dr, unsigned q, uint16_t v)
{
	fdrv_set_avail_idx(dr, q, v);
	dr->q[q].last_used = v;
	dr->q[q].base = v;
	*used_field(dr, q, 2) = v;
}

void fdrv_set_avail_flags(struct fdrv *dr, unsigned q, uint16_t flags)
{
	*avail_field(dr, q, 0) = flags;
}

void fdrv_set_used_event(struct fdrv *dr, unsigned q, uint16_t v)
{
	*avail_field(dr, q, 4 + 2u * dr->o.qsize) = v;
}

uint16_t fdrv_avail_event(const struct fdrv *dr, unsigned q)
{
	return *used_field(dr, q, 4 + 8u * dr->o.qsize);
}

uint16_t fdrv_used_flags(const struct fdrv *dr, unsigned q) { return *used_field(dr, q, 0); }
uint16_t fdrv_used_idx(const struct fdrv *dr, unsigned q) { return *used_field(dr, q, 2); }

/* --- chains ----------------------------------------------------------------- */

static uint16_t take_desc(struct fdrv *dr, unsigned q)
{
	struct fdrv_q *Q = &dr->q[q];
	uint16_t d = Q->next_desc;
	Q->next_desc = (uint16_t)((Q->next_desc + 1) % dr->o.qsize);
	return d;
}

static void fill_table(struct fdrv_desc *t, const uint16_t *idx, const struct posted *p,
		       unsigned from, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct fdrv_desc *d = &t[idx ? idx[i] : i];
		d->addr = p->gpa[from + i];
		d->len = p->len[from + i];
		d->flags = p->write[from + i] ? VQ_DESC_F_WRITE : 0;
		d->next = 0;
		if (i + 1 < n) {
			d->flags |= VQ_DESC_F_NEXT;
			d->next = idx ? idx[i + 1] : (uint16_t)(i + 1);
		}
	}
}

int fdrv_post(struct fdrv *dr, unsigned q, const struct fdrv_buf *b, unsigned n,
	      enum fdrv_layout layout)
{
	if (q >= dr->o.nqueues || n == 0 || n > FDRV_MAX_BUFS || (layout == FDRV_MIXED && n < 2))
		return -EINVAL;
	struct posted p = { .n = n };
	for (unsigned i = 0; i < n; i++) {
		p.gpa[i] = fdrv_alloc(dr, b[i].len, 8);
		if (!p.gpa[i])
			return -ENOMEM;
		p.len[i] = b[i].len;
		p.write[i] = b[i].write;
		uint8_t *h = fdrv_host(dr, p.gpa[i]);
		if (b[i].write)
			memset(h, 0xee, b[i].len);
		else if (b[i].data)
			memcpy(h, b[i].data, b[i].len);
		else
			memset(h, 0, b[i].len);
	}
	struct fdrv_desc *ring = fdrv_desc(dr, q, 0);
	uint16_t idx[FDRV_MAX_BUFS];
	uint16_t head;
	unsigned ndirect = layout == FDRV_DIRECT ? n : layout == FDRV_MIXED ? 1 : 0;
	for (unsigned i = 0; i < ndirect; i++)
		idx[i] = take_desc(dr, q);
	fill_table(ring, idx, &p, 0, ndirect);
	if (ndirect < n) {
		unsigned nt = n - ndirect;
		uint64_t tg = fdrv_alloc(dr, 16u * nt, 16);
		if (!tg)
			return -ENOMEM;
		fill_table(fdrv_host(dr, tg), NULL, &p, ndirect, nt);
		uint16_t ind = take_desc(dr, q);
		ring[ind] = (struct fdrv_desc){ .addr = tg, .len = 16u * nt,
						.flags = VQ_DESC_F_INDIRECT };
		if (ndirect) {
			ring[idx[ndirect - 1]].flags |= VQ_DESC_F_NEXT;
			ring[idx[ndirect - 1]].next = ind;
		} else {
			idx[0] = ind;
		}
	}
	head = idx[0];
	dr->q[q].posted[head] = p;
	fdrv_avail_add(dr, q, head);
	return head;
}

int fdrv_get_used(struct fdrv *dr, unsigned q, uint32_t *id, uint32_t *len)
{
	struct fdrv_q *Q = &dr->q[q];
	uint16_t idx = fdrv_used_idx(dr, q);
	if (idx == Q->last_used)
		return 0;
	atomic_thread_fence(memory_order_acquire); /* idx before entries */
	const uint32_t *e = (const uint32_t *)(dr->ram + (Q->used_gpa - FDRV_GPA_BASE) + 4 +
					       8u * (Q->last_used % dr->o.qsize));
	*id = e[0];
	*len = e[1];
	Q->last_used++;
	return 1;
}

size_t fdrv_read_in(struct fdrv *dr, unsigned q, uint16_t head, void *out, size_t cap)
{
	if (q >= dr->o.nqueues || head >= dr->o.qsize)
		return 0;
	const struct posted *p = &dr->q[q].posted[head];
	size_t done = 0;
	for (unsigned i = 0; i < p->n && done < cap; i++) {
		if (!p->write[i])
			continue;
		size_t c = p->len[i] < cap - done ? p->len[i] : cap - done;
		memcpy((uint8_t *)out + done, fdrv_host(dr, p->gpa[i]), c);
		done += c;
	}
	return done;
}

/* --- eventfds --------------------------------------------------------------- */

int fdrv_kick_fd(const struct fdrv *dr, unsigned q) { return dr->q[q].kick_fd; }
int fdrv_call_fd(const struct fdrv *dr, unsigned q) { return dr->q[q].call_fd; }

void fdrv_kick(struct fdrv *dr, unsigned q)
{
	uint64_t one = 1;
	if (write(dr->q[q].kick_fd, &one, sizeof(one)) < 0) {
		/* counter overflow only: a kick is pending anyway */
	}
}

static uint64_t take_event(int fd)
{
	uint64_t v;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

uint64_t fdrv_take_call(struct fdrv *dr, unsigned q) { return take_event(dr->q[q].call_fd); }
uint64_t fdrv_take_err(struct fdrv *dr, unsigned q) { return take_event(dr->q[q].err_fd); }
int fdrv_err_fd(const struct fdrv *dr, unsigned q) { return dr->q[q].err_fd; }

/* --- vhost-user front-end ---------------------------------------------------- */

int fdrv_connect(struct fdrv *dr, struct vu_dev *d)
{
	int sv[2];
	if (dr->sock >= 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -EBUSY;
	int r = vu_dev_attach_fd(d, sv[1]);
	if (r < 0) {
		close(sv[0]);
		return r;
	}
	dr->sock = sv[0];
	return 0;
}

int fdrv_sock(const struct fdrv *dr) { return dr->sock; }

void fdrv_disconnect(struct fdrv *dr)
{
	if (dr->sock >= 0)
		close(dr->sock);
	dr->sock = -1;
}

int fdrv_pump(struct ev_loop *loop)
{
	int total = 0;
	for (int i = 0; i < 10000; i++) {
		int r = ev_run_once(loop, 0);
		if (r <= 0)
			break;
		total += r;
	}
	return total;
}

int fdrv_send(struct fdrv *dr, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
	      const int *fds, unsigned nfds)
{
	struct vu_hdr h = { request, flags, size };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)(uintptr_t)payload, size } };
	union {
		struct cmsghdr c;
		char buf[CMSG_SPACE(16 * sizeof(int))];
	} cb;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	if (nfds > 16)
		return -EINVAL;
	if (nfds) {
		memset(&cb, 0, sizeof(cb));
		mh.msg_control = cb.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	ssize_t n = sendmsg(dr->sock, &mh, MSG_NOSIGNAL);
	return n == (ssize_t)(sizeof(h) + size) ? 0 : -EPIPE;
}

int fdrv_recv(struct fdrv *dr, struct ev_loop *loop, struct vu_msg *m)
{
	fdrv_pump(loop);
	ssize_t n = recv(dr->sock, &m->hdr, sizeof(m->hdr), MSG_DONTWAIT);
	if (n == 0)
		return -EPIPE;
	if (n < 0)
		return errno == EAGAIN ? 0 : -EPIPE;
	if (n != sizeof(m->hdr) || m->hdr.size > sizeof(m->payload))
		return -EPROTO;
	if (m->hdr.size &&
	    recv(dr->sock, m->payload, m->hdr.size, MSG_DONTWAIT) != (ssize_t)m->hdr.size)
		return -EPROTO;
	return 1;
}

/* Sends a request that QEMU expects an answer to and checks the answer the
 * way QEMU 7.2's vhost-user.c does: same request, flags 0x5, exact size. */
static int call(struct fdrv *dr, struct ev_loop *loop, uint32_t req, const void *p, uint32_t size,
		void *out, uint32_t out_size)
{
	struct vu_msg m;
	if (fdrv_send(dr, req, VU_FLAG_VERSION, p, size, NULL, 0) < 0 ||
	    fdrv_recv(dr, loop, &m) != 1)
		return -EPIPE;
	if (m.hdr.request != req || m.hdr.flags != (VU_FLAG_VERSION | VU_FLAG_REPLY) ||
	    m.hdr.size != out_size)
		return -EPROTO;
	memcpy(out, m.payload, out_size);
	return 0;
}

static int send_u64(struct fdrv *dr, uint32_t req, uint64_t v, const int *fds, unsigned nfds)
{
	return fdrv_send(dr, req, VU_FLAG_VERSION, &v, sizeof(v), fds, nfds);
}

static int send_state(struct fdrv *dr, uint32_t req, uint32_t index, uint32_t num)
{
	struct vu_state s = { index, num };
	return fdrv_send(dr, req, VU_FLAG_VERSION, &s, sizeof(s), NULL, 0);
}

static int send_vring_fd(struct fdrv *dr, uint32_t req, unsigned q, int fd)
{
	return send_u64(dr, req, q, &fd, 1);
}

int fdrv_realize(struct fdrv *dr, struct ev_loop *loop)
{
	uint64_t v;
	int r = call(dr, loop, VU_GET_FEATURES, NULL, 0, &dr->offered, 8);
	r = r ?: call(dr, loop, VU_GET_PROTOCOL_FEATURES, NULL, 0, &dr->offered_proto, 8);
	if (r)
		return r;
	/* QEMU 7.2 keeps what it knows of the offer (bits 0-16) */
	dr->acked_proto = dr->offered_proto & 0x1ffffULL;
	r = send_u64(dr, VU_SET_PROTOCOL_FEATURES, dr->acked_proto, NULL, 0);
	if (!r && (dr->acked_proto & (1u << VU_PROTO_F_MQ)))
		r = call(dr, loop, VU_GET_QUEUE_NUM, NULL, 0, &v, 8);
	r = r ?: fdrv_send(dr, VU_SET_OWNER, VU_FLAG_VERSION, NULL, 0, NULL, 0);
	r = r ?: call(dr, loop, VU_GET_FEATURES, NULL, 0, &v, 8);
	for (unsigned q = 0; q < dr->o.nqueues && !r; q++) {
		r = send_vring_fd(dr, VU_SET_VRING_CALL, q, dr->q[q].call_fd);
		r = r ?: send_vring_fd(dr, VU_SET_VRING_ERR, q, dr->q[q].err_fd);
	}
	struct {
		struct vu_config_hdr h;
		uint8_t data[8];
	} cfg = { { 0, 8, 0 }, { 0 } }, back;
	r = r ?: call(dr, loop, VU_GET_CONFIG, &cfg, sizeof(cfg), &back, sizeof(back));
	if (r)
		return r;
	if (back.h.offset != 0 || back.h.size != 8)
		return -EPROTO;
	memcpy(dr->config, back.data, 8);
	return 0;
}

uint64_t fdrv_offered_features(const struct fdrv *dr) { return dr->offered; }
uint64_t fdrv_offered_protocol(const struct fdrv *dr) { return dr->offered_proto; }
const uint8_t *fdrv_config(const struct fdrv *dr) { return dr->config; }

static int send_mem_table(struct fdrv *dr, struct ev_loop *loop)
{
	struct {
		struct vu_mem_hdr h;
		struct vu_region r[2];
	} mt = { { dr->o.nregions, 0 }, { { 0 } } };
	int fds[2] = { dr->memfd, dr->memfd };
	uint64_t sz = region_size(dr);
	for (unsigned i = 0; i < dr->o.nregions; i++)
		mt.r[i] = (struct vu_region){ FDRV_GPA_BASE + i * sz, sz, region_uva(dr, i), i * sz };
	bool ack = dr->acked_proto & (1u << VU_PROTO_F_REPLY_ACK);
	uint32_t size = (uint32_t)(sizeof(mt.h) + dr->o.nregions * sizeof(mt.r[0]));
	int r = fdrv_send(dr, VU_SET_MEM_TABLE, VU_FLAG_VERSION | (ack ? VU_FLAG_NEED_REPLY : 0), &mt,
			  size, fds, dr->o.nregions);
	if (r || !ack)
		return r;
	struct vu_msg m;
	uint64_t status;
	if (fdrv_recv(dr, loop, &m) != 1 || m.hdr.request != VU_SET_MEM_TABLE ||
	    m.hdr.flags != (VU_FLAG_VERSION | VU_FLAG_REPLY) || m.hdr.size != 8)
		return -EPROTO;
	memcpy(&status, m.payload, 8);
	return status == 0 ? 0 : -EIO;
}

int fdrv_start(struct fdrv *dr, struct ev_loop *loop)
{
	unsigned n = dr->o.nqueues;
	int r = 0;
	for (unsigned q = n; q-- > 0 && !r;)
		r = send_vring_fd(dr, VU_SET_VRING_CALL, q, dr->q[q].call_fd);
	uint64_t f = dr->o.features & (dr->offered | (1ULL << VU_F_PROTOCOL_FEATURES));
	r = r ?: send_u64(dr, VU_SET_FEATURES, f, NULL, 0);
	r = r ?: send_mem_table(dr, loop);
	for (unsigned q = 0; q < n && !r; q++) {
		struct fdrv_q *Q = &dr->q[q];
		struct vu_addr a = { q, 0, fdrv_gpa_to_uva(dr, Q->desc_gpa),
				     fdrv_gpa_to_uva(dr, Q->used_gpa),
				     fdrv_gpa_to_uva(dr, Q->avail_gpa), 0 };
		r = send_state(dr, VU_SET_VRING_NUM, q, dr->o.qsize);
		r = r ?: send_state(dr, VU_SET_VRING_BASE, q, Q->base);
		r = r ?: fdrv_send(dr, VU_SET_VRING_ADDR, VU_FLAG_VERSION, &a, sizeof(a), NULL, 0);
		r = r ?: send_vring_fd(dr, VU_SET_VRING_KICK, q, Q->kick_fd);
	}
	for (unsigned q = 0; q < n && !r; q++)
		r = send_state(dr, VU_SET_VRING_ENABLE, q, 1);
	for (unsigned q = 0; q < n && !r; q++)
		r = send_vring_fd(dr, VU_SET_VRING_CALL, q, dr->q[q].call_fd);
	fdrv_pump(loop);
	return r;
}

void fdrv_set_base(struct fdrv *dr, unsigned q, uint16_t base) { dr->q[q].base = base; }
uint16_t fdrv_stopped_base(const struct fdrv *dr, unsigned q) { return dr->q[q].base; }

int fdrv_stop(struct fdrv *dr, struct ev_loop *loop)
{
	unsigned n = dr->o.nqueues;
	int r = 0;
	for (unsigned q = 0; q < n && !r; q++)
		r = send_state(dr, VU_SET_VRING_ENABLE, q, 0);
	for (unsigned q = 0; q < n && !r; q++) {
		struct vu_state s = { q, 0 }, back;
		r = call(dr, loop, VU_GET_VRING_BASE, &s, sizeof(s), &back, sizeof(back));
		if (!r && back.index != q)
			r = -EPROTO;
		if (!r)
			dr->q[q].base = (uint16_t)back.num;
	}
	for (unsigned q = n; q-- > 0 && !r;)
		r = send_vring_fd(dr, VU_SET_VRING_CALL, q, dr->q[q].call_fd);
	fdrv_pump(loop);
	return r;
}
