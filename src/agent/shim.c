#include "agent/shim.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/wstatus.h"

bool agent_shim_selected(const char *argv0)
{
	if (!argv0)
		return false;
	const char *slash = strrchr(argv0, '/');
	return strcmp(slash ? slash + 1 : argv0, AGENT_SHIM_NAME) == 0;
}

int agent_shim_parse(int argc, char *const argv[])
{
	if (argc < 3 || strcmp(argv[1], "--") != 0 || !argv[2] || !argv[2][0])
		return -EINVAL;
	return 2;
}

int agent_shim_exec_status(int err)
{
	return err == ENOENT || err == ENOTDIR ? AGENT_SHIM_EXIT_NOTFOUND : AGENT_SHIM_EXIT_CANNOT_RUN;
}

void agent_shim_exec_message(char *buf, unsigned len, const char *cmd, int err)
{
	const char *why;
	if (err == ENOENT && !strchr(cmd, '/'))
		why = "executable file not found in $PATH";
	else if (err == ENOENT)
		why = "no such file or directory";
	else if (err == EACCES)
		why = "permission denied";
	else if (err == ENOEXEC)
		why = "exec format error";
	else
		why = strerror(err);
	/* %.200s: the command comes from the user; keep the line one line. */
	snprintf(buf, len, "lcvm-init: exec \"%.200s\": %s", cmd, why);
}

/* Signals never forwarded: those the kernel raises on the shim itself for a
 * fault (blocking them would hide a crash), and the two it cannot catch. */
static void forwardable_set(sigset_t *set)
{
	static const int keep[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT, SIGKILL, SIGSTOP };
	sigfillset(set);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		sigdelset(set, keep[i]);
}

static void child_exec(char *const cmd[], const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
	/* The agent may run crun without address randomization (warm.h); the
	 * container's command gets it back. */
	int pers = personality(0xffffffff);
	if (pers != -1 && (pers & ADDR_NO_RANDOMIZE))
		(void)personality((unsigned long)pers & ~(unsigned long)ADDR_NO_RANDOMIZE);
	execvp(cmd[0], cmd);
	int err = errno;
	char line[300];
	agent_shim_exec_message(line, sizeof(line), cmd[0], err);
	size_t n = strlen(line);
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	_exit(agent_shim_exec_status(err));
}

/* One SIGCHLD may stand for many exits: reaps every zombie there is, the
 * child included (even after finding it, so none is left behind). */
static bool reap_all(pid_t child, int *status)
{
	bool done = false;
	int ws;
	pid_t p;
	while ((p = waitpid(-1, &ws, WNOHANG)) > 0)
		if (p == child) {
			*status = agent_exit_status(ws);
			done = true;
		}
	return done;
}

int agent_shim_run(char *const cmd[])
{
	sigset_t set, old;
	forwardable_set(&set);
	if (sigprocmask(SIG_BLOCK, &set, &old) < 0)
		return AGENT_SHIM_EXIT_USAGE;
	/* As PID 1 of the namespace we inherit every orphan anyway; elsewhere
	 * (unit tests, a shared pid namespace) become their reaper too. */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "lcvm-init: fork: %s\n", strerror(errno));
		return AGENT_SHIM_EXIT_CANNOT_RUN;
	}
	if (child == 0)
		child_exec(cmd, &old);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig < 0)
			continue; /* EINTR only: the set is valid */
		if (sig != SIGCHLD) {
			kill(child, sig); /* ESRCH: it exited; its SIGCHLD is pending */
			continue;
		}
		int status = 0;
		if (reap_all(child, &status))
			return status;
	}
}

int agent_shim_main(int argc, char *argv[])
{
	int i = agent_shim_parse(argc, argv);
	if (i < 0) {
		fprintf(stderr, "lcvm-init: usage: %s -- COMMAND [ARG...]\n", AGENT_SHIM_TARGET);
		return AGENT_SHIM_EXIT_USAGE;
	}
	return agent_shim_run(argv + i);
}
