/* Split virtqueue, device side (virtio 1.x, 2.7). See virtq.h.
 * Barriers follow the reference table: acquire after reading avail->idx,
 * release before publishing used->idx, seq_cst between a store and the read
 * that decides on a notification. */
#include "vsock/virtq.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdatomic.h>
#include <string.h>

struct vq_ring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vq_ring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* num entries, then le16 used_event */
};

struct vq_ring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vq_ring_used {
	uint16_t flags;
	uint16_t idx;
	struct vq_ring_used_elem ring[]; /* num entries, then le16 avail_event */
};

#define AVAIL_F_NO_INTERRUPT 1u
#define USED_F_NO_NOTIFY 1u

_Static_assert(sizeof(struct vq_ring_desc) == 16, "descriptor layout");
_Static_assert(sizeof(struct vq_ring_used_elem) == 8, "used element layout");

/* --- memory translation ------------------------------------------------- */

/* Region containing addr in the given space, and the bytes left in it. */
static const struct vq_region *find_region(const struct vq_mem *mem, uint64_t addr, bool uva,
					   uint64_t *left)
{
	for (unsigned i = 0; i < mem->nregions && i < VQ_MAX_REGIONS; i++) {
		const struct vq_region *r = &mem->r[i];
		uint64_t start = uva ? r->uva : r->gpa;
		if (addr >= start && addr - start < r->size) {
			*left = r->size - (addr - start);
			return r;
		}
	}
	return NULL;
}

static void *translate(const struct vq_mem *mem, uint64_t addr, uint64_t len, bool uva)
{
	uint64_t left;
	const struct vq_region *r = find_region(mem, addr, uva, &left);
	if (!r || len > left)
		return NULL;
	return r->host + (addr - (uva ? r->uva : r->gpa));
}

void *vq_gpa_to_host(const struct vq_mem *mem, uint64_t gpa, uint64_t len)
{
	return translate(mem, gpa, len, false);
}

void *vq_uva_to_host(const struct vq_mem *mem, uint64_t uva, uint64_t len)
{
	return translate(mem, uva, len, true);
}

/* True if host range [p, p+len) lies inside one mapped region. */
static bool host_in_mem(const struct vq_mem *mem, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;
	for (unsigned i = 0; i < mem->nregions && i < VQ_MAX_REGIONS; i++) {
		uintptr_t s = (uintptr_t)mem->r[i].host;
		if (a >= s && a - s < mem->r[i].size && len <= mem->r[i].size - (a - s))
			return true;
	}
	return false;
}

/* --- ring field access: each shared field read or written exactly once --- */

static uint16_t avail_idx(const struct virtq *q)
{
	return le16toh(q->avail->idx);
}

static uint16_t avail_flags(const struct virtq *q)
{
	return le16toh(q->avail->flags);
}

static uint16_t avail_ring(const struct virtq *q, uint16_t i)
{
	return le16toh(q->avail->ring[i & (q->num - 1)]);
}

static uint16_t used_event(const struct virtq *q)
{
	return le16toh(q->avail->ring[q->num]);
}

static void set_avail_event(struct virtq *q, uint16_t v)
{
	volatile uint16_t *p = (volatile uint16_t *)&q->used->ring[q->num];
	*p = htole16(v);
}

static void read_desc(const volatile struct vq_ring_desc *tab, uint32_t i, struct vq_ring_desc *d)
{
	struct vq_ring_desc raw;
	/* memcpy: one snapshot, and indirect tables need not be aligned. */
	memcpy(&raw, (const void *)&tab[i], sizeof(raw));
	atomic_signal_fence(memory_order_acquire); /* no re-reads of guest memory below */
	d->addr = le64toh(raw.addr);
	d->len = le32toh(raw.len);
	d->flags = le16toh(raw.flags);
	d->next = le16toh(raw.next);
}

/* --- setup ---------------------------------------------------------------- */

int vq_setup(struct virtq *q, const struct vq_mem *mem, uint16_t num, void *desc, void *avail,
	     void *used, uint16_t last_avail, uint64_t features)
{
	memset(q, 0, sizeof(*q));
	if (!mem || num == 0 || num > VQ_MAX_SIZE || (num & (num - 1)) != 0)
		return -EINVAL;
	if (!desc || !avail || !used || ((uintptr_t)desc & 15) || ((uintptr_t)avail & 1) ||
	    ((uintptr_t)used & 3))
		return -EINVAL;
	if (!host_in_mem(mem, desc, 16u * num) || !host_in_mem(mem, avail, 6u + 2u * num) ||
	    !host_in_mem(mem, used, 6u + 8u * num))
		return -EINVAL;
	q->mem = mem;
	q->num = num;
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->last_avail = last_avail;
	q->used_idx = le16toh(q->used->idx);
	q->signalled_used = q->used_idx; /* nothing to signal before a push */
	q->event_idx = features & (1ULL << VQ_F_EVENT_IDX);
	q->indirect = features & (1ULL << VQ_F_INDIRECT_DESC);
	return 0;
}

void vq_stop(struct virtq *q)
{
	memset(q, 0, sizeof(*q));
}

/* --- chain walk ------------------------------------------------------------ */

struct walk {
	struct virtq *q;
	struct vq_elem *e;
	unsigned count;  /* descriptors walked, direct + indirect */
	bool writable;   /* a writable descriptor was seen */
	uint64_t out, in;
};

/* Appends [addr, addr+len) as one iovec per region it crosses. */
static int map_buffer(struct walk *w, uint64_t addr, uint32_t len, bool write)
{
	struct vq_elem *e = w->e;
	if (write)
		w->writable = true;
	else if (w->writable)
		return -EINVAL; /* readable after writable */
	if (write)
		w->in += len;
	else
		w->out += len;
	while (len > 0) {
		uint64_t left;
		const struct vq_region *r = find_region(w->q->mem, addr, false, &left);
		if (!r || e->n_out + e->n_in >= VQ_MAX_SEGS)
			return -EINVAL;
		uint32_t chunk = left < len ? (uint32_t)left : len;
		struct vq_iov *v = &e->iov[e->n_out + e->n_in];
		v->base = r->host + (addr - r->gpa);
		v->len = chunk;
		if (write)
			e->n_in++;
		else
			e->n_out++;
		addr += chunk;
		len -= chunk;
	}
	return 0;
}

/* Walks a descriptor table of n entries from `first`. Inside an indirect
 * table (nested == true) another indirect descriptor is an error. */
static int walk_table(struct walk *w, const volatile struct vq_ring_desc *tab, uint32_t n,
		      uint32_t first, bool nested)
{
	uint32_t i = first, steps = 0;
	for (;;) {
		if (++steps > n || ++w->count > VQ_MAX_CHAIN)
			return -EINVAL; /* looped chain */
		struct vq_ring_desc d;
		read_desc(tab, i, &d);
		if (d.flags & VQ_DESC_F_INDIRECT) {
			if (nested || !w->q->indirect || (d.flags & VQ_DESC_F_NEXT) || d.len == 0 ||
			    d.len % 16 != 0 || d.len / 16 > VQ_MAX_CHAIN)
				return -EINVAL;
			const volatile struct vq_ring_desc *t = vq_gpa_to_host(w->q->mem, d.addr, d.len);
			if (!t)
				return -EINVAL;
			return walk_table(w, t, d.len / 16, 0, true);
		}
		int r = map_buffer(w, d.addr, d.len, d.flags & VQ_DESC_F_WRITE);
		if (r < 0)
			return r;
		if (!(d.flags & VQ_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return -EINVAL;
		i = d.next;
	}
}

static bool ring_ok(struct virtq *q, uint16_t idx)
{
	if ((uint16_t)(idx - q->last_avail) > q->num) {
		q->broken = true;
		return false;
	}
	return true;
}

int vq_pop(struct virtq *q, struct vq_elem *e)
{
	if (q->broken)
		return -EIO;
	if (q->num == 0)
		return 0;
	uint16_t idx = avail_idx(q);
	if (!ring_ok(q, idx))
		return -EIO;
	if (idx == q->last_avail) {
		if (!q->event_idx)
			return 0;
		/* Ask for a kick on the next buffer, then look again: the driver
		 * may have added one before it saw avail_event. */
		set_avail_event(q, q->last_avail);
		atomic_thread_fence(memory_order_seq_cst);
		idx = avail_idx(q);
		if (!ring_ok(q, idx))
			return -EIO;
		if (idx == q->last_avail)
			return 0;
	}
	atomic_thread_fence(memory_order_acquire);
	uint16_t head = avail_ring(q, q->last_avail);
	if (head >= q->num) {
		q->broken = true;
		return -EIO;
	}
	q->last_avail++;
	if (q->event_idx)
		set_avail_event(q, q->last_avail);

	memset(e, 0, offsetof(struct vq_elem, iov));
	e->head = head;
	struct walk w = { .q = q, .e = e };
	int r = walk_table(&w, q->desc, q->num, head, false);
	if (r == 0 && (w.out > UINT32_MAX || w.in > UINT32_MAX))
		r = -EINVAL;
	if (r < 0) {
		/* Bad chain: give it back unused so the driver can reclaim it. */
		e->n_out = e->n_in = 0;
		e->out_bytes = e->in_bytes = 0;
		vq_push(q, e, 0);
		return -EINVAL;
	}
	e->out_bytes = (uint32_t)w.out;
	e->in_bytes = (uint32_t)w.in;
	return 1;
}

void vq_unpop(struct virtq *q)
{
	if (q->num)
		q->last_avail--;
}

unsigned vq_avail_count(struct virtq *q)
{
	if (q->broken || q->num == 0)
		return 0;
	uint16_t idx = avail_idx(q);
	if (!ring_ok(q, idx))
		return 0;
	return (uint16_t)(idx - q->last_avail);
}

void vq_push(struct virtq *q, const struct vq_elem *e, uint32_t written)
{
	if (q->num == 0)
		return;
	if (written > e->in_bytes)
		written = e->in_bytes;
	volatile struct vq_ring_used_elem *u = &q->used->ring[q->used_idx & (q->num - 1)];
	u->id = htole32(e->head);
	u->len = htole32(written);
	atomic_thread_fence(memory_order_release);
	q->used_idx++;
	q->used->idx = htole16(q->used_idx);
}

/* virtio spec 2.7.10: notify if used_event lies in [old, new). */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

bool vq_should_notify(struct virtq *q)
{
	if (q->num == 0)
		return false;
	atomic_thread_fence(memory_order_seq_cst);
	uint16_t old = q->signalled_used, new_idx = q->used_idx;
	bool valid = q->signalled_used_valid;
	q->signalled_used = new_idx;
	q->signalled_used_valid = true;
	if (old == new_idx)
		return false; /* nothing published since the last notification */
	if (!q->event_idx)
		return !(avail_flags(q) & AVAIL_F_NO_INTERRUPT);
	return !valid || need_event(used_event(q), new_idx, old);
}

bool vq_enable_notify(struct virtq *q)
{
	if (q->num == 0 || q->broken)
		return false;
	q->notify_off = false;
	if (q->event_idx)
		set_avail_event(q, q->last_avail);
	else
		q->used->flags = htole16(0);
	atomic_thread_fence(memory_order_seq_cst);
	return avail_idx(q) != q->last_avail;
}

void vq_disable_notify(struct virtq *q)
{
	if (q->num == 0)
		return;
	q->notify_off = true;
	/* With EVENT_IDX the driver kicks only when it passes avail_event,
	 * which stays where it is: nothing to write. */
	if (!q->event_idx)
		q->used->flags = htole16(USED_F_NO_NOTIFY);
}

/* --- byte-stream view ------------------------------------------------------ */

/* Callers may hand in an element they built themselves: never trust counts. */
static unsigned clamp_segs(unsigned n)
{
	return n < VQ_MAX_SEGS ? n : VQ_MAX_SEGS;
}

static size_t copy_iov(const struct vq_iov *iov, unsigned n, size_t off, uint8_t *buf, size_t len,
		       bool to_iov)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (off >= iov[i].len) {
			off -= iov[i].len;
			continue;
		}
		size_t c = iov[i].len - off;
		if (c > len - done)
			c = len - done;
		if (to_iov)
			memcpy(iov[i].base + off, buf + done, c);
		else
			memcpy(buf + done, iov[i].base + off, c);
		done += c;
		off = 0;
	}
	return done;
}

size_t vq_read_out(const struct vq_elem *e, size_t off, void *dst, size_t len)
{
	return copy_iov(e->iov, clamp_segs(e->n_out), off, dst, len, false);
}

size_t vq_write_in(const struct vq_elem *e, size_t off, const void *src, size_t len)
{
	unsigned nout = clamp_segs(e->n_out);
	unsigned nin = e->n_in <= VQ_MAX_SEGS - nout ? e->n_in : VQ_MAX_SEGS - nout;
	/* copy_iov only reads buf when to_iov is true */
	return copy_iov(e->iov + nout, nin, off, (uint8_t *)(uintptr_t)src, len, true);
}
