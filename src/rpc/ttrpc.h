/* ttrpc (containerd's wire protocol) over a connected stream fd, with
 * protobuf-c messages. Shared by the monitor (client) and the agent (server);
 * both run it inside a util/evloop loop, never blocking.
 *
 * Wire format (github.com/containerd/ttrpc channel.go): a 10-byte header
 *   u32 length (big-endian, payload bytes), u32 stream id (big-endian),
 *   u8 type (1 request, 2 response, 3 data), u8 flags
 * then `length` bytes of a protobuf ttrpc.Request or ttrpc.Response
 * (proto/ttrpc.proto). Client stream ids are odd and increase. Messages
 * larger than TTRPC_MAX_MSG are refused: the connection is closed.
 *
 * Codec functions are pure (no I/O) so they are unit-tested and fuzzed.
 *
 * Changes since the first contract (all additive, every old name and
 * signature behaves as documented before):
 *   - struct ttrpc_reader: the incremental frame reader, exposed so the fuzz
 *     harness and tests can drive it without a socket.
 *   - ttrpc_client_set_close_cb(): learn that the agent's connection died even
 *     when no call is outstanding.
 *   - ttrpc_call_connected(): a deferred handler (WaitContainer) may check
 *     whether anyone still waits for its answer.
 *   - TTRPC_MAX_CONNS, TTRPC_MAX_OUTQ, TTRPC_MAX_ERRMSG limits;
 *   - the remaining gRPC codes, TTRPC_RESOURCE_EXHAUSTED is used by the server
 *     when a client exceeds TTRPC_MAX_INFLIGHT.
 *   - reply callbacks always get a non-NULL msg ("" when there is none).
 *   - stated: when ttrpc_client_new/ttrpc_server_add_conn fail, the fd is
 *     not closed (the caller still owns it).
 *
 * Ownership: the client and each server connection own their fd. Messages
 * passed to ttrpc_call()/ttrpc_reply() stay the caller's (they are packed
 * before the call returns). */
#ifndef LCVM_RPC_TTRPC_H
#define LCVM_RPC_TTRPC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct ev_loop;

#define TTRPC_HDR_LEN 10u
#define TTRPC_MAX_MSG (4u << 20) /* containerd's default messageLengthMax */
#define TTRPC_MAX_INFLIGHT 64u   /* outstanding calls per connection */
/* A server connection stops reading requests while more than this many reply
 * bytes wait to be written (a client that never reads cannot grow memory). */
#define TTRPC_MAX_OUTQ (2u * TTRPC_MAX_MSG)
/* Connections one server serves at once; more are closed at accept. */
#define TTRPC_MAX_CONNS 32u
/* Longest error message a server sends (ttrpc_reply_error). */
#define TTRPC_MAX_ERRMSG 1024u

#define TTRPC_TYPE_REQUEST 1u
#define TTRPC_TYPE_RESPONSE 2u
#define TTRPC_TYPE_DATA 3u

/* gRPC status codes used in Response.status.code. */
#define TTRPC_OK 0
#define TTRPC_CANCELLED 1
#define TTRPC_UNKNOWN 2
#define TTRPC_INVALID_ARGUMENT 3
#define TTRPC_DEADLINE_EXCEEDED 4
#define TTRPC_NOT_FOUND 5
#define TTRPC_ALREADY_EXISTS 6
#define TTRPC_PERMISSION_DENIED 7
#define TTRPC_RESOURCE_EXHAUSTED 8
#define TTRPC_FAILED_PRECONDITION 9
#define TTRPC_ABORTED 10
#define TTRPC_OUT_OF_RANGE 11
#define TTRPC_UNIMPLEMENTED 12
#define TTRPC_INTERNAL 13
#define TTRPC_UNAVAILABLE 14
#define TTRPC_DATA_LOSS 15
#define TTRPC_UNAUTHENTICATED 16

struct ttrpc_hdr {
	uint32_t length;
	uint32_t stream_id;
	uint8_t type;
	uint8_t flags;
};

/* --- codec ----------------------------------------------------------------*/
void ttrpc_hdr_encode(const struct ttrpc_hdr *h, uint8_t out[TTRPC_HDR_LEN]);
/* Decodes a header; -EMSGSIZE if length > TTRPC_MAX_MSG, -EINVAL for an
 * unknown type. */
int ttrpc_hdr_decode(const uint8_t in[TTRPC_HDR_LEN], struct ttrpc_hdr *h);

/* Incremental frame reader: bytes go in in any chunking, whole frames come
 * out. Zero-initialised (or ttrpc_reader_init) it is ready. */
struct ttrpc_reader {
	uint8_t hbuf[TTRPC_HDR_LEN];
	size_t hgot;         /* header bytes collected */
	struct ttrpc_hdr hdr; /* valid once hgot == TTRPC_HDR_LEN */
	uint8_t *payload;    /* hdr.length bytes once complete, owned by the reader */
	size_t pgot;         /* payload bytes collected */
	size_t pcap;         /* bytes allocated: grows with what arrived, so a
			      * header alone never costs TTRPC_MAX_MSG */
};
void ttrpc_reader_init(struct ttrpc_reader *r);
/* Consumes bytes from p[0..n) and sets *used. Returns 1 when a whole frame
 * is in r->hdr / r->payload (call ttrpc_reader_next() before feeding more;
 * *used may be < n), 0 when it needs more bytes, or a negative errno from
 * ttrpc_hdr_decode (-EMSGSIZE, -EINVAL) or -ENOMEM. After an error the
 * reader is unusable until ttrpc_reader_release(): the stream lost framing. */
int ttrpc_reader_feed(struct ttrpc_reader *r, const uint8_t *p, size_t n, size_t *used);
/* Drops the current frame and gets ready for the next header. */
void ttrpc_reader_next(struct ttrpc_reader *r);
/* Frees the payload buffer; the reader is then as after init. */
void ttrpc_reader_release(struct ttrpc_reader *r);

/* --- client ---------------------------------------------------------------*/
struct ttrpc_client;

/* Called once per call. status: TTRPC_OK with resp set (owned by the
 * callback: free with protobuf_c_message_free_unpacked), a gRPC code from
 * the server with msg, or a negative errno for transport failures
 * (-ECONNRESET connection lost, -ETIMEDOUT deadline, -EPROTO bad reply,
 * -ECANCELED client freed). msg is never NULL. A status code the server
 * sends below 0 is reported as TTRPC_UNKNOWN, so negative always means a
 * local errno. The callback may call ttrpc_call() and ttrpc_client_free(). */
typedef void (*ttrpc_reply_cb)(void *opaque, int status, ProtobufCMessage *resp, const char *msg);

/* Takes ownership of fd (closed by ttrpc_client_free) and sets O_NONBLOCK.
 * On failure NULL is returned with errno set and fd stays the caller's. */
struct ttrpc_client *ttrpc_client_new(struct ev_loop *loop, int fd);
/* Fails every outstanding call with -ECANCELED before freeing. Safe from a
 * reply or close callback (the memory is released when the callback returns). */
void ttrpc_client_free(struct ttrpc_client *c);

/* Called once when the connection is lost (err -ECONNRESET, or -EPROTO when
 * the peer broke the protocol), after the outstanding calls have been failed.
 * Not called by ttrpc_client_free. */
void ttrpc_client_set_close_cb(struct ttrpc_client *c, void (*cb)(void *opaque, int err),
			       void *opaque);

/* Sends one request; cb is called later from the loop (never from inside
 * this function). timeout_ms 0 = no deadline (it is also sent to the server
 * as Request.timeout_nano). Returns 0 or -errno, and then cb is never called:
 * -EAGAIN when TTRPC_MAX_INFLIGHT calls are outstanding, -ECONNRESET/-EPROTO
 * once the connection is lost, -EMSGSIZE for a request over TTRPC_MAX_MSG,
 * -EINVAL for a negative timeout, -ECANCELED while the client is freed. */
int ttrpc_call(struct ttrpc_client *c, const char *service, const char *method,
	       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
	       int timeout_ms, ttrpc_reply_cb cb, void *opaque);

/* --- server ---------------------------------------------------------------*/
struct ttrpc_server;
struct ttrpc_call; /* one request in progress; freed when answered */

/* A handler gets the unpacked request (owned by the library, valid until the
 * call is answered) and must eventually answer with exactly one
 * ttrpc_reply()/ttrpc_reply_error(), either before returning or later (e.g.
 * WaitContainer). If the connection closes first, the call stays valid until
 * answered; the answer is dropped. */
typedef void (*ttrpc_handler)(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque);

struct ttrpc_method {
	const char *service; /* full proto name, e.g. "lcvm.agent.v1.Agent" */
	const char *method;  /* e.g. "Ping" */
	const ProtobufCMessageDescriptor *req_desc;
	ttrpc_handler handler;
};

/* methods must outlive the server. Unknown methods get UNIMPLEMENTED,
 * undecodable payloads INVALID_ARGUMENT, an even or non-increasing stream id
 * INVALID_ARGUMENT (as containerd's server does), more than
 * TTRPC_MAX_INFLIGHT unanswered calls RESOURCE_EXHAUSTED; a bad frame
 * (oversized, unknown type) or end of file closes the connection. Data frames
 * are ignored (no streaming methods). */
struct ttrpc_server *ttrpc_server_new(struct ev_loop *loop, const struct ttrpc_method *methods,
				      size_t nmethods, void *opaque);
/* Closes every connection (their unanswered calls stay valid, see above) and
 * stops listening. Safe from a handler (the memory is released when the
 * handler returns). */
void ttrpc_server_free(struct ttrpc_server *s);
/* Serves one connected stream fd: takes ownership on success; on failure
 * (-errno, -EMFILE past TTRPC_MAX_CONNS) fd stays the caller's. */
int ttrpc_server_add_conn(struct ttrpc_server *s, int fd);
/* Accepts connections on a listening socket (not owned, made non-blocking,
 * unregistered by ttrpc_server_free). One per server: -EBUSY otherwise. */
int ttrpc_server_listen(struct ttrpc_server *s, int listen_fd);

/* resp may be NULL for an empty message. */
void ttrpc_reply(struct ttrpc_call *call, const ProtobufCMessage *resp);
/* code must not be TTRPC_OK (sent as TTRPC_UNKNOWN if it is); the message is
 * cut at TTRPC_MAX_ERRMSG bytes. */
void ttrpc_reply_error(struct ttrpc_call *call, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* False once the call's connection is gone (the answer will be dropped). */
bool ttrpc_call_connected(const struct ttrpc_call *call);

#endif
