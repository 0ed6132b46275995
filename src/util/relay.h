/* Copies bytes from one fd to another inside an evloop, without blocking
 * the loop (both fds should be non-blocking; a blocking out fd only blocks
 * when its reader is slower than the producer). Used for container stdio
 * between the user's fds and vsock stream sockets.
 *
 * At EOF on `in` the relay flushes what it holds, then (RELAY_SHUTDOWN_OUT)
 * half-closes `out` with shutdown(SHUT_WR) so the peer sees EOF, and calls
 * done(opaque, 0). A write error (EPIPE: nobody reads the output any more)
 * switches the relay to discarding, so the producer is never stalled; a
 * read error ends the relay with done(opaque, -errno). */
#ifndef LCVM_UTIL_RELAY_H
#define LCVM_UTIL_RELAY_H

#include <stddef.h>

struct ev_loop;
struct relay;

#define RELAY_BUF_SIZE (256u * 1024u)

#define RELAY_OWN_IN 1u        /* close `in` in relay_free */
#define RELAY_OWN_OUT 2u       /* close `out` in relay_free */
#define RELAY_SHUTDOWN_OUT 4u  /* shutdown(out, SHUT_WR) at EOF (sockets) */

typedef void (*relay_done_cb)(void *opaque, struct relay *r, int result);

/* Returns NULL on allocation failure. in and out must differ. */
struct relay *relay_new(struct ev_loop *loop, int in, int out, unsigned flags, relay_done_cb done,
			void *opaque);
/* Unregisters and closes what it owns; safe from inside done(). */
void relay_free(struct relay *r);
/* Bytes moved so far. */
unsigned long long relay_bytes(const struct relay *r);

#endif
