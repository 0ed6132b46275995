#include "agent/selftest.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/container.h"
#include "agent/init.h"
#include "agent/log.h"
#include "util/cleanup.h"
#include "util/evloop.h"

/* One container per case, in order. `term_on_ready`: stdout is a pipe to
 * us; once the command has printed "ready" (so the shim runs it) and crun
 * has reported the start, SIGTERM goes through agent_container_signal, the
 * SignalContainer path. */
struct st_case {
	const char *name;
	const char *const *args;
	int want;
	bool term_on_ready;
	const char *user;         /* process.user, or NULL */
	const char *create_error; /* the create must fail with this message */
};

static const char *const a_uname[] = { "uname", "-r", NULL };
static const char *const a_exit7[] = { "sh", "-c", "exit 7", NULL };
static const char *const a_kill9[] = { "sh", "-c", "kill -9 $$", NULL };
static const char *const a_missing[] = { "lcvm-no-such-command", NULL };
static const char *const a_sleep[] = { "sh", "-c", "echo ready; exec sleep 1000", NULL };
/* The image's nobody is 65534:65534 and a member of users (100). */
static const char *const a_nobody[] = {
	"sh", "-c", "[ \"$(id -u):$(id -g)\" = 65534:65534 ] && id -G | grep -qw 100", NULL
};

static const struct st_case cases[] = {
	{ "uname", a_uname, 0, false, NULL, NULL },
	{ "exit7", a_exit7, 7, false, NULL, NULL },
	{ "kill9", a_kill9, 137, false, NULL, NULL },
	{ "missing", a_missing, 127, false, NULL, NULL },
	{ "sigterm", a_sleep, 143, true, NULL, NULL },
	{ "user", a_nobody, 0, false, "nobody", NULL },
	{ "nouser", a_nobody, 0, false, "nosuchuser",
	  "unable to find user nosuchuser: no matching entries in passwd file" },
};

struct agent_selftest {
	size_t next;      /* index of the running case */
	int failures;
	int pipe_rd;      /* stdout of a term_on_ready case, or -1 */
	bool ready;       /* "ready" seen */
	bool signalled;
	struct agent_container *c;
	char buf[64];
	size_t len;
};

static void finish(int status)
{
	printf("lcvm-selftest: exit %d\n", status);
	fflush(stdout);
	agent_log("self-test done");
	agent_poweroff();
}

static void maybe_signal(struct agent_selftest *st)
{
	if (!st->ready || st->signalled || !st->c || st->c->state != AGENT_C_RUNNING)
		return;
	struct lc_err e = { { 0 } };
	st->signalled = true;
	if (agent_container_signal(st->c, SIGTERM, &e) < 0)
		agent_log("self-test: %s", e.msg);
	else
		agent_log("self-test: SIGTERM sent to %s", st->c->id);
}

static void close_pipe(struct agent *a, struct agent_selftest *st)
{
	if (st->pipe_rd < 0)
		return;
	ev_del(a->loop, st->pipe_rd);
	close(st->pipe_rd);
	st->pipe_rd = -1;
}

static void on_pipe(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct agent *a = data;
	struct agent_selftest *st = a->selftest_state;
	ssize_t n = read(fd, st->buf + st->len, sizeof(st->buf) - 1 - st->len);
	if (n <= 0 || (st->len += (size_t)n) >= sizeof(st->buf) - 1) {
		close_pipe(a, st);
		return;
	}
	st->buf[st->len] = '\0';
	if (!st->ready && strstr(st->buf, "ready\n")) {
		st->ready = true;
		maybe_signal(st);
	}
}

static int start_case(struct agent *a, struct agent_selftest *st, struct lc_err *e);

/* Starts cases from st->next until one runs a container (its events go
 * on), or powers off after the last. */
static void run_next(struct agent *a, struct agent_selftest *st)
{
	for (; st->next < ARRAY_SIZE(cases); st->next++) {
		struct lc_err e = { { 0 } };
		int r = start_case(a, st, &e);
		if (r < 0) {
			agent_log("self-test: %s", e.msg);
			finish(125);
		}
		if (r == 0)
			return;
	}
	finish(st->failures ? 1 : 0);
}

static void on_event(struct agent *a, struct agent_container *c, enum agent_cevent ev)
{
	struct agent_selftest *st = a->selftest_state;
	/* A container whose init exits before crun does gets STARTED and
	 * EXITED in a row, both STOPPED: count it once. */
	if (c != st->c)
		return;
	if (ev == AGENT_EV_STARTED && !c->start_error) {
		agent_log("self-test container started, pid %d", (int)c->pid);
		maybe_signal(st);
	}
	if (c->state != AGENT_C_STOPPED)
		return;
	const struct st_case *k = &cases[st->next];
	if (c->start_error)
		agent_log("self-test: %s", c->start_msg);
	printf("lcvm-selftest: %s exit %d (want %d)\n", k->name, c->exit_status, k->want);
	fflush(stdout);
	st->failures += c->exit_status != k->want;
	close_pipe(a, st);
	st->c = NULL;
	st->next++;
	run_next(a, st);
}

static int start_case(struct agent *a, struct agent_selftest *st, struct lc_err *e)
{
	const struct st_case *k = &cases[st->next];
	char *env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
	Lcvm__Agent__V1__Process proc = LCVM__AGENT__V1__PROCESS__INIT;
	while (k->args[proc.n_args])
		proc.n_args++;
	proc.args = (char **)k->args;
	proc.n_env = ARRAY_SIZE(env);
	proc.env = env;
	Lcvm__Agent__V1__Layer layer = LCVM__AGENT__V1__LAYER__INIT;
	layer.serial = "rootfs";
	layer.fstype = "squashfs";
	Lcvm__Agent__V1__Layer *layers[] = { &layer };
	char id[32];
	snprintf(id, sizeof(id), "selftest-%s", k->name);
	Lcvm__Agent__V1__CreateContainerRequest req = LCVM__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	req.id = id;
	req.process = &proc;
	req.n_layers = 1;
	req.layers = layers;
	proc.user = (char *)(k->user ? k->user : "");

	st->c = NULL;
	st->ready = st->signalled = false;
	st->len = 0;
	int ret = agent_container_create(a, &req, &st->c, e);
	if (ret < 0 && k->create_error) {
		printf("lcvm-selftest: %s error: %s\n", k->name, e->msg);
		fflush(stdout);
		st->failures += strcmp(e->msg, k->create_error) != 0;
		return 1; /* done, no container */
	}
	if (ret < 0)
		return ret;
	st->failures += k->create_error != NULL; /* should have failed */
	agent_log("self-test container %s created", id);
	cleanup_close int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int p[2] = { -1, -1 };
	if (null < 0 || (k->term_on_ready && pipe2(p, O_CLOEXEC) < 0))
		return lc_err_set(e, errno, "self-test stdio");
	if (p[0] >= 0)
		fcntl(p[0], F_SETFL, O_NONBLOCK); /* ours only: the container's end blocks */
	int fds[3] = { null, k->term_on_ready ? p[1] : STDOUT_FILENO, STDERR_FILENO };
	ret = agent_container_start(a, st->c, fds, e);
	if (p[1] >= 0)
		close(p[1]); /* the container holds its own copy */
	if (p[0] >= 0) {
		st->pipe_rd = p[0];
		if (ret == 0 && (ret = ev_add(a->loop, p[0], EV_READ, on_pipe, a)) < 0)
			lc_err_set(e, -ret, "self-test pipe");
	}
	return ret;
}

void agent_selftest_begin(struct agent *a)
{
	struct agent_selftest *st = calloc(1, sizeof(*st));
	if (!st) {
		agent_log("self-test: out of memory");
		finish(125);
	}
	st->pipe_rd = -1;
	a->selftest_state = st;
	a->on_event = on_event;
	run_next(a, st);
}
