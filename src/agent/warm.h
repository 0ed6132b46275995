/* Warming crun up under TCG.
 *
 * QEMU's TCG translates guest code the first time it runs: most of a
 * container's first `crun run` (~250 ms of ~300 here) is translation, not
 * execution. So when the guest has a second vCPU, the agent runs crun once on
 * a throwaway container (empty rootfs on tmpfs, the init shim as its
 * process) while the first vCPU loads modules and the host sends the real
 * container: by the time that one starts, crun's code, its libraries' and
 * the kernel's paths it exercises are already translated (measured: `crun
 * run` 200-310 -> 80-115 ms with --cpus 2).
 *
 * QEMU 7.2 keys a translation by the guest *virtual* address, so the reuse
 * only happens if crun maps its code at the same addresses both times: the
 * agent runs crun with ADDR_NO_RANDOMIZE (with randomization the second run
 * still took 150-230 ms). The container's own processes are not affected:
 * the shim clears the flag before it execs the container's command
 * (agent_shim_run), so they keep full ASLR.
 *
 * With one vCPU the warm-up would only move the same work earlier, and under
 * KVM nothing is translated: the monitor passes AGENT_WARM_TCG_FLAG only for
 * TCG, and agent_warm_wanted also asks for a second online CPU. */
#ifndef LCVM_AGENT_WARM_H
#define LCVM_AGENT_WARM_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/err.h"

#define AGENT_WARM_TCG_FLAG "lcvm.tcg=1"
#define AGENT_WARM_DIR "/run/lcvm-warm"
#define AGENT_WARM_ID "_lcvm-warm" /* '_' first: no host-chosen id can be this (validate.c) */

/* True when the kernel command line carries AGENT_WARM_TCG_FLAG and at least
 * two CPUs are online. */
bool agent_warm_wanted(const char *cmdline, long online_cpus);

/* Creates dir (must not exist) holding the throwaway bundle: config.json for
 * container AGENT_WARM_ID and an empty rootfs/. Returns 0 or -errno (e filled). */
int agent_warm_bundle(const char *dir, struct lc_err *e);

/* agent_warm_bundle, then spawns `crun run` on it in the foreground (crun
 * deletes its own state when the container exits), stdio on /dev/null.
 * *pid is crun's pid, reaped by the caller; then agent_warm_finish. Returns 0
 * or -errno (e filled). */
int agent_warm_start(const char *dir, pid_t *pid, struct lc_err *e);

/* Removes dir and everything under it (crun's mount points in the rootfs). */
void agent_warm_finish(const char *dir);

#endif
