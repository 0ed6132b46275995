#include "agent/selftest.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "agent/container.h"
#include "agent/init.h"
#include "agent/log.h"
#include "util/cleanup.h"

static void finish(int status)
{
	printf("lcvm-selftest: exit %d\n", status);
	fflush(stdout);
	agent_log("self-test done");
	agent_poweroff();
}

static void on_event(struct agent *a, struct agent_container *c, enum agent_cevent ev)
{
	if (ev == AGENT_EV_STARTED && !c->start_error)
		agent_log("self-test container started, pid %d", (int)c->pid);
	if (c->state == AGENT_C_STOPPED) {
		if (c->start_error)
			agent_log("self-test: %s", c->start_msg);
		finish(c->exit_status);
	}
}

void agent_selftest_begin(struct agent *a)
{
	char *args[] = { "uname", "-r" };
	char *env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
	Lcvm__Agent__V1__Process proc = LCVM__AGENT__V1__PROCESS__INIT;
	proc.n_args = ARRAY_SIZE(args);
	proc.args = args;
	proc.n_env = ARRAY_SIZE(env);
	proc.env = env;
	Lcvm__Agent__V1__Layer layer = LCVM__AGENT__V1__LAYER__INIT;
	layer.serial = "rootfs";
	layer.fstype = "squashfs";
	Lcvm__Agent__V1__Layer *layers[] = { &layer };
	Lcvm__Agent__V1__CreateContainerRequest req = LCVM__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	req.id = "selftest";
	req.process = &proc;
	req.n_layers = 1;
	req.layers = layers;

	a->on_event = on_event;
	struct lc_err e = { { 0 } };
	struct agent_container *c;
	int ret = agent_container_create(a, &req, &c, &e);
	agent_log("self-test container created");
	if (ret == 0) {
		cleanup_close int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int fds[3] = { null, STDOUT_FILENO, STDERR_FILENO };
		ret = null < 0 ? lc_err_set(&e, errno, "/dev/null") : agent_container_start(a, c, fds, &e);
	}
	if (ret < 0) {
		agent_log("self-test: %s", e.msg);
		finish(125);
	}
}
