#include "util/evloop.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct ev_fd {
	ev_fd_cb cb;
	void *data;
	unsigned events; /* 0 = not registered */
};

struct ev_timer {
	long long id;
	long long when;
	ev_timer_cb cb;
	void *data;
	int deleted;
	struct ev_timer *next;
};

struct ev_loop {
	int epfd;
	int wakefd;
	atomic_int stop;
	struct ev_fd *fds; /* indexed by fd, EV_MAX_FDS entries */
	struct ev_timer *timers;
	long long next_timer_id;
};

long long ev_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct ev_loop *ev_loop_new(void)
{
	struct ev_loop *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->fds = calloc(EV_MAX_FDS, sizeof(*l->fds));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!l->fds || l->epfd < 0 || l->wakefd < 0)
		goto fail;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = -1 };
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0)
		goto fail;
	return l;
fail:
	ev_loop_free(l);
	return NULL;
}

void ev_loop_free(struct ev_loop *l)
{
	if (!l)
		return;
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wakefd >= 0)
		close(l->wakefd);
	struct ev_timer *t = l->timers;
	while (t) {
		struct ev_timer *n = t->next;
		free(t);
		t = n;
	}
	free(l->fds);
	free(l);
}

static uint32_t to_epoll(unsigned events)
{
	uint32_t e = 0;
	if (events & EV_READ)
		e |= EPOLLIN | EPOLLRDHUP;
	if (events & EV_WRITE)
		e |= EPOLLOUT;
	return e;
}

int ev_add(struct ev_loop *l, int fd, unsigned events, ev_fd_cb cb, void *data)
{
	if (fd < 0 || fd >= EV_MAX_FDS)
		return -EBADF;
	struct epoll_event ev = { .events = to_epoll(events), .data.fd = fd };
	int op = l->fds[fd].cb ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(l->epfd, op, fd, &ev) < 0)
		return -errno;
	l->fds[fd] = (struct ev_fd){ .cb = cb, .data = data, .events = events | 0x100u };
	return 0;
}

int ev_mod(struct ev_loop *l, int fd, unsigned events)
{
	if (fd < 0 || fd >= EV_MAX_FDS || !l->fds[fd].cb)
		return -EBADF;
	if ((l->fds[fd].events & 3u) == events)
		return 0;
	struct epoll_event ev = { .events = to_epoll(events), .data.fd = fd };
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	l->fds[fd].events = events | 0x100u;
	return 0;
}

void ev_del(struct ev_loop *l, int fd)
{
	if (fd < 0 || fd >= EV_MAX_FDS || !l->fds[fd].cb)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	memset(&l->fds[fd], 0, sizeof(l->fds[fd]));
}

long long ev_timer_add(struct ev_loop *l, long ms, ev_timer_cb cb, void *data)
{
	struct ev_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->id = ++l->next_timer_id;
	t->when = ev_now_ms() + ms;
	t->cb = cb;
	t->data = data;
	t->next = l->timers;
	l->timers = t;
	return t->id;
}

void ev_timer_del(struct ev_loop *l, long long id)
{
	for (struct ev_timer *t = l->timers; t; t = t->next)
		if (t->id == id)
			t->deleted = 1; /* freed by the loop, which may be iterating */
}

static int next_timeout(struct ev_loop *l, int timeout_ms)
{
	long long now = ev_now_ms();
	for (struct ev_timer *t = l->timers; t; t = t->next) {
		if (t->deleted)
			continue;
		long long d = t->when - now;
		if (d < 0)
			d = 0;
		if (timeout_ms < 0 || d < timeout_ms)
			timeout_ms = (int)d;
	}
	return timeout_ms;
}

static int run_timers(struct ev_loop *l)
{
	int ran = 0;
	long long now = ev_now_ms();
	/* Timers added by callbacks are prepended and wait for the next round. */
	for (struct ev_timer *t = l->timers; t; t = t->next) {
		if (t->deleted || t->when > now)
			continue;
		long next = t->cb(l, t->id, t->data);
		ran++;
		if (next == EV_NOMORE)
			t->deleted = 1;
		else if (!t->deleted)
			t->when = ev_now_ms() + next;
	}
	struct ev_timer **pp = &l->timers;
	while (*pp) {
		struct ev_timer *t = *pp;
		if (t->deleted) {
			*pp = t->next;
			free(t);
		} else {
			pp = &t->next;
		}
	}
	return ran;
}

int ev_run_once(struct ev_loop *l, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(l->epfd, evs, 64, next_timeout(l, timeout_ms));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	int ran = 0;
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		if (fd < 0) {
			uint64_t v;
			if (read(l->wakefd, &v, sizeof(v)) < 0) { /* EAGAIN: already drained */ }
			continue;
		}
		struct ev_fd *f = &l->fds[fd];
		if (!f->cb)
			continue; /* deleted by an earlier handler this round */
		unsigned got = 0;
		if (evs[i].events & (EPOLLIN | EPOLLRDHUP))
			got |= EV_READ;
		if (evs[i].events & EPOLLOUT)
			got |= EV_WRITE;
		if (evs[i].events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
			got |= EV_HUP;
		got &= (f->events & 3u) | EV_HUP;
		if (!got)
			continue;
		f->cb(l, fd, got, f->data);
		ran++;
	}
	return ran + run_timers(l);
}

int ev_run(struct ev_loop *l)
{
	atomic_store(&l->stop, 0);
	while (!atomic_load(&l->stop)) {
		int r = ev_run_once(l, -1);
		if (r < 0)
			return r;
	}
	return 0;
}

void ev_stop(struct ev_loop *l)
{
	atomic_store(&l->stop, 1);
	uint64_t one = 1;
	if (write(l->wakefd, &one, sizeof(one)) < 0) { /* counter full: a wake is pending anyway */ }
}
