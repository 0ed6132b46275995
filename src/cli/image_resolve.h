/* IMAGE argument of `lcvm run` -> what the VM needs: read-only layer disks
 * (top-most first) and the image config (entrypoint, cmd, env, workdir,
 * user, exposed ports).
 *
 * Lookup order: the image store of the data dir (lc_data_dir(g->root)),
 * through img_resolve_for_run, which converts layers on first use; then,
 * only when the store has no such name, the built-in images of the guest dir
 * (images/NAME/ with rootfs.squashfs and an OCI image config.json), the
 * embedded default `busybox` among them. The fallback keeps `lcvm run
 * busybox` working for any --root and right after `make guest`, before (or
 * without) `make busybox-image` imports the same image into the store.
 * Everything in struct cli_image is owned by it. */
#ifndef LCVM_CLI_IMAGE_RESOLVE_H
#define LCVM_CLI_IMAGE_RESOLVE_H

#include <stddef.h>

#include "cli/cli.h"
#include "monitor/spec.h"

struct cli_image {
	struct mon_layer *layers;
	size_t nlayers;
	char **entrypoint, **cmd, **env; /* NULL-terminated or NULL */
	char *working_dir, *user;      /* NULL when unset */
	char **exposed_ports;          /* "80/tcp", NULL-terminated or NULL */
	char *id;                      /* image id (config digest); "builtin:NAME" for built-ins */
};

int cli_image_resolve(const struct cli_globals *g, const char *guest_dir, const char *ref,
		      struct cli_image *out, struct lc_err *e);
void cli_image_free(struct cli_image *img);

#endif
