/* PID 1 duties: root, pseudo filesystems, cgroups, console, power-off. */
#ifndef LCVM_AGENT_INIT_H
#define LCVM_AGENT_INIT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define AGENT_CMDLINE_MAX 4096u
#define AGENT_CRUN_PATH "/usr/bin/crun"
/* Every container's cgroup is /lcvm/<id> (AGENT_CGROUP_PARENT "/" id); the
 * agent creates the parent at start-up (init.c says why). */
#define AGENT_CGROUP_PARENT "/lcvm"

/* Makes the initramfs root pivot_root-able, mounts /proc /sys /dev
 * /dev/pts /dev/shm /run /tmp /sys/fs/cgroup, enables the cgroup
 * controllers crun needs and creates AGENT_CGROUP_PARENT with them,
 * points fds 0/1/2 at /dev/null and the console,
 * brings up lo, then makes crun safe to run as is (agent_seal_root, else
 * agent_protect_binary). A failure here is fatal for the guest (message in
 * e); one in that last step is only logged. */
int agent_init_system(struct lc_err *e);

/* When the file system at `root` is a ramfs (the monitor boots with
 * rootfstype=ramfs), remounts that mount read-only and returns 1: every
 * file under it, crun included, then has no seals and sits on a read-only
 * mount, which crun's CVE-2019-5736 check accepts (init.c). Returns 0,
 * changing nothing, on any other file system; -errno (e filled) on failure.
 * Nothing may write below `root` afterwards: the agent keeps its state on
 * /run and its mounts on their own file systems. */
int agent_seal_root(const char *root, struct lc_err *e);

/* Replaces the binary at `path` by a copy on a read-only ramfs mounted at
 * `ramfs_dir` (bound over `path`, read-only), so that crun's CVE-2019-5736
 * check accepts it as is instead of re-executing from a sealed copy
 * (init.c says why tmpfs fails that check). agent_init_system() does it
 * for AGENT_CRUN_PATH; exposed for tests. Returns 0 or -errno (e filled). */
int agent_protect_binary(const char *path, const char *ramfs_dir, struct lc_err *e);

/* Reads /proc/cmdline into buf (NUL-terminated, truncated to len-1). */
int agent_read_cmdline(char *buf, size_t len);

/* Prints "lcvm-agent: fatal: <msg>" on the console and powers off. */
__attribute__((noreturn)) void agent_fatal(const char *msg);
/* sync + reboot(RB_POWER_OFF): QEMU (microvm with ACPI) exits. Never returns. */
__attribute__((noreturn)) void agent_poweroff(void);

#endif
