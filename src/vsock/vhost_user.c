/* vhost-user back-end: framing, one handler per request, ring lifecycle.
 * See vhost_user.h and shared/reference/vhost-user-vsock.md §1. */
#include "vsock/vhost_user.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/evloop.h"

struct vu_queue {
	struct vu_dev *d;          /* back pointer for the kick callback */
	unsigned idx;
	struct virtq vq;
	bool started;              /* vq set up over the current memory table */
	bool enabled;
	bool have_num, have_addr, have_base, have_kick;
	bool err_signalled;
	uint16_t num, base;
	uint64_t desc_uva, avail_uva, used_uva;
	int kick_fd, call_fd, err_fd; /* -1 when absent (kick: also for NOFD) */
	/* What GET_VRING_BASE answered, to tell `cont` from a guest reset. */
	bool stopped;
	uint16_t stop_base;
	uint64_t stop_desc, stop_avail, stop_used;
};

struct vu_map {
	void *base;
	size_t len;
};

struct vu_dev {
	struct ev_loop *loop;
	uint64_t features, protocol_features; /* offered */
	uint8_t config[VU_MAX_CONFIG];
	size_t config_len;
	unsigned nqueues;
	struct vu_dev_ops ops;
	void *opaque;

	int listen_fd;
	char *path;
	int conn_fd;
	bool broken;

	uint64_t acked, acked_proto;
	struct vq_mem mem;
	struct vu_map maps[VQ_MAX_REGIONS];
	struct vu_queue q[VU_MAX_QUEUES];

	/* partial message being received */
	struct vu_msg rx;
	size_t rx_have;
	int rx_fds[VU_MAX_FDS];
	size_t rx_nfds;
};

#define F_BIT(b) (1ULL << (b))
/* Acked bits we could not honour even though QEMU forwards them unfiltered:
 * dirty logging, IOMMU translation, packed rings. */
#define F_CANNOT_HONOUR (F_BIT(26) | F_BIT(33) | F_BIT(34))

/* --- state teardown ---------------------------------------------------------- */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void drop_kick(struct vu_dev *d, struct vu_queue *q)
{
	if (q->kick_fd >= 0)
		ev_del(d->loop, q->kick_fd);
	close_fd(&q->kick_fd);
	q->have_kick = false;
}

static void unmap_all(struct vu_map *maps)
{
	for (unsigned i = 0; i < VQ_MAX_REGIONS; i++) {
		if (maps[i].base)
			munmap(maps[i].base, maps[i].len);
		maps[i] = (struct vu_map){ 0 };
	}
}

static void init_queues(struct vu_dev *d)
{
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		d->q[i] = (struct vu_queue){ .d = d, .idx = i, .kick_fd = -1, .call_fd = -1,
					     .err_fd = -1 };
}

/* Forgets everything the front-end configured; keeps the connection. */
static void drop_state(struct vu_dev *d)
{
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		struct vu_queue *q = &d->q[i];
		drop_kick(d, q);
		close_fd(&q->call_fd);
		close_fd(&q->err_fd);
	}
	init_queues(d);
	unmap_all(d->maps);
	memset(&d->mem, 0, sizeof(d->mem));
	d->acked = d->acked_proto = 0;
	for (size_t i = 0; i < d->rx_nfds; i++)
		close(d->rx_fds[i]);
	d->rx_nfds = 0;
	d->rx_have = 0;
}

static void close_conn(struct vu_dev *d)
{
	if (d->conn_fd < 0)
		return;
	ev_del(d->loop, d->conn_fd);
	close_fd(&d->conn_fd);
}

/* Malformed input: latch, drop the session's state, tell the device. */
static int fail(struct vu_dev *d, int err)
{
	d->broken = true;
	drop_state(d);
	if (d->ops.reset)
		d->ops.reset(d->opaque);
	return err < 0 ? err : -EINVAL;
}

/* --- rings ------------------------------------------------------------------- */

static bool runnable(const struct vu_dev *d, const struct vu_queue *q)
{
	return !d->broken && q->started && q->enabled;
}

static void kick_cb(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct vu_queue *q = data;
	uint64_t v;
	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: a spurious wake-up; the ring is what matters */
	}
	if (runnable(q->d, q) && q->d->ops.queue_kick)
		q->d->ops.queue_kick(q->d->opaque, q->idx);
}

/* Configures the vq over the current memory table. */
static int setup_vq(struct vu_dev *d, struct vu_queue *q, uint16_t last_avail)
{
	uint16_t n = q->num;
	void *desc = vq_uva_to_host(&d->mem, q->desc_uva, 16ULL * n);
	void *avail = vq_uva_to_host(&d->mem, q->avail_uva, 6ULL + 2ULL * n);
	void *used = vq_uva_to_host(&d->mem, q->used_uva, 6ULL + 8ULL * n);
	if (!desc || !avail || !used)
		return -EFAULT;
	return vq_setup(&q->vq, &d->mem, n, desc, avail, used, last_avail, d->acked);
}

/* Starts the ring if it has everything; a restart that does not continue
 * where GET_VRING_BASE stopped means the guest reset the device (§1.5). */
static int queue_update(struct vu_dev *d, struct vu_queue *q)
{
	if (q->started || !q->have_num || !q->have_addr || !q->have_base || !q->have_kick ||
	    d->mem.nregions == 0)
		return 0;
	int r = setup_vq(d, q, q->base);
	if (r < 0)
		return r;
	q->started = true;
	bool reset = q->stopped && (q->stop_base != q->base || q->stop_desc != q->desc_uva ||
				    q->stop_avail != q->avail_uva || q->stop_used != q->used_uva);
	q->stopped = false;
	if (reset) {
		/* One reset per restart: the other rings' records are void now. */
		for (unsigned i = 0; i < d->nqueues; i++)
			d->q[i].stopped = false;
		if (d->ops.reset)
			d->ops.reset(d->opaque);
	}
	if (q->enabled && d->ops.queue_kick)
		d->ops.queue_kick(d->opaque, q->idx);
	return 0;
}

/* Stops a started ring and remembers where, for reset detection. Returns the
 * next avail index. */
static uint16_t queue_stop(struct vu_dev *d, struct vu_queue *q)
{
	uint16_t base = q->started ? q->vq.last_avail : q->base;
	if (q->started || q->stopped) {
		q->stopped = true;
		q->stop_base = base;
		q->stop_desc = q->desc_uva;
		q->stop_avail = q->avail_uva;
		q->stop_used = q->used_uva;
	}
	vq_stop(&q->vq);
	q->started = false;
	q->base = base;
	return base;
}

/* --- payload helpers ------------------------------------------------------------ */

static int want(size_t len, size_t size, size_t nfds, size_t want_fds)
{
	return len == size && nfds == want_fds ? 0 : -EINVAL;
}

static struct vu_queue *queue_at(struct vu_dev *d, uint32_t index)
{
	return index < d->nqueues ? &d->q[index] : NULL;
}

static int reply_u64(struct vu_msg *reply, uint64_t v)
{
	reply->hdr.size = sizeof(v);
	memcpy(reply->payload, &v, sizeof(v));
	return 1;
}

static int get_u64(const uint8_t *p, size_t len, size_t nfds, uint64_t *v)
{
	if (want(len, 8, nfds, 0) < 0)
		return -EINVAL;
	memcpy(v, p, 8);
	return 0;
}

static int get_state(struct vu_dev *d, const uint8_t *p, size_t len, size_t nfds,
		     struct vu_queue **q, uint32_t *num)
{
	struct vu_state s;
	if (want(len, sizeof(s), nfds, 0) < 0)
		return -EINVAL;
	memcpy(&s, p, sizeof(s));
	*q = queue_at(d, s.index);
	*num = s.num;
	return *q ? 0 : -EINVAL;
}

/* --- request handlers: 0 done, 1 reply ready, <0 malformed ---------------------- */

static int h_set_features(struct vu_dev *d, const uint8_t *p, size_t len, size_t nfds)
{
	uint64_t f;
	if (get_u64(p, len, nfds, &f) < 0)
		return -EINVAL;
	uint64_t offered = d->features | F_BIT(VU_F_PROTOCOL_FEATURES);
	if (!(f & F_BIT(VU_F_VERSION_1)) || (f & ~offered & F_CANNOT_HONOUR))
		return -EINVAL;
	d->acked = f;
	if (!(f & F_BIT(VU_F_PROTOCOL_FEATURES))) {
		/* without bit 30 rings start enabled (vhost-user spec) */
		for (unsigned i = 0; i < d->nqueues; i++)
			d->q[i].enabled = true;
	}
	return 0;
}

static int map_region(const struct vu_region *r, int fd, struct vu_map *m, struct vq_region *out)
{
	uint64_t total;
	if (r->memory_size == 0 || __builtin_add_overflow(r->memory_size, r->mmap_offset, &total) ||
	    total > SIZE_MAX || r->guest_phys_addr + r->memory_size < r->guest_phys_addr ||
	    r->userspace_addr + r->memory_size < r->userspace_addr)
		return -EINVAL;
	/* A region past the end of the file would SIGBUS on first touch. */
	struct stat st;
	if (fstat(fd, &st) < 0 || (S_ISREG(st.st_mode) && total > (uint64_t)st.st_size))
		return -EINVAL;
	/* From offset 0, like libvhost-user: no alignment rules on mmap_offset. */
	void *p = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*m = (struct vu_map){ p, (size_t)total };
	*out = (struct vq_region){ .gpa = r->guest_phys_addr, .size = r->memory_size,
				   .uva = r->userspace_addr, .host = (uint8_t *)p + r->mmap_offset };
	return 0;
}

static int h_set_mem_table(struct vu_dev *d, const uint8_t *p, size_t len, int *fds, size_t nfds)
{
	struct vu_mem_hdr mh;
	if (len < sizeof(mh))
		return -EINVAL;
	memcpy(&mh, p, sizeof(mh));
	if (mh.nregions > VQ_MAX_REGIONS || len != sizeof(mh) + mh.nregions * sizeof(struct vu_region) ||
	    nfds != mh.nregions)
		return -EINVAL;
	struct vu_map maps[VQ_MAX_REGIONS] = { { 0 } };
	struct vq_mem mem = { .nregions = mh.nregions };
	for (unsigned i = 0; i < mh.nregions; i++) {
		struct vu_region r;
		memcpy(&r, p + sizeof(mh) + i * sizeof(r), sizeof(r));
		int err = map_region(&r, fds[i], &maps[i], &mem.r[i]);
		if (err < 0) {
			unmap_all(maps);
			return err;
		}
	}
	/* Map the new table, re-point started rings, then drop the old one. */
	struct vu_map old[VQ_MAX_REGIONS];
	memcpy(old, d->maps, sizeof(old));
	memcpy(d->maps, maps, sizeof(maps));
	d->mem = mem;
	unmap_all(old);
	for (unsigned i = 0; i < d->nqueues; i++) {
		struct vu_queue *q = &d->q[i];
		if (q->started && setup_vq(d, q, q->vq.last_avail) < 0)
			return -EFAULT;
		int err = queue_update(d, q);
		if (err < 0)
			return err;
	}
	return 0;
}

static int h_set_vring_num(struct vu_dev *d, const uint8_t *p, size_t len, size_t nfds)
{
	struct vu_queue *q;
	uint32_t num;
	if (get_state(d, p, len, nfds, &q, &num) < 0 || num == 0 || num > VQ_MAX_SIZE ||
	    (num & (num - 1)))
		return -EINVAL;
	if (q->started)
		queue_stop(d, q);
	q->num = (uint16_t)num;
	q->have_num = true;
	return queue_update(d, q);
}

static int h_set_vring_addr(struct vu_dev *d, const uint8_t *p, size_t len, size_t nfds)
{
	struct vu_addr a;
	if (want(len, sizeof(a), nfds, 0) < 0)
		return -EINVAL;
	memcpy(&a, p, sizeof(a));
	struct vu_queue *q = queue_at(d, a.index);
	if (!q || a.flags != 0) /* no dirty logging: the device is not migratable */
		return -EINVAL;
	if (q->started)
		queue_stop(d, q);
	q->desc_uva = a.desc_uva;
	q->avail_uva = a.avail_uva;
	q->used_uva = a.used_uva;
	q->have_addr = true;
	return queue_update(d, q);
}

static int h_set_vring_base(struct vu_dev *d, const uint8_t *p, size_t len, size_t nfds)
{
	struct vu_queue *q;
	uint32_t num;
	if (get_state(d, p, len, nfds, &q, &num) < 0 || num > UINT16_MAX)
		return -EINVAL;
	if (q->started)
		queue_stop(d, q);
	q->base = (uint16_t)num;
	q->have_base = true;
	return queue_update(d, q);
}

static int h_get_vring_base(struct vu_dev *d, const uint8_t *p, size_t len, size_t nfds,
			    struct vu_msg *reply)
{
	struct vu_queue *q;
	uint32_t num;
	if (get_state(d, p, len, nfds, &q, &num) < 0)
		return -EINVAL;
	/* Stop: after this reply the ring and guest memory are left alone. */
	struct vu_state s = { q->idx, queue_stop(d, q) };
	drop_kick(d, q);
	reply->hdr.size = sizeof(s);
	memcpy(reply->payload, &s, sizeof(s));
	return 1;
}

/* KICK / CALL / ERR: u64 index | NOFD, with exactly one fd unless NOFD. */
static int h_vring_fd(struct vu_dev *d, uint32_t req, const uint8_t *p, size_t len, int *fds,
		      size_t nfds)
{
	uint64_t u;
	if (len != 8)
		return -EINVAL;
	memcpy(&u, p, 8);
	bool nofd = u & VU_VRING_NOFD;
	struct vu_queue *q = queue_at(d, (uint32_t)(u & VU_VRING_IDX_MASK));
	if (!q || (u & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD)) || nfds != (nofd ? 0u : 1u))
		return -EINVAL;
	int fd = nofd ? -1 : take_fd(&fds[0]);
	if (req == VU_SET_VRING_CALL) {
		close_fd(&q->call_fd);
		q->call_fd = fd;
		q->vq.signalled_used_valid = false; /* next notify goes through */
		return 0;
	}
	if (req == VU_SET_VRING_ERR) {
		close_fd(&q->err_fd);
		q->err_fd = fd;
		q->err_signalled = false;
		return 0;
	}
	drop_kick(d, q);
	q->have_kick = true; /* NOFD: runnable without kicks */
	if (fd >= 0) {
		q->kick_fd = fd;
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    ev_add(d->loop, fd, EV_READ, kick_cb, q) < 0)
			return -EBADF;
	}
	return queue_update(d, q);
}

static int h_set_vring_enable(struct vu_dev *d, const uint8_t *p, size_t len, size_t nfds)
{
	struct vu_queue *q;
	uint32_t num;
	if (get_state(d, p, len, nfds, &q, &num) < 0 || num > 1)
		return -EINVAL;
	bool was = q->enabled;
	q->enabled = num;
	if (!was && q->enabled && q->started && d->ops.queue_kick)
		d->ops.queue_kick(d->opaque, q->idx);
	return 0;
}

static int h_get_config(struct vu_dev *d, const uint8_t *p, size_t len, size_t nfds,
			struct vu_msg *reply)
{
	struct vu_config_hdr c;
	if (len < sizeof(c) || nfds != 0)
		return -EINVAL;
	memcpy(&c, p, sizeof(c));
	if (c.size > VU_MAX_CONFIG || len != sizeof(c) + c.size ||
	    (uint64_t)c.offset + c.size > VU_MAX_CONFIG)
		return -EINVAL;
	memcpy(reply->payload, &c, sizeof(c));
	uint8_t *out = reply->payload + sizeof(c);
	memset(out, 0, c.size);
	if (c.offset < d->config_len)
		memcpy(out, d->config + c.offset, MIN(c.size, d->config_len - c.offset));
	reply->hdr.size = (uint32_t)(sizeof(c) + c.size);
	return 1;
}

static void disable_all(struct vu_dev *d)
{
	for (unsigned i = 0; i < d->nqueues; i++) {
		d->q[i].enabled = false;
		queue_stop(d, &d->q[i]);
		drop_kick(d, &d->q[i]);
	}
	if (d->ops.reset)
		d->ops.reset(d->opaque);
}

static int dispatch(struct vu_dev *d, const struct vu_hdr *h, const uint8_t *p, size_t len,
		    int *fds, size_t nfds, struct vu_msg *reply)
{
	uint64_t v;
	switch (h->request) {
	case VU_GET_FEATURES:
		if (want(len, 0, nfds, 0) < 0)
			return -EINVAL;
		return reply_u64(reply, d->features | F_BIT(VU_F_PROTOCOL_FEATURES));
	case VU_SET_FEATURES:
		return h_set_features(d, p, len, nfds);
	case VU_SET_OWNER:
		return want(len, 0, nfds, 0);
	case VU_RESET_OWNER:
	case VU_RESET_DEVICE:
		if (want(len, 0, nfds, 0) < 0)
			return -EINVAL;
		disable_all(d);
		return 0;
	case VU_SET_MEM_TABLE:
		return h_set_mem_table(d, p, len, fds, nfds);
	case VU_SET_VRING_NUM:
		return h_set_vring_num(d, p, len, nfds);
	case VU_SET_VRING_ADDR:
		return h_set_vring_addr(d, p, len, nfds);
	case VU_SET_VRING_BASE:
		return h_set_vring_base(d, p, len, nfds);
	case VU_GET_VRING_BASE:
		return h_get_vring_base(d, p, len, nfds, reply);
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		return h_vring_fd(d, h->request, p, len, fds, nfds);
	case VU_GET_PROTOCOL_FEATURES:
		if (want(len, 0, nfds, 0) < 0)
			return -EINVAL;
		return reply_u64(reply, d->protocol_features);
	case VU_SET_PROTOCOL_FEATURES:
		if (get_u64(p, len, nfds, &v) < 0)
			return -EINVAL;
		d->acked_proto = v & d->protocol_features;
		return 0;
	case VU_GET_QUEUE_NUM:
		if (want(len, 0, nfds, 0) < 0)
			return -EINVAL;
		return reply_u64(reply, d->nqueues);
	case VU_SET_VRING_ENABLE:
		return h_set_vring_enable(d, p, len, nfds);
	case VU_GET_CONFIG:
		return h_get_config(d, p, len, nfds, reply);
	default:
		/* SET_LOG_*, SET_CONFIG and everything never offered */
		return -EINVAL;
	}
}

int vu_handle_msg(struct vu_dev *d, const struct vu_hdr *h, const uint8_t *payload, size_t len,
		  int *fds, size_t nfds, struct vu_msg *reply)
{
	int r;
	memset(&reply->hdr, 0, sizeof(reply->hdr));
	if (d->broken)
		r = -EIO;
	else if (nfds > VU_MAX_FDS || (h->flags & 3u) != VU_FLAG_VERSION || h->size != len ||
		 len > VU_MAX_PAYLOAD)
		r = fail(d, -EINVAL);
	else {
		reply->hdr = (struct vu_hdr){ h->request, VU_FLAG_VERSION | VU_FLAG_REPLY, 0 };
		r = dispatch(d, h, payload, len, fds, nfds, reply);
		if (r < 0)
			r = fail(d, r);
		else if (r == 0 && (h->flags & VU_FLAG_NEED_REPLY) &&
			 (d->acked_proto & F_BIT(VU_PROTO_F_REPLY_ACK)))
			r = reply_u64(reply, 0);
	}
	for (size_t i = 0; i < nfds && fds; i++)
		close_fd(&fds[i]); /* every fd a handler did not keep */
	return r;
}

/* --- connection ---------------------------------------------------------------- */

/* Receives more of the current message. 1 complete, 0 wait, -EPIPE EOF,
 * other <0 malformed framing. Never reads past the message end, so fds of
 * the next message stay queued. */
static int rx_more(struct vu_dev *d)
{
	size_t hl = sizeof(struct vu_hdr);
	if (d->rx_have >= hl && d->rx.hdr.size > VU_MAX_PAYLOAD)
		return -EMSGSIZE;
	size_t need = d->rx_have < hl ? hl : hl + d->rx.hdr.size;
	if (d->rx_have == need && d->rx_have >= hl)
		return 1;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
	} cb;
	struct iovec iov = { (uint8_t *)&d->rx + d->rx_have, need - d->rx_have };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.buf,
			     .msg_controllen = sizeof(cb.buf) };
	ssize_t n = recvmsg(d->conn_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -EPIPE;
	bool overflow = mh.msg_flags & MSG_CTRUNC;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (d->rx_nfds < VU_MAX_FDS)
				d->rx_fds[d->rx_nfds++] = fd;
			else {
				close(fd);
				overflow = true;
			}
		}
	}
	if (overflow)
		return -EBADF;
	if (n == 0)
		return -EPIPE;
	d->rx_have += (size_t)n;
	return rx_more(d); /* header done: go on with the payload, or EAGAIN */
}

static int send_msg(struct vu_dev *d, const struct vu_msg *m)
{
	size_t n = sizeof(m->hdr) + m->hdr.size;
	ssize_t w;
	do
		w = send(d->conn_fd, m, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	/* The front-end waits for this reply with an empty socket buffer, so a
	 * short or blocked write means it is gone or misbehaving. */
	return w == (ssize_t)n ? 0 : -EPIPE;
}

static void end_session(struct vu_dev *d)
{
	drop_state(d);
	close_conn(d);
	if (d->ops.reset)
		d->ops.reset(d->opaque);
}

static void conn_cb(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct vu_dev *d = data;
	while (d->conn_fd == fd) {
		int r = rx_more(d);
		if (r == 0)
			return;
		if (r == -EPIPE) {
			end_session(d);
			return;
		}
		if (r < 0) {
			fail(d, r);
			close_conn(d);
			return;
		}
		struct vu_msg reply;
		size_t nfds = d->rx_nfds;
		d->rx_nfds = 0;
		d->rx_have = 0;
		r = vu_handle_msg(d, &d->rx.hdr, d->rx.payload, d->rx.hdr.size, d->rx_fds, nfds, &reply);
		if (r < 0) {
			close_conn(d);
			return;
		}
		if (r == 1 && send_msg(d, &reply) < 0) {
			end_session(d);
			return;
		}
	}
}

static void listen_cb(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct vu_dev *d = data;
	int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0)
		return;
	if (d->conn_fd >= 0) {
		close(c); /* one front-end at a time */
		return;
	}
	vu_dev_attach_fd(d, c);
}

/* --- public API --------------------------------------------------------------- */

struct vu_dev *vu_dev_new(struct ev_loop *loop, const struct vu_dev_config *cfg,
			  const struct vu_dev_ops *ops, void *opaque)
{
	if (!loop || !cfg || cfg->nqueues == 0 || cfg->nqueues > VU_MAX_QUEUES ||
	    cfg->config_len > VU_MAX_CONFIG || (cfg->config_len && !cfg->config))
		return NULL;
	struct vu_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->loop = loop;
	d->features = cfg->features;
	d->protocol_features = cfg->protocol_features;
	if (cfg->config_len)
		memcpy(d->config, cfg->config, cfg->config_len);
	d->config_len = cfg->config_len;
	d->nqueues = cfg->nqueues;
	if (ops)
		d->ops = *ops;
	d->opaque = opaque;
	d->listen_fd = d->conn_fd = -1;
	init_queues(d);
	return d;
}

int vu_dev_listen(struct vu_dev *d, const char *path, struct lc_err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return lc_err_setx(e, ENAMETOOLONG, "vhost-user socket path too long: %s", path);
	if (d->listen_fd >= 0)
		return lc_err_setx(e, EBUSY, "vhost-user device already listening");
	strcpy(sa.sun_path, path);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return lc_err_set(e, errno, "vhost-user socket");
	if (unlink(path) < 0 && errno != ENOENT)
		return lc_err_set(e, errno, "unlink %s", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return lc_err_set(e, errno, "bind %s", path);
	if (listen(fd, 1) < 0)
		return lc_err_set(e, errno, "listen %s", path);
	char *p = strdup(path);
	if (!p)
		return lc_err_set(e, ENOMEM, "vhost-user listener");
	int r = ev_add(d->loop, fd, EV_READ, listen_cb, d);
	if (r < 0) {
		free(p);
		unlink(path);
		return lc_err_set(e, -r, "watch %s", path);
	}
	d->path = p;
	d->listen_fd = take_fd(&fd);
	return 0;
}

int vu_dev_attach_fd(struct vu_dev *d, int fd)
{
	if (fd < 0)
		return -EBADF;
	if (d->conn_fd >= 0) {
		close(fd);
		return -EBUSY;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	drop_state(d); /* a new session starts from nothing */
	d->broken = false;
	int r = ev_add(d->loop, fd, EV_READ, conn_cb, d);
	if (r < 0) {
		close(fd);
		return r;
	}
	d->conn_fd = fd;
	return 0;
}

struct virtq *vu_dev_queue(struct vu_dev *d, unsigned idx)
{
	if (idx >= d->nqueues || !runnable(d, &d->q[idx]))
		return NULL;
	struct vu_queue *q = &d->q[idx];
	if (q->vq.broken) {
		/* A corrupt ring stays stopped until the guest restarts it; QEMU
		 * logs "vhost vring error" once. */
		if (q->err_fd >= 0 && !q->err_signalled) {
			uint64_t one = 1;
			if (write(q->err_fd, &one, sizeof(one)) < 0) { /* counter full: already signalled */ }
		}
		q->err_signalled = true;
		return NULL;
	}
	return &q->vq;
}

bool vu_dev_notify(struct vu_dev *d, unsigned idx)
{
	if (idx >= d->nqueues || !runnable(d, &d->q[idx]))
		return false;
	struct vu_queue *q = &d->q[idx];
	if (q->call_fd < 0 || !vq_should_notify(&q->vq))
		return false;
	uint64_t one = 1;
	if (write(q->call_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, an interrupt is pending anyway */
	}
	return true;
}

bool vu_dev_broken(const struct vu_dev *d)
{
	return d->broken;
}

bool vu_dev_connected(const struct vu_dev *d)
{
	return d->conn_fd >= 0;
}

void vu_dev_free(struct vu_dev *d)
{
	if (!d)
		return;
	drop_state(d);
	close_conn(d);
	if (d->listen_fd >= 0) {
		ev_del(d->loop, d->listen_fd);
		close_fd(&d->listen_fd);
	}
	if (d->path)
		unlink(d->path);
	free(d->path);
	free(d);
}
