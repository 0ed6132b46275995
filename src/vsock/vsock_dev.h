/* The vhost-user-vsock device: a vhost-user backend (vhost_user.h) whose
 * rings carry virtio-vsock packets, each guest connection handed to the host
 * as a connected stream fd. Ring glue only: connection logic lives in the
 * engine (vsock_proto.h).
 *
 * Single-threaded on the caller's ev_loop. Host->guest output is pumped once
 * per loop round (a 0 ms timer that runs in the same round as the kick or
 * socket event that scheduled it), so notifications are batched.
 * LCVM_VSOCK_STATS=1 prints per-packet counters (kicks, pumps, packets and
 * calls per queue, rx starvation) to stderr at device reset and free.
 *
 * Ownership: the device owns every fd it adopts (guest_connect results, fds
 * given to vsock_dev_connect on success) and closes it when the connection
 * ends; the host side sees that as EOF. The caller owns the loop and frees
 * the device with vsock_dev_free before the loop. */
#ifndef LCVM_VSOCK_VSOCK_DEV_H
#define LCVM_VSOCK_VSOCK_DEV_H

#include <stdint.h>

#include "util/err.h"
#include "vsock/vsock_proto.h"   /* struct vsock_host_ops, limits */

struct ev_loop;
struct vsock_dev;
struct vu_dev;

/* Features offered to QEMU 7.2 (reference §1.4): VERSION_1, PROTOCOL_FEATURES,
 * EVENT_IDX, INDIRECT_DESC; protocol features MQ and CONFIG. */
#define VSOCK_DEV_FEATURES ((1ULL << 32) | (1ULL << 30) | (1ULL << 29) | (1ULL << 28))
#define VSOCK_DEV_PROTOCOL_FEATURES ((1ULL << 0) | (1ULL << 9))
#define VSOCK_DEV_RX_QUEUE 0u
#define VSOCK_DEV_TX_QUEUE 1u
/* Tx completions are signalled with the next rx batch, after this delay, or
 * once this many are owed (vsock_dev.c pump). */
#define VSOCK_DEV_TX_NOTIFY_MS 1
#define VSOCK_DEV_TX_NOTIFY_BATCH 32u

/* guest_cid must not be reserved (0, 1, 2, 0xffffffff). ops->guest_connect
 * is called with opaque when the guest connects to host port P: return a
 * connected stream fd that the device then owns, or -errno to refuse (the
 * guest gets RST: connect() fails with ECONNRESET). NULL (errno set) on
 * failure. */
struct vsock_dev *vsock_dev_new(struct ev_loop *loop, uint32_t guest_cid,
				const struct vsock_host_ops *ops, void *opaque);
/* Listens for the front-end (QEMU) on a unix socket path. */
int vsock_dev_listen(struct vsock_dev *d, const char *vhost_user_path, struct lc_err *e);
/* Serves an already connected front-end socket (tests). */
int vsock_dev_attach_fd(struct vsock_dev *d, int vhost_user_fd);

/* Host -> guest: the device adopts `fd` (a connected stream: socketpair end
 * or a hybrid client) and sends REQUEST to guest_port. done(opaque, 0) once
 * the guest accepted; on RST or a 2 s timeout done(opaque, -ECONNREFUSED or
 * -ETIMEDOUT) and the device has closed fd (-ECONNRESET if the guest reset or
 * fd hung up meanwhile). done is never called from inside vsock_dev_connect,
 * nor after vsock_dev_free. Returns 0, or -errno with fd still the caller's
 * (-EMFILE: VSOCK_MAX_CONNS reached). */
int vsock_dev_connect(struct vsock_dev *d, uint32_t guest_port, int fd,
		      void (*done)(void *opaque, int result), void *opaque);
/* Same, and reports the host port chosen from [2^30, 2^31) (hybrid "OK <port>"). */
int vsock_dev_connect_port(struct vsock_dev *d, uint32_t guest_port, int fd,
			   void (*done)(void *opaque, int result), void *opaque,
			   uint32_t *host_port);

/* Live connections (tests, logs). */
unsigned vsock_dev_nconns(const struct vsock_dev *d);
/* The vhost-user side, for tests that drive it with a fake front-end
 * (tests/unit/fake_driver.h). */
struct vu_dev *vsock_dev_vu(struct vsock_dev *d);
/* Closes every connection (no done callbacks) and the vhost-user side. */
void vsock_dev_free(struct vsock_dev *d);

#endif
