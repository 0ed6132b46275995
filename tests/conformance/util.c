/* Helpers shared by the conformance checks: results, pipes, children. */
#include "conformance.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int conf_vset(struct conf_ctx *c, int status, const char *fmt, va_list ap)
{
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	return status;
}

int conf_fail(struct conf_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = conf_vset(c, CONF_FAIL, fmt, ap);
	va_end(ap);
	return r;
}

int conf_skip(struct conf_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = conf_vset(c, CONF_SKIP, fmt, ap);
	va_end(ap);
	return r;
}

int conf_errno(struct conf_ctx *c, const char *what)
{
	return conf_fail(c, "%s: %s", what, strerror(errno));
}

int conf_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int conf_read_all(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EPIPE;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int conf_wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	for (;;) {
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		return r > 0;
	}
}

int conf_read_byte(int fd, int timeout_ms)
{
	int r = conf_wait_readable(fd, timeout_ms);
	if (r < 0)
		return r;
	if (r == 0)
		return -ETIMEDOUT;
	unsigned char b;
	r = conf_read_all(fd, &b, 1);
	return r < 0 ? r : b;
}

int conf_write_byte(int fd, char b)
{
	return conf_write_all(fd, &b, 1);
}

int conf_make_file(const char *name, const void *data, size_t n, mode_t mode)
{
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int r = conf_write_all(fd, data, n);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

pid_t conf_spawn(int (*fn)(void *arg), void *arg)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

int conf_reap(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int conf_in_child(struct conf_ctx *c, int (*fn)(void *arg, char *why, size_t len), void *arg)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return conf_errno(c, "pipe"), -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return conf_errno(c, "fork"), -1;
	}
	if (pid == 0) {
		char why[CONF_WHY_LEN] = "";
		close(p[0]);
		fn(arg, why, sizeof(why));
		conf_write_all(p[1], why, strlen(why));
		_exit(0);
	}
	close(p[1]);
	char why[CONF_WHY_LEN] = "";
	size_t have = 0;
	for (;;) {
		int w = conf_wait_readable(p[0], CONF_PEER_TIMEOUT_MS);
		if (w <= 0) {
			snprintf(why, sizeof(why), "child did not answer");
			kill(pid, SIGKILL);
			break;
		}
		ssize_t r = read(p[0], why + have, sizeof(why) - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		if (have == sizeof(why) - 1)
			break;
	}
	close(p[0]);
	int st = conf_reap(pid);
	if (why[0] == '\0' && st != 0)
		snprintf(why, sizeof(why), "child exited abnormally");
	if (why[0] == '\0')
		return 0;
	snprintf(c->why, sizeof(c->why), "%s", why);
	return -1;
}

int conf_lock_waiter(pid_t pid)
{
	FILE *f = fopen("/proc/locks", "re");
	if (!f)
		return -errno;
	char line[256];
	int found = 0;
	while (!found && fgets(line, sizeof(line), f)) {
		/* "1: -> POSIX  ADVISORY  WRITE 9753 fe:00:10969626 0 EOF" */
		if (!strstr(line, "->"))
			continue;
		char *save = NULL;
		for (char *t = strtok_r(line, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
			char *end;
			long v = strtol(t, &end, 10);
			if (*end == '\0' && v == (long)pid) {
				found = 1;
				break;
			}
		}
	}
	fclose(f);
	return found;
}
