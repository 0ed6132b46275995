/* Starting QEMU for one utility VM: accelerator detection, the host TSC
 * rate the guest needs on microvm (see shared/reference/guest-boot.md), the
 * command line, and the child process (which dies with the monitor). */
#ifndef LCVM_MONITOR_QEMU_H
#define LCVM_MONITOR_QEMU_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "monitor/spec.h"
#include "util/err.h"

#define QEMU_MAX_DISKS 80
#define QEMU_DEFAULT_BINARY "qemu-system-x86_64"
/* The TCG guest CPU: every feature TCG emulates except ERMS and FSRM. With
 * them the guest kernel and glibc copy and clear memory with `rep movsb` /
 * `rep stosb`, which TCG executes one byte per loop iteration; without them
 * they take unrolled 8-byte loops. Booting an 8.5 MB initramfs: guest
 * power-off at 2.01 s -> 1.60 s (median of 5, docs/guest-image.md). */
#define QEMU_TCG_CPU "max,-erms,-fsrm"
#ifndef QEMU_SCRATCH_CACHE
#define QEMU_SCRATCH_CACHE "unsafe" /* measured in docs/images.md */
#endif

struct qemu_disk {
	const char *path;
	char serial[21]; /* virtio-blk serial, at most 20 bytes */
	int read_only;
	int scratch;     /* throwaway contents: host write-back cache, flushes ignored */
};

struct qemu_cfg {
	const char *binary;        /* NULL = $LCVM_QEMU or qemu-system-x86_64 */
	enum mon_accel accel;      /* resolved: KVM or TCG */
	unsigned cpus;
	uint64_t memory_mib;
	const char *kernel, *initrd;
	unsigned long tsc_khz;     /* 0 = do not pass tsc_early_khz */
	const char *extra_append;  /* appended to the kernel command line, may be NULL */
	/* The vhost-user-vsock front-end's end of a socketpair, passed to QEMU as
	 * this fd number (no socket path: nothing to clean up, no sun_path limit). */
	int vhost_user_fd;
	/* The serial console: QEMU's end of the monitor's console socketpair
	 * (monitor/console.h), passed as this fd number. */
	int console_fd;
	struct qemu_disk disks[QEMU_MAX_DISKS];
	size_t ndisks;
};

/* Resolves auto/kvm/tcg. KVM needs real hardware virtualisation: vmx or svm
 * in /proc/cpuinfo, the kvm_intel or kvm_amd module, and a usable /dev/kvm
 * (a paravirtual kvm_pvm device, on which ordinary guests hang, is refused).
 * When auto falls back to TCG, `why` says why (for the one-line notice). */
int qemu_resolve_accel(enum mon_accel requested, enum mon_accel *out, char *why, size_t whylen,
		       struct lc_err *e);

/* Host TSC rate in kHz: the kernel's own calibration when readable, else
 * measured against CLOCK_MONOTONIC_RAW; cached in cache_file if not NULL. */
int qemu_host_tsc_khz(const char *cache_file, unsigned long *khz);

/* Builds a NULL-terminated argv (malloc'd; free with strv_free). */
int qemu_build_argv(const struct qemu_cfg *cfg, char ***argv, struct lc_err *e);

/* Forks and execs QEMU with stdin from /dev/null and stdout/stderr to
 * log_fd; pass_fds[i] is inherited as fd QEMU_PASS_FD + i (at most
 * QEMU_MAX_PASS_FDS). The child gets SIGKILL when the monitor dies. */
#define QEMU_PASS_FD 4
#define QEMU_MAX_PASS_FDS 4
int qemu_spawn(char *const *argv, int log_fd, const int *pass_fds, size_t npass, pid_t *pid,
	       struct lc_err *e);

#endif
