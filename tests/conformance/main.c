/* lcvm-conformance: runner and command line.
 *
 *   lcvm-conformance DIR [--peer-host-lock FILE] [--outside-marker PATH]
 *                        [--only a,b] [--skip a,b] [--timeout SECONDS]
 *   lcvm-conformance --list
 *   lcvm-conformance --hold-lock FILE      write-lock FILE (fcntl) until stdin closes
 *   lcvm-conformance --hold-flock FILE     the same with flock(LOCK_EX)
 *   lcvm-conformance --expect-locked FILE  PASS if another process holds a write lock
 *   lcvm-conformance --expect-unlocked FILE
 *
 * Prints "PASS name", "FAIL name: why" or "SKIP name: why" per check and
 * exits 1 if any check failed. */
#include "conformance.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct opts {
	const char *dir;
	const char *only;
	const char *skip;
	int timeout_s;
	struct conf_ctx ctx;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: lcvm-conformance DIR [--peer-host-lock FILE] [--outside-marker PATH]\n"
		   "                        [--only a,b] [--skip a,b] [--timeout SECONDS]\n"
		   "       lcvm-conformance --list\n"
		   "       lcvm-conformance --hold-lock FILE | --hold-flock FILE\n"
		   "       lcvm-conformance --expect-locked FILE | --expect-unlocked FILE\n"
		   "       lcvm-conformance --mmap-write FILE\n");
}

/* True when `name` is an element of the comma-separated `list`. */
static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void rm_tree(const char *path)
{
	nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

/* Child side of one check: run it in `sub`, send status + why to the parent. */
static void run_in_child(const struct conf_check *chk, struct conf_ctx *ctx, const char *sub, int wfd)
{
	setpgid(0, 0);
	umask(0);
	char msg[1 + CONF_WHY_LEN];
	int st;
	if (chdir(sub) < 0) {
		st = conf_errno(ctx, "chdir to scratch directory");
	} else {
		ctx->why[0] = '\0';
		st = chk->fn(ctx);
	}
	msg[0] = (char)st;
	snprintf(msg + 1, sizeof(msg) - 1, "%s", ctx->why);
	conf_write_all(wfd, msg, 1 + strlen(msg + 1));
	_exit(0);
}

static int run_check(const struct conf_check *chk, struct opts *o, const char *base)
{
	char sub[4096];
	snprintf(sub, sizeof(sub), "%s/%s", base, chk->name);
	if (mkdir(sub, 0755) < 0) {
		printf("FAIL %s: mkdir %s: %s\n", chk->name, sub, strerror(errno));
		return CONF_FAIL;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		printf("FAIL %s: pipe: %s\n", chk->name, strerror(errno));
		return CONF_FAIL;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		run_in_child(chk, &o->ctx, sub, p[1]);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		printf("FAIL %s: fork: %s\n", chk->name, strerror(errno));
		return CONF_FAIL;
	}
	setpgid(pid, pid); /* also done by the child: whoever runs first wins the race */
	char msg[1 + CONF_WHY_LEN + 1];
	size_t have = 0;
	int timed_out = 0;
	for (;;) {
		int w = conf_wait_readable(p[0], o->timeout_s * 1000);
		if (w <= 0) {
			timed_out = 1;
			break;
		}
		ssize_t r = read(p[0], msg + have, sizeof(msg) - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		if (have == sizeof(msg) - 1)
			break;
	}
	close(p[0]);
	/* The check's helpers (lock holders, writers) share its process group. */
	kill(-pid, SIGKILL);
	int wst;
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	/* Reap helpers that were re-parented to us (we are not a subreaper, so
	 * normally they go to init; this is only for tidiness). */
	while (waitpid(-pid, &wst, WNOHANG) > 0)
		;
	rm_tree(sub);
	msg[have] = '\0';
	int st;
	if (timed_out) {
		printf("FAIL %s: timed out after %d s\n", chk->name, o->timeout_s);
		st = CONF_FAIL;
	} else if (have == 0) {
		printf("FAIL %s: check process died without a verdict\n", chk->name);
		st = CONF_FAIL;
	} else if (msg[0] == CONF_PASS) {
		printf("PASS %s\n", chk->name);
		st = CONF_PASS;
	} else if (msg[0] == CONF_SKIP) {
		printf("SKIP %s: %s\n", chk->name, msg + 1);
		st = CONF_SKIP;
	} else {
		printf("FAIL %s: %s\n", chk->name, msg + 1);
		st = CONF_FAIL;
	}
	fflush(stdout);
	return st;
}

struct group {
	const struct conf_check *checks;
	const size_t *n;
};

static const struct group groups[] = {
	{ conf_file_checks, &conf_file_checks_n },
	{ conf_lock_checks, &conf_lock_checks_n },
	{ conf_misc_checks, &conf_misc_checks_n },
};

static int list_checks(void)
{
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		for (size_t i = 0; i < *groups[g].n; i++)
			printf("%-22s %s\n", groups[g].checks[i].name, groups[g].checks[i].what);
	return 0;
}

static int run_all(struct opts *o)
{
	char base[4096];
	snprintf(base, sizeof(base), "%s/.lcvm-conformance.%ld", o->dir, (long)getpid());
	if (mkdir(base, 0755) < 0) {
		fprintf(stderr, "lcvm-conformance: mkdir %s: %s\n", base, strerror(errno));
		return 2;
	}
	int failed = 0, passed = 0, skipped = 0;
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		for (size_t i = 0; i < *groups[g].n; i++) {
			const struct conf_check *chk = &groups[g].checks[i];
			if (o->only && !in_list(o->only, chk->name))
				continue;
			if (o->skip && in_list(o->skip, chk->name))
				continue;
			int st = run_check(chk, o, base);
			failed += st == CONF_FAIL;
			passed += st == CONF_PASS;
			skipped += st == CONF_SKIP;
		}
	}
	rm_tree(base);
	fprintf(stderr, "lcvm-conformance: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .timeout_s = 600 };
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--list") == 0)
			return list_checks();
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (a[0] == '-' && a[1] == '-' && !v) {
			usage(stderr);
			return 2;
		}
		if (strcmp(a, "--hold-lock") == 0)
			return conf_hold_lock(v, false);
		if (strcmp(a, "--hold-flock") == 0)
			return conf_hold_lock(v, true);
		if (strcmp(a, "--expect-locked") == 0)
			return conf_expect_lock(v, true);
		if (strcmp(a, "--expect-unlocked") == 0)
			return conf_expect_lock(v, false);
		if (strcmp(a, "--mmap-write") == 0)
			return conf_mmap_write(v);
		if (strcmp(a, "--peer-host-lock") == 0) {
			o.ctx.peer_lock = v;
			i++;
		} else if (strcmp(a, "--outside-marker") == 0) {
			o.ctx.outside_marker = v;
			i++;
		} else if (strcmp(a, "--only") == 0) {
			o.only = v;
			i++;
		} else if (strcmp(a, "--skip") == 0) {
			o.skip = v;
			i++;
		} else if (strcmp(a, "--timeout") == 0) {
			o.timeout_s = atoi(v);
			i++;
			if (o.timeout_s <= 0) {
				usage(stderr);
				return 2;
			}
		} else if (a[0] == '-' || o.dir) {
			usage(stderr);
			return 2;
		} else {
			o.dir = a;
		}
	}
	if (!o.dir) {
		usage(stderr);
		return 2;
	}
	return run_all(&o);
}
