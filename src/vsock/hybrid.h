/* The hybrid-vsock unix socket convention (Firecracker, Cloud Hypervisor,
 * vhost-device-vsock), on top of a vsock_dev:
 *
 *  host -> guest: a client connects to uds_path and writes "CONNECT <port>\n"
 *    (decimal u32, LF, the line at most HYBRID_CMD_MAX bytes); once the guest
 *    accepts, it reads "OK <host port>\n" and the socket carries raw bytes
 *    both ways. Bytes the client sent after the LF are kept for the guest.
 *    On refusal, timeout or a bad command the client is simply closed.
 *  guest -> host: a guest connect to host port P connects (non-blocking) to
 *    "<uds_path>_<P>"; no listener there (or its backlog full) means RST.
 *
 * Ownership: the hybrid owns its listener and its clients until they are
 * handed to the device (vsock_dev_connect), which then owns their fds.
 * Lifetime: create the hybrid, then the device with hybrid_host_ops and the
 * hybrid as opaque, then hybrid_listen; free the device BEFORE the hybrid
 * (the device calls back into it). */
#ifndef LCVM_VSOCK_HYBRID_H
#define LCVM_VSOCK_HYBRID_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "vsock/vsock_proto.h"

struct ev_loop;
struct vsock_dev;
struct hybrid;

#define HYBRID_CMD_MAX 32          /* "CONNECT <port>\n" including the LF */
#define HYBRID_CMD_TIMEOUT_MS 5000 /* client silent after connecting */
#define HYBRID_MAX_PENDING 128     /* clients still sending their command */

/* guest_connect for vsock_dev_new; opaque = struct hybrid *. */
extern const struct vsock_host_ops hybrid_host_ops;

/* Checks that "<uds_path>_4294967295" fits in sun_path. NULL on failure
 * with e filled. */
struct hybrid *hybrid_new(struct ev_loop *loop, const char *uds_path, struct lc_err *e);
/* Unlinks a stale uds_path, binds and listens; clients go to d. */
int hybrid_listen(struct hybrid *h, struct vsock_dev *d, struct lc_err *e);
/* Closes the listener and clients still in command phase, unlinks uds_path. */
void hybrid_free(struct hybrid *h);

/* The guest_connect implementation: connected fd or -errno. */
int hybrid_guest_connect(void *hybrid, uint32_t port);

/* Parses one command line (buf holds it up to, excluding, the LF):
 * "CONNECT <port>" in any case, separated by spaces or tabs, optional
 * trailing CR/space. Returns 0 and *port, or -EINVAL. Pure, for tests. */
int hybrid_parse_connect(const char *buf, size_t len, uint32_t *port);

#endif
