/* Image references (docker/distribution "reference" grammar, bounded):
 *   busybox                      -> docker.io/library/busybox:latest
 *   library/debian:12            -> docker.io/library/debian:12
 *   HOST[:PORT]/repo/x:tag       -> HOST:PORT/repo/x:tag (first component is a host
 *                                   when it has a '.' or ':' or is "localhost")
 *   repo@sha256:<64 hex>         -> by digest (a tag may precede the digest)
 * Pure string code, no I/O; every field has a fixed bound and a longer or
 * malformed input is refused with -EINVAL and a message. */
#ifndef LCVM_IMAGE_REF_H
#define LCVM_IMAGE_REF_H

#include <stdbool.h>
#include <stddef.h>

#include "image/digest.h"
#include "util/err.h"

#define IMG_REF_MAX 512        /* whole input */
#define IMG_REF_DOMAIN_MAX 253 /* host[:port] */
#define IMG_REF_PATH_MAX 255   /* repository path, docker's NameTotalLengthMax */
#define IMG_REF_TAG_MAX 128
#define IMG_REF_DEFAULT_DOMAIN "docker.io"
#define IMG_REF_DEFAULT_TAG "latest"

struct img_ref {
	char domain[IMG_REF_DOMAIN_MAX + 1];
	char path[IMG_REF_PATH_MAX + 1];
	char tag[IMG_REF_TAG_MAX + 1];        /* "" when only a digest was given */
	char digest[IMG_DIGEST_LEN + 1];      /* "" when not given */
};

/* Parses and normalises s (see above). Fills *r; returns 0 or -EINVAL. */
int img_ref_parse(const char *s, struct img_ref *r, struct lc_err *e);

/* "domain/path" */
int img_ref_repo(const struct img_ref *r, char *out, size_t n);
/* Canonical name used as the store's key: "domain/path:tag" when a tag is
 * set, else "domain/path@digest". */
int img_ref_name(const struct img_ref *r, char *out, size_t n);
/* Short form for display: docker.io/library/ and docker.io/ dropped. Writes
 * the repository only (no tag). */
int img_ref_familiar_repo(const struct img_ref *r, char *out, size_t n);
/* Host to contact for the registry API: docker.io -> registry-1.docker.io. */
const char *img_ref_api_host(const struct img_ref *r);

#endif
