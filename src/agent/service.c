#include "agent/service.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "agent/container.h"
#include "agent/init.h"
#include "agent/log.h"
#include "agent/vsock.h"
#include "util/cleanup.h"
#include "util/evloop.h"
#include "util/vsock_ports.h"

#ifndef LCVM_AGENT_VERSION
#define LCVM_AGENT_VERSION "0.1"
#endif

int agent_grpc_code(int err)
{
	switch (err) {
	case -EINVAL:
	case -ENAMETOOLONG:
	case -E2BIG:
		return TTRPC_INVALID_ARGUMENT;
	case -ENOTSUP:
		return TTRPC_UNIMPLEMENTED;
	case -EEXIST:
		return TTRPC_ALREADY_EXISTS;
	case -ENOENT:
		return TTRPC_NOT_FOUND;
	case -EBUSY:
		return TTRPC_FAILED_PRECONDITION;
	case -EMFILE:
	case -ENOMEM:
		return TTRPC_UNAVAILABLE;
	default:
		return TTRPC_INTERNAL;
	}
}

static struct agent_container *lookup(struct agent *a, struct ttrpc_call *call, const char *id)
{
	struct agent_container *c = id ? agent_container_find(a, id) : NULL;
	if (!c)
		ttrpc_reply_error(call, TTRPC_NOT_FOUND, "no container %.64s", id ? id : "");
	return c;
}

static void h_ping(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	struct agent *a = opaque;
	Lcvm__Agent__V1__PingResponse resp = LCVM__AGENT__V1__PING_RESPONSE__INIT;
	resp.protocol_version = LCVM_AGENT_PROTOCOL_VERSION;
	resp.kernel_release = a->kernel_release;
	resp.agent_version = (char *)LCVM_AGENT_VERSION;
	ttrpc_reply(call, &resp.base);
}

static void h_create(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	struct agent *a = opaque;
	const Lcvm__Agent__V1__CreateContainerRequest *r = (const void *)req;
	struct lc_err e = { { 0 } };
	struct agent_container *c;
	double t0 = agent_uptime();
	int ret = agent_container_create(a, r, &c, &e);
	if (ret < 0) {
		agent_log("CreateContainer: %s", e.msg);
		ttrpc_reply_error(call, agent_grpc_code(ret), "%s", e.msg);
		return;
	}
	agent_log("container %s created in %.3f s", c->id, agent_uptime() - t0);
	Lcvm__Agent__V1__CreateContainerResponse resp = LCVM__AGENT__V1__CREATE_CONTAINER_RESPONSE__INIT;
	ttrpc_reply(call, &resp.base);
}

static void h_start(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	struct agent *a = opaque;
	const Lcvm__Agent__V1__StartContainerRequest *r = (const void *)req;
	struct agent_container *c = lookup(a, call, r->id);
	if (!c)
		return;
	if (c->state != AGENT_C_CREATED) {
		ttrpc_reply_error(call, TTRPC_FAILED_PRECONDITION, "container %s was already started", c->id);
		return;
	}
	struct lc_err e = { { 0 } };
	int fds[3];
	int ret = agent_container_take_stdio(c, fds, &e);
	if (ret == 0) {
		ret = agent_container_start(a, c, fds, &e);
		/* The container holds its own copies now (or never will). */
		for (int i = 0; i < 3; i++)
			close(fds[i]);
	}
	if (ret < 0) {
		agent_log("StartContainer %s: %s", c->id, e.msg);
		ttrpc_reply_error(call, agent_grpc_code(ret), "%s", e.msg);
		return;
	}
	c->start_call = call; /* answered on AGENT_EV_STARTED */
}

static void reply_wait(struct ttrpc_call *call, int status)
{
	Lcvm__Agent__V1__WaitContainerResponse resp = LCVM__AGENT__V1__WAIT_CONTAINER_RESPONSE__INIT;
	resp.exit_status = status;
	ttrpc_reply(call, &resp.base);
}

static void h_wait(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	struct agent *a = opaque;
	const Lcvm__Agent__V1__WaitContainerRequest *r = (const void *)req;
	struct agent_container *c = lookup(a, call, r->id);
	if (!c)
		return;
	if (c->state == AGENT_C_STOPPED) {
		reply_wait(call, c->exit_status);
		return;
	}
	if (c->n_waiters >= AGENT_MAX_WAITERS) {
		ttrpc_reply_error(call, TTRPC_UNAVAILABLE, "too many waiters on %s", c->id);
		return;
	}
	c->waiters[c->n_waiters++] = call;
}

static void h_signal(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	struct agent *a = opaque;
	const Lcvm__Agent__V1__SignalContainerRequest *r = (const void *)req;
	struct agent_container *c = lookup(a, call, r->id);
	if (!c)
		return;
	struct lc_err e = { { 0 } };
	int ret = r->signal >= (uint32_t)NSIG ? lc_err_setx(&e, EINVAL, "invalid signal %u", r->signal)
					       : agent_container_signal(c, (int)r->signal, &e);
	if (ret < 0) {
		ttrpc_reply_error(call, agent_grpc_code(ret), "%s", e.msg);
		return;
	}
	Lcvm__Agent__V1__Empty resp = LCVM__AGENT__V1__EMPTY__INIT;
	ttrpc_reply(call, &resp.base);
}

static long shutdown_timer(struct ev_loop *loop, long long id, void *data)
{
	agent_poweroff();
}

static void h_shutdown(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	struct agent *a = opaque;
	/* Once the reply is sent nothing in the VM matters any more: every
	 * process is gone and sync(2) has written dirty pages of 9P mounts
	 * to the host (the scratch disk is swap, the layers are read-only). The
	 * monitor stops QEMU on the reply rather than waiting for the kernel's
	 * power-off path (~30 ms emulated), as Kata stops its VMs. */
	agent_log("shutting down");
	agent_containers_teardown(a);
	sync();
	Lcvm__Agent__V1__Empty resp = LCVM__AGENT__V1__EMPTY__INIT;
	ttrpc_reply(call, &resp.base);
	/* Power off anyway, from the loop's next round so the reply is on its way. */
	if (ev_timer_add(a->loop, 0, shutdown_timer, a) < 0)
		agent_poweroff();
}

void agent_service_on_event(struct agent *a, struct agent_container *c, enum agent_cevent ev)
{
	if (ev == AGENT_EV_STARTED && c->start_call) {
		struct ttrpc_call *call = take_ptr(&c->start_call);
		if (c->start_error) {
			ttrpc_reply_error(call, TTRPC_FAILED_PRECONDITION, "%s", c->start_msg);
		} else {
			Lcvm__Agent__V1__StartContainerResponse resp = LCVM__AGENT__V1__START_CONTAINER_RESPONSE__INIT;
			resp.pid = (uint32_t)c->pid;
			ttrpc_reply(call, &resp.base);
		}
	}
	/* A failed start also ends the container: waiters learn it too. */
	if (c->state == AGENT_C_STOPPED) {
		agent_log("container %s exited with status %d", c->id, c->exit_status);
		for (size_t i = 0; i < c->n_waiters; i++)
			reply_wait(c->waiters[i], c->exit_status);
		c->n_waiters = 0;
	}
}

static const struct ttrpc_method methods[] = {
	{ LCVM_AGENT_SERVICE, "Ping", &lcvm__agent__v1__ping_request__descriptor, h_ping },
	{ LCVM_AGENT_SERVICE, "CreateContainer", &lcvm__agent__v1__create_container_request__descriptor, h_create },
	{ LCVM_AGENT_SERVICE, "StartContainer", &lcvm__agent__v1__start_container_request__descriptor, h_start },
	{ LCVM_AGENT_SERVICE, "WaitContainer", &lcvm__agent__v1__wait_container_request__descriptor, h_wait },
	{ LCVM_AGENT_SERVICE, "SignalContainer", &lcvm__agent__v1__signal_container_request__descriptor, h_signal },
	{ LCVM_AGENT_SERVICE, "Shutdown", &lcvm__agent__v1__shutdown_request__descriptor, h_shutdown },
};

const struct ttrpc_method *agent_service_methods(size_t *n)
{
	*n = ARRAY_SIZE(methods);
	return methods;
}
