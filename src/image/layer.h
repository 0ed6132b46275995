/* Layer -> read-only disk: one pass over the (compressed) layer tar.
 *
 *   blob --libarchive raw filter--> tar bytes --sha256--> diff_id check
 *                                       \--libarchive tar reader--> sanitised pax stream --> sqfstar --> squashfs
 *
 * Rootless: nothing is unpacked on the host; sqfstar (squashfs-tools >= 4.5)
 * builds the filesystem from the tar stream, keeping uid/gid, mode, mtime,
 * xattrs, hard links, symlinks, device nodes and FIFOs. OCI whiteouts become
 * overlayfs ones: ".wh.NAME" -> character device 0/0 "NAME"; ".wh..wh..opq" ->
 * xattr trusted.overlay.opaque=y on its directory (directories are therefore
 * emitted after their contents, at the end of the stream).
 *
 * Hostile entries are refused with a message and nothing is cached: a name with
 * a ".." component or an absolute name, an entry below a symlink of the same
 * layer, a hard link to something not earlier in the layer or to a directory,
 * absurd sizes or name lengths, a tar that does not hash to its diff_id.
 * Symlink targets are kept verbatim: they are resolved in the guest, inside
 * the container's root, never on the host.
 *
 * Cache: <data>/layers/<diff_id hex>/layer.sqfs, built in a temp dir and
 * renamed into place, so a reader sees a whole disk or none. */
#ifndef LCVM_IMAGE_LAYER_H
#define LCVM_IMAGE_LAYER_H

#include <stddef.h>

#include "image/store.h"
#include "util/err.h"

#define IMG_LAYER_FSTYPE "squashfs"
#define IMG_LAYER_FILE "layer.sqfs"
#define IMG_LAYER_ENTRIES_MAX (4u << 20) /* tar entries in one layer */
#define IMG_LAYER_PATH_MAX 4096          /* bytes of one entry name */
#define IMG_SQFSTAR "sqfstar"            /* $LCVM_SQFSTAR overrides */
#define IMG_BLOB_MAX_LAYER_FILE (64ull << 30) /* one file in a layer */

/* Converts the tar stream read from in_fd (gzip/zstd/plain, detected) into a
 * squashfs file at out_path. diff_id (may be NULL) must equal the sha256 of
 * the uncompressed tar. */
int img_layer_convert_fd(int in_fd, const char *diff_id, const char *out_path, struct lc_err *e);

/* The cached disk for diff_id, converting blob_digest from the store on first
 * use. out gets the disk's path. */
int img_layer_ensure(const struct img_store *s, const char *diff_id, const char *blob_digest, char *out, size_t n,
		     struct lc_err *e);

#endif
