#include "vsock/hybrid.h"

#include <strings.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/evloop.h"
#include "vsock/vsock_dev.h"

#define EMFILE_PAUSE_MS 1000

struct hclient {
	struct hybrid *h;
	int fd;
	size_t len;                 /* command bytes consumed */
	char buf[HYBRID_CMD_MAX];
	long long timer;
	uint32_t host_port;
	bool handed;                /* fd given to the device, waiting for done */
	struct hclient *prev, *next;
};

struct hybrid {
	struct ev_loop *loop;
	char *path;
	int lfd;
	struct vsock_dev *dev;
	struct hclient *clients;
	unsigned npending;          /* clients in command phase */
	long long pause_timer;
};

const struct vsock_host_ops hybrid_host_ops = { .guest_connect = hybrid_guest_connect };

int hybrid_parse_connect(const char *buf, size_t len, uint32_t *port)
{
	static const char kw[] = "connect";
	size_t i = 0;
	if (len < sizeof(kw) - 1 || strncasecmp(buf, kw, sizeof(kw) - 1) != 0)
		return -EINVAL;
	i = sizeof(kw) - 1;
	if (i >= len || (buf[i] != ' ' && buf[i] != '\t'))
		return -EINVAL;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
		i++;
	uint64_t v = 0;
	size_t digits = 0;
	for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++, digits++) {
		v = v * 10 + (uint64_t)(buf[i] - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	if (!digits)
		return -EINVAL;
	for (; i < len; i++) /* only trailing blanks (and a CR from telnet-ish clients) */
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r')
			return -EINVAL;
	*port = (uint32_t)v;
	return 0;
}

/* ---- clients ------------------------------------------------------------- */

static void client_unlink(struct hclient *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->h->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void client_close(struct hclient *c)
{
	struct hybrid *h = c->h;
	if (c->timer > 0)
		ev_timer_del(h->loop, c->timer);
	if (!c->handed) {
		ev_del(h->loop, c->fd);
		close(c->fd);
		h->npending--;
	}
	client_unlink(c);
	free(c);
}

static void client_done(void *opaque, int result)
{
	struct hclient *c = opaque;
	if (result == 0) {
		char line[24];
		int n = snprintf(line, sizeof(line), "OK %u\n", c->host_port);
		/* A fresh socket's send buffer is empty: this cannot block. */
		if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* the client went away; the device sees it on its next read */
		}
	}
	client_close(c); /* the device owns (or already closed) the fd */
}

static void client_command(struct hclient *c)
{
	struct hybrid *h = c->h;
	uint32_t port;
	if (hybrid_parse_connect(c->buf, c->len - 1, &port) < 0 || !h->dev) {
		client_close(c);
		return;
	}
	ev_del(h->loop, c->fd);
	if (vsock_dev_connect_port(h->dev, port, c->fd, client_done, c, &c->host_port) < 0) {
		client_close(c);
		return;
	}
	if (c->timer > 0)
		ev_timer_del(h->loop, c->timer);
	c->timer = 0;
	c->handed = true;
	h->npending--;
}

/* Reads the command without consuming a byte past the LF: peek, then take
 * exactly through the LF (or all of it when there is none yet). */
static void client_read(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct hclient *c = data;
	char tmp[HYBRID_CMD_MAX];
	(void)loop;
	(void)events;
	ssize_t n = recv(fd, tmp, HYBRID_CMD_MAX - c->len, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	char *lf = memchr(tmp, '\n', (size_t)n);
	size_t take = lf ? (size_t)(lf - tmp) + 1 : (size_t)n;
	if (recv(fd, c->buf + c->len, take, MSG_DONTWAIT) != (ssize_t)take) {
		client_close(c);
		return;
	}
	c->len += take;
	if (lf)
		client_command(c);
	else if (c->len >= HYBRID_CMD_MAX)
		client_close(c);
}

static long client_timeout(struct ev_loop *loop, long long id, void *data)
{
	struct hclient *c = data;
	(void)loop;
	(void)id;
	c->timer = 0;
	client_close(c);
	return EV_NOMORE;
}

static void client_new(struct hybrid *h, int fd)
{
	struct hclient *c = h->npending < HYBRID_MAX_PENDING ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		close(fd);
		return;
	}
	c->h = h;
	c->fd = fd;
	if (ev_add(h->loop, fd, EV_READ, client_read, c) < 0) {
		close(fd);
		free(c);
		return;
	}
	long long t = ev_timer_add(h->loop, HYBRID_CMD_TIMEOUT_MS, client_timeout, c);
	c->timer = t > 0 ? t : 0;
	c->next = h->clients;
	if (c->next)
		c->next->prev = c;
	h->clients = c;
	h->npending++;
}

/* ---- listener ------------------------------------------------------------ */

static long resume_accept(struct ev_loop *loop, long long id, void *data)
{
	struct hybrid *h = data;
	(void)id;
	h->pause_timer = 0;
	ev_mod(loop, h->lfd, EV_READ);
	return EV_NOMORE;
}

static void on_accept(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct hybrid *h = data;
	(void)events;
	for (int i = 0; i < 64; i++) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c >= 0) {
			client_new(h, c);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Level-triggered: pause instead of spinning on a full table. */
			ev_mod(loop, fd, 0);
			long long t = ev_timer_add(loop, EMFILE_PAUSE_MS, resume_accept, h);
			h->pause_timer = t > 0 ? t : 0;
		}
		return;
	}
}

static int unix_addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	size_t n = strlen(path);
	if (n >= sizeof(a->sun_path))
		return -ENAMETOOLONG;
	memcpy(a->sun_path, path, n + 1);
	return 0;
}

int hybrid_guest_connect(void *opaque, uint32_t port)
{
	struct hybrid *h = opaque;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];
	snprintf(path, sizeof(path), "%s_%u", h->path, port);
	struct sockaddr_un a;
	if (unix_addr(&a, path) < 0)
		return -ENAMETOOLONG;
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* AF_UNIX connects complete at once, or fail with EAGAIN when the
	 * listener's backlog is full: never EINPROGRESS. */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS)
		return -errno;
	return take_fd(&fd);
}

struct hybrid *hybrid_new(struct ev_loop *loop, const char *uds_path, struct lc_err *e)
{
	struct sockaddr_un a;
	if (strlen(uds_path) + sizeof("_4294967295") > sizeof(a.sun_path)) {
		lc_err_setx(e, ENAMETOOLONG, "hybrid vsock path %s: too long for <path>_<port>",
			    uds_path);
		errno = ENAMETOOLONG;
		return NULL;
	}
	struct hybrid *h = calloc(1, sizeof(*h));
	if (!h || !(h->path = strdup(uds_path))) {
		free(h);
		lc_err_set(e, ENOMEM, "hybrid vsock");
		errno = ENOMEM;
		return NULL;
	}
	h->loop = loop;
	h->lfd = -1;
	return h;
}

int hybrid_listen(struct hybrid *h, struct vsock_dev *d, struct lc_err *e)
{
	struct sockaddr_un a;
	unix_addr(&a, h->path); /* length checked by hybrid_new */
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return lc_err_set(e, errno, "socket");
	unlink(h->path); /* a stale socket from an earlier run */
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return lc_err_set(e, errno, "bind %s", h->path);
	if (listen(fd, 128) < 0)
		return lc_err_set(e, errno, "listen %s", h->path);
	int r = ev_add(h->loop, fd, EV_READ, on_accept, h);
	if (r < 0)
		return lc_err_set(e, -r, "watch %s", h->path);
	h->dev = d;
	h->lfd = take_fd(&fd);
	return 0;
}

void hybrid_free(struct hybrid *h)
{
	if (!h)
		return;
	while (h->clients)
		client_close(h->clients);
	if (h->pause_timer > 0)
		ev_timer_del(h->loop, h->pause_timer);
	if (h->lfd >= 0) {
		ev_del(h->loop, h->lfd);
		close(h->lfd);
		unlink(h->path);
	}
	free(h->path);
	free(h);
}
