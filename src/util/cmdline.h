/* Kernel command lines: the agent reads its flags from /proc/cmdline, the
 * monitor writes them into QEMU's -append (and its tests read them back). */
#ifndef LCVM_UTIL_CMDLINE_H
#define LCVM_UTIL_CMDLINE_H

#include <stdbool.h>

/* True when the whitespace-separated command line holds the exact token
 * `flag` (e.g. "lcvm.selftest=1"; "lcvm.selftest=10" does not count). Pure. */
bool lc_cmdline_has(const char *cmdline, const char *flag);

#endif
