/* A fake virtio driver for unit tests: guest RAM, split rings, chains and
 * eventfds, as a Linux guest behind QEMU 7.2 would produce them (reference
 * vhost-user-vsock.md §5.3).
 *
 * Guest RAM is a memfd mapped MAP_SHARED inside a larger PROT_NONE
 * reservation, so a stray access next to it faults. It starts at guest
 * physical FDRV_GPA_BASE and, to catch gpa/uva mix-ups, claims to live at
 * QEMU virtual address FDRV_UVA_BASE. With nregions == 2 it is announced as
 * two regions (same memfd, offsets 0 and ram_size/2) that are contiguous in
 * guest-physical space but not in uva space, so buffers can cross regions.
 *
 * Two ways to use it:
 *   - ring level (test_virtq): fdrv_device_mem() maps the regions again, as
 *     a device would, and fills a struct vq_mem; fdrv_ring_host() gives the
 *     device-side ring pointers for vq_setup().
 *   - vhost-user level (test_vhost_user, vsock end-to-end tests):
 *     fdrv_connect() attaches a socketpair to a vu_dev, fdrv_realize() /
 *     fdrv_start() / fdrv_stop() send QEMU 7.2's message sequences (§1.6).
 *
 * The driver writes chains with fdrv_post(), kicks with fdrv_kick(), reads
 * completions with fdrv_get_used() / fdrv_read_in(), and counts interrupts
 * with fdrv_take_call(). Descriptors are handed out round-robin: keep fewer
 * than qsize descriptors outstanding per queue. Every function returns 0 (or
 * a count / index) on success and a negative errno on failure; failures of
 * the test environment itself (memfd, mmap) are reported, never aborted on.
 * Owner: the test that calls fdrv_new() frees with fdrv_free(). */
#ifndef LCVM_TESTS_FAKE_DRIVER_H
#define LCVM_TESTS_FAKE_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsock/virtq.h"

#define FDRV_GPA_BASE 0x40000000ULL
#define FDRV_UVA_BASE 0x7f0000000000ULL
#define FDRV_MAX_QUEUES 4u
#define FDRV_MAX_BUFS 64u      /* buffers per posted chain */

struct ev_loop;
struct vu_dev;

struct fdrv_opts {
	size_t ram_size;       /* default 4 MiB; must be a multiple of 2 * page size */
	unsigned nregions;     /* 1 (default) or 2 */
	unsigned nqueues;      /* default 2 (vsock rx, tx) */
	uint16_t qsize;        /* default 128 (QEMU 7.2's vsock queue size) */
	uint64_t features;     /* driver-acked features for fdrv_start; default
	                          VERSION_1|bit 30|INDIRECT|EVENT_IDX */
};

/* A descriptor as laid out in guest memory (little-endian host assumed, as
 * x86-64). Hostile tests write these directly. */
struct fdrv_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct fdrv_buf {
	const void *data;      /* readable: bytes copied into guest memory (NULL = zeroes) */
	uint32_t len;
	bool write;            /* device-writable (filled with 0xee so writes show) */
};

enum fdrv_layout {
	FDRV_DIRECT,           /* chained descriptors in the ring's table */
	FDRV_INDIRECT,         /* one INDIRECT descriptor -> table of n entries */
	FDRV_MIXED,            /* first buffer direct, the rest in an indirect table */
};

struct fdrv;

struct fdrv *fdrv_new(const struct fdrv_opts *o); /* o may be NULL; NULL on failure */
void fdrv_free(struct fdrv *dr);

/* Guest memory. */
uint64_t fdrv_alloc(struct fdrv *dr, size_t len, size_t align); /* gpa; cycles through RAM */
void *fdrv_host(struct fdrv *dr, uint64_t gpa);                  /* driver's view of gpa */
uint64_t fdrv_ram_size(const struct fdrv *dr);
uint16_t fdrv_qsize(const struct fdrv *dr);

/* Ring level. Maps the regions for a device (each in its own guarded
 * reservation) and describes them in *m; unmapped by fdrv_free. */
int fdrv_device_mem(struct fdrv *dr, struct vq_mem *m);
/* Device-side pointers of queue q's rings inside the mapping *m. */
int fdrv_ring_host(struct fdrv *dr, unsigned q, const struct vq_mem *m, void **desc, void **avail,
		   void **used);
/* Ring addresses. */
uint64_t fdrv_desc_gpa(const struct fdrv *dr, unsigned q);
uint64_t fdrv_avail_gpa(const struct fdrv *dr, unsigned q);
uint64_t fdrv_used_gpa(const struct fdrv *dr, unsigned q);
uint64_t fdrv_gpa_to_uva(const struct fdrv *dr, uint64_t gpa);
/* Places queue q's rings at fresh addresses with zeroed indices (a guest
 * reset). */
int fdrv_move_rings(struct fdrv *dr, unsigned q);

/* Builds a chain from b[0..n) and makes it available (bumps avail->idx).
 * Returns the head index. */
int fdrv_post(struct fdrv *dr, unsigned q, const struct fdrv_buf *b, unsigned n,
	      enum fdrv_layout layout);
/* Raw access for hostile tests. */
struct fdrv_desc *fdrv_desc(struct fdrv *dr, unsigned q, uint16_t i);
void fdrv_avail_add(struct fdrv *dr, unsigned q, uint16_t head); /* ring entry + idx++ */
void fdrv_set_avail_idx(struct fdrv *dr, unsigned q, uint16_t idx);
uint16_t fdrv_avail_idx(const struct fdrv *dr, unsigned q);
/* Both sides' indices start at v: for wrap-around tests, before vq_setup /
 * fdrv_start (the device learns v from the used ring and SET_VRING_BASE). */
void fdrv_set_indices(struct fdrv *dr, unsigned q, uint16_t v);
void fdrv_set_avail_flags(struct fdrv *dr, unsigned q, uint16_t flags);
void fdrv_set_used_event(struct fdrv *dr, unsigned q, uint16_t v);
uint16_t fdrv_avail_event(const struct fdrv *dr, unsigned q);
uint16_t fdrv_used_flags(const struct fdrv *dr, unsigned q);
uint16_t fdrv_used_idx(const struct fdrv *dr, unsigned q);

/* Reads the next used entry: 1 and *id, *len; 0 when none. */
int fdrv_get_used(struct fdrv *dr, unsigned q, uint32_t *id, uint32_t *len);
/* Copies the device-written bytes of chain `head` (its writable buffers in
 * order, at most cap bytes). Returns the byte count. */
size_t fdrv_read_in(struct fdrv *dr, unsigned q, uint16_t head, void *out, size_t cap);

/* Eventfds the driver owns: kick (driver -> device) and call (device ->
 * driver). fdrv_take_call returns how many calls arrived since the last
 * take (0 if none; never blocks). */
int fdrv_kick_fd(const struct fdrv *dr, unsigned q);
int fdrv_call_fd(const struct fdrv *dr, unsigned q);
int fdrv_err_fd(const struct fdrv *dr, unsigned q);
void fdrv_kick(struct fdrv *dr, unsigned q);
uint64_t fdrv_take_call(struct fdrv *dr, unsigned q);
uint64_t fdrv_take_err(struct fdrv *dr, unsigned q);

/* --- vhost-user front-end: QEMU 7.2's side of the socket -------------------
 * The device lives in the same process and runs in `loop`: every function
 * that expects a reply first runs the loop until it is idle (fdrv_pump), so
 * no sleeps and no threads. */
struct vu_msg;

/* Creates a socketpair and attaches one end to d (vu_dev_attach_fd). */
int fdrv_connect(struct fdrv *dr, struct vu_dev *d);
/* The front-end's end of the socket (-1 before fdrv_connect / after
 * fdrv_disconnect). */
int fdrv_sock(const struct fdrv *dr);
/* Closes the front-end's end: the device sees EOF at the next pump. */
void fdrv_disconnect(struct fdrv *dr);
/* Runs the loop until no callback runs (at most 10000 rounds). Returns the
 * number of callbacks run. */
int fdrv_pump(struct ev_loop *loop);
/* Sends one raw message with fds attached. */
int fdrv_send(struct fdrv *dr, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
	      const int *fds, unsigned nfds);
/* Pumps, then reads one message if the device sent one: 1 got *m, 0 none,
 * -EPIPE the device closed the connection. */
int fdrv_recv(struct fdrv *dr, struct ev_loop *loop, struct vu_msg *m);

/* QEMU 7.2 sequences (§1.6). fdrv_realize checks every reply's flags
 * (exactly 0x5) and size; it stores the offered features and the config
 * bytes. Returns 0 or -EPROTO on a bad reply. */
int fdrv_realize(struct fdrv *dr, struct ev_loop *loop);
uint64_t fdrv_offered_features(const struct fdrv *dr);
uint64_t fdrv_offered_protocol(const struct fdrv *dr);
const uint8_t *fdrv_config(const struct fdrv *dr); /* 8 bytes from GET_CONFIG */
/* Driver start: features (driver's & offered), memory table, per ring
 * NUM/BASE/ADDR/KICK, ENABLE, CALL. Bases are those of the last fdrv_stop
 * (0 at first) unless fdrv_set_base() says otherwise. */
int fdrv_start(struct fdrv *dr, struct ev_loop *loop);
void fdrv_set_base(struct fdrv *dr, unsigned q, uint16_t base);
/* Stop: ENABLE 0, GET_VRING_BASE (bases kept), CALL. */
int fdrv_stop(struct fdrv *dr, struct ev_loop *loop);
uint16_t fdrv_stopped_base(const struct fdrv *dr, unsigned q);

#endif
