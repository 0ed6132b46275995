/* Hybrid vsock: CONNECT parsing, the command phase of host clients, and
 * guest connects to <uds_path>_<port>. The guest side of accepted commands
 * is covered over rings in test_vsock_dev. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test.h"
#include "util/evloop.h"
#include "vsock/hybrid.h"
#include "vsock/vsock_dev.h"

static void t_parse(void)
{
	uint32_t p = 0;
	T_CHECK_EQ_INT(hybrid_parse_connect("CONNECT 52", 10, &p), 0);
	T_CHECK_EQ_INT(p, 52);
	T_CHECK_EQ_INT(hybrid_parse_connect("connect\t 4294967295 \r", 21, &p), 0);
	T_CHECK_EQ_INT(p, 4294967295u);
	T_CHECK_EQ_INT(hybrid_parse_connect("Connect 0", 9, &p), 0);
	T_CHECK_EQ_INT(p, 0);
	/* hostile */
	static const char *bad[] = {
		"", "CONNECT", "CONNECT ", "CONNECT 4294967296", "CONNECT 99999999999999999999",
		"CONNECT -1", "CONNECT +1", "CONNECT 1 2", "CONNECT 0x10", "CONNECTX 1",
		"CONNECT1", "LISTEN 1", " CONNECT 1", "CONNECT 1a",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!T_CHECK(hybrid_parse_connect(bad[i], strlen(bad[i]), &p) == -EINVAL))
			fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
	/* an embedded NUL is not a terminator */
	T_CHECK_EQ_INT(hybrid_parse_connect("CONNECT 5\0" "6", 11, &p), -EINVAL);
	/* only len bytes are looked at */
	T_CHECK_EQ_INT(hybrid_parse_connect("CONNECT 56", 9, &p), 0);
	T_CHECK_EQ_INT(p, 5);
}

struct env {
	char dir[64], uds[128];
	struct ev_loop *loop;
	struct hybrid *h;
	struct vsock_dev *d;
};

static bool env_init(struct env *v)
{
	memset(v, 0, sizeof(*v));
	strcpy(v->dir, "/tmp/lcvm-hyb-XXXXXX");
	if (!mkdtemp(v->dir))
		return false;
	snprintf(v->uds, sizeof(v->uds), "%s/v.sock", v->dir);
	struct lc_err e = { { 0 } };
	v->loop = ev_loop_new();
	v->h = hybrid_new(v->loop, v->uds, &e);
	v->d = v->h ? vsock_dev_new(v->loop, 3, &hybrid_host_ops, v->h) : NULL;
	return v->d && hybrid_listen(v->h, v->d, &e) == 0;
}

static void env_fini(struct env *v)
{
	vsock_dev_free(v->d);
	hybrid_free(v->h);
	ev_loop_free(v->loop);
	rmdir(v->dir);
}

static int client(struct env *v)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, v->uds);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void spin(struct env *v, int rounds)
{
	for (int i = 0; i < rounds; i++)
		ev_run_once(v->loop, 0);
}

static bool closed_by_peer(struct env *v, int fd)
{
	for (int i = 0; i < 100; i++) {
		char c;
		ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
		if (r == 0)
			return true;
		if (r > 0)
			return false;
		ev_run_once(v->loop, 10);
	}
	return false;
}

static void t_command_phase(void)
{
	struct env v;
	if (!T_CHECK(env_init(&v)))
		return;
	/* split command: handed to the device once the LF arrives */
	int a = client(&v);
	T_CHECK_EQ_INT(send(a, "CONN", 4, 0), 4);
	spin(&v, 3);
	T_CHECK_EQ_INT(vsock_dev_nconns(v.d), 0);
	T_CHECK_EQ_INT(send(a, "ECT 1024\nafter", 14, 0), 14);
	spin(&v, 3);
	T_CHECK_EQ_INT(vsock_dev_nconns(v.d), 1);
	/* over-long line: closed */
	int b = client(&v);
	char junk[40];
	memset(junk, '1', sizeof(junk));
	memcpy(junk, "CONNECT ", 8);
	T_CHECK_EQ_INT(send(b, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	T_CHECK(closed_by_peer(&v, b));
	/* bad number: closed */
	int c = client(&v);
	T_CHECK_EQ_INT(send(c, "CONNECT 4294967296\n", 19, 0), 19);
	T_CHECK(closed_by_peer(&v, c));
	/* EOF before a command: closed, nothing handed over */
	int d = client(&v);
	shutdown(d, SHUT_WR);
	T_CHECK(closed_by_peer(&v, d));
	T_CHECK_EQ_INT(vsock_dev_nconns(v.d), 1);
	close(a);
	close(b);
	close(c);
	close(d);
	env_fini(&v);
	T_CHECK(access(v.uds, F_OK) < 0); /* unlinked by hybrid_free */
}

static void t_guest_connect(void)
{
	struct env v;
	if (!T_CHECK(env_init(&v)))
		return;
	/* no listener at <uds>_52: refused */
	T_CHECK_EQ_INT(hybrid_guest_connect(v.h, 52), -ENOENT);
	char path[160];
	snprintf(path, sizeof(path), "%s_52", v.uds);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, path);
	T_CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 4) == 0);
	int fd = hybrid_guest_connect(v.h, 52);
	T_CHECK(fd >= 0);
	int s = accept(l, NULL, NULL);
	T_CHECK(s >= 0);
	T_CHECK_EQ_INT(send(fd, "x", 1, 0), 1);
	char c = 0;
	T_CHECK_EQ_INT(recv(s, &c, 1, 0), 1); /* nothing written before the data */
	T_CHECK_EQ_INT(c, 'x');
	close(fd);
	close(s);
	close(l);
	unlink(path);
	/* a path that cannot hold "_<port>" is refused up front */
	char longp[120];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	longp[0] = '/';
	struct lc_err e = { { 0 } };
	T_CHECK(hybrid_new(v.loop, longp, &e) == NULL);
	T_CHECK(strstr(e.msg, "too long") != NULL);
	env_fini(&v);
}

int main(void)
{
	T_RUN(t_parse);
	T_RUN(t_command_phase);
	T_RUN(t_guest_connect);
	return t_done();
}
