/* vhost-user device side (back-end) for QEMU 7.2's vhost-user-vsock, see
 * shared/reference/vhost-user-vsock.md §1. Device-agnostic: it negotiates
 * features, maps guest memory, configures split rings (virtq.h), watches
 * kick fds in the event loop and signals call fds; the device (vsock_dev.c)
 * only processes queues through the ops below.
 *
 * Ownership: a vu_dev owns its listener, the front-end connection, every fd
 * received (kick/call/err eventfds, memory fds: closed after mmap) and the
 * guest memory mappings. Queues returned by vu_dev_queue() point into that
 * memory and are valid only until control returns to the event loop.
 *
 * Sessions: one front-end at a time. Malformed input from it (bad sizes,
 * wrong fd counts, unknown requests, unusable rings) latches `broken` and
 * tears the session down (like libvhost-user's vu_panic, minus the abort);
 * EOF ends it normally. Either way ops->reset runs and, when listening, the
 * next front-end is accepted; attaching one clears `broken`.
 *
 * Callbacks run from the event loop or from inside message handling; they
 * may call vu_dev_queue/vu_dev_notify but must not free the device. */
#ifndef LCVM_VSOCK_VHOST_USER_H
#define LCVM_VSOCK_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "vsock/virtq.h"

struct ev_loop;

/* --- wire format (native endian, §1.2) ------------------------------------ */

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_RESET_DEVICE = 34,
};

#define VU_FLAG_VERSION 0x1u
#define VU_FLAG_REPLY 0x4u
#define VU_FLAG_NEED_REPLY 0x8u
#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD 0x100u

#define VU_F_PROTOCOL_FEATURES 30   /* virtio feature bit */
#define VU_F_VERSION_1 32
#define VU_PROTO_F_MQ 0
#define VU_PROTO_F_REPLY_ACK 3
#define VU_PROTO_F_CONFIG 9

/* Limits */
#define VU_MAX_QUEUES 8u
#define VU_MAX_FDS 8u               /* per message = max memory regions */
#define VU_MAX_CONFIG 256u
#define VU_MAX_PAYLOAD 512u         /* larger than every request we accept */

struct vu_hdr {
	uint32_t request, flags, size;
};
struct vu_state {
	uint32_t index, num;
};
struct vu_addr {
	uint32_t index, flags;
	uint64_t desc_uva, used_uva, avail_uva, log_gpa;
};
struct vu_region {
	uint64_t guest_phys_addr, memory_size, userspace_addr, mmap_offset;
};
struct vu_mem_hdr {
	uint32_t nregions, padding; /* followed by nregions struct vu_region */
};
struct vu_config_hdr {
	uint32_t offset, size, flags; /* followed by size bytes */
};

/* A whole message (header + payload), e.g. a reply. */
struct vu_msg {
	struct vu_hdr hdr;
	uint8_t payload[VU_MAX_PAYLOAD];
};

/* --- device API ------------------------------------------------------------ */

struct vu_dev;
struct vu_dev_ops {
	void (*queue_kick)(void *opaque, unsigned idx); /* queue idx kicked, or just became runnable: process it */
	void (*reset)(void *opaque);   /* guest reset / ring restart with new addresses or base / front-end EOF:
	                                  every guest-side connection state is gone */
};
struct vu_dev_config {
	uint64_t features;             /* device features offered, e.g. VERSION_1|INDIRECT|EVENT_IDX|bit 30 */
	uint64_t protocol_features;    /* MQ | CONFIG (| REPLY_ACK) */
	const uint8_t *config; size_t config_len;   /* config space (vsock: le64 guest_cid), copied */
	unsigned nqueues;              /* vsock: 2 (rx 0, tx 1) */
};

/* NULL on allocation failure or a bad config (nqueues 0 or > VU_MAX_QUEUES,
 * config_len > VU_MAX_CONFIG). Bit 30 is always offered. */
struct vu_dev *vu_dev_new(struct ev_loop *loop, const struct vu_dev_config *cfg,
                          const struct vu_dev_ops *ops, void *opaque);
int vu_dev_listen(struct vu_dev *d, const char *path, struct lc_err *e); /* unlink+bind+listen; one front-end at a time */
int vu_dev_attach_fd(struct vu_dev *d, int fd);  /* an already connected front-end (tests: socketpair); takes ownership */
struct virtq *vu_dev_queue(struct vu_dev *d, unsigned idx); /* NULL unless runnable (mem, num, addr, base, kick/NOFD, enabled) */
bool vu_dev_notify(struct vu_dev *d, unsigned idx);       /* write the call eventfd if vq_should_notify(); true if written */
bool vu_dev_broken(const struct vu_dev *d);
void vu_dev_free(struct vu_dev *d);                       /* unmaps memory, closes every fd, unlinks the listener path */

/* True while a front-end is attached. */
bool vu_dev_connected(const struct vu_dev *d);

/* Handles one message without sockets (the connection reader and the fuzzer
 * call it). Takes ownership of fds[0..nfds) in every case. Returns 1 when
 * *reply holds a message to send (flags exactly VERSION|REPLY), 0 when no
 * reply is due, or a negative errno when the message was malformed: the
 * device is then broken, the session's state torn down and every later
 * message refused with -EIO until a new front-end is attached. */
int vu_handle_msg(struct vu_dev *d, const struct vu_hdr *h, const uint8_t *payload, size_t len,
		  int *fds, size_t nfds, struct vu_msg *reply);

#endif
