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
 * Codec functions are pure (no I/O) so they are unit-tested and fuzzed. */
#ifndef LCVM_RPC_TTRPC_H
#define LCVM_RPC_TTRPC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct ev_loop;

#define TTRPC_HDR_LEN 10u
#define TTRPC_MAX_MSG (4u << 20) /* containerd's default messageLengthMax */
#define TTRPC_MAX_INFLIGHT 64u   /* outstanding calls per connection */

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
#define TTRPC_FAILED_PRECONDITION 9
#define TTRPC_UNIMPLEMENTED 12
#define TTRPC_INTERNAL 13
#define TTRPC_UNAVAILABLE 14

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

/* --- client ---------------------------------------------------------------*/
struct ttrpc_client;

/* Called once per call. status: TTRPC_OK with resp set (owned by the
 * callback: free with protobuf_c_message_free_unpacked), a gRPC code from
 * the server with msg, or a negative errno for transport failures
 * (-ECONNRESET connection lost, -ETIMEDOUT deadline, -EPROTO bad reply). */
typedef void (*ttrpc_reply_cb)(void *opaque, int status, ProtobufCMessage *resp, const char *msg);

/* Takes ownership of fd (closed by ttrpc_client_free). */
struct ttrpc_client *ttrpc_client_new(struct ev_loop *loop, int fd);
/* Fails every outstanding call with -ECANCELED before freeing. */
void ttrpc_client_free(struct ttrpc_client *c);

/* Sends one request; cb is called later from the loop (never from inside
 * this function). timeout_ms 0 = no deadline. Returns 0 or -errno
 * (-EAGAIN when TTRPC_MAX_INFLIGHT calls are outstanding). */
int ttrpc_call(struct ttrpc_client *c, const char *service, const char *method,
	       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
	       int timeout_ms, ttrpc_reply_cb cb, void *opaque);

/* --- server ---------------------------------------------------------------*/
struct ttrpc_server;
struct ttrpc_call; /* one request in progress; freed when answered */

/* A handler gets the unpacked request (owned by the library) and must
 * eventually answer with exactly one ttrpc_reply()/ttrpc_reply_error(),
 * either before returning or later (e.g. WaitContainer). If the connection
 * closes first, the call stays valid until answered; the answer is dropped. */
typedef void (*ttrpc_handler)(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque);

struct ttrpc_method {
	const char *service;
	const char *method;
	const ProtobufCMessageDescriptor *req_desc;
	ttrpc_handler handler;
};

/* methods must outlive the server. Unknown methods get UNIMPLEMENTED,
 * undecodable payloads INVALID_ARGUMENT; a bad frame closes the connection. */
struct ttrpc_server *ttrpc_server_new(struct ev_loop *loop, const struct ttrpc_method *methods,
				      size_t nmethods, void *opaque);
void ttrpc_server_free(struct ttrpc_server *s);
/* Serves one connected stream fd (takes ownership). */
int ttrpc_server_add_conn(struct ttrpc_server *s, int fd);
/* Accepts connections on a listening socket (not owned). */
int ttrpc_server_listen(struct ttrpc_server *s, int listen_fd);

void ttrpc_reply(struct ttrpc_call *call, const ProtobufCMessage *resp);
void ttrpc_reply_error(struct ttrpc_call *call, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
