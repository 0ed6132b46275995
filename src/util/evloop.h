/* A small epoll event loop shaped like redis's ae.c: an fd-indexed handler
 * table, (loop, fd, events, data) callbacks, timers whose callback returns
 * the next delay. It knows nothing of lcvm. Single-threaded: every function
 * must be called from the loop's thread, except ev_wake() and ev_stop().
 *
 * A handler may add or delete any fd, including its own; the loop re-checks
 * the fd's registration before each callback, so a handler deleted by an
 * earlier one in the same round is not called. */
#ifndef LCVM_UTIL_EVLOOP_H
#define LCVM_UTIL_EVLOOP_H

#include <stdint.h>

#define EV_READ  1u
#define EV_WRITE 2u
/* Reported (never requested): hang-up or error on the fd. */
#define EV_HUP   4u

#define EV_MAX_FDS 65536
#define EV_NOMORE (-1)

struct ev_loop;
typedef void (*ev_fd_cb)(struct ev_loop *loop, int fd, unsigned events, void *data);
/* Returns the next delay in milliseconds, or EV_NOMORE to delete the timer. */
typedef long (*ev_timer_cb)(struct ev_loop *loop, long long id, void *data);

/* Returns NULL on allocation or epoll failure (errno set). */
struct ev_loop *ev_loop_new(void);
/* Closes the loop's own fds; registered fds stay open (they have owners). */
void ev_loop_free(struct ev_loop *loop);

/* Registers fd (replacing any previous registration). events: EV_READ|EV_WRITE. */
int ev_add(struct ev_loop *loop, int fd, unsigned events, ev_fd_cb cb, void *data);
/* Changes the interest set of a registered fd. */
int ev_mod(struct ev_loop *loop, int fd, unsigned events);
/* Unregisters fd; harmless when not registered. Does not close it. */
void ev_del(struct ev_loop *loop, int fd);

/* Timers: first call after ms milliseconds. Returns an id > 0 or -errno. */
long long ev_timer_add(struct ev_loop *loop, long ms, ev_timer_cb cb, void *data);
void ev_timer_del(struct ev_loop *loop, long long id);

/* Runs one round: waits at most timeout_ms (-1 = until something happens),
 * dispatches fd events, then due timers. Returns the number of callbacks run
 * or -errno. */
int ev_run_once(struct ev_loop *loop, int timeout_ms);
/* Runs until ev_stop(). Returns 0 or -errno. */
int ev_run(struct ev_loop *loop);
/* Thread- and signal-safe: makes ev_run() return after the current round. */
void ev_stop(struct ev_loop *loop);

/* Monotonic clock in milliseconds. */
long long ev_now_ms(void);

#endif
