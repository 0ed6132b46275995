/* What the runtime needs from the image store (the contract the monitor and
 * `lcvm run` code against). Converting layers on first use happens here, so
 * the first run of an image may take a while; later runs hit the cache. */
#ifndef LCVM_IMAGE_IMAGE_H
#define LCVM_IMAGE_IMAGE_H

#include <stddef.h>

#include "util/err.h"

/* Everything `lcvm run IMAGE` needs; owned by the caller, free with img_run_info_free. */
struct img_run_info {
	char *id;                                 /* image id (config digest) */
	size_t nlayers;
	char **layer_paths;                       /* read-only disks, TOP-MOST FIRST */
	char **layer_fstypes;                     /* "squashfs" each */
	char **entrypoint, **cmd, **env;          /* NULL-terminated, may be NULL */
	char *working_dir, *user;                 /* may be NULL */
	char **exposed_ports;                     /* NULL-terminated ("80/tcp"), may be NULL */
};

/* Resolves ref (name, name@digest or an image id prefix) in the store under
 * data_dir, converting its layers if needed. -ENOENT with "image REF not
 * found; pull it with 'lcvm pull REF'" when absent. */
int img_resolve_for_run(const char *data_dir, const char *ref, struct img_run_info *out, struct lc_err *e);
void img_run_info_free(struct img_run_info *ri);

#endif
