/* libFuzzer harness for the vsock connection engine: the input is a
 * sequence of steps, mostly guest packets with arbitrary headers (ops,
 * ports, lengths, flags, credit values across the u32 wrap), interleaved
 * with host->guest pumping into rx buffers of arbitrary capacity, host
 * sockets writing/closing, host connects, timers and guest resets. The
 * engine must never crash, leak, overrun a buffer or violate credit.
 * The input is also parsed as a hybrid "CONNECT <port>" line.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_vsock.c src/vsock/{vsock_proto,hybrid,vsock_dev,vhost_user,virtq}.c \
 *     src/util/evloop.c src/util/err.c -o build/fuzz_vsock
 *   build/fuzz_vsock -max_total_time=60 -max_len=4096 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/evloop.h"
#include "vsock/hybrid.h"
#include "vsock/vsock_proto.h"

#define CID 3u
#define MAX_PEERS 16

struct fz {
	const uint8_t *p;
	size_t n;
	int peer[MAX_PEERS];
	int npeer;
	int pending_done;
};

static uint8_t take8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static uint32_t take32(struct fz *f)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v = v << 8 | take8(f);
	return v;
}

static int fz_connect(void *opaque, uint32_t port)
{
	struct fz *f = opaque;
	int sv[2];
	if ((port & 3) == 3 || f->npeer == MAX_PEERS)
		return -ECONNREFUSED;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	f->peer[f->npeer++] = sv[1];
	return sv[0];
}

static void fz_done(void *opaque, int result)
{
	struct fz *f = opaque;
	(void)result;
	f->pending_done--;
}

static void fz_wake(void *opaque) { (void)opaque; }

/* Small port space so packets hit live connections. */
static uint32_t port(struct fz *f)
{
	uint8_t b = take8(f);
	return b & 0x80 ? take32(f) : (b & 7u) | (b & 0x40 ? VSOCK_HOST_PORT_FIRST : 0);
}

static uint8_t payload[VSOCK_MAX_PAYLOAD + 16];
static uint8_t rx[VSOCK_MAX_PAYLOAD];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { .p = data, .n = size };
	uint32_t cport;
	if (size <= HYBRID_CMD_MAX && hybrid_parse_connect((const char *)data, size, &cport) == 0 &&
	    (size < 9 || strncasecmp((const char *)data, "connect", 7) != 0))
		abort(); /* accepted something that is not a CONNECT line */
	static const struct vsock_host_ops ops = { .guest_connect = fz_connect };
	struct ev_loop *loop = ev_loop_new();
	if (!loop)
		return 0;
	struct vsock_engine *e = vsock_engine_new(loop, CID, &ops, &f, fz_wake, NULL);
	vsock_engine_set_timeouts(e, 0, 0);
	uint32_t sent_to_guest = 0;
	for (int steps = 0; f.n && steps < 512; steps++) {
		uint8_t op = take8(&f);
		switch (op % 8) {
		case 0: case 1: case 2: { /* a guest packet */
			uint8_t sel = take8(&f);
			struct vsock_hdr h = {
				.src_cid = sel & 1 ? take32(&f) : CID,
				.dst_cid = sel & 2 ? take32(&f) : 2,
				.src_port = port(&f),
				.dst_port = port(&f),
				.type = sel & 4 ? (uint16_t)take8(&f) : 1,
				.op = (uint16_t)(sel & 8 ? take8(&f) : take8(&f) % 8),
				.flags = take8(&f),
				.buf_alloc = sel & 16 ? take32(&f) : 262144,
				.fwd_cnt = sel & 32 ? take32(&f) : sent_to_guest,
			};
			uint32_t want = sel & 64 ? take32(&f) % (VSOCK_MAX_PAYLOAD + 16) : take8(&f);
			h.len = want;
			if (h.len > VSOCK_MAX_PAYLOAD) {
				/* the glue never passes more than the chain holds */
				struct iovec none = { payload, 0 };
				h.len = sel & 128 ? h.len : VSOCK_MAX_PAYLOAD + 1;
				vsock_engine_guest_pkt(e, &h, &none, 1);
				break;
			}
			size_t copy = h.len < f.n ? h.len : f.n;
			memcpy(payload, f.p, copy);
			f.p += copy;
			f.n -= copy;
			/* split the payload over two iovecs at an arbitrary point */
			uint32_t cut = h.len ? take8(&f) % (h.len + 1) : 0;
			struct iovec iov[2] = { { payload, cut }, { payload + cut, h.len - cut } };
			vsock_engine_guest_pkt(e, &h, iov, 2);
			break;
		}
		case 3: { /* pump some host->guest packets */
			int n = take8(&f) % 8 + 1;
			size_t cap = take8(&f) % 2 ? sizeof(rx) : take8(&f);
			for (int i = 0; i < n; i++) {
				struct vsock_hdr h;
				struct iovec iov[2] = { { rx, cap / 2 }, { rx + cap / 2, cap - cap / 2 } };
				if (vsock_engine_next_pkt(e, &h, iov, 2, cap) != 1)
					break;
				if (h.len > cap || h.len > VSOCK_MAX_PAYLOAD || h.dst_cid != CID ||
				    h.src_cid != 2)
					abort(); /* the engine broke its own contract */
				if (h.op == VSOCK_OP_RW)
					sent_to_guest += h.len;
			}
			break;
		}
		case 4: { /* a host socket writes, half-closes or closes */
			if (!f.npeer)
				break;
			int i = take8(&f) % f.npeer;
			uint8_t what = take8(&f);
			if (f.peer[i] < 0)
				break;
			if (what % 4 == 0) {
				close(f.peer[i]);
				f.peer[i] = -1;
			} else if (what % 4 == 1) {
				shutdown(f.peer[i], SHUT_WR);
			} else {
				size_t len = what * 37u;
				ssize_t r = send(f.peer[i], payload, len, MSG_DONTWAIT | MSG_NOSIGNAL);
				(void)r;
				char sink[4096];
				r = recv(f.peer[i], sink, sizeof(sink), MSG_DONTWAIT);
			}
			break;
		}
		case 5: { /* a host connect */
			int sv[2];
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
				break;
			if (vsock_engine_connect(e, port(&f), sv[0], fz_done, &f, NULL) == 0)
				f.pending_done++;
			else
				close(sv[0]);
			if (f.npeer < MAX_PEERS)
				f.peer[f.npeer++] = sv[1];
			else
				close(sv[1]);
			break;
		}
		case 6: /* socket events and (zero-length) timers */
			ev_run_once(loop, 0);
			break;
		case 7:
			if (take8(&f) == 0x5a)
				vsock_engine_reset(e);
			break;
		}
	}
	vsock_engine_free(e);
	for (int i = 0; i < f.npeer; i++)
		if (f.peer[i] >= 0)
			close(f.peer[i]);
	ev_loop_free(loop);
	return 0;
}
