#include "vsock/vsock_dev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/evloop.h"
#include "vsock/virtq.h"

#include "vsock/vhost_user.h"

/* Work per pump before yielding to the loop (fairness with other fds). */
#define PUMP_BUDGET 512u

struct vsock_dev {
	struct ev_loop *loop;
	struct vu_dev *vu;
	struct vsock_engine *eng;
	uint8_t config[8];        /* le64 guest_cid */
	long long pump_timer;     /* > 0 while a pump is scheduled */
	long long tx_timer;       /* > 0 while a deferred tx notification waits */
	unsigned tx_owed;         /* tx completions not yet signalled */
	bool freeing;             /* no reset callbacks into a dying engine */
	struct vq_elem elem;      /* scratch for the chain being handled */
	bool stats;               /* LCVM_VSOCK_STATS: counters to stderr at reset/free */
	struct {
		unsigned long kicks, pumps, tx_pkts, rx_pkts, tx_calls, rx_calls;
		unsigned long rx_starved;  /* output waiting, no rx buffer posted */
		unsigned long long rx_bytes;
	} st;
};

static void print_stats(struct vsock_dev *d)
{
	if (!d->stats || !d->st.pumps)
		return;
	fprintf(stderr, "vsock stats: kicks %lu pumps %lu | tx pkts %lu calls %lu | rx pkts %lu "
		"(%.0f B avg) calls %lu starved %lu\n", d->st.kicks, d->st.pumps, d->st.tx_pkts,
		d->st.tx_calls, d->st.rx_pkts,
		d->st.rx_pkts ? (double)d->st.rx_bytes / (double)d->st.rx_pkts : 0.0, d->st.rx_calls,
		d->st.rx_starved);
	memset(&d->st, 0, sizeof(d->st));
}

static long pump_cb(struct ev_loop *loop, long long id, void *data);

/* Signals the tx completions owed so far (see pump). */
static void flush_tx_notify(struct vsock_dev *d)
{
	if (d->tx_timer > 0)
		ev_timer_del(d->loop, d->tx_timer);
	d->tx_timer = 0;
	if (!d->tx_owed)
		return;
	d->tx_owed = 0;
	d->st.tx_calls += vu_dev_notify(d->vu, VSOCK_DEV_TX_QUEUE);
}

static long tx_timer_cb(struct ev_loop *loop, long long id, void *data)
{
	struct vsock_dev *d = data;
	(void)loop;
	(void)id;
	d->tx_timer = 0;
	flush_tx_notify(d);
	return EV_NOMORE;
}

static void schedule_pump(void *opaque)
{
	struct vsock_dev *d = opaque;
	if (d->pump_timer > 0)
		return;
	long long id = ev_timer_add(d->loop, 0, pump_cb, d);
	d->pump_timer = id > 0 ? id : 0;
}

/* Payload view: the element's iovecs of one direction from byte 44 on. */
static int slice_iov(const struct vq_elem *el, unsigned first, unsigned n, struct iovec *out)
{
	size_t skip = VSOCK_HDR_SIZE;
	int k = 0;
	for (unsigned i = first; i < first + n && i < VQ_MAX_SEGS; i++) {
		size_t l = el->iov[i].len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		out[k].iov_base = el->iov[i].base + skip;
		out[k].iov_len = l - skip;
		skip = 0;
		k++;
	}
	return k;
}

static void handle_tx(struct vsock_dev *d, const struct vq_elem *el)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	struct vsock_hdr h;
	if (vq_read_out(el, 0, raw, sizeof(raw)) < sizeof(raw) ||
	    vsock_hdr_decode(raw, sizeof(raw), &h) < 0)
		return;
	/* Short chains and oversized payloads are invalid: drop them. */
	if (h.len > VSOCK_MAX_PAYLOAD || el->out_bytes < VSOCK_HDR_SIZE + (uint64_t)h.len)
		return;
	struct iovec iov[VQ_MAX_SEGS];
	int n = slice_iov(el, 0, el->n_out, iov);
	vsock_engine_guest_pkt(d->eng, &h, iov, n);
}

/* Returns true if the budget ran out with work left. Completions are
 * signalled by pump, not here. */
static bool drain_tx(struct vsock_dev *d, struct virtq *tx)
{
	bool more = false;
	for (unsigned budget = PUMP_BUDGET;;) {
		int r = vq_pop(tx, &d->elem);
		if (r == -EINVAL)
			continue; /* completed by virtq already */
		if (r < 0)
			break;
		if (r == 0) {
			if (vq_enable_notify(tx))
				continue;
			break;
		}
		handle_tx(d, &d->elem);
		vq_push(tx, &d->elem, 0);
		d->tx_owed++;
		d->st.tx_pkts++;
		if (!--budget) {
			more = true;
			break;
		}
	}
	return more;
}

static bool fill_rx(struct vsock_dev *d, struct virtq *rx, unsigned idx, bool *pushed_out)
{
	bool pushed = false, more = false;
	unsigned budget = PUMP_BUDGET;
	while (vsock_engine_has_output(d->eng)) {
		struct vq_elem *el = &d->elem;
		int r = vq_pop(rx, el);
		if (r == -EINVAL)
			continue;
		if (r < 0)
			break;
		if (r == 0) {
			if (vq_enable_notify(rx))
				continue;
			d->st.rx_starved++;
			break;
		}
		uint32_t used = 0;
		if (el->in_bytes >= VSOCK_HDR_SIZE) {
			struct iovec iov[VQ_MAX_SEGS];
			int n = slice_iov(el, el->n_out, el->n_in, iov);
			struct vsock_hdr h;
			if (vsock_engine_next_pkt(d->eng, &h, iov, n, el->in_bytes - VSOCK_HDR_SIZE)) {
				uint8_t raw[VSOCK_HDR_SIZE];
				vsock_hdr_encode(&h, raw);
				vq_write_in(el, 0, raw, sizeof(raw));
				used = VSOCK_HDR_SIZE + h.len;
				d->st.rx_pkts++;
				d->st.rx_bytes += used;
			}
		}
		vq_push(rx, el, used); /* used 0: a buffer too small for a header */
		pushed = true;
		if (!--budget) {
			more = vsock_engine_has_output(d->eng);
			break;
		}
	}
	if (pushed)
		d->st.rx_calls += vu_dev_notify(d->vu, idx);
	*pushed_out = pushed;
	return more;
}

/* Tx first (it frees the guest's replies and refreshes credit), then rx.
 *
 * Tx completions are signalled together with the next rx batch, or after
 * VSOCK_DEV_TX_NOTIFY_MS, or at once when VSOCK_DEV_TX_NOTIFY_BATCH are owed:
 * nothing in the guest waits for them (it only frees the buffers), and
 * signalling each at once cost a guest interrupt per packet: the 9P request
 * and the credit update a Linux guest sends after reading each reply, i.e.
 * 1.5 extra interrupts per round trip (measured, LCVM_VSOCK_STATS). The
 * batch bound keeps the guest's 128-entry ring from filling up. */
static void pump(struct vsock_dev *d)
{
	bool more = false, rx_pushed = false;
	d->st.pumps++;
	struct virtq *tx = vu_dev_queue(d->vu, VSOCK_DEV_TX_QUEUE);
	if (tx)
		more |= drain_tx(d, tx);
	struct virtq *rx = vu_dev_queue(d->vu, VSOCK_DEV_RX_QUEUE);
	if (rx)
		more |= fill_rx(d, rx, VSOCK_DEV_RX_QUEUE, &rx_pushed);
	if (d->tx_owed && (rx_pushed || d->tx_owed >= VSOCK_DEV_TX_NOTIFY_BATCH)) {
		flush_tx_notify(d);
	} else if (d->tx_owed && d->tx_timer <= 0) {
		long long id = ev_timer_add(d->loop, VSOCK_DEV_TX_NOTIFY_MS, tx_timer_cb, d);
		if (id > 0)
			d->tx_timer = id;
		else
			flush_tx_notify(d); /* no timer: never leave it owed */
	}
	if (more)
		schedule_pump(d);
}

static long pump_cb(struct ev_loop *loop, long long id, void *data)
{
	struct vsock_dev *d = data;
	(void)loop;
	(void)id;
	d->pump_timer = 0;
	pump(d);
	return EV_NOMORE;
}

static void on_kick(void *opaque, unsigned idx)
{
	(void)idx;
	((struct vsock_dev *)opaque)->st.kicks++;
	schedule_pump(opaque);
}

static void on_reset(void *opaque)
{
	struct vsock_dev *d = opaque;
	print_stats(d);
	if (!d->freeing)
		vsock_engine_reset(d->eng); /* the guest forgot every connection */
}

struct vsock_dev *vsock_dev_new(struct ev_loop *loop, uint32_t guest_cid,
				const struct vsock_host_ops *ops, void *opaque)
{
	if (guest_cid <= VSOCK_HOST_CID || guest_cid == UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	struct vsock_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->loop = loop;
	const char *ev = getenv("LCVM_VSOCK_STATS"); /* diagnostics (bench/9p.sh) */
	d->stats = ev && *ev && strcmp(ev, "0") != 0;
	for (int i = 0; i < 8; i++)
		d->config[i] = (uint8_t)((uint64_t)guest_cid >> (8 * i));
	d->eng = vsock_engine_new(loop, guest_cid, ops, opaque, schedule_pump, d);
	if (!d->eng)
		goto fail;
	static const struct vu_dev_ops vops = { .queue_kick = on_kick, .reset = on_reset };
	struct vu_dev_config cfg = {
		.features = VSOCK_DEV_FEATURES,
		.protocol_features = VSOCK_DEV_PROTOCOL_FEATURES,
		.config = d->config,
		.config_len = sizeof(d->config),
		.nqueues = 2, /* QEMU 7.2 keeps the event queue */
	};
	d->vu = vu_dev_new(loop, &cfg, &vops, d);
	if (!d->vu)
		goto fail;
	return d;
fail:
	vsock_dev_free(d);
	errno = ENOMEM;
	return NULL;
}

int vsock_dev_listen(struct vsock_dev *d, const char *path, struct lc_err *e)
{
	return vu_dev_listen(d->vu, path, e);
}

int vsock_dev_attach_fd(struct vsock_dev *d, int fd)
{
	return vu_dev_attach_fd(d->vu, fd);
}

int vsock_dev_connect_port(struct vsock_dev *d, uint32_t guest_port, int fd,
			   void (*done)(void *opaque, int result), void *opaque,
			   uint32_t *host_port)
{
	return vsock_engine_connect(d->eng, guest_port, fd, done, opaque, host_port);
}

int vsock_dev_connect(struct vsock_dev *d, uint32_t guest_port, int fd,
		      void (*done)(void *opaque, int result), void *opaque)
{
	return vsock_engine_connect(d->eng, guest_port, fd, done, opaque, NULL);
}

unsigned vsock_dev_nconns(const struct vsock_dev *d)
{
	return vsock_engine_nconns(d->eng);
}

struct vu_dev *vsock_dev_vu(struct vsock_dev *d)
{
	return d->vu;
}

void vsock_dev_free(struct vsock_dev *d)
{
	if (!d)
		return;
	d->freeing = true;
	print_stats(d);
	if (d->pump_timer > 0)
		ev_timer_del(d->loop, d->pump_timer);
	if (d->tx_timer > 0)
		ev_timer_del(d->loop, d->tx_timer);
	vu_dev_free(d->vu);
	vsock_engine_free(d->eng);
	free(d);
}
