/* serve.c: listen specs, the TCP allow-list, and listeners serving real
 * clients (unix, TCP on loopback, an inherited connected fd) over fs_mem. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "p9/fs_mem.h"
#include "p9/serve.h"
#include "p9_client.h"
#include "test.h"

static void t_parse(void)
{
	struct p9_listen l;
	struct lc_err e = { "" };
	T_CHECK_EQ_INT(p9_listen_parse("unix:/run/x.sock", &l, &e), 0);
	T_CHECK(l.kind == P9_LISTEN_UNIX && !strcmp(l.path, "/run/x.sock"));
	/* No host: loopback, never the network. */
	T_CHECK_EQ_INT(p9_listen_parse("tcp:5640", &l, &e), 0);
	T_CHECK(l.kind == P9_LISTEN_TCP && l.loopback);
	struct sockaddr_in *in = (struct sockaddr_in *)&l.addr;
	T_CHECK(in->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(in->sin_port) == 5640);
	T_CHECK_EQ_INT(p9_listen_parse("tcp::564", &l, &e), 0);
	T_CHECK(l.loopback);
	T_CHECK_EQ_INT(p9_listen_parse("tcp:localhost:564", &l, &e), 0);
	T_CHECK(l.loopback);
	T_CHECK_EQ_INT(p9_listen_parse("tcp:0.0.0.0:564", &l, &e), 0);
	T_CHECK(!l.loopback);
	T_CHECK_EQ_INT(p9_listen_parse("tcp:[::1]:564", &l, &e), 0);
	T_CHECK(l.loopback && l.addr.ss_family == AF_INET6);
	T_CHECK_EQ_INT(p9_listen_parse("fd:3", &l, &e), 0);
	T_CHECK(l.kind == P9_LISTEN_FD && l.fd == 3);
	static const char *bad[] = {
		"", "unix:", "tcp:", "tcp:70000", "tcp:-1", "tcp:example.com:564", "tcp:*:564",
		"tcp:::1:564", "tcp:[::1]564", "fd:", "fd:x", "fd:-2", "udp:1", "/path",
		"unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.msg[0] = 0;
		T_CHECK_EQ_INT(p9_listen_parse(bad[i], &l, &e), -EINVAL);
		T_CHECK(e.msg[0] != 0);
	}
}

static struct sockaddr_storage v4(const char *a)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	in->sin_family = AF_INET;
	inet_pton(AF_INET, a, &in->sin_addr);
	return ss;
}

static struct sockaddr_storage v6(const char *a)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *in = (struct sockaddr_in6 *)&ss;
	in->sin6_family = AF_INET6;
	inet_pton(AF_INET6, a, &in->sin6_addr);
	return ss;
}

static const struct sockaddr *sa(struct sockaddr_storage *s, struct sockaddr_storage v)
{
	*s = v;
	return (const struct sockaddr *)s;
}

static void t_allow(void)
{
	struct p9_allow a[3];
	struct lc_err e = { "" };
	T_CHECK_EQ_INT(p9_allow_parse("10.1.0.0/16", &a[0], &e), 0);
	T_CHECK_EQ_INT(p9_allow_parse("192.168.7.9", &a[1], &e), 0);
	T_CHECK_EQ_INT(p9_allow_parse("fd00::/8", &a[2], &e), 0);
	struct sockaddr_storage s;
	T_CHECK(p9_allow_match(a, 0, sa(&s, v4("8.8.8.8")))); /* empty list */
	T_CHECK(p9_allow_match(a, 3, sa(&s, v4("10.1.200.3"))));
	T_CHECK(!p9_allow_match(a, 3, sa(&s, v4("10.2.0.1"))));
	T_CHECK(p9_allow_match(a, 3, sa(&s, v4("192.168.7.9"))));
	T_CHECK(!p9_allow_match(a, 3, sa(&s, v4("192.168.7.8"))));
	T_CHECK(p9_allow_match(a, 3, sa(&s, v6("::ffff:10.1.2.3")))); /* v4-mapped */
	T_CHECK(p9_allow_match(a, 3, sa(&s, v6("fd12::1"))));
	T_CHECK(!p9_allow_match(a, 3, sa(&s, v6("fe80::1"))));
	T_CHECK_EQ_INT(p9_allow_parse("10.0.0.0/33", &a[0], &e), -EINVAL);
	T_CHECK_EQ_INT(p9_allow_parse("10.0.0.0/", &a[0], &e), -EINVAL);
	T_CHECK_EQ_INT(p9_allow_parse("host.example", &a[0], &e), -EINVAL);
	T_CHECK_EQ_INT(p9_allow_parse("/8", &a[0], &e), -EINVAL);
}

/* A server over fs_mem on its own loop thread. */
struct fx {
	struct ev_loop *loop;
	struct p9_memfs *fs;
	struct p9_server *srv;
	struct p9_listener *ln;
	pthread_t th;
	bool running;
};

static void *loop_main(void *arg)
{
	ev_run(arg);
	return NULL;
}

static bool fx_start(struct fx *f, const char *spec, const struct p9_allow *allow, size_t nallow)
{
	memset(f, 0, sizeof(*f));
	struct lc_err e = { "" };
	struct p9_listen l;
	f->loop = ev_loop_new();
	f->fs = p9_memfs_new();
	struct p9_export x = { &p9_memfs_ops, f->fs, 0 };
	if (!T_CHECK(f->loop && f->fs) || !T_CHECK_EQ_INT(p9_listen_parse(spec, &l, &e), 0) ||
	    !T_CHECK_EQ_INT(p9_server_new(f->loop, &x, NULL, &f->srv), 0) ||
	    !T_CHECK_EQ_INT(p9_listener_new(f->loop, f->srv, &l, allow, nallow, &f->ln, &e), 0))
		return false;
	f->running = pthread_create(&f->th, NULL, loop_main, f->loop) == 0;
	return f->running;
}

static void fx_stop(struct fx *f)
{
	if (f->running) {
		ev_stop(f->loop);
		pthread_join(f->th, NULL);
	}
	p9_server_free(f->srv);
	p9_listener_free(f->ln);
	if (f->loop)
		ev_loop_free(f->loop);
	if (f->fs)
		p9_memfs_free(f->fs);
}

/* Version + attach + a walk that fails; 0 when the server answered. */
static int talk(int fd)
{
	struct p9c c;
	p9c_init(&c, fd);
	int r = p9c_version(&c, 65536, "9P2000.L", NULL, NULL, 0);
	if (!r)
		r = p9c_attach(&c, 0, "", 0, NULL);
	const char *n = "missing";
	if (!r && p9c_walk(&c, 0, 1, 1, &n, NULL) != -ENOENT)
		r = -EPROTO;
	p9c_free(&c);
	return r;
}

static void t_unix(void)
{
	char dir[] = "/tmp/test_p9_serve.XXXXXX", path[128];
	if (!T_CHECK(mkdtemp(dir)))
		return;
	snprintf(path, sizeof(path), "%s/sock", dir);
	/* A stale socket is replaced; a regular file is not. */
	int s0 = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	T_CHECK(bind(s0, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(s0);
	struct fx f;
	char spec[160];
	snprintf(spec, sizeof(spec), "unix:%s", path);
	if (fx_start(&f, spec, NULL, 0)) {
		struct stat st;
		T_CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		T_CHECK(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0);
		T_CHECK_EQ_INT(talk(c), 0);
		close(c);
	}
	fx_stop(&f);
	T_CHECK(access(path, F_OK) != 0); /* removed on free */
	/* Not a socket: refused, left alone. */
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	struct p9_listen l;
	struct lc_err e = { "" };
	struct p9_listener *ln = NULL;
	struct ev_loop *loop = ev_loop_new();
	p9_listen_parse(spec, &l, &e);
	T_CHECK_EQ_INT(p9_listener_new(loop, NULL, &l, NULL, 0, &ln, &e), -EEXIST);
	T_CHECK(access(path, F_OK) == 0);
	ev_loop_free(loop);
	unlink(path);
	rmdir(dir);
}

static int connect_listener(struct fx *f)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (!T_CHECK_EQ_INT(p9_listener_addr(f->ln, &ss, &len), 0))
		return -1;
	int c = socket(ss.ss_family, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&ss, len) < 0) {
		close(c);
		return -1;
	}
	return c;
}

static void t_tcp_allow(void)
{
	struct p9_allow a[2];
	struct lc_err e = { "" };
	struct fx f;
	/* Allowed: loopback peer. */
	T_CHECK_EQ_INT(p9_allow_parse("127.0.0.0/8", &a[0], &e), 0);
	if (fx_start(&f, "tcp:127.0.0.1:0", a, 1)) {
		int c = connect_listener(&f);
		T_CHECK(c >= 0);
		T_CHECK_EQ_INT(talk(c), 0);
		close(c);
	}
	fx_stop(&f);
	/* Not on the list: the connection is closed unanswered. */
	T_CHECK_EQ_INT(p9_allow_parse("10.0.0.0/8", &a[1], &e), 0);
	if (fx_start(&f, "tcp:0", &a[1], 1)) {
		int c = connect_listener(&f);
		T_CHECK(c >= 0);
		T_CHECK_EQ_INT(talk(c), -EPIPE);
		close(c);
		T_CHECK_EQ_INT(p9_listener_refused(f.ln), 1);
	}
	fx_stop(&f);
}

static void t_fd_connected(void)
{
	int sv[2];
	T_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	char spec[32];
	snprintf(spec, sizeof(spec), "fd:%d", sv[0]);
	struct fx f;
	if (fx_start(&f, spec, NULL, 0)) {
		T_CHECK(!p9_listener_done(f.ln));
		T_CHECK_EQ_INT(talk(sv[1]), 0);
	}
	fx_stop(&f);
	close(sv[1]);
	/* Not a socket. */
	int p[2];
	T_CHECK(pipe(p) == 0);
	snprintf(spec, sizeof(spec), "fd:%d", p[0]);
	struct p9_listen l;
	struct lc_err e = { "" };
	struct p9_listener *ln = NULL;
	struct ev_loop *loop = ev_loop_new();
	T_CHECK_EQ_INT(p9_listen_parse(spec, &l, &e), 0);
	T_CHECK(p9_listener_new(loop, NULL, &l, NULL, 0, &ln, &e) < 0);
	ev_loop_free(loop);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	T_RUN(t_parse);
	T_RUN(t_allow);
	T_RUN(t_unix);
	T_RUN(t_tcp_allow);
	T_RUN(t_fd_connected);
	return t_done();
}
