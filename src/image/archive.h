/* lcvm load / save: image archives.
 *   load: a docker-save archive (manifest.json + config + layer tars, old or
 *         new layout) or an OCI image layout tarball (oci-layout, index.json,
 *         blobs/), optionally compressed; read in one pass with libarchive.
 *         Every blob is verified and staged in a store transaction; names are
 *         applied only when the whole archive was read and is consistent, so a
 *         bad archive leaves the store unchanged.
 *   save: an OCI image layout tarball that also carries docker's manifest.json,
 *         so both `docker load` and `lcvm load` accept it.
 * Archive member names are untrusted: only the names listed above are used,
 * sizes are bounded, and anything else is ignored. */
#ifndef LCVM_IMAGE_ARCHIVE_H
#define LCVM_IMAGE_ARCHIVE_H

#include <stddef.h>

#include "image/store.h"
#include "util/err.h"

#define IMG_ARCHIVE_FILES_MAX 4096 /* members remembered while loading */

/* Reads the archive from fd. Calls out(name, arg) for each image name loaded
 * ("" for an untagged image, then id is given). */
int img_load(const struct img_store *s, int fd, void (*out)(const char *name, const char *id, void *arg),
	     void *arg, struct lc_err *e);
/* Writes the images named by what[0..n) (names or ids) to fd. */
int img_save(const struct img_store *s, const char *const *what, size_t n, int fd, struct lc_err *e);

#endif
