/* Split virtqueues over guest memory: pure memory work, no I/O, no fds, so
 * it can be unit-tested and fuzzed with a fake driver. Everything read from
 * the guest is hostile: indices are bounded by the ring size, chain walks are
 * counted, every buffer is translated through the memory table and must lie
 * wholly inside one region (a buffer spanning two regions is split into two
 * iovecs). Ring fields are little-endian and read once.
 *
 * Ownership: struct vq_mem and the memory it maps belong to the vhost-user
 * device (vhost_user.c); a virtq only points into it and must be stopped
 * (vq_stop) before that memory is unmapped.
 *
 * Limits are VQ_MAX_SIZE (ring size) and VQ_MAX_SEGS (iovecs per element).
 *
 * A popped element's iovecs point into guest memory: complete (vq_push) or
 * give back (vq_unpop) every element before returning to the event loop, as
 * a vhost-user message may stop the ring or replace the memory table. */
#ifndef LCVM_VSOCK_VIRTQ_H
#define LCVM_VSOCK_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VQ_MAX_SIZE 32768u       /* virtio spec maximum for split rings */
#define VQ_MAX_REGIONS 8u        /* VHOST_MEMORY_BASELINE_NREGIONS */
#define VQ_MAX_SEGS 64u          /* iovecs per popped element */
#define VQ_MAX_CHAIN 1024u       /* descriptors walked per chain, direct + indirect */

/* Descriptor flags (virtio spec 2.7.5). */
#define VQ_DESC_F_NEXT 1u
#define VQ_DESC_F_WRITE 2u
#define VQ_DESC_F_INDIRECT 4u

/* Feature bits that change ring behaviour. */
#define VQ_F_INDIRECT_DESC 28
#define VQ_F_EVENT_IDX 29

struct vq_region {
	uint64_t gpa;   /* guest-physical start */
	uint64_t size;
	uint64_t uva;   /* front-end (QEMU) virtual address of gpa */
	uint8_t *host;  /* our mapping of gpa */
};

struct vq_mem {
	unsigned nregions;
	struct vq_region r[VQ_MAX_REGIONS];
};

/* Host pointer for [gpa, gpa+len) if it lies inside one region, else NULL.
 * len 0 is allowed (returns the pointer if gpa is inside a region). */
void *vq_gpa_to_host(const struct vq_mem *mem, uint64_t gpa, uint64_t len);
/* Same for a front-end virtual address (vhost-user ring addresses). */
void *vq_uva_to_host(const struct vq_mem *mem, uint64_t uva, uint64_t len);

struct vq_iov {
	uint8_t *base;
	uint32_t len;
};

/* One popped descriptor chain. iov[0 .. n_out) are device-readable (driver
 * -> device), iov[n_out .. n_out+n_in) device-writable. */
struct vq_elem {
	uint16_t head;
	uint16_t n_out, n_in;
	uint32_t out_bytes, in_bytes;
	struct vq_iov iov[VQ_MAX_SEGS];
};

struct vq_ring_desc;   /* layouts are private to virtq.c */
struct vq_ring_avail;
struct vq_ring_used;

struct virtq {
	const struct vq_mem *mem;
	uint16_t num;                 /* 0 = not configured */
	volatile struct vq_ring_desc *desc;
	volatile struct vq_ring_avail *avail;
	volatile struct vq_ring_used *used;
	uint16_t last_avail;          /* next avail index to consume */
	uint16_t used_idx;            /* next used index to publish */
	uint16_t signalled_used;      /* EVENT_IDX bookkeeping */
	bool signalled_used_valid;
	bool event_idx;
	bool indirect;
	bool broken;                  /* latched on a corrupt ring; cleared by vq_setup */
	bool notify_off;              /* vq_disable_notify() in force */
};

/* Configures q from ring addresses already translated to host pointers
 * (vhost_user.c translates QEMU's uvas). num must be a power of two in
 * [1, VQ_MAX_SIZE]; each ring must lie inside guest memory (checked with
 * vq_uva_to_host by the caller, re-checked here by size). last_avail comes
 * from SET_VRING_BASE; used_idx is read from the ring. Returns 0 or -EINVAL. */
int vq_setup(struct virtq *q, const struct vq_mem *mem, uint16_t num, void *desc, void *avail,
	     void *used, uint16_t last_avail, uint64_t features);

/* Forgets the ring (num = 0). Memory is not touched afterwards. */
void vq_stop(struct virtq *q);

/* Pops the next available chain into *e.
 *   1        popped; the caller must vq_push() it exactly once
 *   0        nothing available
 *   -EINVAL  the chain was malformed (loop, bad index, bad address, writable
 *            before readable, nested indirect, too many segments); it has
 *            already been completed with used len 0 — carry on with the next
 *   -EIO     the ring itself is corrupt (avail idx moved by more than num,
 *            head >= num); q->broken is latched and every call returns -EIO */
int vq_pop(struct virtq *q, struct vq_elem *e);

/* Gives back the most recently popped, not yet pushed element so the next
 * vq_pop returns it again (e.g. an rx chain that cannot be filled now). */
void vq_unpop(struct virtq *q);

/* Number of chains the driver has made available and we have not popped
 * (0 when broken or unconfigured). */
unsigned vq_avail_count(struct virtq *q);

/* Publishes e as used with `written` bytes written into its writable part. */
void vq_push(struct virtq *q, const struct vq_elem *e, uint32_t written);

/* After one or more pushes: true if the driver wants an interrupt now
 * (EVENT_IDX used_event, or !NO_INTERRUPT). Updates the bookkeeping, so call
 * it once per batch and signal the call fd when it returns true. */
bool vq_should_notify(struct virtq *q);

/* With EVENT_IDX: publish avail_event = last_avail so the driver kicks when
 * it adds more; returns true if buffers arrived meanwhile (re-check). Without
 * EVENT_IDX it only clears/sets used->flags NO_NOTIFY. vq_pop() itself keeps
 * avail_event current (also when it finds the ring empty), so a caller that
 * never calls these still gets every kick. */
bool vq_enable_notify(struct virtq *q);
void vq_disable_notify(struct virtq *q);

/* Byte-stream view of an element's iovecs, used by the vsock packet layer:
 * copy from the readable part starting at byte `off`, or into the writable
 * part. Return bytes copied (short at the end of the buffers). */
size_t vq_read_out(const struct vq_elem *e, size_t off, void *dst, size_t len);
size_t vq_write_in(const struct vq_elem *e, size_t off, const void *src, size_t len);

#endif
