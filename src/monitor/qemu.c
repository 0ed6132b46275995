#include "monitor/qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "boot_cmdline.h"
#include "util/cleanup.h"

/* The tuned command line measured in shared/reference/guest-boot.md
 * (guest/boot-cmdline, shared with the scripts), plus rootfstype=ramfs: the
 * initramfs unpacks into a ramfs instead of a tmpfs (populate_rootfs ~50 vs
 * ~66 ms for 5.6 MB under TCG) and the agent can leave crun where it is
 * (agent/init.h, agent_seal_root). */
static const char base_append[] = LCVM_BOOT_CMDLINE " rootfstype=ramfs";

static int cpu_has_hw_virt(void)
{
	cleanup_fclose FILE *f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return 0;
	char line[8192];
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		return strstr(line, " vmx") || strstr(line, " svm");
	}
	return 0;
}

int qemu_resolve_accel(enum mon_accel requested, enum mon_accel *out, char *why, size_t whylen,
		       struct lc_err *e)
{
	why[0] = '\0';
	if (requested == MON_ACCEL_TCG) {
		*out = MON_ACCEL_TCG;
		return 0;
	}
	const char *missing = NULL;
	if (!cpu_has_hw_virt())
		missing = "the CPU shows no vmx/svm";
	else if (access("/sys/module/kvm_intel", F_OK) && access("/sys/module/kvm_amd", F_OK))
		missing = "neither kvm_intel nor kvm_amd is loaded";
	else {
		int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		if (fd < 0)
			missing = "/dev/kvm cannot be opened";
		else
			close(fd);
	}
	if (!missing) {
		*out = MON_ACCEL_KVM;
		return 0;
	}
	if (requested == MON_ACCEL_KVM)
		return lc_err_setx(e, ENODEV, "--accel kvm: no hardware virtualisation (%s)", missing);
	snprintf(why, whylen, "%s", missing);
	*out = MON_ACCEL_TCG;
	return 0;
}

/* "tsc: Detected 2793.438 MHz processor" / "tsc: Refined TSC clocksource
 * calibration: 2793.437 MHz" in the kernel log; the refined value wins. */
static unsigned long tsc_from_klog(void)
{
	int len = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	if (len <= 0)
		return 0;
	cleanup_free char *buf = malloc((size_t)len + 1);
	if (!buf)
		return 0;
	int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, len);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	unsigned long khz = 0;
	const char *keys[] = { "tsc: Detected ", "Refined TSC clocksource calibration: " };
	for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
		const char *p = strstr(buf, keys[k]);
		if (!p)
			continue;
		unsigned long mhz, frac;
		if (sscanf(p + strlen(keys[k]), "%lu.%3lu MHz", &mhz, &frac) == 2)
			khz = mhz * 1000 + frac;
	}
	return khz;
}

static unsigned long tsc_measured(void)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC_RAW, &a);
	unsigned long long t0 = __rdtsc();
	do
		clock_gettime(CLOCK_MONOTONIC_RAW, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec) < 20000000LL);
	unsigned long long t1 = __rdtsc();
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	return (unsigned long)((t1 - t0) * 1000000ULL / (unsigned long long)ns);
}

int qemu_host_tsc_khz(const char *cache_file, unsigned long *khz)
{
	if (cache_file) {
		cleanup_fclose FILE *f = fopen(cache_file, "re");
		if (f && fscanf(f, "%lu", khz) == 1 && *khz > 100000 && *khz < 100000000)
			return 0;
	}
	*khz = tsc_from_klog();
	if (!*khz)
		*khz = tsc_measured();
	if (cache_file) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.%d", cache_file, (int)getpid());
		cleanup_fclose FILE *f = fopen(tmp, "we");
		if (f && fprintf(f, "%lu\n", *khz) > 0 && fflush(f) == 0 && rename(tmp, cache_file) == 0)
			return 0;
		unlink(tmp);
	}
	return 0;
}

struct argv_builder {
	char **v;
	size_t n, cap;
	int failed;
};

static void add(struct argv_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct argv_builder *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	if (b->n + 2 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		char **v = realloc(b->v, cap * sizeof(*v));
		if (!v) {
			b->failed = 1;
			return;
		}
		b->v = v;
		b->cap = cap;
	}
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&b->v[b->n], fmt, ap) < 0)
		b->failed = 1;
	else
		b->v[++b->n] = NULL;
	va_end(ap);
}

/* QEMU's option parser splits on ',' and takes ",," as a literal comma. */
static int qemu_safe(const char *s)
{
	return s && !strchr(s, ',') && !strchr(s, '\n');
}

int qemu_build_argv(const struct qemu_cfg *c, char ***argv, struct lc_err *e)
{
	if (!qemu_safe(c->kernel) || !qemu_safe(c->initrd))
		return lc_err_setx(e, EINVAL, "paths given to QEMU may not contain ','");
	struct argv_builder b = { 0 };
	const char *bin = c->binary ? c->binary : getenv("LCVM_QEMU");
	add(&b, "%s", bin && *bin ? bin : QEMU_DEFAULT_BINARY);
	/* microvm + PVH vmlinux + -nodefaults: the fastest reliable boot measured here. */
	add(&b, "-machine");
	add(&b, "microvm,accel=%s,memory-backend=mem,pcie=off,rtc=on,isa-serial=on",
	    c->accel == MON_ACCEL_KVM ? "kvm" : "tcg");
	add(&b, "-cpu");
	add(&b, "%s", c->accel == MON_ACCEL_KVM ? "host" : QEMU_TCG_CPU);
	add(&b, "-smp");
	add(&b, "%u", c->cpus);
	add(&b, "-m");
	add(&b, "%lluM", (unsigned long long)c->memory_mib);
	/* vhost-user maps guest RAM from the monitor: it must be a shared memfd. */
	add(&b, "-object");
	add(&b, "memory-backend-memfd,id=mem,size=%lluM,share=on", (unsigned long long)c->memory_mib);
	/* virtio-mmio devices are legacy by default in QEMU 7.2; vhost-user-vsock
	 * needs VERSION_1, and modern virtio-blk is faster. */
	add(&b, "-global");
	add(&b, "virtio-mmio.force-legacy=false");
	add(&b, "-nodefaults");
	add(&b, "-no-user-config");
	add(&b, "-display");
	add(&b, "none");
	add(&b, "-no-reboot");
	add(&b, "-chardev");
	add(&b, "socket,id=con,fd=%d", c->console_fd);
	add(&b, "-serial");
	add(&b, "chardev:con");
	add(&b, "-kernel");
	add(&b, "%s", c->kernel);
	add(&b, "-initrd");
	add(&b, "%s", c->initrd);
	char tsc[64] = "";
	if (c->tsc_khz)
		snprintf(tsc, sizeof(tsc), " tsc_early_khz=%lu", c->tsc_khz);
	add(&b, "-append");
	/* Tells the agent its code is translated, not run natively (agent/warm.h). */
	const char *tcg = c->accel == MON_ACCEL_KVM ? "" : " lcvm.tcg=1";
	add(&b, "%s%s%s%s%s", base_append, tsc, tcg, c->extra_append ? " " : "", c->extra_append ? c->extra_append : "");
	add(&b, "-chardev");
	add(&b, "socket,id=vsock,fd=%d", c->vhost_user_fd);
	add(&b, "-device");
	add(&b, "vhost-user-vsock-device,chardev=vsock");
	for (size_t i = 0; i < c->ndisks; i++) {
		if (!qemu_safe(c->disks[i].path) || !qemu_safe(c->disks[i].serial)) {
			b.failed = 2;
			break;
		}
		add(&b, "-drive");
		add(&b, "file=%s,if=none,id=d%zu,format=raw,readonly=%s,cache=%s,aio=threads", c->disks[i].path,
		    i, c->disks[i].read_only ? "on" : "off", c->disks[i].scratch ? QEMU_SCRATCH_CACHE : "none");
		add(&b, "-device");
		add(&b, "virtio-blk-device,drive=d%zu,serial=%s", i, c->disks[i].serial);
	}
	if (b.failed) {
		strv_free(b.v);
		return b.failed == 2 ? lc_err_setx(e, EINVAL, "disk paths given to QEMU may not contain ','")
				     : lc_err_set(e, ENOMEM, "building the QEMU command line");
	}
	*argv = b.v;
	return 0;
}

int qemu_spawn(char *const *argv, int log_fd, const int *pass_fds, size_t npass, pid_t *pid,
	       struct lc_err *e)
{
	if (npass > QEMU_MAX_PASS_FDS)
		return lc_err_setx(e, EINVAL, "too many fds for QEMU");
	/* A close-on-exec pipe tells the parent whether exec worked. */
	int errpipe[2];
	if (pipe2(errpipe, O_CLOEXEC) < 0)
		return lc_err_set(e, errno, "pipe");
	pid_t parent = getpid();
	pid_t p = fork();
	if (p < 0) {
		close(errpipe[0]);
		close(errpipe[1]);
		return lc_err_set(e, errno, "fork");
	}
	if (p == 0) {
		/* QEMU never outlives its monitor. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
			_exit(127);
		/* fd 3: the exec error pipe (close-on-exec); from QEMU_PASS_FD on:
		 * pass_fds, first moved out of the way of their target numbers. */
		int high[QEMU_MAX_PASS_FDS];
		for (size_t i = 0; i < npass; i++)
			if ((high[i] = fcntl(pass_fds[i], F_DUPFD, 16)) < 0)
				_exit(127);
		if (errpipe[1] != 3 && dup3(errpipe[1], 3, O_CLOEXEC) < 0)
			_exit(127);
		for (size_t i = 0; i < npass; i++)
			if (dup2(high[i], QEMU_PASS_FD + (int)i) < 0)
				_exit(127);
		close_range(QEMU_PASS_FD + (unsigned)npass, ~0U, 0);
		execvp(argv[0], argv);
		int err = errno;
		if (write(3, &err, sizeof(err)) < 0)
			_exit(126);
		_exit(127);
	}
	close(errpipe[1]);
	int err = 0;
	ssize_t n;
	do
		n = read(errpipe[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	if (n == (ssize_t)sizeof(err)) {
		waitpid(p, NULL, 0);
		if (err == ENOENT)
			return lc_err_setx(e, ENOENT, "QEMU not found (%s): install it with 'apt-get install qemu-system-x86'",
					   argv[0]);
		return lc_err_set(e, err, "cannot run %s", argv[0]);
	}
	*pid = p;
	return 0;
}
