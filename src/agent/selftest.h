/* Self-test mode (kernel command line lcvm.selftest=1): with no host
 * backend at all, run `uname -r` as a container on the disk with serial
 * "rootfs" (squashfs), stdout on the console, print "lcvm-selftest: exit N"
 * and power off. Exercises modules, serial lookup, overlay, config.json,
 * crun and reaping in a plain `qemu-system-x86_64` boot. */
#ifndef LCVM_AGENT_SELFTEST_H
#define LCVM_AGENT_SELFTEST_H

#include "agent/agent.h"

#define AGENT_SELFTEST_FLAG "lcvm.selftest=1"

/* Creates and starts the container; installs its own on_event. On failure
 * prints the reason and powers off. */
void agent_selftest_begin(struct agent *a);

#endif
