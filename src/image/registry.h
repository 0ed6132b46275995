/* Registry client (distribution API v2) over libcurl: `lcvm pull` and
 * `lcvm login`. Anonymous bearer tokens from the WWW-Authenticate challenge,
 * basic auth from stored credentials (image/auth.h), manifest lists and OCI
 * indexes resolved to linux/amd64, schema2 and OCI manifests, layers in any
 * compression (stored as they are, converted later), parallel blob downloads
 * with retries, progress on a TTY or as plain lines.
 *
 * Everything a registry sends is untrusted: documents are size-capped,
 * every blob is verified against its digest before it is staged, and a pull
 * goes through a store transaction, so a failed or interrupted pull leaves
 * the store as it was (retrying re-downloads only what is missing from the
 * store). */
#ifndef LCVM_IMAGE_REGISTRY_H
#define LCVM_IMAGE_REGISTRY_H

#include <stdbool.h>
#include <stdio.h>

#include "image/auth.h"
#include "image/digest.h"
#include "image/store.h"
#include "util/err.h"

#define IMG_PULL_PARALLEL 4     /* concurrent blob downloads */
#define IMG_PULL_RETRIES 3      /* attempts per request */
#define IMG_TOKEN_MAX (64u << 10)
#define IMG_CHALLENGE_MAX 4096  /* bytes of a WWW-Authenticate header we parse */

struct img_pull_opts {
	bool insecure;       /* plain HTTP instead of HTTPS */
	const char *ca_cert; /* PEM bundle for TLS, or NULL for the system's */
	FILE *progress;      /* NULL: quiet */
	bool tty;            /* progress as one redrawn line */
	bool no_convert;     /* skip converting layers to disks after the pull */
};

struct img_challenge {
	char scheme[16]; /* "bearer" or "basic", lowercase */
	char realm[1024], service[256], scope[512];
};

/* Parses a WWW-Authenticate value. -EINVAL when malformed or unsupported. */
int img_parse_challenge(const char *hdr, size_t n, struct img_challenge *c);

/* Pulls ref into the store; id_out (may be NULL) gets the image id. */
int img_pull(const struct img_store *s, const char *ref, const struct img_pull_opts *o,
	     char id_out[IMG_DIGEST_LEN + 1], struct lc_err *e);
/* Checks credentials against HOST's /v2/ endpoint (with the token flow). */
int img_login_check(const char *host, const struct img_cred *c, const struct img_pull_opts *o, struct lc_err *e);

#endif
