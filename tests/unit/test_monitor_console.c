/* The monitor's guest-console watch (monitor/console.h): the APIC-timer
 * failure lines are caught however the bytes arrive, nothing else is, and
 * hostile console output neither overflows nor confuses it. */
#include <stdlib.h>
#include <string.h>

#include "monitor/console.h"
#include "test.h"

static const char too_slow[] = "[    0.576277] APIC frequency too slow, disabling apic timer\n";
static const char verify[] = "[    0.601000] APIC timer disabled due to verification failure\r\n";
static const char lockup[] = "[   28.460563] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [swapper/0:1]\n";

/* Lines of a healthy boot at loglevel=5, and agent lines. */
static const char healthy[] =
	"[    0.442718] PCI: Fatal: No config space access function found\n"
	"[    0.676170] PCI: System does not support PCI\n"
	"lcvm-agent [   1.641] read-only ramfs root: crun runs in place\n"
	"[    0.000000] Command line: console=ttyS0 quiet loglevel=5 nolapic_timer\n"
	"[    0.400746] Disabling APIC timer\n"
	"APIC frequency\n";

static enum mon_console_event feed_str(struct mon_console *c, const char *s)
{
	return mon_console_feed(c, s, strlen(s));
}

static void t_detects(void)
{
	struct mon_console c = { 0 };
	T_CHECK_EQ_INT(feed_str(&c, too_slow), MON_CONSOLE_NO_TIMER);
	struct mon_console d = { 0 };
	T_CHECK_EQ_INT(feed_str(&d, verify), MON_CONSOLE_NO_TIMER);
	struct mon_console l = { 0 };
	T_CHECK_EQ_INT(feed_str(&l, lockup), MON_CONSOLE_STUCK);
	/* The first event of a read is the one reported. */
	struct mon_console f = { 0 };
	char two[256];
	snprintf(two, sizeof(two), "%s%s", lockup, too_slow);
	T_CHECK_EQ_INT(feed_str(&f, two), MON_CONSOLE_STUCK);
	/* Among other lines, in one read. */
	struct mon_console e = { 0 };
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s%s%s", healthy, too_slow, healthy);
	T_CHECK_EQ_INT(feed_str(&e, buf), MON_CONSOLE_NO_TIMER);
}

static void t_healthy_boot(void)
{
	struct mon_console c = { 0 };
	T_CHECK_EQ_INT(feed_str(&c, healthy), MON_CONSOLE_NONE);
	T_CHECK_EQ_INT(c.len, 0);
}

/* A line is judged when it ends, whatever the read sizes. */
static void t_split_reads(void)
{
	struct mon_console c = { 0 };
	size_t n = strlen(too_slow);
	for (size_t i = 0; i + 1 < n; i++)
		T_CHECK_EQ_INT(mon_console_feed(&c, too_slow + i, 1), MON_CONSOLE_NONE);
	T_CHECK_EQ_INT(mon_console_feed(&c, too_slow + n - 1, 1), MON_CONSOLE_NO_TIMER);
	/* Two halves, split inside the words. */
	struct mon_console d = { 0 };
	T_CHECK_EQ_INT(mon_console_feed(&d, too_slow, 30), MON_CONSOLE_NONE);
	T_CHECK_EQ_INT(mon_console_feed(&d, too_slow + 30, n - 30), MON_CONSOLE_NO_TIMER);
	/* No newline yet: nothing. */
	struct mon_console e = { 0 };
	T_CHECK_EQ_INT(mon_console_feed(&e, too_slow, n - 1), MON_CONSOLE_NONE);
}

static void t_hostile(void)
{
	/* 1 MiB of junk with NULs and no newline, then the real line: the
	 * junk line is cut at the limit, the next line is judged on its own. */
	size_t big = 1u << 20;
	char *junk = malloc(big);
	if (!T_CHECK(junk))
		return;
	for (size_t i = 0; i < big; i++) {
		char b = (char)(i * 7 % 251 + 1);
		junk[i] = b == '\n' ? '\0' : b;
	}
	struct mon_console c = { 0 };
	T_CHECK_EQ_INT(mon_console_feed(&c, junk, big), MON_CONSOLE_NONE);
	T_CHECK(c.len <= sizeof(c.line));
	T_CHECK_EQ_INT(mon_console_feed(&c, "\n", 1), MON_CONSOLE_NONE);
	T_CHECK_EQ_INT(feed_str(&c, too_slow), MON_CONSOLE_NO_TIMER);
	free(junk);
	/* The words past the first MON_CONSOLE_LINE_MAX bytes of a line do not count. */
	char line[MON_CONSOLE_LINE_MAX + 128];
	memset(line, 'x', MON_CONSOLE_LINE_MAX);
	snprintf(line + MON_CONSOLE_LINE_MAX, 128, "%s", too_slow);
	struct mon_console d = { 0 };
	T_CHECK_EQ_INT(feed_str(&d, line), MON_CONSOLE_NONE);
	/* A NUL inside the words breaks them. */
	char nul[sizeof(too_slow)];
	memcpy(nul, too_slow, sizeof(too_slow));
	nul[30] = '\0';
	struct mon_console e = { 0 };
	T_CHECK_EQ_INT(mon_console_feed(&e, nul, sizeof(too_slow) - 1), MON_CONSOLE_NONE);
	/* Empty input and a lone newline. */
	struct mon_console f = { 0 };
	T_CHECK_EQ_INT(mon_console_feed(&f, "", 0), MON_CONSOLE_NONE);
	T_CHECK_EQ_INT(mon_console_feed(&f, "\n\n", 2), MON_CONSOLE_NONE);
}

int main(void)
{
	T_RUN(t_detects);
	T_RUN(t_healthy_boot);
	T_RUN(t_split_reads);
	T_RUN(t_hostile);
	return t_done();
}
