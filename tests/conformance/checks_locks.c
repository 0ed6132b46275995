/* Lock checks: fcntl byte ranges between processes, F_GETLK, F_SETLKW
 * wake-up, flock, a lock held by a process on the other side (host or guest),
 * and the --hold-lock / --expect-locked modes that provide that other side. */
#include "conformance.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int setlk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	return fcntl(fd, cmd, &fl) < 0 ? -errno : 0;
}

static bool is_conflict(int r)
{
	return r == -EAGAIN || r == -EACCES;
}

static int prepare(struct conf_ctx *c, const char *name)
{
	char data[200];
	memset(data, 'l', sizeof(data));
	if (conf_make_file(name, data, sizeof(data), 0644) < 0)
		return conf_errno(c, "create"), -1;
	int fd = open(name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		conf_errno(c, "open");
	return fd;
}

/* ---- two processes, byte ranges ------------------------------------------- */

static int conflict_child(void *arg, char *why, size_t len)
{
	(void)arg;
	int fd = open("lk", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return snprintf(why, len, "child open: %s", strerror(errno));
	int r = setlk(fd, F_SETLK, F_WRLCK, 15, 1);
	if (!is_conflict(r))
		return snprintf(why, len, "write lock inside the parent's write range: want EAGAIN, got %s",
				strerror(-r));
	r = setlk(fd, F_SETLK, F_RDLCK, 29, 5);
	if (!is_conflict(r))
		return snprintf(why, len, "read lock overlapping the parent's write range: got %s", strerror(-r));
	r = setlk(fd, F_SETLK, F_WRLCK, 30, 10);
	if (r)
		return snprintf(why, len, "write lock just after the parent's range: %s", strerror(-r));
	r = setlk(fd, F_SETLK, F_RDLCK, 100, 10);
	if (r)
		return snprintf(why, len, "read lock beside the parent's read lock: %s", strerror(-r));
	r = setlk(fd, F_SETLK, F_WRLCK, 105, 1);
	if (!is_conflict(r))
		return snprintf(why, len, "write lock on the parent's read range: got %s", strerror(-r));
	return 0;
}

static int chk_lock_conflict(struct conf_ctx *c)
{
	int fd = prepare(c, "lk");
	if (fd < 0)
		return CONF_FAIL;
	int r = setlk(fd, F_SETLK, F_WRLCK, 10, 20);
	if (r == 0)
		r = setlk(fd, F_SETLK, F_RDLCK, 100, 10);
	if (r)
		return conf_fail(c, "parent lock: %s", strerror(-r));
	if (conf_in_child(c, conflict_child, NULL) < 0)
		return CONF_FAIL;
	/* After the child exited its locks are gone: we can take its range. */
	r = setlk(fd, F_SETLK, F_WRLCK, 30, 10);
	if (r)
		return conf_fail(c, "child's lock survived its exit: %s", strerror(-r));
	close(fd);
	return CONF_PASS;
}

static int getlk_child(void *arg, char *why, size_t len)
{
	pid_t holder = *(pid_t *)arg;
	int fd = open("lk", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return snprintf(why, len, "child open: %s", strerror(errno));
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	if (fcntl(fd, F_GETLK, &fl) < 0)
		return snprintf(why, len, "F_GETLK: %s", strerror(errno));
	if (fl.l_type != F_WRLCK || fl.l_start != 10 || fl.l_len != 20 || fl.l_pid != holder)
		return snprintf(why, len, "F_GETLK reports type %d range %lld+%lld pid %d, want write 10+20 pid %d",
				fl.l_type, (long long)fl.l_start, (long long)fl.l_len, fl.l_pid, holder);
	struct flock free_range = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 50, .l_len = 10 };
	if (fcntl(fd, F_GETLK, &free_range) < 0 || free_range.l_type != F_UNLCK)
		return snprintf(why, len, "F_GETLK on a free range does not report F_UNLCK");
	return 0;
}

static int chk_getlk(struct conf_ctx *c)
{
	int fd = prepare(c, "lk");
	if (fd < 0)
		return CONF_FAIL;
	int r = setlk(fd, F_SETLK, F_WRLCK, 10, 20);
	if (r)
		return conf_fail(c, "lock: %s", strerror(-r));
	pid_t me = getpid();
	if (conf_in_child(c, getlk_child, &me) < 0)
		return CONF_FAIL;
	close(fd);
	return CONF_PASS;
}

/* ---- F_SETLKW blocks, then wakes when the holder unlocks ------------------- */

static int setlkw_waiter(void *arg)
{
	int *p = arg; /* [0] write end to parent */
	int fd = open("lk", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 1;
	conf_write_byte(p[0], 'R');
	if (setlk(fd, F_SETLKW, F_WRLCK, 0, 0) < 0)
		return 1;
	conf_write_byte(p[0], 'G');
	return 0;
}

/* Waits (bounded) until /proc/locks lists pid as a waiter. 1 yes, 0 no, -errno. */
static int wait_for_waiter(pid_t pid)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int r = conf_lock_waiter(pid);
		if (r != 0)
			return r;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 > CONF_PEER_TIMEOUT_MS)
			return 0;
		poll(NULL, 0, 2); /* re-check a condition; not a synchronising delay */
	}
}

static int chk_setlkw(struct conf_ctx *c)
{
	int fd = prepare(c, "lk");
	if (fd < 0)
		return CONF_FAIL;
	int r = setlk(fd, F_SETLK, F_WRLCK, 0, 0);
	if (r)
		return conf_fail(c, "lock: %s", strerror(-r));
	int p[2];
	if (pipe(p) < 0)
		return conf_errno(c, "pipe");
	int arg[1] = { p[1] };
	pid_t pid = conf_spawn(setlkw_waiter, arg);
	if (pid < 0)
		return conf_fail(c, "fork: %s", strerror((int)-pid));
	close(p[1]);
	if (conf_read_byte(p[0], CONF_PEER_TIMEOUT_MS) != 'R')
		return conf_fail(c, "waiter did not start");
	int w = wait_for_waiter(pid);
	if (w == 0)
		return conf_fail(c, "the waiter never showed up as blocked in /proc/locks");
	if (w < 0 && w != -ENOENT)
		return conf_fail(c, "/proc/locks: %s", strerror(-w));
	/* It is blocked: it must not have the lock yet. */
	if (conf_wait_readable(p[0], 0) != 0)
		return conf_fail(c, "F_SETLKW returned while the conflicting lock was held");
	r = setlk(fd, F_SETLK, F_UNLCK, 0, 0);
	if (r)
		return conf_fail(c, "unlock: %s", strerror(-r));
	int b = conf_read_byte(p[0], CONF_PEER_TIMEOUT_MS);
	if (b != 'G')
		return conf_fail(c, "F_SETLKW did not succeed after the holder unlocked (%s)",
				 b == -ETIMEDOUT ? "still waiting" : "waiter failed");
	if (conf_reap(pid) != 0)
		return conf_fail(c, "waiter failed");
	close(fd);
	return CONF_PASS;
}

/* ---- flock ----------------------------------------------------------------- */

static int flock_child(void *arg, char *why, size_t len)
{
	int expect_ex_free = *(int *)arg;
	int fd = open("lk", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return snprintf(why, len, "child open: %s", strerror(errno));
	int r = flock(fd, LOCK_EX | LOCK_NB);
	if (expect_ex_free && r < 0)
		return snprintf(why, len, "LOCK_EX after the holder unlocked: %s", strerror(errno));
	if (!expect_ex_free && (r == 0 || errno != EWOULDBLOCK))
		return snprintf(why, len, "LOCK_EX|LOCK_NB against a held lock: want EWOULDBLOCK, got %s",
				r == 0 ? "success" : strerror(errno));
	return 0;
}

static int flock_sh_child(void *arg, char *why, size_t len)
{
	(void)arg;
	int fd = open("lk", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return snprintf(why, len, "child open: %s", strerror(errno));
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		return snprintf(why, len, "LOCK_SH beside another LOCK_SH: %s", strerror(errno));
	return 0;
}

static int chk_flock(struct conf_ctx *c)
{
	int fd = prepare(c, "lk");
	if (fd < 0)
		return CONF_FAIL;
	if (flock(fd, LOCK_EX) < 0)
		return conf_errno(c, "flock LOCK_EX");
	int held = 0, freed = 1;
	if (conf_in_child(c, flock_child, &held) < 0)
		return CONF_FAIL;
	if (flock(fd, LOCK_SH) < 0)
		return conf_errno(c, "flock downgrade to LOCK_SH");
	if (conf_in_child(c, flock_sh_child, NULL) < 0)
		return CONF_FAIL;
	if (conf_in_child(c, flock_child, &held) < 0)
		return CONF_FAIL;
	if (flock(fd, LOCK_UN) < 0)
		return conf_errno(c, "flock LOCK_UN");
	if (conf_in_child(c, flock_child, &freed) < 0)
		return CONF_FAIL;
	close(fd);
	return CONF_PASS;
}

/* ---- a lock held by a process on the other side --------------------------- */

/* Fills why (empty = locked as expected). */
static void probe_locked(const char *file, bool want_locked, char *why, size_t len)
{
	why[0] = '\0';
	int fd = open(file, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "open %s: %s", file, strerror(errno));
		return;
	}
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	if (fcntl(fd, F_GETLK, &fl) < 0) {
		snprintf(why, len, "F_GETLK: %s", strerror(errno));
	} else if (want_locked && fl.l_type != F_WRLCK) {
		snprintf(why, len, "F_GETLK reports %s, want F_WRLCK held by the peer",
			 fl.l_type == F_UNLCK ? "F_UNLCK" : "F_RDLCK");
	} else if (!want_locked && fl.l_type != F_UNLCK) {
		snprintf(why, len, "F_GETLK reports a lock (type %d, pid %d)", fl.l_type, fl.l_pid);
	} else {
		int r = setlk(fd, F_SETLK, F_RDLCK, 0, 0);
		if (want_locked && !is_conflict(r))
			snprintf(why, len, "F_SETLK read lock: want EAGAIN, got %s",
				 r == 0 ? "success" : strerror(-r));
		else if (!want_locked && r)
			snprintf(why, len, "F_SETLK on a free file: %s", strerror(-r));
	}
	close(fd);
}

static int chk_peer_host_lock(struct conf_ctx *c)
{
	if (!c->peer_lock)
		return conf_skip(c, "no --peer-host-lock FILE given");
	probe_locked(c->peer_lock, true, c->why, sizeof(c->why));
	return c->why[0] ? CONF_FAIL : CONF_PASS;
}

int conf_hold_lock(const char *file, bool use_flock)
{
	int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "lcvm-conformance: open %s: %s\n", file, strerror(errno));
		return 1;
	}
	int r = use_flock ? (flock(fd, LOCK_EX) < 0 ? -errno : 0) : setlk(fd, F_SETLKW, F_WRLCK, 0, 0);
	if (r < 0) {
		fprintf(stderr, "lcvm-conformance: lock %s: %s\n", file, strerror(-r));
		return 1;
	}
	/* The peer reads this line before probing: no race, no delay. */
	printf("LOCKED %s\n", file);
	fflush(stdout);
	char buf[256];
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0 || errno == EINTR)
		;
	close(fd);
	return 0;
}

int conf_expect_lock(const char *file, bool locked)
{
	char why[CONF_WHY_LEN];
	const char *name = locked ? "expect_locked" : "expect_unlocked";
	probe_locked(file, locked, why, sizeof(why));
	if (why[0]) {
		printf("FAIL %s: %s\n", name, why);
		return 1;
	}
	printf("PASS %s\n", name);
	return 0;
}

const struct conf_check conf_lock_checks[] = {
	{ "lock_conflict", chk_lock_conflict, "fcntl byte-range conflicts between two processes" },
	{ "getlk", chk_getlk, "F_GETLK reports the holder's type, range and pid" },
	{ "setlkw", chk_setlkw, "F_SETLKW waits while held, then succeeds" },
	{ "flock", chk_flock, "flock exclusive/shared between two open files" },
	{ "peer_host_lock", chk_peer_host_lock, "--peer-host-lock FILE is seen as locked" },
};
const size_t conf_lock_checks_n = sizeof(conf_lock_checks) / sizeof(conf_lock_checks[0]);
