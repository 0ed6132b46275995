/* libFuzzer harness for the ttrpc layer. The first byte picks the target:
 *   0: the pure frame reader, fed in chunk sizes taken from the input, each
 *      frame then decoded as a Request and a Response envelope;
 *   1: a whole server connection (reader + dispatcher + handlers, some of
 *      which answer later, some after the connection is gone) over a
 *      socketpair, the input being what a client sends;
 *   2: a client with calls in flight reading the input as the server's replies.
 * Build (not wired into make):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *     -Isrc -Ibuild/gen tests/fuzz/fuzz_ttrpc.c src/rpc/ttrpc.c src/util/evloop.c \
 *     build/gen/ttrpc.pb-c.c build/gen/agent.pb-c.c -lprotobuf-c -o build/fuzz_ttrpc
 *   build/fuzz_ttrpc -max_total_time=60 -max_len=8192 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "rpc/ttrpc.h"
#include "ttrpc.pb-c.h"
#include "util/evloop.h"

#define SVC "lcvm.agent.v1.Agent"
#define MAX_HELD 256

struct harness {
	struct ev_loop *loop;
	int peer;  /* our end of the socketpair */
	int eof;   /* the library closed its end */
	struct ttrpc_call *held[MAX_HELD];
	int nheld;
	int replies;
	int closed;
};

static void h_ping(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	Lcvm__Agent__V1__PingResponse r = LCVM__AGENT__V1__PING_RESPONSE__INIT;
	r.kernel_release = "fuzz";
	ttrpc_reply(call, &r.base);
}

static void h_error(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	ttrpc_reply_error(call, TTRPC_NOT_FOUND, "no %s", "thing");
}

static void h_hold(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	struct harness *h = opaque;
	if (h->nheld < MAX_HELD)
		h->held[h->nheld++] = call;
	else
		ttrpc_reply(call, NULL);
}

static const struct ttrpc_method methods[] = {
	{ SVC, "Ping", &lcvm__agent__v1__ping_request__descriptor, h_ping },
	{ SVC, "CreateContainer", &lcvm__agent__v1__create_container_request__descriptor, h_error },
	{ SVC, "StartContainer", &lcvm__agent__v1__start_container_request__descriptor, h_error },
	{ SVC, "WaitContainer", &lcvm__agent__v1__wait_container_request__descriptor, h_hold },
	{ SVC, "SignalContainer", &lcvm__agent__v1__signal_container_request__descriptor, h_hold },
	{ SVC, "Shutdown", &lcvm__agent__v1__shutdown_request__descriptor, h_ping },
};

/* Answers every other held call (while connected this sends a reply). */
static void answer_some(struct harness *h, int all)
{
	int keep = 0;
	for (int i = 0; i < h->nheld; i++) {
		if (all || (i & 1) == 0) {
			Lcvm__Agent__V1__WaitContainerResponse r = LCVM__AGENT__V1__WAIT_CONTAINER_RESPONSE__INIT;
			if (i % 3 == 0)
				ttrpc_reply_error(h->held[i], TTRPC_CANCELLED, "gone");
			else
				ttrpc_reply(h->held[i], &r.base);
		} else {
			h->held[keep++] = h->held[i];
		}
	}
	h->nheld = keep;
}

static void peer_io(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct harness *h = data;
	uint8_t buf[65536];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		h->eof = 1;
		ev_del(loop, fd);
	}
}

/* Writes the input to the library's end, then half-closes and runs until the
 * library has closed the connection. */
static void pump(struct harness *h, const uint8_t *data, size_t size, int answer)
{
	size_t off = 0;
	int guard = 0;
	while (off < size && !h->eof && guard++ < 100000) {
		ssize_t w = send(h->peer, data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EAGAIN && errno != EINTR)
			break;
		ev_run_once(h->loop, 0);
		if (answer)
			answer_some(h, 0);
	}
	shutdown(h->peer, SHUT_WR);
	for (guard = 0; !h->eof && guard < 100000; guard++)
		ev_run_once(h->loop, 1000);
}

static void fuzz_reader(const uint8_t *data, size_t size)
{
	struct ttrpc_reader r;
	ttrpc_reader_init(&r);
	size_t off = 0, step = 0;
	while (off < size) {
		size_t chunk = 1 + data[step++ % size] % 17;
		if (chunk > size - off)
			chunk = size - off;
		size_t used, inner = 0;
		while (inner < chunk) {
			int k = ttrpc_reader_feed(&r, data + off + inner, chunk - inner, &used);
			inner += used;
			if (k == 0 && used == 0)
				abort(); /* the reader must always make progress */
			if (k < 0) {
				ttrpc_reader_release(&r);
				return;
			}
			if (k == 1) {
				Ttrpc__Request *rq = ttrpc__request__unpack(NULL, r.hdr.length, r.payload);
				if (rq)
					ttrpc__request__free_unpacked(rq, NULL);
				Ttrpc__Response *rs = ttrpc__response__unpack(NULL, r.hdr.length, r.payload);
				if (rs)
					ttrpc__response__free_unpacked(rs, NULL);
				ttrpc_reader_next(&r);
			}
		}
		off += chunk;
	}
	ttrpc_reader_release(&r);
}

static void fuzz_server(struct harness *h, const uint8_t *data, size_t size)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	struct ttrpc_server *s = ttrpc_server_new(h->loop, methods, sizeof(methods) / sizeof(methods[0]), h);
	if (!s || ttrpc_server_add_conn(s, sv[0]) < 0) {
		close(sv[0]);
		close(sv[1]);
		ttrpc_server_free(s);
		return;
	}
	h->peer = sv[1];
	ev_add(h->loop, h->peer, EV_READ, peer_io, h);
	pump(h, data, size, 1);
	answer_some(h, 1); /* connection gone: answers are dropped */
	ev_del(h->loop, h->peer);
	close(h->peer);
	ttrpc_server_free(s);
}

static void on_reply(void *opaque, int status, ProtobufCMessage *resp, const char *msg)
{
	struct harness *h = opaque;
	h->replies++;
	if (!msg || (resp && status != TTRPC_OK))
		abort(); /* contract violation: a bug in the library, not in the input */
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
}

static void on_close(void *opaque, int err)
{
	struct harness *h = opaque;
	h->closed++;
}

static void fuzz_client(struct harness *h, const uint8_t *data, size_t size)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	struct ttrpc_client *c = ttrpc_client_new(h->loop, sv[0]);
	if (!c) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	ttrpc_client_set_close_cb(c, on_close, h);
	h->peer = sv[1];
	ev_add(h->loop, h->peer, EV_READ, peer_io, h);
	/* Stream ids 1, 3, 5, 7 with different reply types. */
	Lcvm__Agent__V1__PingRequest ping = LCVM__AGENT__V1__PING_REQUEST__INIT;
	const ProtobufCMessageDescriptor *descs[] = {
		&lcvm__agent__v1__ping_response__descriptor,
		&lcvm__agent__v1__wait_container_response__descriptor,
		&lcvm__agent__v1__start_container_response__descriptor,
		&lcvm__agent__v1__empty__descriptor,
	};
	int sent = 0;
	for (int i = 0; i < 4; i++)
		sent += ttrpc_call(c, SVC, "Ping", &ping.base, descs[i], 0, on_reply, h) == 0;
	pump(h, data, size, 0);
	/* The library saw end of file: every call answered once, close reported once. */
	if (h->replies != sent || h->closed != 1)
		abort();
	ttrpc_client_free(c);
	ev_del(h->loop, h->peer);
	close(h->peer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ev_loop *loop;
	if (!loop && !(loop = ev_loop_new()))
		return 0;
	if (size < 1)
		return 0;
	struct harness h = { .loop = loop, .peer = -1 };
	switch (data[0] % 3) {
	case 0:
		fuzz_reader(data + 1, size - 1);
		break;
	case 1:
		fuzz_server(&h, data + 1, size - 1);
		break;
	default:
		fuzz_client(&h, data + 1, size - 1);
		break;
	}
	return 0;
}
