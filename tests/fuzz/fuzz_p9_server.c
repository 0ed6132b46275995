/* libFuzzer harness: an arbitrary byte stream to the 9P server over fs_mem,
 * after a fixed Tversion + Tattach(fid 0) so the fuzzer reaches real
 * operations. Requests run inline (no threads) for determinism. Fails on
 * any crash, sanitizer report, hang, or a node handle left unreleased.
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_p9_server.c src/p9/codec.c src/p9/server.c src/p9/fs_mem.c \
 *     src/util/evloop.c -lpthread -o build/fuzz_p9_server */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "p9/fs_mem.h"
#include "p9/server.h"

static const uint8_t prologue[] = {
	/* Tversion tag NOTAG msize 8192 "9P2000.L" */
	21, 0, 0, 0, 100, 0xFF, 0xFF, 0x00, 0x20, 0, 0, 8, 0, '9', 'P', '2', '0', '0', '0', '.', 'L',
	/* Tattach tag 1 fid 0 afid NOFID uname "" aname "" n_uname 0 */
	23, 0, 0, 0, 104, 1, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0,
};

static void on_closed(void *arg)
{
	*(int *)arg = 1;
}

static void drain(int fd)
{
	uint8_t sink[65536];
	while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
}

/* Writes all of p to fd, letting the server run while the socket is full. */
static void feed(struct ev_loop *loop, int fd, const uint8_t *p, size_t n, const int *closed)
{
	while (n && !*closed) {
		ssize_t w = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			return;
		}
		ev_run_once(loop, 0);
		drain(fd);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	struct ev_loop *loop = ev_loop_new();
	struct p9_memfs *mem = p9_memfs_new();
	int sv[2];
	if (!loop || !mem || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	int closed = 0;
	struct p9_server_opts o = { .inline_requests = true, .lock_wait_ms = -1, .max_fids = 64,
				    .on_conn_closed = on_closed, .arg = &closed };
	struct p9_export e = { &p9_memfs_ops, mem, 0 };
	struct p9_server *srv;
	if (p9_server_new(loop, &e, &o, &srv) < 0 || p9_server_add_conn(srv, sv[0]) < 0)
		abort();
	feed(loop, sv[1], prologue, sizeof(prologue), &closed);
	feed(loop, sv[1], data, size, &closed);
	/* Let it answer what is complete, then hang up. */
	for (int i = 0; i < 4 && !closed; i++) {
		ev_run_once(loop, 0);
		drain(sv[1]);
	}
	close(sv[1]);
	for (int i = 0; i < 1000 && !closed; i++)
		ev_run_once(loop, 10);
	if (!closed)
		abort(); /* EOF must close the connection */
	p9_server_free(srv);
	if (p9_memfs_live_nodes(mem) != 0)
		abort(); /* a node handle leaked */
	p9_memfs_free(mem);
	ev_loop_free(loop);
	return 0;
}
