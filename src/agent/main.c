/* lcvm-agent: PID 1 of the guest. Sets the system up, then serves the
 * agent service on vsock forever (if PID 1 exits the kernel panics): errors
 * are logged on the console and serving goes on. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/signalfd.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/container.h"
#include "agent/init.h"
#include "agent/log.h"
#include "agent/selftest.h"
#include "agent/service.h"
#include "agent/shim.h"
#include "agent/vsock.h"
#include "agent/warm.h"
#include "util/cleanup.h"
#include "util/cmdline.h"
#include "util/evloop.h"
#include "util/vsock_ports.h"

static void on_sigchld(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct agent *a = data;
	struct signalfd_siginfo si[16];
	while (read(fd, si, sizeof(si)) > 0) /* drain: one reap pass covers all */
		;
	agent_reap(a);
}

static void load_modules(struct agent *a)
{
	struct lc_err e = { { 0 } };
	if (agent_modlist_load_file(&a->mods, AGENT_MODLIST_PATH, &e) < 0) {
		agent_log("%s (continuing without modules)", e.msg);
		return;
	}
	/* boot: the virtio-mmio transport; then storage (virtio_blk, squashfs,
	 * overlay: only the first container needs them) loads on a thread
	 * while vsock loads here and the agent starts serving. */
	int n = agent_modlist_load_group(&a->mods, "boot", &e);
	if (n < 0)
		agent_log("%s", e.msg);
	int r = agent_modload_start(&a->storage_mods, &a->mods, "storage");
	if (r < 0) {
		agent_log("storage modules in the background: %s; loading them now", strerror(-r));
		if (agent_modlist_load_group(&a->mods, "storage", &e) < 0)
			agent_log("%s", e.msg);
	}
	int nv = agent_modlist_load_group(&a->mods, "vsock", &e);
	if (nv < 0)
		agent_log("%s", e.msg);
	else
		agent_log("loaded %d boot and vsock modules", (n > 0 ? n : 0) + nv);
}

/* warm.h: crun on a throwaway container on the second vCPU, while this one
 * loads modules. Every crun the agent spawns from now on runs without
 * address randomization so that it meets its own translations again. */
static void start_warm_up(struct agent *a)
{
	if (personality(ADDR_NO_RANDOMIZE) < 0) {
		agent_log("personality: %s (no crun warm-up)", strerror(errno));
		return;
	}
	struct lc_err e = { { 0 } };
	a->warm_started = agent_uptime();
	if (agent_warm_start(AGENT_WARM_DIR, &a->warm_pid, &e) < 0) {
		agent_log("crun warm-up: %s", e.msg);
		a->warm_pid = 0;
		agent_warm_finish(AGENT_WARM_DIR);
		return;
	}
	agent_log("warming crun up (pid %d)", (int)a->warm_pid);
}

/* Tells the monitor it may dial LCVM_PORT_AGENT now. */
static void announce_ready(struct agent *a)
{
	cleanup_close int fd = -1;
	int r = agent_vsock_connect(LCVM_PORT_READY, &fd);
	if (r < 0) {
		agent_log("ready connection to host port %u: %s", LCVM_PORT_READY, strerror(-r));
		return;
	}
	char line[128];
	int n = snprintf(line, sizeof(line), "lcvm-agent %u %s\n", LCVM_AGENT_PROTOCOL_VERSION, a->kernel_release);
	if (write(fd, line, (size_t)n) != n)
		agent_log("ready line: %s", strerror(errno));
}

static int setup_signals(struct agent *a)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN); /* a host that hangs up must not kill PID 1 */
	a->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (a->sigfd < 0)
		return -errno;
	return ev_add(a->loop, a->sigfd, EV_READ, on_sigchld, a);
}

static void serve(struct agent *a)
{
	size_t n;
	const struct ttrpc_method *m = agent_service_methods(&n);
	a->srv = ttrpc_server_new(a->loop, m, n, a);
	int r = a->srv ? agent_vsock_listen(LCVM_PORT_AGENT, &a->listen_fd) : -ENOMEM;
	if (r == 0)
		r = ttrpc_server_listen(a->srv, a->listen_fd);
	if (r < 0) {
		agent_log("agent service on vsock port %u: %s", LCVM_PORT_AGENT, strerror(-r));
		return;
	}
	agent_log("serving on vsock port %u", LCVM_PORT_AGENT);
	announce_ready(a);
}

int main(int argc, char *argv[])
{
	/* The same binary is each container's init (shim.h). */
	if (agent_shim_selected(argv[0]))
		return agent_shim_main(argc, argv);
	struct lc_err e = { { 0 } };
	if (getpid() == 1 && agent_init_system(&e) < 0)
		agent_fatal(e.msg);
	agent_log("agent started");

	struct agent a = { .sigfd = -1, .listen_fd = -1, .run_dir = AGENT_RUN_DIR };
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(a.kernel_release, sizeof(a.kernel_release), "%s", u.release);
	a.loop = ev_loop_new();
	if (!a.loop)
		agent_fatal("cannot create the event loop");
	int r = setup_signals(&a);
	if (r < 0)
		agent_fatal("cannot set up SIGCHLD handling");
	char cmdline[AGENT_CMDLINE_MAX];
	bool have_cmdline = agent_read_cmdline(cmdline, sizeof(cmdline)) == 0;
	if (have_cmdline && agent_warm_wanted(cmdline, sysconf(_SC_NPROCESSORS_ONLN)))
		start_warm_up(&a);
	load_modules(&a);

	a.selftest = have_cmdline && lc_cmdline_has(cmdline, AGENT_SELFTEST_FLAG);
	if (a.selftest) {
		agent_selftest_begin(&a);
	} else {
		a.on_event = agent_service_on_event;
		serve(&a);
	}
	for (;;) {
		r = ev_run(a.loop);
		agent_log("event loop stopped (%s); restarting it", r < 0 ? strerror(-r) : "ok");
	}
}
