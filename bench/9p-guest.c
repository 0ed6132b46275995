/* Guest side of bench/9p.sh (built static by that script): mounts a 9P
 * share reached over vsock with trans=fd, and runs the workloads, printing
 * "RESULT <target> <workload> <value> <unit>" lines.
 *
 *   9p-guest mount PORT MNT OPTIONS      connect vsock CID 2:PORT, mount v9fs
 *   9p-guest run TARGET DIR FILES MIB    all workloads in DIR
 *   9p-guest time TARGET NAME CMD...     run CMD, print its wall time (s) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what)
{
	fprintf(stderr, "9p-guest: %s: %s\n", what, strerror(errno));
	return 1;
}

static int do_mount(const char *port, const char *mnt, const char *opts)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = 2, .svm_port = (unsigned)atoi(port) };
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return die("vsock connect");
	char o[512];
	snprintf(o, sizeof(o), "trans=fd,rfdno=%d,wfdno=%d,version=9p2000.L,%s", fd, fd, opts);
	mkdir(mnt, 0755);
	if (mount("share", mnt, "9p", 0, o) < 0)
		return die("mount");
	return 0;
}

static void drop_caches(void)
{
	sync();
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "3", 1) < 0)
			perror("drop_caches");
		close(fd);
	}
}

static void result(const char *t, const char *w, double v, const char *unit)
{
	printf("RESULT %s %s %.1f %s\n", t, w, v, unit);
	fflush(stdout);
}

static int seq(const char *t, const char *dir, long mib)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/seq.bin", dir);
	char *buf = aligned_alloc(4096, 1 << 20);
	memset(buf, 0x5a, 1 << 20);
	int fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0)
		return die("open seq");
	double t0 = now();
	for (long i = 0; i < mib; i++)
		if (write(fd, buf, 1 << 20) != 1 << 20)
			return die("write");
	fsync(fd);
	close(fd);
	result(t, "seq_write_MBps", (double)mib * 1.048576 / (now() - t0), "MB/s");
	drop_caches();
	fd = open(p, O_RDONLY);
	t0 = now();
	long got = 0;
	ssize_t n;
	while ((n = read(fd, buf, 1 << 20)) > 0)
		got += n;
	result(t, "seq_read_MBps", (double)got / 1e6 / (now() - t0), "MB/s");
	/* 4 KiB random reads over the same file. */
	unsigned long blocks = (unsigned long)mib * 256, seed = 12345;
	int nreads = 4000;
	t0 = now();
	for (int i = 0; i < nreads; i++) {
		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		if (pread(fd, buf, 4096, (off_t)((seed >> 33) % blocks) * 4096) != 4096)
			return die("pread");
	}
	result(t, "rand_read_4k_iops", nreads / (now() - t0), "ops/s");
	close(fd);
	unlink(p);
	free(buf);
	return 0;
}

static int smallfiles(const char *t, const char *dir, int n)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/small", dir);
	mkdir(p, 0755);
	double t0 = now();
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/small/f%d", dir, i);
		int fd = open(p, O_CREAT | O_WRONLY | O_EXCL, 0644);
		if (fd < 0 || write(fd, "0123456789abcdef", 16) != 16)
			return die("create");
		close(fd);
	}
	double t1 = now();
	struct stat st;
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/small/f%d", dir, i);
		if (stat(p, &st) < 0)
			return die("stat");
	}
	double t2 = now();
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/small/f%d", dir, i);
		if (unlink(p) < 0)
			return die("unlink");
	}
	double t3 = now();
	result(t, "create_ops", n / (t1 - t0), "ops/s");
	result(t, "stat_ops", n / (t2 - t1), "ops/s");
	result(t, "unlink_ops", n / (t3 - t2), "ops/s");
	snprintf(p, sizeof(p), "%s/small", dir);
	rmdir(p);
	return 0;
}

static int timed(const char *t, const char *name, char **argv)
{
	double t0 = now();
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fprintf(stderr, "9p-guest: %s failed (%#x)\n", argv[0], st);
	result(t, name, now() - t0, "s");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "mount"))
		return do_mount(argv[2], argv[3], argv[4]);
	if (argc == 6 && !strcmp(argv[1], "run"))
		return seq(argv[2], argv[3], atol(argv[5])) || smallfiles(argv[2], argv[3], atoi(argv[4]));
	if (argc >= 5 && !strcmp(argv[1], "time"))
		return timed(argv[2], argv[3], argv + 4);
	fprintf(stderr, "usage: 9p-guest mount PORT MNT OPTS | run TARGET DIR FILES MIB | time TARGET NAME CMD...\n");
	return 2;
}
