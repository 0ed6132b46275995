/* agent_seal_root and agent_protect_binary: the crun the agent runs must
 * pass crun's CVE-2019-5736 check the first time (no seals to report, a
 * read-only mount): on a ramfs root sealed read-only in place, or as a copy
 * that keeps the bytes; a tmpfs file fails that check. Each case runs in a
 * child with a private mount namespace (needs root, as `make check` runs);
 * every mount disappears with it. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
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

/* Runs fn in a child (its mount namespace dies with it); its exit status is
 * the bit set of what held. */
static bool run_child(int (*fn)(void), int *got)
{
	pid_t p = fork();
	if (p == 0)
		_exit(fn());
	int ws = 0;
	if (p < 0 || waitpid(p, &ws, 0) != p || !WIFEXITED(ws))
		return false;
	*got = WEXITSTATUS(ws);
	return true;
}

static void t_protect_binary(void)
{
	int got = 0;
	if (!T_CHECK(run_child(child, &got)))
		return;
	if (!T_CHECK(got & OK_SETUP))
		return;
	T_CHECK(got & TMPFS_HAS_SEALS);
	T_CHECK(got & PROTECTED);
	T_CHECK(got & NO_SEALS);
	T_CHECK(got & READ_ONLY_MOUNT);
	T_CHECK(got & SAME_BYTES);
	T_CHECK(got & NOT_WRITABLE);
}

enum {
	SEAL_SETUP = 1 << 0,
	SEALED = 1 << 1,
	SEAL_NO_SEALS = 1 << 2,
	SEAL_READ_ONLY = 1 << 3,
	SEAL_NOT_WRITABLE = 1 << 4, /* neither the file nor a new one */
	TMPFS_UNTOUCHED = 1 << 5,   /* 0 returned, still writable */
	ERROR_REPORTED = 1 << 6,
};

static int seal_child(void)
{
	int got = 0;
	char dir[] = "/tmp/lcvm-seal.XXXXXX";
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || !mkdtemp(dir))
		return got;
	char ram[64], tmp[64], file[80], other[80], missing[80];
	snprintf(ram, sizeof(ram), "%s/ram", dir);
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	snprintf(file, sizeof(file), "%s/crun", ram);
	snprintf(other, sizeof(other), "%s/new", tmp);
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	if (mkdir(ram, 0700) < 0 || mkdir(tmp, 0700) < 0 || mount("ramfs", ram, "ramfs", 0, "mode=0700") < 0 ||
	    mount("tmpfs", tmp, "tmpfs", 0, "mode=0700") < 0)
		return got;
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (fd < 0 || write(fd, "x", 1) != 1)
		return got;
	close(fd);
	got |= SEAL_SETUP;
	struct lc_err e = { { 0 } };
	if (agent_seal_root(ram, &e) == 1)
		got |= SEALED;
	if (seals_of(file) == -EINVAL)
		got |= SEAL_NO_SEALS;
	struct statvfs sv;
	if (statvfs(file, &sv) == 0 && (sv.f_flag & ST_RDONLY))
		got |= SEAL_READ_ONLY;
	char created[80];
	snprintf(created, sizeof(created), "%s/new", ram);
	int w = open(file, O_WRONLY | O_CLOEXEC);
	int c = w < 0 && errno == EROFS ? open(created, O_WRONLY | O_CREAT | O_CLOEXEC, 0600) : -1;
	if (w < 0 && c < 0 && errno == EROFS)
		got |= SEAL_NOT_WRITABLE;
	if (w >= 0)
		close(w);
	if (c >= 0)
		close(c);
	if (agent_seal_root(tmp, &e) == 0) {
		fd = open(other, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			got |= TMPFS_UNTOUCHED;
			close(fd);
		}
	}
	e.msg[0] = '\0';
	if (agent_seal_root(missing, &e) == -ENOENT && strstr(e.msg, missing))
		got |= ERROR_REPORTED;
	umount2(ram, MNT_DETACH);
	umount2(tmp, MNT_DETACH);
	rmdir(ram);
	rmdir(tmp);
	rmdir(dir);
	return got;
}

static void t_seal_root(void)
{
	int got = 0;
	if (!T_CHECK(run_child(seal_child, &got)))
		return;
	if (!T_CHECK(got & SEAL_SETUP))
		return;
	T_CHECK(got & SEALED);
	T_CHECK(got & SEAL_NO_SEALS);
	T_CHECK(got & SEAL_READ_ONLY);
	T_CHECK(got & SEAL_NOT_WRITABLE);
	T_CHECK(got & TMPFS_UNTOUCHED);
	T_CHECK(got & ERROR_REPORTED);
}

int main(void)
{
	T_RUN(t_seal_root);
	T_RUN(t_protect_binary);
	return t_done();
}
