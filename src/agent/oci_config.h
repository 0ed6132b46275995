/* The OCI runtime config (config.json) for one container, as crun reads it.
 * A pure function of the validated request: no I/O, so it is unit-tested on
 * its own. Strings go through jansson (an escaping writer), never a printf
 * template. Defaults follow docker's: namespaces, mounts, capabilities,
 * masked/read-only paths, RLIMIT_NOFILE. */
#ifndef LCVM_AGENT_OCI_CONFIG_H
#define LCVM_AGENT_OCI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "agent.pb-c.h"
#include "agent/user.h"
#include "util/err.h"

#define AGENT_OCI_NOFILE 1048576u /* docker/containerd default soft = hard */

/* A bind mount of a guest directory (a mounted 9P share) into the container. */
struct agent_oci_bind {
	const char *source; /* absolute guest path */
	const char *target; /* absolute path inside the container */
	bool read_only;
};

struct agent_oci_input {
	const Lcvm__Agent__V1__CreateContainerRequest *req; /* already validated */
	const char *rootfs;       /* root.path, relative to the bundle or absolute */
	const char *cgroups_path; /* e.g. "/lcvm/<id>" */
	const struct agent_oci_bind *binds;
	size_t n_binds;
	/* The init shim (shim.h): when set, bound read-only from init_source
	 * at init_target and run as `init_target -- <args...>`. */
	const char *init_source;
	const char *init_target;
	/* Resolved process.user (user.h); NULL = process uid/gid/additional_gids. */
	const struct agent_user *user;
};

/* Returns 0 and a malloc'ed NUL-terminated JSON text in *out, or -EINVAL
 * (e.g. a string that is not UTF-8, which JSON cannot carry) / -ENOMEM. */
int agent_oci_config(const struct agent_oci_input *in, char **out, struct lc_err *e);

#endif
