/* The agent's context: one per guest, owned by main(). Everything the
 * modules share goes through it (no global mutable state). */
#ifndef LCVM_AGENT_AGENT_H
#define LCVM_AGENT_AGENT_H

#include <stdbool.h>
#include <sys/types.h>

#include "agent/modlist.h"

struct ev_loop;
struct ttrpc_server;
struct agent_container;
struct agent_selftest;

enum agent_cevent {
	AGENT_EV_STARTED,   /* crun finished: c->pid set, or c->start_error */
	AGENT_EV_EXITED,    /* the container's init exited: c->exit_status */
};

struct agent {
	struct ev_loop *loop;
	struct agent_modlist mods;
	/* The "storage" group, loading while the agent starts serving; joined
	 * before the first container is built (agent_container_create). */
	struct agent_modload storage_mods;
	/* crun's warm-up run (warm.h), 0 when none is running. */
	pid_t warm_pid;
	double warm_started; /* agent_uptime() */
	struct ttrpc_server *srv;
	int sigfd;     /* signalfd for SIGCHLD */
	int listen_fd; /* vsock LCVM_PORT_AGENT, or -1 */
	struct agent_container *containers; /* owned list, newest first */
	unsigned next_idx;                  /* names /run/lcvm/<idx> */
	const char *run_dir;                /* AGENT_RUN_DIR; tests use a temp dir */
	char kernel_release[65];
	bool selftest;
	struct agent_selftest *selftest_state; /* selftest.c's, when selftest */
	/* Called for container state changes (service.c or the self-test). */
	void (*on_event)(struct agent *a, struct agent_container *c, enum agent_cevent ev);
};

#endif
