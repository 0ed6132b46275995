/* agent_protect_binary: the copy crun runs from must pass crun's
 * CVE-2019-5736 check the first time (no seals to report, a read-only
 * mount) and keep the bytes; the original tmpfs file fails that check. Runs
 * in a child with a private mount namespace (needs root, as `make check`
 * runs); every mount disappears with it. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/init.h"
#include "test.h"

enum {
	OK_SETUP = 1 << 0,
	TMPFS_HAS_SEALS = 1 << 1, /* the problem: F_GET_SEALS works on tmpfs */
	PROTECTED = 1 << 2,
	NO_SEALS = 1 << 3,
	READ_ONLY_MOUNT = 1 << 4,
	SAME_BYTES = 1 << 5,
	NOT_WRITABLE = 1 << 6,
};

static int seals_of(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fcntl(fd, F_GET_SEALS);
	r = r < 0 ? -errno : r;
	close(fd);
	return r;
}

static int child(void)
{
	int got = 0;
	char dir[] = "/tmp/lcvm-protect.XXXXXX";
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || !mkdtemp(dir) ||
	    mount("tmpfs", dir, "tmpfs", 0, "mode=0755") < 0)
		return got;
	char bin[64], ramfs[64];
	snprintf(bin, sizeof(bin), "%s/crun", dir);
	snprintf(ramfs, sizeof(ramfs), "%s/ro", dir);
	static const char body[] = "\177ELF not really, but bytes that must survive";
	int fd = open(bin, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (fd < 0 || write(fd, body, sizeof(body)) != (ssize_t)sizeof(body))
		return got;
	close(fd);
	got |= OK_SETUP;
	if (seals_of(bin) >= 0)
		got |= TMPFS_HAS_SEALS;
	struct lc_err e = { { 0 } };
	if (agent_protect_binary(bin, ramfs, &e) == 0)
		got |= PROTECTED;
	else
		fprintf(stderr, "agent_protect_binary: %s\n", e.msg);
	if (seals_of(bin) == -EINVAL)
		got |= NO_SEALS;
	struct statvfs sv;
	if (statvfs(bin, &sv) == 0 && (sv.f_flag & ST_RDONLY))
		got |= READ_ONLY_MOUNT;
	char buf[sizeof(body)] = { 0 };
	fd = open(bin, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(body) && memcmp(buf, body, sizeof(body)) == 0)
		got |= SAME_BYTES;
	if (fd >= 0)
		close(fd);
	fd = open(bin, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == EROFS)
		got |= NOT_WRITABLE;
	if (fd >= 0)
		close(fd);
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	return got;
}

static void t_protect_binary(void)
{
	pid_t p = fork();
	if (p == 0)
		_exit(child());
	int ws = 0;
	if (!T_CHECK(p > 0 && waitpid(p, &ws, 0) == p && WIFEXITED(ws)))
		return;
	int got = WEXITSTATUS(ws);
	if (!T_CHECK(got & OK_SETUP))
		return;
	T_CHECK(got & TMPFS_HAS_SEALS);
	T_CHECK(got & PROTECTED);
	T_CHECK(got & NO_SEALS);
	T_CHECK(got & READ_ONLY_MOUNT);
	T_CHECK(got & SAME_BYTES);
	T_CHECK(got & NOT_WRITABLE);
}

int main(void)
{
	T_RUN(t_protect_binary);
	return t_done();
}
