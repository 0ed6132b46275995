/* virtio-vsock packets and the host side of its connections, without rings.
 *
 * Two layers:
 *  - a pure header codec (44 little-endian bytes <-> struct vsock_hdr) and
 *    the credit arithmetic of virtio-vsock (spec 5.10.6.3);
 *  - the engine: every connection between the guest and a host stream fd,
 *    its state, credit and backlog. It consumes guest->host packets (a
 *    decoded header plus payload iovecs) and produces the next host->guest
 *    packet into a caller's buffer, reading host sockets straight into it.
 *    It registers host fds with the event loop but knows nothing of
 *    virtqueues, so vsock_dev.c is only ring glue and tests/fuzzers can drive
 *    it directly.
 *
 * Every guest header field is distrusted: wrong CIDs are dropped, unknown
 * keys, types and ops answered with RST, payloads bounded, credit computed in
 * u32 arithmetic that fails closed (a guest claiming to have consumed more
 * than we sent gets no credit), overrunning our buf_alloc resets.
 *
 * Ownership: the engine owns every fd it adopts (guest_connect results and
 * vsock_engine_connect fds) and closes it when the connection ends. */
#ifndef LCVM_VSOCK_VSOCK_PROTO_H
#define LCVM_VSOCK_VSOCK_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct ev_loop;

#define VSOCK_HDR_SIZE 44u
#define VSOCK_HOST_CID 2u
#define VSOCK_MAX_PAYLOAD 65536u      /* larger guest RW payloads are invalid */

#define VSOCK_TYPE_STREAM 1u

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

#define VSOCK_SHUTDOWN_RCV 1u    /* sender will receive no more */
#define VSOCK_SHUTDOWN_SEND 2u   /* sender will send no more */

/* Engine limits. */
#define VSOCK_BUF_ALLOC (256u * 1024)   /* our advertised buf_alloc = max backlog per connection */
#define VSOCK_MAX_CONNS 1023u
#define VSOCK_RST_QUEUE 1024u           /* RSTs waiting for rx buffers; more are dropped */
#define VSOCK_CONNECT_TIMEOUT_MS 2000   /* host->guest REQUEST unanswered */
#define VSOCK_CLOSE_TIMEOUT_MS 2000     /* SHUTDOWN 3 without RST / backlog flush deadline */
#define VSOCK_HOST_PORT_FIRST 0x40000000u  /* host-initiated ports: [2^30, 2^31) round robin */
#define VSOCK_HOST_PORT_END 0x80000000u

/* Header in host byte order. */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
};

/* Decodes the first 44 bytes of buf; -EINVAL if len < 44. Any value is
 * accepted here: meaning is checked by the engine. */
int vsock_hdr_decode(const void *buf, size_t len, struct vsock_hdr *h);
void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_SIZE]);

/* Bytes the peer can still accept: buf_alloc - (tx_cnt - fwd_cnt), all u32
 * wrapping; 0 when the peer claims more consumed than was sent. */
static inline uint32_t vsock_peer_free(uint32_t buf_alloc, uint32_t tx_cnt, uint32_t fwd_cnt)
{
	uint32_t in_flight = tx_cnt - fwd_cnt;
	return in_flight > buf_alloc ? 0 : buf_alloc - in_flight;
}

/* ------------------------------------------------------------------------ */
/* Engine. */

struct vsock_engine;

struct vsock_host_ops {
	/* The guest connects to host port `port`: return a connected stream fd
	 * that the device then owns, or -errno to refuse (the guest gets RST:
	 * connect() fails with ECONNRESET). */
	int (*guest_connect)(void *opaque, uint32_t port);
};

/* wake(wake_opaque) is called whenever output may have become available
 * (a host socket became readable, a timer fired, a host connect was queued).
 * It may be called from inside engine calls, so the glue must only schedule
 * its pump, never run it from wake. */
struct vsock_engine *vsock_engine_new(struct ev_loop *loop, uint32_t guest_cid,
				      const struct vsock_host_ops *ops, void *opaque,
				      void (*wake)(void *wake_opaque), void *wake_opaque);
/* Closes every connection without calling any done callback. */
void vsock_engine_free(struct vsock_engine *e);
/* Tests: shorter timeouts. */
void vsock_engine_set_timeouts(struct vsock_engine *e, int connect_ms, int close_ms);

/* One guest->host packet. `payload` holds at least h->len bytes (the glue
 * rejects shorter chains); h->len > VSOCK_MAX_PAYLOAD is dropped. */
void vsock_engine_guest_pkt(struct vsock_engine *e, const struct vsock_hdr *h,
			    const struct iovec *payload, int niov);

bool vsock_engine_has_output(const struct vsock_engine *e);
/* Produces the next host->guest packet: header into *h and, for RW, up to
 * `cap` payload bytes read from the host socket into `payload`. Returns 1 if
 * a packet was produced (h->len payload bytes written), 0 if none is due.
 * Whenever has_output() was true it produces a packet. */
int vsock_engine_next_pkt(struct vsock_engine *e, struct vsock_hdr *h,
			  const struct iovec *payload, int niov, size_t cap);

/* Guest reset: the guest forgot every connection. Closes them all (pending
 * host connects get done(-ECONNRESET)) and forgets queued output. */
void vsock_engine_reset(struct vsock_engine *e);

/* Host -> guest connection; see vsock_dev_connect (vsock_dev.h). On success
 * *host_port (if non-NULL) receives the allocated host port. On failure the
 * caller still owns fd. */
int vsock_engine_connect(struct vsock_engine *e, uint32_t guest_port, int fd,
			 void (*done)(void *opaque, int result), void *opaque,
			 uint32_t *host_port);

/* Observability for tests and logs. */
unsigned vsock_engine_nconns(const struct vsock_engine *e);

#endif
