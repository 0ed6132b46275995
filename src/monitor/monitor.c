#include "monitor/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "monitor/console.h"
#include "monitor/qemu.h"
#include "monitor/scratch.h"
#include "p9/fs_local.h"
#include "p9/server.h"
#include "monitor/state.h"
#include "rpc/ttrpc.h"
#include "util/cleanup.h"
#include "util/evloop.h"
#include "util/relay.h"
#include "util/vsock_ports.h"
#include "vsock/vsock_dev.h"

enum phase { PH_BOOTING, PH_STARTING, PH_RUNNING, PH_STOPPING, PH_DONE };

struct monitor {
	struct ev_loop *loop;
	int log_fd;               /* monitor.log, opened once */
	struct mon_spec spec;
	const char *dir;
	enum phase phase;
	struct vsock_dev *vsock;
	struct qemu_cfg qemu_cfg; /* kept for a restart (launch_vm) */
	pid_t qemu;
	int sigfd;
	int console_fd;           /* our end of QEMU's serial port */
	int console_log;          /* console.log */
	struct mon_console console;
	int boot_restarts;        /* VMs restarted after a known boot failure */
	int restarting;           /* QEMU killed for a restart: relaunch when reaped */
	int ready_fd;
	char ready_buf[128];
	size_t ready_len;
	struct ttrpc_client *rpc;
	struct relay *relay[3];   /* stdin, stdout, stderr */
	struct p9_localfs *p9fs[MON_MAX_MOUNTS];   /* one 9P export per -v */
	struct p9_server *p9srv[MON_MAX_MOUNTS];
	int outputs_open;         /* stdout/stderr relays still running */
	int have_status;
	int status;               /* container exit status */
	int exit_code;            /* what mon_run returns */
	long long boot_timer, stop_timer;
	long long t_start;
	struct lc_err *err;
	int failed;
};

static void mon_log(struct monitor *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mon_log(struct monitor *m, const char *fmt, ...)
{
	/* The monitor's stdout/stderr belong to the container; its log is
	 * monitor.log (QEMU's own messages land there too), mirrored with --debug. */
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (m->log_fd >= 0)
		dprintf(m->log_fd, "[%6lld ms] %s\n", ev_now_ms() - m->t_start, line);
	if (m->spec.debug)
		fprintf(stderr, "lcvm-monitor: [%6lld ms] %s\n", ev_now_ms() - m->t_start, line);
}

static void print_console_tail(struct monitor *m)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", m->dir, MON_CONSOLE_FILE);
	char tail[MON_CONSOLE_TAIL][256];
	int n = 0;
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return;
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		snprintf(tail[n % MON_CONSOLE_TAIL], sizeof(tail[0]), "%s", line);
		n++;
	}
	if (!n) {
		fprintf(stderr, "lcvm: the guest console is empty (%s)\n", path);
		return;
	}
	fprintf(stderr, "lcvm: last lines of the guest console (%s):\n", path);
	for (int i = n > MON_CONSOLE_TAIL ? n - MON_CONSOLE_TAIL : 0; i < n; i++)
		fprintf(stderr, "    %s\n", tail[i % MON_CONSOLE_TAIL]);
}

/* Ends the run: the VM goes away, the loop stops once QEMU is reaped. */
static void teardown(struct monitor *m)
{
	if (m->phase == PH_DONE)
		return;
	m->phase = PH_DONE;
	if (m->qemu > 0)
		kill(m->qemu, SIGKILL);
	else
		ev_stop(m->loop);
}

static void fail(struct monitor *m, int errnum, int with_console, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(struct monitor *m, int errnum, int with_console, const char *fmt, ...)
{
	if (m->failed || m->phase == PH_DONE)
		return;
	m->failed = 1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->err->msg, sizeof(m->err->msg), fmt, ap);
	va_end(ap);
	mon_log(m, "error: %s", m->err->msg);
	if (with_console)
		print_console_tail(m);
	m->exit_code = -(errnum ? errnum : EIO);
	teardown(m);
}

/* --- stdio ------------------------------------------------------------------*/

/* A separate non-blocking description for pipes and terminals (setting
 * O_NONBLOCK on the inherited one would leak into the user's shell); files
 * and sockets are used as they are (files never block). */
static int open_user_fd(int fd, int wr)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		int nfd = open(p, (wr ? O_WRONLY : O_RDONLY) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (nfd >= 0)
			return nfd;
	}
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return nfd < 0 ? -errno : nfd;
}

static void maybe_stop(struct monitor *m);

static void on_relay_done(void *opaque, struct relay *r, int result)
{
	struct monitor *m = opaque;
	for (int i = 0; i < 3; i++) {
		if (m->relay[i] != r)
			continue;
		mon_log(m, "stdio %d closed after %llu bytes (%d)", i, relay_bytes(r), result);
		relay_free(r);
		m->relay[i] = NULL;
		if (i > 0) {
			m->outputs_open--;
			maybe_stop(m);
		}
	}
}

static int stdio_connect(struct monitor *m, int stream)
{
	if (m->relay[stream] || (stream == 0 && !m->spec.interactive))
		return -ECONNREFUSED;
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	int user = open_user_fd(stream, stream != 0);
	if (user < 0) {
		close(sp[0]);
		close(sp[1]);
		return user;
	}
	struct relay *r = stream == 0
		? relay_new(m->loop, user, sp[1], RELAY_OWN_IN | RELAY_OWN_OUT | RELAY_SHUTDOWN_OUT, on_relay_done, m)
		: relay_new(m->loop, sp[1], user, RELAY_OWN_IN | RELAY_OWN_OUT, on_relay_done, m);
	if (!r) {
		close(sp[0]);
		close(sp[1]);
		close(user);
		return -ENOMEM;
	}
	m->relay[stream] = r;
	if (stream > 0)
		m->outputs_open++;
	return sp[0];
}

/* --- 9P shares ---------------------------------------------------------------*/

/* Exports every -v directory; each gets its own server (and worker pool), so
 * one share's blocking requests never wait behind another's. Created after
 * QEMU is spawned: forking a process with worker threads is best avoided. */
static int p9_setup(struct monitor *m)
{
	for (size_t i = 0; i < m->spec.nmounts; i++) {
		const struct mon_mount *mt = &m->spec.mounts[i];
		struct p9_local_opts o = { .root = mt->source, .readonly = mt->read_only,
					   .model = mt->mapped ? P9_LOCAL_MAPPED : P9_LOCAL_PASSTHROUGH };
		int r = p9_localfs_new(&o, &m->p9fs[i], m->err);
		if (r < 0)
			return lc_err_wrap(m->err, r, "volume %s", mt->source);
		struct p9_export exp = { .ops = &p9_localfs_ops, .fs = m->p9fs[i],
					 .flags = mt->read_only ? P9_EXPORT_RDONLY : 0 };
		struct p9_server_opts so = { .max_msize = MON_9P_MSIZE };
		r = p9_server_new(m->loop, &exp, &so, &m->p9srv[i]);
		if (r < 0)
			return lc_err_set(m->err, -r, "9P server for %s", mt->source);
	}
	return 0;
}

static int p9_connect(struct monitor *m, uint32_t index)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	int r = p9_server_add_conn(m->p9srv[index], sp[1]);
	if (r < 0) {
		close(sp[0]);
		close(sp[1]);
		return r;
	}
	mon_log(m, "9P connection for %s", m->spec.mounts[index].source);
	return sp[0];
}

/* --- agent calls ------------------------------------------------------------*/

static void on_ready(struct ev_loop *loop, int fd, unsigned events, void *data);

static int call(struct monitor *m, const char *method, const ProtobufCMessage *req,
		const ProtobufCMessageDescriptor *resp, int timeout_ms, ttrpc_reply_cb cb)
{
	int r = ttrpc_call(m->rpc, LCVM_AGENT_SERVICE, method, req, resp, timeout_ms, cb, m);
	if (r < 0)
		fail(m, -r, 0, "calling the agent (%s): %s", method, strerror(-r));
	return r;
}

static int rpc_failed(struct monitor *m, const char *what, int status, const char *msg)
{
	if (status == TTRPC_OK)
		return 0;
	if (status < 0)
		fail(m, -status, 1, "%s: agent connection: %s", what, strerror(-status));
	else
		fail(m, EIO, 0, "%s", msg && *msg ? msg : what);
	return 1;
}

static void on_shutdown(void *opaque, int status, ProtobufCMessage *resp, const char *msg)
{
	struct monitor *m = opaque;
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	/* The agent answers once the containers are gone and the guest has
	 * synced (agent service.c): stop QEMU now instead of waiting for the
	 * guest's power-off. Without an answer the VM powers off by itself,
	 * or the stop timer ends it. */
	if (status == TTRPC_OK) {
		mon_log(m, "guest synced; stopping QEMU");
		teardown(m);
	}
	(void)msg;
}

static long on_stop_timeout(struct ev_loop *loop, long long id, void *data)
{
	struct monitor *m = data;
	m->stop_timer = 0;
	mon_log(m, "guest did not power off in time; killing QEMU");
	teardown(m);
	return EV_NOMORE;
}

static void maybe_stop(struct monitor *m)
{
	if (!m->have_status || m->outputs_open > 0 || m->phase != PH_RUNNING)
		return;
	m->phase = PH_STOPPING;
	mon_log(m, "container exited with %d; shutting the VM down", m->status);
	Lcvm__Agent__V1__ShutdownRequest req = LCVM__AGENT__V1__SHUTDOWN_REQUEST__INIT;
	if (ttrpc_call(m->rpc, LCVM_AGENT_SERVICE, "Shutdown", &req.base, &lcvm__agent__v1__empty__descriptor,
		       MON_SHUTDOWN_TIMEOUT_MS, on_shutdown, m) < 0) {
		teardown(m);
		return;
	}
	long long id = ev_timer_add(m->loop, MON_SHUTDOWN_TIMEOUT_MS, on_stop_timeout, m);
	m->stop_timer = id > 0 ? id : 0;
}

static void on_wait(void *opaque, int status, ProtobufCMessage *resp, const char *msg)
{
	struct monitor *m = opaque;
	if (!rpc_failed(m, "waiting for the container", status, msg)) {
		Lcvm__Agent__V1__WaitContainerResponse *w = (void *)resp;
		m->status = w->exit_status & 0xff;
		m->have_status = 1;
		maybe_stop(m);
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
}

static void on_start(void *opaque, int status, ProtobufCMessage *resp, const char *msg)
{
	struct monitor *m = opaque;
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	if (rpc_failed(m, "starting the container", status, msg))
		return;
	m->phase = PH_RUNNING;
	mon_log(m, "container started");
	maybe_stop(m); /* a container quick enough may have ended already */
}

static void on_create(void *opaque, int status, ProtobufCMessage *resp, const char *msg)
{
	struct monitor *m = opaque;
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	if (!rpc_failed(m, "creating the container", status, msg))
		mon_log(m, "container created");
}

static void create_container(struct monitor *m)
{
	const struct mon_spec *s = &m->spec;
	Lcvm__Agent__V1__Process proc = LCVM__AGENT__V1__PROCESS__INIT;
	proc.n_args = strv_len(s->args);
	proc.args = s->args;
	proc.n_env = strv_len(s->env);
	proc.env = s->env;
	proc.cwd = s->cwd;
	proc.user = s->user ? s->user : "";
	proc.stdin_port = s->interactive ? LCVM_PORT_STDIO(0, 0) : 0;
	proc.stdout_port = LCVM_PORT_STDIO(0, 1);
	proc.stderr_port = LCVM_PORT_STDIO(0, 2);

	Lcvm__Agent__V1__Layer layers[MON_MAX_LAYERS], *lp[MON_MAX_LAYERS];
	char serials[MON_MAX_LAYERS][16];
	for (size_t i = 0; i < s->nlayers; i++) {
		lcvm__agent__v1__layer__init(&layers[i]);
		snprintf(serials[i], sizeof(serials[i]), "layer%zu", i);
		layers[i].serial = serials[i];
		layers[i].fstype = s->layers[i].fstype;
		lp[i] = &layers[i];
	}
	Lcvm__Agent__V1__Mount9p mounts[MON_MAX_MOUNTS], *mp[MON_MAX_MOUNTS];
	for (size_t i = 0; i < s->nmounts; i++) {
		lcvm__agent__v1__mount9p__init(&mounts[i]);
		mounts[i].port = LCVM_PORT_9P(i);
		mounts[i].target = s->mounts[i].target;
		mounts[i].read_only = s->mounts[i].read_only;
		mounts[i].msize = MON_9P_MSIZE;
		mp[i] = &mounts[i];
	}
	Lcvm__Agent__V1__CreateContainerRequest req = LCVM__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	req.n_mounts = s->nmounts;
	req.mounts = mp;
	req.id = s->id;
	req.hostname = s->hostname;
	req.process = &proc;
	req.n_layers = s->nlayers;
	req.layers = lp;
	req.read_only = s->read_only;
	Lcvm__Agent__V1__Layer scratch = LCVM__AGENT__V1__LAYER__INIT;
	if (s->scratch && !s->read_only) {
		scratch.serial = MON_SCRATCH_SERIAL;
		scratch.fstype = MON_SCRATCH_FSTYPE;
		req.scratch = &scratch;
	}
	/* Create, Start and Wait go out together: the agent serves one connection
	 * in order, so no round trip is spent between them. If Create fails, the
	 * other two fail too and only the first error is reported. */
	if (call(m, "CreateContainer", &req.base, &lcvm__agent__v1__create_container_response__descriptor,
		 MON_RPC_TIMEOUT_MS, on_create) < 0)
		return;
	Lcvm__Agent__V1__StartContainerRequest start = LCVM__AGENT__V1__START_CONTAINER_REQUEST__INIT;
	start.id = s->id;
	if (call(m, "StartContainer", &start.base, &lcvm__agent__v1__start_container_response__descriptor,
		 MON_RPC_TIMEOUT_MS, on_start) < 0)
		return;
	Lcvm__Agent__V1__WaitContainerRequest wait = LCVM__AGENT__V1__WAIT_CONTAINER_REQUEST__INIT;
	wait.id = s->id;
	call(m, "WaitContainer", &wait.base, &lcvm__agent__v1__wait_container_response__descriptor, 0, on_wait);
}

static void on_agent_connected(void *opaque, int result)
{
	struct monitor *m = opaque;
	if (result < 0)
		fail(m, -result, 1, "connecting to the guest agent: %s", strerror(-result));
	else
		mon_log(m, "agent connection established");
}

static void agent_ready(struct monitor *m)
{
	if (m->boot_timer > 0)
		ev_timer_del(m->loop, m->boot_timer);
	m->boot_timer = 0;
	m->phase = PH_STARTING;
	mon_log(m, "agent ready: %s", m->ready_buf);
	/* "lcvm-agent <protocol version> <guest kernel release>" */
	unsigned version = 0;
	if (sscanf(m->ready_buf, "lcvm-agent %u", &version) != 1 || version != LCVM_AGENT_PROTOCOL_VERSION) {
		fail(m, EPROTO, 0, "the guest agent speaks protocol %u, this lcvm %u: rebuild the guest (make guest)",
		     version, LCVM_AGENT_PROTOCOL_VERSION);
		return;
	}
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0) {
		fail(m, errno, 0, "socketpair: %s", strerror(errno));
		return;
	}
	m->rpc = ttrpc_client_new(m->loop, sp[1]);
	if (!m->rpc) {
		close(sp[0]);
		close(sp[1]);
		fail(m, ENOMEM, 0, "out of memory");
		return;
	}
	int r = vsock_dev_connect(m->vsock, LCVM_PORT_AGENT, sp[0], on_agent_connected, m);
	if (r < 0) {
		fail(m, -r, 0, "connecting to the guest agent: %s", strerror(-r));
		return;
	}
	/* Queued in the socket until the guest accepts; no round trip wasted. */
	create_container(m);
}

static void on_ready(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct monitor *m = data;
	ssize_t n = read(fd, m->ready_buf + m->ready_len, sizeof(m->ready_buf) - 1 - m->ready_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		m->ready_len += (size_t)n;
	m->ready_buf[m->ready_len] = '\0';
	char *nl = strchr(m->ready_buf, '\n');
	if (!nl && n > 0 && m->ready_len < sizeof(m->ready_buf) - 1)
		return;
	ev_del(loop, fd);
	close(fd);
	m->ready_fd = -1;
	if (!nl || strncmp(m->ready_buf, "lcvm-agent ", 11)) {
		fail(m, EPROTO, 1, "the guest agent sent a malformed ready line");
		return;
	}
	*nl = '\0';
	if (m->phase == PH_BOOTING)
		agent_ready(m);
}

/* vsock: the guest connects to a host port. */
static int guest_connect(void *opaque, uint32_t port)
{
	struct monitor *m = opaque;
	if (port == LCVM_PORT_READY) {
		if (m->ready_fd >= 0 || m->phase != PH_BOOTING)
			return -ECONNREFUSED;
		int sp[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
			return -errno;
		if (ev_add(m->loop, sp[1], EV_READ, on_ready, m) < 0) {
			close(sp[0]);
			close(sp[1]);
			return -ENOMEM;
		}
		m->ready_fd = sp[1];
		return sp[0];
	}
	for (int s = 0; s < 3; s++)
		if (port == LCVM_PORT_STDIO(0, s))
			return stdio_connect(m, s);
	if (port >= LCVM_PORT_9P(0) && port < LCVM_PORT_9P(m->spec.nmounts))
		return p9_connect(m, port - LCVM_PORT_9P(0));
	mon_log(m, "guest connected to unknown host port %u: refused", port);
	return -ECONNREFUSED;
}

static const struct vsock_host_ops host_ops = { .guest_connect = guest_connect };

/* --- signals, timers, QEMU --------------------------------------------------*/

static int launch_vm(struct monitor *m);

/* monitor/console.h: the guest kernel will never finish booting. Nothing of
 * the container exists yet (the agent has not started), so a new VM loses
 * nothing; the notice keeps it visible, and MON_BOOT_RESTARTS bounds it. */
static void restart_vm(struct monitor *m, const char *why)
{
	if (m->boot_restarts >= MON_BOOT_RESTARTS) {
		fail(m, EIO, 1, "the guest kernel failed to boot %d times in a row (last: it %s); the host's "
		     "CPUs may be too busy to emulate a VM: try again when it is less loaded",
		     m->boot_restarts + 1, why);
		return;
	}
	if (m->qemu <= 0)
		return;
	m->boot_restarts++;
	fprintf(stderr, "lcvm: notice: the guest kernel %s while booting (a known TCG failure); "
		"restarting the VM\n", why);
	mon_log(m, "guest kernel %s: restarting the VM (%d of at most %d)", why, m->boot_restarts,
		MON_BOOT_RESTARTS);
	m->restarting = 1;
	kill(m->qemu, SIGKILL); /* launch_vm runs once it is reaped (on_signal) */
}

static void close_console(struct monitor *m)
{
	if (m->console_fd < 0)
		return;
	ev_del(m->loop, m->console_fd);
	close(m->console_fd);
	m->console_fd = -1;
}

static void on_console(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct monitor *m = data;
	char buf[4096];
	ssize_t n = -1;
	/* Bounded per wake-up (the loop is level-triggered): a guest that
	 * floods its console cannot starve the rest of the loop. */
	for (int rounds = 0; rounds < 16 && (n = read(fd, buf, sizeof(buf))) > 0; rounds++) {
		if (m->console_log >= 0 && write(m->console_log, buf, (size_t)n) < 0)
			mon_log(m, "writing %s: %s", MON_CONSOLE_FILE, strerror(errno));
		if (m->spec.debug)
			(void)!write(2, buf, (size_t)n); /* --debug shows it; nowhere to report a failure */
		enum mon_console_event ev = mon_console_feed(&m->console, buf, (size_t)n);
		if (ev == MON_CONSOLE_NONE || m->phase != PH_BOOTING || m->restarting)
			continue;
		restart_vm(m, ev == MON_CONSOLE_NO_TIMER ? "found no working timer"
							 : "got stuck in a soft lockup");
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		close_console(m); /* QEMU is gone (n > 0: more next time) */
	(void)loop;
	(void)events;
}

static long on_boot_timeout(struct ev_loop *loop, long long id, void *data)
{
	struct monitor *m = data;
	m->boot_timer = 0;
	fail(m, ETIMEDOUT, 1, "the guest agent did not answer within %lld s (see the console lines above)",
	     (ev_now_ms() - m->t_start) / 1000);
	return EV_NOMORE;
}

static void on_signal(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct monitor *m = data;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo != SIGCHLD) {
			mon_log(m, "signal %u: tearing the VM down", si.ssi_signo);
			if (!m->failed && m->phase != PH_DONE)
				m->exit_code = 128 + (int)si.ssi_signo;
			teardown(m);
			continue;
		}
		int st;
		pid_t p;
		while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
			if (p != m->qemu)
				continue;
			m->qemu = -1;
			mon_log(m, "QEMU exited (status 0x%x)", st);
			if (m->restarting && m->phase == PH_BOOTING) {
				m->restarting = 0;
				int r = launch_vm(m);
				if (r < 0) {
					/* fail() formats into m->err->msg: not from it. */
					char msg[sizeof(m->err->msg)];
					snprintf(msg, sizeof(msg), "%s", m->err->msg);
					fail(m, -r, 0, "%s", msg);
				}
				continue;
			}
			if (m->phase != PH_STOPPING && m->phase != PH_DONE)
				fail(m, EIO, 1, "the VM stopped unexpectedly (see %s/%s)", m->dir, MON_LOG_FILE);
			m->phase = PH_DONE;
			ev_stop(loop);
		}
	}
}

/* Creates the scratch disk (a sparse file and a swap header: no process). */
static int scratch_setup(struct monitor *m)
{
	long long t0 = ev_now_ms();
	int r = mon_scratch_create(m->dir, m->spec.scratch, MON_SCRATCH_SIZE, m->err);
	if (r == 0)
		mon_log(m, "scratch disk %s created in %lld ms", m->spec.scratch, ev_now_ms() - t0);
	return r;
}

/* Everything a VM needs that survives a restart: the accelerator, the
 * QEMU configuration, the scratch disk. */
static int prepare_vm(struct monitor *m)
{
	const struct mon_spec *s = &m->spec;
	struct qemu_cfg *cfg = &m->qemu_cfg;
	char why[128];
	int r = qemu_resolve_accel(s->accel, &cfg->accel, why, sizeof(why), m->err);
	if (r < 0)
		return r;
	if (s->accel == MON_ACCEL_AUTO && cfg->accel == MON_ACCEL_TCG)
		fprintf(stderr, "lcvm: notice: no usable hardware virtualisation (%s); using TCG emulation\n", why);
	char runtime[PATH_MAX], tscfile[PATH_MAX + 16];
	snprintf(runtime, sizeof(runtime), "%s/..", m->dir);
	snprintf(tscfile, sizeof(tscfile), "%s/tsc-khz", runtime);
	qemu_host_tsc_khz(tscfile, &cfg->tsc_khz);
	cfg->cpus = s->cpus;
	cfg->memory_mib = s->memory_mib;
	cfg->kernel = s->kernel;
	cfg->initrd = s->initrd;
	cfg->extra_append = s->debug ? "lcvm.debug=1" : NULL;
	for (size_t i = 0; i < s->nlayers && i < QEMU_MAX_DISKS; i++) {
		cfg->disks[i].path = s->layers[i].path;
		snprintf(cfg->disks[i].serial, sizeof(cfg->disks[i].serial), "layer%zu", i);
		cfg->disks[i].read_only = 1;
	}
	cfg->ndisks = s->nlayers;
	if (s->scratch && !s->read_only && cfg->ndisks < QEMU_MAX_DISKS) {
		if ((r = scratch_setup(m)) < 0)
			return r;
		struct qemu_disk *d = &cfg->disks[cfg->ndisks++];
		d->path = s->scratch;
		snprintf(d->serial, sizeof(d->serial), "%s", MON_SCRATCH_SERIAL);
		d->scratch = 1;
	}
	char console[PATH_MAX];
	snprintf(console, sizeof(console), "%s/%s", m->dir, MON_CONSOLE_FILE);
	m->console_log = open(console, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (m->console_log < 0)
		return lc_err_set(m->err, errno, "opening %s", console);
	return 0;
}

/* One QEMU process, with a fresh vsock device and console. */
static int launch_vm(struct monitor *m)
{
	if (m->boot_timer > 0)
		ev_timer_del(m->loop, m->boot_timer);
	m->boot_timer = 0;
	close_console(m);
	m->console.len = 0;
	if (m->boot_restarts > 0 && m->console_log >= 0)
		dprintf(m->console_log, "\n--- lcvm: new VM (restart %d) ---\n", m->boot_restarts);
	if (m->vsock)
		vsock_dev_free(m->vsock);
	m->vsock = vsock_dev_new(m->loop, MON_GUEST_CID, &host_ops, m);
	if (!m->vsock)
		return lc_err_set(m->err, ENOMEM, "creating the vsock device");
	/* vhost-user and the serial console over socketpairs: we keep one end
	 * of each, QEMU gets the other. */
	int vu[2], con[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, vu) < 0)
		return lc_err_set(m->err, errno, "socketpair");
	cleanup_close int qemu_vu = vu[1];
	int r = vsock_dev_attach_fd(m->vsock, vu[0]);
	if (r < 0)
		return lc_err_set(m->err, -r, "attaching the vsock device");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, con) < 0)
		return lc_err_set(m->err, errno, "socketpair");
	cleanup_close int qemu_con = con[1];
	m->console_fd = con[0];
	if (fcntl(con[0], F_SETFL, O_NONBLOCK) < 0 || ev_add(m->loop, con[0], EV_READ, on_console, m) < 0) {
		close(con[0]);
		m->console_fd = -1;
		return lc_err_set(m->err, errno ? errno : ENOMEM, "watching the guest console");
	}
	/* qemu_spawn hands pass[i] to QEMU as fd QEMU_PASS_FD + i. */
	const int pass[] = { qemu_vu, qemu_con };
	m->qemu_cfg.vhost_user_fd = QEMU_PASS_FD;
	m->qemu_cfg.console_fd = QEMU_PASS_FD + 1;
	char **argv = NULL;
	r = qemu_build_argv(&m->qemu_cfg, &argv, m->err);
	if (r < 0)
		return r;
	/* QEMU's own messages go to monitor.log, or to stderr with --debug. */
	r = qemu_spawn(argv, m->spec.debug ? 2 : m->log_fd, pass, 2, &m->qemu, m->err);
	strv_free(argv);
	if (r < 0)
		return r;
	mon_log(m, "QEMU started (pid %d, %s)", (int)m->qemu, m->qemu_cfg.accel == MON_ACCEL_KVM ? "kvm" : "tcg");
	long timeout = MON_BOOT_TIMEOUT_MS;
	const char *env = getenv("LCVM_BOOT_TIMEOUT_MS");
	if (env && atol(env) > 0)
		timeout = atol(env);
	long long id = ev_timer_add(m->loop, timeout, on_boot_timeout, m);
	m->boot_timer = id > 0 ? id : 0;
	return 0;
}

static int setup_signals(struct monitor *m)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	m->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (m->sigfd < 0)
		return lc_err_set(m->err, errno, "signalfd");
	return ev_add(m->loop, m->sigfd, EV_READ, on_signal, m);
}

static void cleanup(struct monitor *m)
{
	if (m->log_fd >= 0)
		close(m->log_fd); /* later mon_log calls write nowhere */
	m->log_fd = -1;
	if (m->qemu > 0) {
		kill(m->qemu, SIGKILL);
		waitpid(m->qemu, NULL, 0);
	}
	for (int i = 0; i < 3; i++)
		relay_free(m->relay[i]);
	if (m->rpc)
		ttrpc_client_free(m->rpc);
	/* Connections first (they hold fids), then the backends. */
	for (size_t i = 0; i < MON_MAX_MOUNTS; i++) {
		if (m->p9srv[i])
			p9_server_free(m->p9srv[i]);
		if (m->p9fs[i])
			p9_localfs_free(m->p9fs[i]);
	}
	if (m->vsock)
		vsock_dev_free(m->vsock);
	if (m->ready_fd >= 0)
		close(m->ready_fd);
	close_console(m);
	if (m->console_log >= 0)
		close(m->console_log);
	if (m->sigfd >= 0)
		close(m->sigfd);
	ev_loop_free(m->loop);
}

int mon_run(const char *dir, struct lc_err *e)
{
	struct monitor m = { .dir = dir, .err = e, .ready_fd = -1, .sigfd = -1, .qemu = -1,
			     .console_fd = -1, .console_log = -1, .t_start = ev_now_ms() };
	int r = mon_state_read_spec(dir, &m.spec, e);
	if (r < 0)
		return r;
	char logpath[PATH_MAX];
	snprintf(logpath, sizeof(logpath), "%s/%s", dir, MON_LOG_FILE);
	m.log_fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (m.log_fd < 0) {
		mon_spec_free(&m.spec);
		return lc_err_set(e, errno, "opening %s", logpath);
	}
	m.loop = ev_loop_new();
	if (!m.loop) {
		close(m.log_fd);
		mon_spec_free(&m.spec);
		return lc_err_set(e, errno ? errno : ENOMEM, "creating the event loop");
	}
	r = setup_signals(&m);
	if (r == 0)
		r = prepare_vm(&m);
	if (r == 0)
		r = launch_vm(&m);
	if (r == 0)
		r = p9_setup(&m);
	if (r == 0) {
		r = ev_run(m.loop);
		if (r < 0)
			lc_err_set(e, -r, "event loop");
		else
			r = m.exit_code < 0 ? m.exit_code : m.exit_code ? m.exit_code : m.status;
	}
	cleanup(&m);
	/* --rm: nothing of the container stays behind, whatever happened. */
	if (m.spec.remove)
		mon_state_remove(dir);
	else if (r >= 0)
		mon_state_write_status(dir, r);
	mon_spec_free(&m.spec);
	return r;
}
