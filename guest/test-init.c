/* A stand-in /init for testing the guest image without the agent
 * (guest/build.sh TEST-INIT OUT builds an initramfs around it). It mounts
 * /proc and /dev, loads the module groups named in the environment variable
 * lcvm_groups (default "boot"; the kernel passes "lcvm_groups=boot,vsock,storage,9p" from
 * its command line) with finit_module in lcvm.modules order, runs
 * "crun --version" to prove the dynamic loader and libraries are complete,
 * optionally mounts /dev/vda read-only as $lcvm_mount (squashfs: the image
 * ships no other disk filesystem) and reads all of its bin/busybox with its
 * own md5sum (mount, exec and a full read through the filesystem), and
 * powers off. Every step prints "lcvm-test: ..." with the uptime
 * in ms to the console, which tests and measurements grep. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODULES_LIST "/lib/modules/lcvm.modules"

static long uptime_ms(void)
{
	char buf[64] = "";
	int fd = open("/proc/uptime", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return (long)(strtod(buf, NULL) * 1000.0);
}

/* Is `group` one of the comma-separated names in `groups`? */
static int wanted(const char *groups, const char *group)
{
	size_t len = strlen(group);
	for (const char *p = groups; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == len && strncmp(p, group, n) == 0)
			return 1;
		p += n + (end ? 1 : 0);
	}
	return 0;
}

static int load_modules(const char *groups)
{
	FILE *f = fopen(MODULES_LIST, "r");
	if (!f) {
		printf("lcvm-test: FAIL open %s: %s\n", MODULES_LIST, strerror(errno));
		return -1;
	}
	char line[512], group[64], path[448];
	int count = 0, failed = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %447s", group, path) != 2 || !wanted(groups, group))
			continue;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)) {
			printf("lcvm-test: FAIL load %s: %s\n", path, strerror(errno));
			failed++;
		} else {
			count++;
		}
		if (fd >= 0)
			close(fd);
	}
	fclose(f);
	printf("lcvm-test: loaded %d modules, %d failed\n", count, failed);
	return failed ? -1 : 0;
}

static int run(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(void)
{
	mount("proc", "/proc", "proc", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	int con = open("/dev/console", O_WRONLY);
	if (con >= 0) {
		dup2(con, 1);
		dup2(con, 2);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("lcvm-test: init at %ld ms\n", uptime_ms());

	const char *groups = getenv("lcvm_groups");
	long t0 = uptime_ms();
	int ok = load_modules(groups ? groups : "boot") == 0;
	printf("lcvm-test: modules took %ld ms\n", uptime_ms() - t0);

	char *crun[] = {"/usr/bin/crun", "--version", NULL};
	t0 = uptime_ms();
	int rc = run(crun);
	printf("lcvm-test: crun exit %d (%ld ms: exec, loader, libraries)\n", rc, uptime_ms() - t0);
	ok = ok && rc == 0;

	const char *fstype = getenv("lcvm_mount");
	if (fstype) {
		t0 = uptime_ms();
		if (mount("/dev/vda", "/mnt", fstype, MS_RDONLY, NULL) < 0) {
			printf("lcvm-test: FAIL mount %s: %s\n", fstype, strerror(errno));
			ok = 0;
		} else {
			char *sum[] = {"/mnt/bin/busybox", "md5sum", "/mnt/bin/busybox", NULL};
			rc = run(sum);
			printf("lcvm-test: mount %s + read took %ld ms (exit %d)\n", fstype,
			       uptime_ms() - t0, rc);
			ok = ok && rc == 0;
		}
	}
	printf("lcvm-test: %s at %ld ms\n", ok ? "OK" : "FAILED", uptime_ms());
	sync();
	reboot(RB_POWER_OFF);
	return 1;
}
