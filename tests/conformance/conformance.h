/* lcvm-conformance: POSIX behaviour checks for a directory, meant for a 9P bind
 * mount inside an lcvm guest and, for comparison, for any host directory.
 *
 * Each check runs in its own forked process whose working directory is a fresh
 * scratch directory under DIR; the runner removes it afterwards, enforces a
 * timeout and kills the check's process group. A check returns CONF_PASS,
 * CONF_SKIP or CONF_FAIL and explains SKIP/FAIL in ctx->why.
 *
 * Synchronisation between processes uses pipes only; where a check must know
 * that a peer is blocked in the kernel it looks at /proc/locks (a condition,
 * not a delay). Static binary: libc and pthread only. */
#ifndef LCVM_CONFORMANCE_H
#define LCVM_CONFORMANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum { CONF_PASS = 0, CONF_SKIP = 1, CONF_FAIL = 2 };

#define CONF_WHY_LEN 400
/* How long a check waits for a peer process before calling it a failure. */
#define CONF_PEER_TIMEOUT_MS 60000

struct conf_ctx {
	const char *outside_marker; /* --outside-marker: a path that must stay unreachable */
	const char *peer_lock;	    /* --peer-host-lock: a file a host process holds locked */
	char why[CONF_WHY_LEN];
};

struct conf_check {
	const char *name;
	int (*fn)(struct conf_ctx *c);
	const char *what;
};

/* Checks, grouped by file. */
extern const struct conf_check conf_file_checks[];
extern const size_t conf_file_checks_n;
extern const struct conf_check conf_lock_checks[];
extern const size_t conf_lock_checks_n;
extern const struct conf_check conf_misc_checks[];
extern const size_t conf_misc_checks_n;

/* Result helpers: fill c->why and return the status, so a check can write
 * `return conf_fail(c, "open: %s", strerror(errno));`. */
int conf_fail(struct conf_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int conf_skip(struct conf_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fails with "<what>: strerror(errno)". */
int conf_errno(struct conf_ctx *c, const char *what);

/* Writes a whole buffer / reads exactly n bytes (0 or -errno; -EPIPE on early EOF). */
int conf_write_all(int fd, const void *buf, size_t n);
int conf_read_all(int fd, void *buf, size_t n);
/* Waits up to timeout_ms for fd to become readable: 1 readable, 0 timeout, -errno. */
int conf_wait_readable(int fd, int timeout_ms);
/* Reads one byte with a timeout: the byte (0..255), -ETIMEDOUT, -EPIPE on EOF. */
int conf_read_byte(int fd, int timeout_ms);
int conf_write_byte(int fd, char b);
/* Creates a file with the given contents (0 or -errno). */
int conf_make_file(const char *name, const void *data, size_t n, mode_t mode);

/* Runs fn(arg, why) in a forked child; the child's verdict (empty why = pass)
 * comes back through a pipe. Returns 0 when the child passed, -1 with `why`
 * copied into c->why otherwise. */
int conf_in_child(struct conf_ctx *c, int (*fn)(void *arg, char *why, size_t len), void *arg);

/* Starts fn in a child and returns its pid (the caller waits), or -errno. */
pid_t conf_spawn(int (*fn)(void *arg), void *arg);
/* Waits for pid; returns its exit status, or -1 if it was killed. */
int conf_reap(pid_t pid);

/* True when /proc/locks shows `pid` waiting for a lock. Returns 1, 0, or -errno
 * when /proc/locks cannot be read. */
int conf_lock_waiter(pid_t pid);

/* Cross-side lock modes (main.c dispatches to them). */
int conf_hold_lock(const char *file, bool use_flock);
int conf_expect_lock(const char *file, bool locked);

/* Creates file with CONF_MMAP_SIZE bytes of "lcvm-mmap\n" written only
 * through a shared mapping, unmapped without msync, and exits: what reaches
 * the host is what the VM's shutdown wrote back. Returns the exit status. */
#define CONF_MMAP_SIZE (1024 * 1024)
int conf_mmap_write(const char *file);

#endif
