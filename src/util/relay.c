#include "util/relay.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/evloop.h"

struct relay {
	struct ev_loop *loop;
	int in, out;
	unsigned flags;
	relay_done_cb done;
	void *opaque;
	size_t head, tail;          /* buf[head, tail) is pending output */
	int eof, finished, discard, out_registered;
	int in_unpollable;          /* regular file: epoll refuses it, it is always readable */
	long long in_timer;
	unsigned long long bytes;
	unsigned char buf[RELAY_BUF_SIZE];
};

static void relay_update(struct relay *r);

static void finish(struct relay *r, int result)
{
	if (r->finished)
		return;
	r->finished = 1;
	ev_del(r->loop, r->in);
	if (r->in_timer > 0)
		ev_timer_del(r->loop, r->in_timer);
	r->in_timer = 0;
	if (r->out_registered)
		ev_del(r->loop, r->out);
	r->out_registered = 0;
	if (result == 0 && (r->flags & RELAY_SHUTDOWN_OUT))
		shutdown(r->out, SHUT_WR);
	r->done(r->opaque, r, result);
}

static int flush(struct relay *r)
{
	while (r->head < r->tail) {
		if (r->discard) {
			r->head = r->tail;
			break;
		}
		ssize_t n = write(r->out, r->buf + r->head, r->tail - r->head);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			r->discard = 1; /* EPIPE and friends: keep draining the producer */
			continue;
		}
		r->head += (size_t)n;
		r->bytes += (unsigned long long)n;
	}
	r->head = r->tail = 0;
	return 1;
}

static void on_out(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	relay_update(data);
}

static void on_in(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct relay *r = data;
	if (r->tail < sizeof(r->buf) && !r->eof) {
		ssize_t n = read(r->in, r->buf + r->tail, sizeof(r->buf) - r->tail);
		if (n == 0) {
			r->eof = 1;
		} else if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				finish(r, -errno);
				return;
			}
		} else {
			r->tail += (size_t)n;
		}
	}
	relay_update(r);
}

static long on_in_timer(struct ev_loop *loop, long long id, void *data)
{
	struct relay *r = data;
	r->in_timer = 0;
	on_in(loop, r->in, EV_READ, r);
	return EV_NOMORE;
}

static void want_input(struct relay *r, int on)
{
	if (!r->in_unpollable) {
		ev_mod(r->loop, r->in, on ? EV_READ : 0);
	} else if (on && !r->in_timer) {
		long long id = ev_timer_add(r->loop, 0, on_in_timer, r);
		r->in_timer = id > 0 ? id : 0;
	}
}

static void relay_update(struct relay *r)
{
	if (r->finished)
		return;
	int drained = flush(r);
	if (drained && r->eof) {
		finish(r, 0);
		return;
	}
	/* Read only while there is room; wait for writability only while output is pending. */
	if (drained && !r->out_registered) {
		want_input(r, 1);
	} else if (!drained) {
		want_input(r, 0);
		if (!r->out_registered && ev_add(r->loop, r->out, EV_WRITE, on_out, r) == 0)
			r->out_registered = 1;
	}
	if (drained && r->out_registered) {
		ev_del(r->loop, r->out);
		r->out_registered = 0;
		want_input(r, 1);
	}
}

struct relay *relay_new(struct ev_loop *loop, int in, int out, unsigned flags, relay_done_cb done,
			void *opaque)
{
	struct relay *r = malloc(sizeof(*r));
	if (!r)
		return NULL;
	*r = (struct relay){ .loop = loop, .in = in, .out = out, .flags = flags, .done = done, .opaque = opaque };
	int rc = ev_add(loop, in, EV_READ, on_in, r);
	if (rc == -EPERM) {
		r->in_unpollable = 1;
		want_input(r, 1);
	} else if (rc < 0) {
		free(r);
		return NULL;
	}
	return r;
}

void relay_free(struct relay *r)
{
	if (!r)
		return;
	ev_del(r->loop, r->in);
	if (r->in_timer > 0)
		ev_timer_del(r->loop, r->in_timer);
	if (r->out_registered)
		ev_del(r->loop, r->out);
	if (r->flags & RELAY_OWN_IN)
		close(r->in);
	if (r->flags & RELAY_OWN_OUT)
		close(r->out);
	free(r);
}

unsigned long long relay_bytes(const struct relay *r)
{
	return r->bytes;
}
