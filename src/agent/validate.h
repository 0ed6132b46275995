/* Validation of CreateContainer requests. The host is trusted no more than
 * necessary: everything the agent later turns into paths, mount options or
 * config.json is checked here first, in one place, before any side effect.
 * Pure functions, no I/O. */
#ifndef LCVM_AGENT_VALIDATE_H
#define LCVM_AGENT_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "agent.pb-c.h"
#include "util/err.h"

#define AGENT_ID_MAX 64u            /* [a-zA-Z0-9][a-zA-Z0-9_.-]{0,63} */
#define AGENT_HOSTNAME_MAX 64u      /* HOST_NAME_MAX */
#define AGENT_PATH_MAX 4096u        /* PATH_MAX, including the NUL */
#define AGENT_MAX_ARGS 4096u
#define AGENT_MAX_ENV 4096u
#define AGENT_ARG_MAX (128u << 10)  /* MAX_ARG_STRLEN */
#define AGENT_ARGS_TOTAL_MAX (1u << 20) /* args + env bytes together */
#define AGENT_MAX_GIDS 256u
#define AGENT_MAX_LAYERS 64u
#define AGENT_SERIAL_MAX 20u        /* virtio-blk serial field length */
#define AGENT_MAX_MOUNTS 64u
#define AGENT_9P_MSIZE_MIN 8192u
#define AGENT_9P_MSIZE_MAX (1u << 20) /* trans=fd limit */

bool agent_valid_id(const char *id);
bool agent_valid_hostname(const char *h);
/* Absolute, no "." or ".." component, no empty component except a
 * trailing slash, shorter than AGENT_PATH_MAX. */
bool agent_valid_abspath(const char *p);
bool agent_valid_serial(const char *s);
bool agent_valid_fstype(const char *t); /* squashfs: the only layer fs the guest ships */
bool agent_valid_9p_cache(const char *c); /* "", none, loose, fscache, mmap */

/* Checks a whole request; on failure returns -EINVAL with a one-line reason
 * in e (which names the offending field, never echoes unbounded input). */
int agent_validate_create(const Lcvm__Agent__V1__CreateContainerRequest *r, struct lc_err *e);

#endif
