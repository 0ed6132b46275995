/* Containers in the guest: root filesystem assembly (layers by virtio-blk
 * serial, overlayfs, 9P shares), the OCI bundle, start with crun, and
 * reaping. No RPC knowledge: state changes are reported through
 * agent->on_event (service.c turns them into ttrpc replies).
 *
 * Each container lives in <run_dir>/<idx>/ (short names keep the overlay
 * option string far below its 4 KiB page limit with 64 layers):
 *   l<N>/    layer N mounted read-only      s/       scratch or tmpfs
 *   m<N>/    9P share N                     rootfs/  the overlay
 *   config.json, pid, crun.log
 *
 * Start: `crun run --detach`, so crun exits once the container runs and the
 * container's init is re-parented to PID 1 (us). We reap it ourselves and
 * report its exact wait status (128+N for signal N). A foreground `crun run`
 * would keep a crun process alive per container and fold crun's own errors
 * into the same status as the container's. */
#ifndef LCVM_AGENT_CONTAINER_H
#define LCVM_AGENT_CONTAINER_H

#include <stdbool.h>
#include <sys/types.h>

#include "agent.pb-c.h"
#include "agent/agent.h"
#include "agent/oci_config.h"
#include "agent/validate.h"
#include "util/err.h"

#define AGENT_RUN_DIR "/run/lcvm"
#define AGENT_MAX_CONTAINERS 256u
#define AGENT_MAX_WAITERS 64u /* outstanding WaitContainer calls per container */
#define AGENT_9P_DEFAULT_MSIZE (512u << 10)
/* cache=mmap: page cache only for mmap (needed for shared writable maps and
 * executables), otherwise uncached so host-side changes are seen at once. */
#define AGENT_9P_DEFAULT_CACHE "mmap"

enum agent_cstate {
	AGENT_C_CREATED,
	AGENT_C_STARTING, /* crun running */
	AGENT_C_RUNNING,
	AGENT_C_STOPPED,  /* init exited (exit_status) or start failed (start_error) */
};

struct ttrpc_call;

struct agent_swapon;

struct agent_container {
	struct agent_container *next;
	char id[AGENT_ID_MAX + 1];
	char dir[64];
	enum agent_cstate state;
	unsigned stdio_ports[3]; /* host ports from Process; 0 = /dev/null */
	/* Connections to those ports, begun at create so that the round trips
	 * overlap building the rootfs; -1 when none is pending. Owned here
	 * until agent_container_take_stdio(). */
	int stdio_fds[3];
	pid_t crun_pid;
	pid_t pid;           /* container init, in the guest's pid namespace */
	bool init_exited;    /* reaped, possibly before crun's exit was seen */
	int exit_status;
	int start_error;     /* -errno when the start failed */
	char start_msg[256]; /* crun's last log line on failure */
	char **mounts;       /* mounted paths, unmounted in reverse */
	size_t n_mounts;
	struct agent_swapon *swapon; /* the scratch area's swapon thread, or NULL */
	/* Service state (owned by service.c, stored here to follow the
	 * container's lifetime). */
	struct ttrpc_call *start_call;
	struct ttrpc_call *waiters[AGENT_MAX_WAITERS];
	size_t n_waiters;
};

struct agent_container *agent_container_find(struct agent *a, const char *id);

/* Validates the request, assembles the rootfs and writes the bundle. On
 * failure everything done is undone; -EINVAL/-ENOTSUP for a bad request,
 * -EEXIST for a duplicate id, -ENOENT for a missing disk, ... */
int agent_container_create(struct agent *a, const Lcvm__Agent__V1__CreateContainerRequest *r,
			   struct agent_container **out, struct lc_err *e);

/* Spawns crun with stdio[0..2] as the container's fds 0/1/2 (borrowed: the
 * caller closes its copies after this returns, so the host sees EOF when
 * the container's last holder exits). AGENT_EV_STARTED follows from the
 * loop once crun exits. */
/* Hands the stdio streams over (connected, blocking; /dev/null for port 0):
 * those begun at create are finished, the others connected now. Returns 0
 * or -errno with e filled (then fds holds nothing). */
int agent_container_take_stdio(struct agent_container *c, int fds[3], struct lc_err *e);
int agent_container_start(struct agent *a, struct agent_container *c, const int stdio[3],
			  struct lc_err *e);

/* Generates config.json for in (oci_config.h) and writes it into the bundle
 * directory dir. Returns 0 or -errno (e filled). */
int agent_bundle_write_config(const char *dir, const struct agent_oci_input *in, struct lc_err *e);

/* Spawns crun (AGENT_CRUN_PATH) with argv in a new session, stdio[0..2] as
 * its stdin/out/err, SIGCHLD and SIGPIPE back to their defaults. The child
 * inherits the caller's personality (warm.h). Returns 0 or -errno. */
int agent_crun_spawn(char *const argv[], const int stdio[3], pid_t *pid);

/* Sends sig (1..NSIG-1) to the container's init (the shim, which forwards
 * it to the command). -EINVAL for a bad signal, -EBUSY when the container
 * is not running, else -errno of kill(2). */
int agent_container_signal(struct agent_container *c, int sig, struct lc_err *e);

/* Reaps every exited child (call on SIGCHLD) and raises events; the
 * warm-up's crun (a->warm_pid) is finished off here too. */
void agent_reap(struct agent *a);

/* Kills every process, unmounts every container's filesystems. */
void agent_containers_teardown(struct agent *a);

/* Builds the overlay mount data "lowerdir=...,upperdir=...,workdir=..."
 * for layers dir/l0..l<n-1> (top-most first). upper NULL = read-only.
 * Pure; -ENAMETOOLONG when it would not fit in len. */
int agent_overlay_opts(char *buf, size_t len, const char *dir, size_t n_layers, bool has_upper);

/* Reads a pid file written by crun: a decimal pid > 0. Pure parse. */
int agent_parse_pid(const char *text, pid_t *pid);

#endif
