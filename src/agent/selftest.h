/* Self-test mode (kernel command line lcvm.selftest=1): with no host
 * backend at all, run containers one after the other on the disk with
 * serial "rootfs" (squashfs), stdout on the console: `uname -r`, then the
 * init shim's cases (exit 7, `kill -9 $$` -> 137, a missing command -> 127,
 * SIGTERM through agent_container_signal to `sleep` -> 143). Prints
 * "lcvm-selftest: <case> exit N (want M)" per case, then
 * "lcvm-selftest: exit 0" when every case got its status (else 1) and
 * powers off. Exercises modules, serial lookup, overlay, config.json, crun,
 * the shim and reaping in a plain `qemu-system-x86_64` boot. */
#ifndef LCVM_AGENT_SELFTEST_H
#define LCVM_AGENT_SELFTEST_H

#include "agent/agent.h"

#define AGENT_SELFTEST_FLAG "lcvm.selftest=1"

/* Creates and starts the container; installs its own on_event. On failure
 * prints the reason and powers off. */
void agent_selftest_begin(struct agent *a);

#endif
