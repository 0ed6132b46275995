/* The container init shim (src/agent/shim.h), run on the host: argument
 * parsing, exec error statuses and lines, status of the child, signal
 * forwarding and reaping of orphans. Real processes, synchronised on
 * pipes and pidfds, never on sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/shim.h"
#include "test.h"

static void t_selected(void)
{
	T_CHECK(agent_shim_selected(AGENT_SHIM_TARGET));
	T_CHECK(agent_shim_selected(".lcvm-init"));
	T_CHECK(!agent_shim_selected("/init"));
	T_CHECK(!agent_shim_selected("/dev/.lcvm-init2"));
	T_CHECK(!agent_shim_selected("/dev/.lcvm-init/"));
	T_CHECK(!agent_shim_selected(""));
	T_CHECK(!agent_shim_selected(NULL));
}

static void t_parse(void)
{
	char *ok[] = { "/dev/.lcvm-init", "--", "sh", "-c", "true", NULL };
	T_CHECK_EQ_INT(agent_shim_parse(5, ok), 2);
	char *dashes[] = { "i", "--", "--", NULL }; /* a command named "--" is the user's business */
	T_CHECK_EQ_INT(agent_shim_parse(3, dashes), 2);
	char *nosep[] = { "i", "sh", NULL };
	T_CHECK_EQ_INT(agent_shim_parse(2, nosep), -EINVAL);
	char *nocmd[] = { "i", "--", NULL };
	T_CHECK_EQ_INT(agent_shim_parse(2, nocmd), -EINVAL);
	char *empty[] = { "i", "--", "", NULL };
	T_CHECK_EQ_INT(agent_shim_parse(3, empty), -EINVAL);
	char *only[] = { "i", NULL };
	T_CHECK_EQ_INT(agent_shim_parse(1, only), -EINVAL);
}

static void t_exec_errors(void)
{
	T_CHECK_EQ_INT(agent_shim_exec_status(ENOENT), 127);
	T_CHECK_EQ_INT(agent_shim_exec_status(ENOTDIR), 127);
	T_CHECK_EQ_INT(agent_shim_exec_status(EACCES), 126);
	T_CHECK_EQ_INT(agent_shim_exec_status(ENOEXEC), 126);
	char b[300];
	agent_shim_exec_message(b, sizeof(b), "foo", ENOENT);
	T_CHECK_EQ_STR(b, "lcvm-init: exec \"foo\": executable file not found in $PATH");
	agent_shim_exec_message(b, sizeof(b), "/bin/foo", ENOENT);
	T_CHECK_EQ_STR(b, "lcvm-init: exec \"/bin/foo\": no such file or directory");
	agent_shim_exec_message(b, sizeof(b), "/etc", EACCES);
	T_CHECK_EQ_STR(b, "lcvm-init: exec \"/etc\": permission denied");
	/* A huge command name is cut, and the line stays one line. */
	char big[1000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	agent_shim_exec_message(b, sizeof(b), big, ENOENT);
	T_CHECK(strlen(b) < sizeof(b) && strstr(b, "not found") != NULL);
}

struct run {
	pid_t pid;    /* the process running agent_shim_run */
	int out;      /* its stdout + stderr, read end */
	int in;       /* its stdin, write end */
};

/* Runs the shim in a child with stdin/stdout/stderr on pipes. */
static bool start(struct run *r, char *const cmd[])
{
	int o[2], i[2];
	if (pipe2(o, O_CLOEXEC) < 0 || pipe2(i, O_CLOEXEC) < 0)
		return false;
	r->pid = fork();
	if (r->pid == 0) {
		dup2(i[0], 0);
		dup2(o[1], 1);
		dup2(o[1], 2);
		close(i[1]); /* else the shim itself keeps its stdin open */
		close(o[0]);
		_exit(agent_shim_run(cmd));
	}
	close(o[1]);
	close(i[0]);
	r->out = o[0];
	r->in = i[1];
	return r->pid > 0;
}

/* Closes stdin, reads all output into buf, returns the shim's exit status. */
static int finish(struct run *r, char *buf, size_t len)
{
	close(r->in);
	size_t off = 0;
	ssize_t n;
	while (off + 1 < len && (n = read(r->out, buf + off, len - 1 - off)) > 0)
		off += (size_t)n;
	buf[off] = '\0';
	close(r->out);
	int ws;
	if (waitpid(r->pid, &ws, 0) != r->pid || !WIFEXITED(ws))
		return -1;
	return WEXITSTATUS(ws);
}

static int run_cmd(char *const cmd[], char *buf, size_t len)
{
	struct run r;
	if (!start(&r, cmd))
		return -1;
	return finish(&r, buf, len);
}

static void t_statuses(void)
{
	char out[512];
	char *exit7[] = { "sh", "-c", "exit 7", NULL };
	T_CHECK_EQ_INT(run_cmd(exit7, out, sizeof(out)), 7);
	char *killed[] = { "sh", "-c", "kill -9 $$", NULL };
	T_CHECK_EQ_INT(run_cmd(killed, out, sizeof(out)), 137);
	char *echo[] = { "echo", "hi", NULL };
	T_CHECK_EQ_INT(run_cmd(echo, out, sizeof(out)), 0);
	T_CHECK_EQ_STR(out, "hi\n");
	char *missing[] = { "lcvm-no-such-command", NULL };
	T_CHECK_EQ_INT(run_cmd(missing, out, sizeof(out)), 127);
	T_CHECK_EQ_STR(out, "lcvm-init: exec \"lcvm-no-such-command\": executable file not found in $PATH\n");
	/* A regular file without x bits: EACCES even for root. */
	char path[] = "/tmp/lcvm-shim-XXXXXX";
	int fd = mkstemp(path);
	if (!T_CHECK(fd >= 0))
		return;
	close(fd);
	char *notexec[] = { path, NULL };
	char want[128];
	snprintf(want, sizeof(want), "lcvm-init: exec \"%s\": permission denied\n", path);
	T_CHECK_EQ_INT(run_cmd(notexec, out, sizeof(out)), 126);
	T_CHECK_EQ_STR(out, want);
	unlink(path);
}

/* The agent may start crun, and so the shim, without address randomization
 * (warm.h): the container's command gets it back. The shim runs in a child
 * whose personality has ADDR_NO_RANDOMIZE; the command prints its own. */
static void t_command_keeps_aslr(void)
{
	pid_t p = fork();
	if (p == 0) {
		char out[64];
		char *cmd[] = { "cat", "/proc/self/personality", NULL };
		if (personality(ADDR_NO_RANDOMIZE) < 0)
			_exit(90);
		/* The shim's own process keeps the flag it was given. */
		int self = personality(0xffffffff);
		if (self == -1 || !(self & ADDR_NO_RANDOMIZE))
			_exit(91);
		if (run_cmd(cmd, out, sizeof(out)) != 0)
			_exit(92);
		unsigned long v = strtoul(out, NULL, 16);
		_exit(v & ADDR_NO_RANDOMIZE ? 93 : 0);
	}
	int ws = 0;
	T_CHECK(waitpid(p, &ws, 0) == p);
	T_CHECK(WIFEXITED(ws));
	T_CHECK_EQ_INT(WEXITSTATUS(ws), 0);
}

/* Reads until needle has been seen; false on EOF or after 10 s (a deadline
 * for a broken shim, not a synchronisation). */
static bool read_until(int fd, const char *needle)
{
	char buf[256];
	size_t off = 0;
	while (off + 1 < sizeof(buf)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10000) != 1)
			return false;
		ssize_t n = read(fd, buf + off, sizeof(buf) - 1 - off);
		if (n <= 0)
			return false;
		off += (size_t)n;
		buf[off] = '\0';
		if (strstr(buf, needle))
			return true;
	}
	return false;
}

/* SIGTERM to the shim reaches the child: `sleep` dies of it, 143. The
 * child says "ready" only once it runs, so the shim was already waiting. */
static void t_forwards_signals(void)
{
	char *cmd[] = { "sh", "-c", "echo ready; exec sleep 1000", NULL };
	struct run r;
	if (!T_CHECK(start(&r, cmd)))
		return;
	char line[16] = { 0 };
	T_CHECK(read(r.out, line, 6) == 6 && strcmp(line, "ready\n") == 0);
	kill(r.pid, SIGTERM);
	char rest[64];
	T_CHECK_EQ_INT(finish(&r, rest, sizeof(rest)), 143);
	/* A signal the child handles does not end it: USR1 runs a trap. */
	char *trap[] = { "sh", "-c", "trap 'echo got-usr1' USR1; echo ready; read x; echo end", NULL };
	if (!T_CHECK(start(&r, trap)))
		return;
	memset(line, 0, sizeof(line));
	T_CHECK(read(r.out, line, 6) == 6 && strcmp(line, "ready\n") == 0);
	kill(r.pid, SIGUSR1);
	/* The trap's line proves the forward; stdin stays open until then
	 * (an EOF first would end `read` and the shell before the signal). */
	T_CHECK(read_until(r.out, "got-usr1"));
	char all[64];
	T_CHECK_EQ_INT(finish(&r, all, sizeof(all)), 0); /* trapped, not killed (138) */
}

static bool wait_exited(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return errno == ESRCH; /* already gone */
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, 10000);
	close(fd);
	return r == 1;
}

/* An orphan (grandchild whose parent exited) is re-parented to the shim and
 * reaped there: had the shim left it, it would have passed to us (we are a
 * subreaper) when the shim exited. */
static void t_reaps_orphans(void)
{
	if (!T_CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0))
		return;
	/* I prints its pid, starts G (prints its pid), exits; then cat waits. */
	char *cmd[] = { "sh", "-c", "sh -c 'sh -c \"echo \\$\\$\" & echo $$'; exec cat", NULL };
	struct run r;
	if (!T_CHECK(start(&r, cmd)))
		return;
	char buf[64] = { 0 };
	size_t off = 0;
	int lines = 0;
	while (lines < 2 && off + 1 < sizeof(buf)) {
		ssize_t n = read(r.out, buf + off, sizeof(buf) - 1 - off);
		if (n <= 0)
			break;
		for (ssize_t k = 0; k < n; k++)
			lines += buf[off + (size_t)k] == '\n';
		off += (size_t)n;
	}
	pid_t a = 0, b = 0;
	if (!T_CHECK(sscanf(buf, "%d\n%d", &a, &b) == 2 && a > 0 && b > 0))
		return;
	/* Both exited: G is a zombie of the shim's, or already reaped. */
	T_CHECK(wait_exited(a) && wait_exited(b));
	char rest[16];
	T_CHECK_EQ_INT(finish(&r, rest, sizeof(rest)), 0);
	int ws;
	T_CHECK(waitpid(a, &ws, WNOHANG) < 0 && errno == ECHILD);
	T_CHECK(waitpid(b, &ws, WNOHANG) < 0 && errno == ECHILD);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}

static void t_main_usage(void)
{
	pid_t p = fork();
	if (p == 0) {
		int nul = open("/dev/null", O_WRONLY);
		dup2(nul, 2);
		char *argv[] = { "/dev/.lcvm-init", "sh", NULL };
		_exit(agent_shim_main(2, argv));
	}
	int ws = 0;
	waitpid(p, &ws, 0);
	T_CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == AGENT_SHIM_EXIT_USAGE);
}

int main(void)
{
	T_RUN(t_selected);
	T_RUN(t_parse);
	T_RUN(t_exec_errors);
	T_RUN(t_statuses);
	T_RUN(t_command_keeps_aslr);
	T_RUN(t_forwards_signals);
	T_RUN(t_reaps_orphans);
	T_RUN(t_main_usage);
	return t_done();
}
