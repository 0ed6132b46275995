#include "agent/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

double agent_uptime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void agent_log(const char *fmt, ...)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "lcvm-agent [%8.3f] ", agent_uptime());
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2; /* truncated: keep room for the newline */
	line[len++] = '\n';
	/* One write per line: the console is shared with crun's children. */
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}
