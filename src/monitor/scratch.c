#include "monitor/scratch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/paths.h"

/* Child side: stdio to /dev/null and log_fd, then the first mke2fs found. */
static void exec_mke2fs(const char *path, int log_fd)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int nul = open("/dev/null", O_RDONLY);
	if (nul < 0 || dup2(nul, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
		_exit(126);
	char *const argv[] = {
		"mke2fs", "-q", "-F", "-t", "ext4",
		/* no journal: the upper dies with the container; no resize inode: never grown */
		"-O", "^has_journal,^resize_inode",
		"-m", "0", "-E", "root_owner=0:0", "-L", "lcvm-scratch", (char *)path, NULL,
	};
	const char *env = getenv("LCVM_MKE2FS");
	if (env && *env) {
		execv(env, argv);
		_exit(127);
	}
	execvp("mke2fs", argv);
	execv("/sbin/mke2fs", argv);
	execv("/usr/sbin/mke2fs", argv);
	_exit(127);
}

static int run_mke2fs(const char *path, int log_fd, struct lc_err *e)
{
	pid_t p = fork();
	if (p < 0)
		return lc_err_set(e, errno, "fork");
	if (p == 0)
		exec_mke2fs(path, log_fd);
	int st;
	while (waitpid(p, &st, 0) < 0)
		if (errno != EINTR)
			return lc_err_set(e, errno, "waiting for mke2fs");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return lc_err_setx(e, ENOENT, "mke2fs not found: install e2fsprogs (or set LCVM_MKE2FS)");
	return lc_err_setx(e, EIO, "mke2fs failed (status 0x%x, see monitor.log)", st);
}

int mon_scratch_create(const char *state_dir, const char *path, uint64_t size, int log_fd, struct lc_err *e)
{
	char parent[PATH_MAX], link[PATH_MAX];
	if (snprintf(parent, sizeof(parent), "%s", path) >= (int)sizeof(parent) ||
	    snprintf(link, sizeof(link), "%s/" MON_SCRATCH_LINK, state_dir) >= (int)sizeof(link))
		return lc_err_setx(e, ENAMETOOLONG, "scratch disk path too long");
	char *slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return lc_err_setx(e, EINVAL, "scratch disk path %s is not absolute", path);
	*slash = '\0';
	int r = lc_mkdir_p(parent, 0700);
	if (r < 0)
		return lc_err_set(e, -r, "creating %s", parent);
	/* The link first: whatever fails later, mon_scratch_remove finds it all. */
	if (symlink(path, link) < 0) {
		r = lc_err_set(e, errno, "linking %s", link);
		rmdir(parent);
		return r;
	}
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		r = lc_err_set(e, errno, "creating %s", path);
	else if (ftruncate(fd, (off_t)size) < 0)
		r = lc_err_set(e, errno, "sizing %s", path);
	else
		r = run_mke2fs(path, log_fd, e);
	if (r < 0) {
		if (fd >= 0)
			unlink(path);
		unlink(link);
		rmdir(parent);
	}
	return r < 0 ? lc_err_wrap(e, r, "scratch disk") : 0;
}

int mon_scratch_remove(const char *state_dir)
{
	char link[PATH_MAX], target[PATH_MAX];
	if (snprintf(link, sizeof(link), "%s/" MON_SCRATCH_LINK, state_dir) >= (int)sizeof(link))
		return -ENAMETOOLONG;
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return errno == ENOENT || errno == EINVAL ? 0 : -errno;
	target[n] = '\0';
	/* Only ever what mon_scratch_create made: an absolute .../scratch.img. */
	size_t fl = strlen("/" MON_SCRATCH_FILE);
	int r = 0;
	if (target[0] == '/' && (size_t)n > fl && !strcmp(target + n - fl, "/" MON_SCRATCH_FILE)) {
		if (unlink(target) < 0 && errno != ENOENT)
			r = -errno;
		target[n - fl] = '\0';
		rmdir(target);
	}
	if (unlink(link) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}
