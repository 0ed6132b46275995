/* stdio relay: bytes arrive intact, EOF becomes a half-close, a vanished
 * reader never stalls the producer, regular files (unpollable) work. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"
#include "util/evloop.h"
#include "util/relay.h"

struct ctx {
	int done, result;
};

static void on_done(void *opaque, struct relay *r, int result)
{
	struct ctx *c = opaque;
	c->done = 1;
	c->result = result;
}

static void t_pipe_to_socket_with_eof(void)
{
	struct ev_loop *loop = ev_loop_new();
	int in[2], sp[2];
	T_CHECK(pipe2(in, O_NONBLOCK) == 0);
	T_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == 0);
	struct ctx c = { 0 };
	struct relay *r = relay_new(loop, in[0], sp[0], RELAY_OWN_IN | RELAY_OWN_OUT | RELAY_SHUTDOWN_OUT, on_done, &c);
	size_t total = 3u << 20, sent = 0, got = 0;
	unsigned char *src = malloc(total), *dst = malloc(total + 1);
	for (size_t i = 0; i < total; i++)
		src[i] = (unsigned char)(i * 7 + (i >> 13));
	int eof = 0;
	while (!eof) {
		if (sent < total) {
			ssize_t n = write(in[1], src + sent, total - sent);
			if (n > 0)
				sent += (size_t)n;
			if (sent == total)
				close(in[1]);
		}
		ev_run_once(loop, 10);
		for (;;) {
			ssize_t n = read(sp[1], dst + got, total + 1 - got);
			if (n > 0)
				got += (size_t)n;
			else {
				eof = n == 0;
				break;
			}
		}
	}
	T_CHECK_EQ_INT(got, total);
	T_CHECK(memcmp(src, dst, total) == 0);
	T_CHECK(c.done && c.result == 0);
	T_CHECK_EQ_INT(relay_bytes(r), total);
	relay_free(r);
	close(sp[1]);
	free(src);
	free(dst);
	ev_loop_free(loop);
}

static void t_reader_gone_discards(void)
{
	struct ev_loop *loop = ev_loop_new();
	int in[2], out[2];
	T_CHECK(pipe2(in, O_NONBLOCK) == 0 && pipe2(out, O_NONBLOCK) == 0);
	close(out[0]); /* nobody reads the output: EPIPE (SIGPIPE ignored below) */
	signal(SIGPIPE, SIG_IGN);
	struct ctx c = { 0 };
	struct relay *r = relay_new(loop, in[0], out[1], RELAY_OWN_IN | RELAY_OWN_OUT, on_done, &c);
	char buf[65536] = { 0 };
	size_t sent = 0;
	while (sent < (4u << 20)) {
		ssize_t n = write(in[1], buf, sizeof(buf));
		if (n > 0)
			sent += (size_t)n;
		ev_run_once(loop, 10);
	}
	close(in[1]);
	for (int i = 0; i < 100 && !c.done; i++)
		ev_run_once(loop, 10);
	T_CHECK(c.done && c.result == 0);
	relay_free(r);
	ev_loop_free(loop);
}

static void t_regular_file_input(void)
{
	struct ev_loop *loop = ev_loop_new();
	char path[] = "/tmp/lcvm-relay-XXXXXX";
	int f = mkstemp(path);
	unlink(path);
	const char msg[] = "from a regular file";
	T_CHECK(write(f, msg, sizeof(msg)) == (ssize_t)sizeof(msg));
	lseek(f, 0, SEEK_SET);
	int sp[2];
	T_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == 0);
	struct ctx c = { 0 };
	struct relay *r = relay_new(loop, f, sp[0], RELAY_OWN_IN | RELAY_OWN_OUT | RELAY_SHUTDOWN_OUT, on_done, &c);
	if (!T_CHECK(r != NULL))
		return;
	for (int i = 0; i < 100 && !c.done; i++)
		ev_run_once(loop, 10);
	char got[64] = { 0 };
	T_CHECK_EQ_INT(read(sp[1], got, sizeof(got)), sizeof(msg));
	T_CHECK_EQ_STR(got, msg);
	T_CHECK_EQ_INT(read(sp[1], got, sizeof(got)), 0);
	relay_free(r);
	close(sp[1]);
	ev_loop_free(loop);
}

int main(void)
{
	T_RUN(t_pipe_to_socket_with_eof);
	T_RUN(t_reader_gone_discards);
	T_RUN(t_regular_file_input);
	return t_done();
}
