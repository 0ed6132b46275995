/* The guest console as the monitor reads it. QEMU's serial port is one end
 * of a socketpair; the monitor appends what arrives to console.log (and
 * stderr with --debug) and feeds it here, line by line, to catch the guest
 * kernel's known boot failures that never end by themselves. The first: the
 * local APIC timer failing calibration. Under TCG the calibration measures
 * 100 ms of the APIC counter against the TSC; a vCPU thread descheduled for ~100 ms at
 * its start reads almost no APIC ticks, the kernel disables the timer, and
 * on microvm (no PIT or HPET tick) nothing else drives jiffies: with 2 vCPUs
 * the boot hangs at "Booting SMP configuration", with 1 the agent comes up
 * but nothing that sleeps ever wakes. Seen 2 times in ~250 bare 2-CPU boots
 * with three VMs sharing the 2 host cores (docs/guest-image.md).
 *
 * The other known failure is a vCPU stuck for good in a soft lockup: with 2
 * or more vCPUs, QEMU 7.2's multi-threaded TCG can keep a stale translation
 * of kernel text the kernel has just patched (a static key), and a CPU that
 * runs it loops in the int3 handler (docs/guest-image.md). Before /init only
 * the kernel runs, so a new VM is the remedy there too; the command line's
 * watchdog_thresh makes the watchdog report it after seconds, not ~25 s.
 *
 * The bytes come from the guest: lines are bounded, a longer line is judged
 * by its first MON_CONSOLE_LINE_MAX bytes, NULs and control bytes are
 * ordinary bytes. */
#ifndef LCVM_MONITOR_CONSOLE_H
#define LCVM_MONITOR_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

#define MON_CONSOLE_LINE_MAX 256

enum mon_console_event {
	MON_CONSOLE_NONE = 0,
	MON_CONSOLE_NO_TIMER, /* the kernel disabled its local APIC timer */
	MON_CONSOLE_STUCK,    /* the kernel's soft-lockup watchdog fired */
};

struct mon_console {
	char line[MON_CONSOLE_LINE_MAX]; /* start of the current, unfinished line */
	size_t len;                      /* bytes of it kept (at most the array) */
};

/* Feeds n bytes; returns the first event among the lines completed by them
 * (a line is judged when its '\n' arrives), or MON_CONSOLE_NONE. */
enum mon_console_event mon_console_feed(struct mon_console *c, const char *buf, size_t n);

#endif
