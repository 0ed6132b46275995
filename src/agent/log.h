/* Console logging for the agent. The console (ttyS0) is a log file on the
 * host, never container output. Every line is prefixed with the guest's
 * uptime so boot phases can be timed from the console alone. */
#ifndef LCVM_AGENT_LOG_H
#define LCVM_AGENT_LOG_H

/* Writes "lcvm-agent [  1.234] <message>\n" to stderr in one write(2). */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Seconds since boot (CLOCK_BOOTTIME), for timing marks. */
double agent_uptime(void);

#endif
