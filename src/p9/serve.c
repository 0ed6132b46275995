/* Listeners and the TCP allow-list for `lcvm 9p serve` (see serve.h). */
#include "p9/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/cleanup.h"

struct p9_listener {
	struct ev_loop *loop;
	struct p9_server *srv;
	enum p9_listen_kind kind;
	int fd;                 /* listening fd, -1 for a served connected fd */
	bool unlink_path;
	char path[P9_SERVE_PATH_MAX];
	bool single;            /* fd:N was a connected stream */
	long long pause_timer;
	unsigned long refused;
	size_t nallow;
	struct p9_allow allow[P9_SERVE_MAX_ALLOW];
};

/* --- parsing ----------------------------------------------------------------- */

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > 65535 || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static int parse_tcp(const char *rest, struct p9_listen *out, struct lc_err *e)
{
	char host[64] = "";
	const char *port;
	if (rest[0] == '[') { /* [V6]:PORT */
		const char *close = strchr(rest, ']');
		if (!close || close[1] != ':' || (size_t)(close - rest - 1) >= sizeof(host))
			return lc_err_setx(e, EINVAL, "tcp:[ADDR]:PORT expected");
		memcpy(host, rest + 1, (size_t)(close - rest - 1));
		port = close + 2;
	} else {
		const char *colon = strrchr(rest, ':');
		if (colon) {
			if (memchr(rest, ':', (size_t)(colon - rest)))
				return lc_err_setx(e, EINVAL, "IPv6 addresses go in brackets: tcp:[ADDR]:PORT");
			if ((size_t)(colon - rest) >= sizeof(host))
				return lc_err_setx(e, EINVAL, "host too long");
			memcpy(host, rest, (size_t)(colon - rest));
			port = colon + 1;
		} else {
			port = rest;
		}
	}
	uint16_t p;
	if (parse_port(port, &p) < 0)
		return lc_err_setx(e, EINVAL, "bad TCP port '%s'", port);
	memset(&out->addr, 0, sizeof(out->addr));
	struct sockaddr_in *in4 = (struct sockaddr_in *)&out->addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->addr;
	/* No host: loopback. Only numeric hosts: a name could resolve to the
	 * network without the user noticing. */
	if (!host[0] || !strcmp(host, "localhost")) {
		in4->sin_family = AF_INET;
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
	} else {
		return lc_err_setx(e, EINVAL, "TCP host '%s' must be a numeric address (or localhost)", host);
	}
	if (in4->sin_family == AF_INET) {
		in4->sin_port = htons(p);
		out->addrlen = sizeof(*in4);
		out->loopback = (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	} else {
		in6->sin6_port = htons(p);
		out->addrlen = sizeof(*in6);
		out->loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return 0;
}

int p9_listen_parse(const char *spec, struct p9_listen *out, struct lc_err *e)
{
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (!strncmp(spec, "unix:", 5)) {
		const char *p = spec + 5;
		if (!*p || strlen(p) >= sizeof(out->path))
			return lc_err_setx(e, EINVAL, "unix socket path empty or longer than %zu bytes",
					   sizeof(out->path) - 1);
		out->kind = P9_LISTEN_UNIX;
		snprintf(out->path, sizeof(out->path), "%s", p);
		return 0;
	}
	if (!strncmp(spec, "tcp:", 4)) {
		out->kind = P9_LISTEN_TCP;
		return parse_tcp(spec + 4, out, e);
	}
	if (!strncmp(spec, "fd:", 3)) {
		char *end;
		errno = 0;
		long v = strtol(spec + 3, &end, 10);
		if (!spec[3] || *end || errno || v < 0 || v > 65535)
			return lc_err_setx(e, EINVAL, "bad descriptor in '%s'", spec);
		out->kind = P9_LISTEN_FD;
		out->fd = (int)v;
		return 0;
	}
	return lc_err_setx(e, EINVAL, "'%s': expected unix:PATH, tcp:[HOST:]PORT or fd:N", spec);
}

int p9_allow_parse(const char *s, struct p9_allow *out, struct lc_err *e)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (!alen || alen >= sizeof(addr))
		return lc_err_setx(e, EINVAL, "bad allow entry '%s'", s);
	memcpy(addr, s, alen);
	addr[alen] = 0;
	memset(out, 0, sizeof(*out));
	unsigned max;
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return lc_err_setx(e, EINVAL, "allow entry '%s': not a numeric IPv4/IPv6 address", s);
	}
	out->prefix = max;
	if (slash) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || v > max || slash[1] == '-')
			return lc_err_setx(e, EINVAL, "allow entry '%s': prefix must be 0..%u", s, max);
		out->prefix = (unsigned)v;
	}
	return 0;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	size_t whole = bits / 8;
	if (memcmp(a, b, whole))
		return false;
	unsigned rest = bits % 8;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

bool p9_allow_match(const struct p9_allow *list, size_t n, const struct sockaddr *peer)
{
	if (n == 0)
		return true;
	uint8_t a[16];
	int fam;
	if (peer->sa_family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)peer)->sin_addr, 4);
		fam = AF_INET;
	} else if (peer->sa_family == AF_INET6) {
		const struct in6_addr *p = &((const struct sockaddr_in6 *)peer)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(p)) {
			memcpy(a, p->s6_addr + 12, 4);
			fam = AF_INET;
		} else {
			memcpy(a, p->s6_addr, 16);
			fam = AF_INET6;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (list[i].family == fam && prefix_eq(a, list[i].addr, list[i].prefix))
			return true;
	return false;
}

/* --- listening ------------------------------------------------------------------ */

static void on_accept(struct ev_loop *loop, int fd, unsigned events, void *data);

static long resume_accept(struct ev_loop *loop, long long id, void *data)
{
	struct p9_listener *ln = data;
	(void)id;
	ln->pause_timer = 0;
	if (ev_add(loop, ln->fd, EV_READ, on_accept, ln) < 0)
		return P9_SERVE_EMFILE_MS; /* try again later */
	return EV_NOMORE;
}

static void on_accept(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct p9_listener *ln = data;
	(void)events;
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: a level-triggered listener would
				 * spin; pause a while (vmd does the same). */
				ev_del(loop, fd);
				long long t = ev_timer_add(loop, P9_SERVE_EMFILE_MS, resume_accept, ln);
				ln->pause_timer = t > 0 ? t : 0;
			}
			return; /* EAGAIN, ECONNABORTED, EINTR...: wait for the next event */
		}
		if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
			if (!p9_allow_match(ln->allow, ln->nallow, (struct sockaddr *)&ss)) {
				ln->refused++;
				close(c);
				continue;
			}
			/* Small requests and replies: never wait for Nagle. */
			int one = 1;
			setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		p9_server_add_conn(ln->srv, c); /* owns c, closes it on failure */
	}
}

static int bind_unix(struct p9_listener *ln, const struct p9_listen *l, struct lc_err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", l->path);
	struct stat st;
	/* Replace a stale socket of an earlier run, nothing else. */
	if (lstat(l->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return lc_err_setx(e, EEXIST, "%s exists and is not a socket", l->path);
		unlink(l->path);
	}
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return lc_err_set(e, errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return lc_err_set(e, errno, "bind %s", l->path);
	snprintf(ln->path, sizeof(ln->path), "%s", l->path);
	ln->unlink_path = true;
	/* Only the owner may connect: the export is the owner's files. */
	if (chmod(l->path, 0600) < 0 || listen(fd, P9_SERVE_BACKLOG) < 0)
		return lc_err_set(e, errno, "listen %s", l->path);
	ln->fd = take_fd(&fd);
	return 0;
}

static int bind_tcp(struct p9_listener *ln, const struct p9_listen *l, struct lc_err *e)
{
	char host[INET6_ADDRSTRLEN] = "?";
	const void *a = l->addr.ss_family == AF_INET ? (const void *)&((const struct sockaddr_in *)&l->addr)->sin_addr
						     : (const void *)&((const struct sockaddr_in6 *)&l->addr)->sin6_addr;
	inet_ntop(l->addr.ss_family, a, host, sizeof(host));
	cleanup_close int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return lc_err_set(e, errno, "socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0)
		return lc_err_set(e, errno, "bind %s", host);
	if (listen(fd, P9_SERVE_BACKLOG) < 0)
		return lc_err_set(e, errno, "listen %s", host);
	ln->fd = take_fd(&fd);
	return 0;
}

static int adopt_fd(struct p9_listener *ln, const struct p9_listen *l, struct lc_err *e)
{
	int type = 0, acc = 0;
	socklen_t len = sizeof(type);
	if (fcntl(l->fd, F_GETFD) < 0)
		return lc_err_set(e, errno, "fd:%d", l->fd);
	if (getsockopt(l->fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return lc_err_set(e, errno, "fd:%d is not a socket", l->fd);
	if (type != SOCK_STREAM)
		return lc_err_setx(e, EINVAL, "fd:%d is not a stream socket", l->fd);
	len = sizeof(acc);
	if (getsockopt(l->fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0)
		return lc_err_set(e, errno, "fd:%d", l->fd);
	fcntl(l->fd, F_SETFD, FD_CLOEXEC);
	if (acc) {
		int fl = fcntl(l->fd, F_GETFL);
		if (fl < 0 || fcntl(l->fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return lc_err_set(e, errno, "fd:%d", l->fd);
		ln->fd = l->fd;
		return 0;
	}
	/* A connected stream (socketpair end, accepted socket): one connection. */
	ln->single = true;
	int r = p9_server_add_conn(ln->srv, l->fd);
	return r < 0 ? lc_err_set(e, -r, "serve fd:%d", l->fd) : 0;
}

int p9_listener_new(struct ev_loop *loop, struct p9_server *srv, const struct p9_listen *l,
		    const struct p9_allow *allow, size_t nallow, struct p9_listener **out, struct lc_err *e)
{
	if (nallow > P9_SERVE_MAX_ALLOW)
		return lc_err_setx(e, E2BIG, "more than %d allow entries", P9_SERVE_MAX_ALLOW);
	if (nallow && l->kind == P9_LISTEN_UNIX)
		return lc_err_setx(e, EINVAL, "an allow-list applies to TCP listeners only");
	struct p9_listener *ln = calloc(1, sizeof(*ln));
	if (!ln)
		return lc_err_set(e, ENOMEM, "listener");
	ln->loop = loop;
	ln->srv = srv;
	ln->kind = l->kind;
	ln->fd = -1;
	ln->nallow = nallow;
	if (nallow)
		memcpy(ln->allow, allow, nallow * sizeof(*allow));
	int r = l->kind == P9_LISTEN_UNIX ? bind_unix(ln, l, e)
		: l->kind == P9_LISTEN_TCP ? bind_tcp(ln, l, e)
					   : adopt_fd(ln, l, e);
	if (!r && ln->fd >= 0 && (r = ev_add(loop, ln->fd, EV_READ, on_accept, ln)) < 0)
		lc_err_set(e, -r, "event loop");
	if (r) {
		p9_listener_free(ln);
		return r;
	}
	*out = ln;
	return 0;
}

bool p9_listener_done(const struct p9_listener *ln)
{
	return ln->single && p9_server_nconns(ln->srv) == 0;
}

int p9_listener_addr(const struct p9_listener *ln, struct sockaddr_storage *ss, socklen_t *len)
{
	*len = sizeof(*ss);
	if (ln->fd < 0)
		return -ENOTCONN;
	return getsockname(ln->fd, (struct sockaddr *)ss, len) < 0 ? -errno : 0;
}

unsigned long p9_listener_refused(const struct p9_listener *ln)
{
	return ln->refused;
}

void p9_listener_free(struct p9_listener *ln)
{
	if (!ln)
		return;
	if (ln->pause_timer)
		ev_timer_del(ln->loop, ln->pause_timer);
	if (ln->fd >= 0) {
		ev_del(ln->loop, ln->fd);
		close(ln->fd);
	}
	if (ln->unlink_path)
		unlink(ln->path);
	free(ln);
}
