#include "monitor/console.h"

#include <string.h>

#include "util/cleanup.h"

/* arch/x86/kernel/apic/apic.c (Linux 6.1): both leave the local APIC timer
 * a dummy, so the tick depends on a broadcast device microvm does not have. */
static const char *const no_timer[] = {
	"APIC frequency too slow, disabling apic timer",
	"APIC timer disabled due to verification failure",
};

/* kernel/watchdog.c: "watchdog: BUG: soft lockup - CPU#%d stuck for %us! [%s:%d]" */
static const char soft_lockup[] = "watchdog: BUG: soft lockup - CPU#";

static enum mon_console_event judge(const char *line, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(no_timer); i++)
		if (memmem(line, n, no_timer[i], strlen(no_timer[i])))
			return MON_CONSOLE_NO_TIMER;
	if (memmem(line, n, soft_lockup, sizeof(soft_lockup) - 1))
		return MON_CONSOLE_STUCK;
	return MON_CONSOLE_NONE;
}

enum mon_console_event mon_console_feed(struct mon_console *c, const char *buf, size_t n)
{
	enum mon_console_event ev = MON_CONSOLE_NONE;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			enum mon_console_event e = judge(c->line, c->len);
			if (ev == MON_CONSOLE_NONE)
				ev = e;
			c->len = 0;
		} else if (c->len < sizeof(c->line)) {
			c->line[c->len++] = buf[i];
		}
	}
	return ev;
}
