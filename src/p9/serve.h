/* Listeners for `lcvm 9p serve`: turn a listen spec into connected stream
 * fds for a p9_server (server.h), with an allow-list of TCP client
 * addresses.
 *
 * Listen specs:
 *   unix:PATH        a unix stream socket at PATH, mode 0600 (a stale socket
 *                    at PATH is replaced; any other file there is an error);
 *                    removed again by p9_listener_free
 *   tcp:PORT         127.0.0.1:PORT (never the network by default)
 *   tcp:HOST:PORT    HOST must be a numeric IPv4 address, a bracketed IPv6
 *   tcp:[V6]:PORT    address or "localhost"; no name resolution, no "*".
 *                    A non-loopback HOST is the explicit opt-in.
 *   fd:N             an inherited descriptor: a listening socket is accepted
 *                    on; a connected stream is served as one connection
 *                    (p9_listener_done() turns true when it closes)
 *
 * Allow-list entries ADDR[/PREFIX] (IPv4 or IPv6, PREFIX defaults to the full
 * length) limit which TCP peers are served; other peers are closed at
 * accept. An IPv4-mapped IPv6 peer matches IPv4 entries. An empty list
 * allows every peer that can reach the bound address.
 *
 * Ownership: a listener owns its listening fd and hands every accepted fd to
 * the server (p9_server_add_conn). It does not own the server or the loop.
 * Call everything on the loop's thread. */
#ifndef LCVM_P9_SERVE_H
#define LCVM_P9_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "p9/server.h"
#include "util/err.h"
#include "util/evloop.h"

#define P9_SERVE_MAX_ALLOW   64     /* --allow entries */
#define P9_SERVE_BACKLOG     64
#define P9_SERVE_EMFILE_MS   1000   /* accept pause when out of descriptors */
#define P9_SERVE_PATH_MAX    108    /* sun_path */

enum p9_listen_kind { P9_LISTEN_UNIX, P9_LISTEN_TCP, P9_LISTEN_FD };

struct p9_listen {
	enum p9_listen_kind kind;
	char path[P9_SERVE_PATH_MAX];        /* unix */
	struct sockaddr_storage addr;        /* tcp: address to bind */
	socklen_t addrlen;
	bool loopback;                       /* tcp: addr is a loopback address */
	int fd;                              /* fd:N */
};

struct p9_allow {
	int family;                          /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;                     /* bits */
};

/* Parses a listen spec (above). Returns 0 or -EINVAL with a message. */
int p9_listen_parse(const char *spec, struct p9_listen *out, struct lc_err *e);
/* Parses ADDR[/PREFIX]. Returns 0 or -EINVAL with a message. */
int p9_allow_parse(const char *s, struct p9_allow *out, struct lc_err *e);
/* True when peer (AF_INET/AF_INET6) matches an entry, or n == 0. */
bool p9_allow_match(const struct p9_allow *list, size_t n, const struct sockaddr *peer);

struct p9_listener;

/* Binds/adopts the listen spec and starts serving on loop. allow is copied
 * (at most P9_SERVE_MAX_ALLOW entries; only for TCP and fd listeners).
 * Returns 0 or -errno with a message. */
int p9_listener_new(struct ev_loop *loop, struct p9_server *srv, const struct p9_listen *l,
		    const struct p9_allow *allow, size_t nallow, struct p9_listener **out,
		    struct lc_err *e);
/* fd:N with a connected stream: true once that connection is gone. Call
 * from the server's on_conn_closed callback. */
bool p9_listener_done(const struct p9_listener *ln);
/* The bound address (for tcp:…:0, the port the kernel chose). */
int p9_listener_addr(const struct p9_listener *ln, struct sockaddr_storage *ss, socklen_t *len);
/* Peers refused by the allow-list so far. */
unsigned long p9_listener_refused(const struct p9_listener *ln);
/* Stops listening, closes the listening fd, unlinks a unix socket it made. */
void p9_listener_free(struct p9_listener *ln);

#endif
