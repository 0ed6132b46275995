/* IMAGE argument of `lcvm run` -> what the VM needs: read-only layer disks
 * (top-most first) and the image config (entrypoint, cmd, env, workdir,
 * user). Looks in the built-in images of the guest dir (images/NAME/ with
 * rootfs.squashfs and an OCI image config.json), the embedded default
 * `busybox` among them. Everything in struct cli_image is owned by it. */
#ifndef LCVM_CLI_IMAGE_RESOLVE_H
#define LCVM_CLI_IMAGE_RESOLVE_H

#include <stddef.h>

#include "cli/cli.h"
#include "monitor/spec.h"

struct cli_image {
	struct mon_layer *layers;
	size_t nlayers;
	char **entrypoint, **cmd, **env; /* NULL-terminated or NULL */
	char *working_dir, *user;
};

int cli_image_resolve(const struct cli_globals *g, const char *guest_dir, const char *ref,
		      struct cli_image *out, struct lc_err *e);
void cli_image_free(struct cli_image *img);

#endif
