/* A container's state directory under the runtime dir: created by the CLI,
 * written atomically (temp file, fsync, rename), read by the monitor and by
 * other verbs. Layout: spec.json, monitor.pid, exit-status, console.log,
 * monitor.log, vhost-user.sock (names in monitor.h), and the scratch.img
 * link to the scratch disk in the data dir (monitor/scratch.h). */
#ifndef LCVM_MONITOR_STATE_H
#define LCVM_MONITOR_STATE_H

#include <stddef.h>

#include "monitor/spec.h"
#include "util/err.h"

/* Writes data to dir/name atomically. */
int mon_state_write_file(const char *dir, const char *name, const void *data, size_t len, struct lc_err *e);
/* Reads dir/name (at most max bytes) into a malloc'd NUL-terminated buffer. */
int mon_state_read_file(const char *dir, const char *name, size_t max, char **out, size_t *len,
			struct lc_err *e);

/* Creates <runtime>/<id> (mode 0700), writes spec.json. out gets the path. */
int mon_state_create(const char *runtime_dir, const struct mon_spec *s, char *out, size_t outlen,
		     struct lc_err *e);
int mon_state_read_spec(const char *dir, struct mon_spec *s, struct lc_err *e);
int mon_state_write_status(const char *dir, int status);
/* Removes the directory and everything in it (no symlinks followed). */
int mon_state_remove(const char *dir);

#endif
