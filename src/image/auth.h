/* Registry credentials for `lcvm login` and pulls.
 * Stored in <data>/auth.json, mode 0600, in Docker's config.json shape
 * ({"auths": {"HOST[:PORT]": {"auth": base64("user:password")}}}); when a host
 * is not there, ~/.docker/config.json (or $DOCKER_CONFIG/config.json) "auths"
 * are read too (credential helpers are not supported). */
#ifndef LCVM_IMAGE_AUTH_H
#define LCVM_IMAGE_AUTH_H

#include <stddef.h>

#include "util/err.h"

#define IMG_AUTH_FIELD_MAX 1024

struct img_cred {
	char user[IMG_AUTH_FIELD_MAX];
	char pass[IMG_AUTH_FIELD_MAX];
};

/* 0 and *c filled, -ENOENT when none is stored for host. */
int img_auth_get(const char *data_dir, const char *host, struct img_cred *c);
/* Stores (replacing) credentials for host. */
int img_auth_put(const char *data_dir, const char *host, const struct img_cred *c, struct lc_err *e);
/* Decodes base64("user:pass") into c; -EINVAL when malformed. */
int img_auth_decode(const char *b64, struct img_cred *c);

#endif
