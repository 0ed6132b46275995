/* The image store: an OCI image layout under <data>/images, content
 * addressed, plus converted layer disks under <data>/layers/<diff_id hex>/.
 *
 *   <data>/images/oci-layout, index.json       index.json lists every named image:
 *                                                one manifest descriptor per name, with
 *                                                annotations org.opencontainers.image.ref.name
 *                                                (canonical name, "" = untagged) and
 *                                                io.lcvm.image.id (config digest)
 *   <data>/images/blobs/sha256/<hex>           verified blobs only
 *   <data>/images/tmp/<txn>/                   staging of one load or pull
 *   <data>/images/.lock                        flock: writers of index.json, blobs/, gc
 *
 * Writers never touch blobs/ or index.json directly: they open a transaction
 * (img_txn), stream blobs into its private staging directory (each verified by
 * sha256 and fsynced as it is closed), queue names, and commit. Commit moves
 * the staged blobs into blobs/ by rename and rewrites index.json atomically
 * (temp, fsync, rename), all under the lock. Abort (or a crash) leaves only
 * the staging directory, which gc removes once its owner's flock is gone: an
 * interrupted load or pull changes nothing visible and can simply be retried.
 *
 * Ownership: struct img_store is a plain value (paths); img_txn owns its
 * staging directory until commit or abort; img_list is owned by the caller. */
#ifndef LCVM_IMAGE_STORE_H
#define LCVM_IMAGE_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/digest.h"
#include "util/err.h"

#define IMG_NAMES_MAX 4096 /* entries in index.json */

struct img_store {
	char data[PATH_MAX];   /* data dir */
	char images[PATH_MAX]; /* <data>/images */
	char layers[PATH_MAX]; /* <data>/layers */
};

struct img_entry {
	char *name;                       /* canonical reference, "" when untagged */
	char digest[IMG_DIGEST_LEN + 1];  /* manifest digest */
	char id[IMG_DIGEST_LEN + 1];      /* config digest = image id */
	char media_type[130];
	uint64_t size;                    /* manifest size */
};

struct img_list {
	size_t n;
	struct img_entry *v;
};

/* Opens (creating when needed) the store under data_dir. */
int img_store_open(const char *data_dir, struct img_store *s, struct lc_err *e);
int img_store_blob_path(const struct img_store *s, const char *digest, char *out, size_t n);
bool img_store_has_blob(const struct img_store *s, const char *digest);
/* Reads a whole blob of at most max bytes and re-verifies its digest. */
int img_store_read_blob(const struct img_store *s, const char *digest, size_t max, char **buf, size_t *len,
			struct lc_err *e);

/* index.json */
int img_store_list(const struct img_store *s, struct img_list *out, struct lc_err *e);
void img_list_free(struct img_list *l);
/* Finds an image by reference (normalised), by full or abbreviated (>= 4 hex)
 * image id, or by manifest digest. Returns the index into l->v, -ENOENT
 * ("image X not found; pull it with 'lcvm pull X'") or -EINVAL. */
int img_list_find(const struct img_list *l, const char *what, struct lc_err *e);
/* Adds or moves name to point at the image of entry l->v[i]. */
int img_store_tag(const struct img_store *s, const char *what, const char *newname, struct lc_err *e);
/* Removes names (or all names of an image id); then gc. force: remove an
 * image id that has several names. Prints nothing; *removed counts names. */
int img_store_remove(const struct img_store *s, const char *what, bool force, struct lc_err *e);
/* Deletes blobs, layer disks and stale staging directories nothing refers to. */
int img_store_gc(const struct img_store *s, struct lc_err *e);

/* --- transactions ------------------------------------------------------- */
/* A name queued by img_txn_name (newest first). */
struct img_txn_name {
	struct img_txn_name *next;
	char *name;
	char digest[IMG_DIGEST_LEN + 1];
	char id[IMG_DIGEST_LEN + 1];
	char media_type[130];
	uint64_t size;
};
struct img_txn {
	const struct img_store *s;
	char dir[PATH_MAX];
	int lock_fd;
	struct img_txn_name *names;
};

struct img_blob_writer {
	int fd;
	struct img_sha sha;
	uint64_t size;
	uint64_t limit;
	unsigned char head[4]; /* first bytes, to sniff compression */
	char path[PATH_MAX];
};

int img_txn_begin(const struct img_store *s, struct img_txn *t, struct lc_err *e);
/* Staged or committed. */
bool img_txn_has_blob(const struct img_txn *t, const char *digest);
int img_txn_blob_path(const struct img_txn *t, const char *digest, char *out, size_t n);
int img_txn_read_blob(const struct img_txn *t, const char *digest, size_t max, char **buf, size_t *len,
		      struct lc_err *e);
int img_blob_open(struct img_txn *t, struct img_blob_writer *w, uint64_t limit, struct lc_err *e);
int img_blob_write(struct img_blob_writer *w, const void *p, size_t n, struct lc_err *e);
/* Verifies against expect (when not NULL), fsyncs and stages the blob under
 * its digest, written to out (may be NULL). Always releases w. */
int img_blob_close(struct img_txn *t, struct img_blob_writer *w, const char *expect,
		   char out[IMG_DIGEST_LEN + 1], struct lc_err *e);
void img_blob_discard(struct img_blob_writer *w);
int img_txn_put(struct img_txn *t, const void *p, size_t n, char out[IMG_DIGEST_LEN + 1], struct lc_err *e);
/* Queues "name -> manifest" (name "" = keep untagged). Checks the manifest,
 * its config and layers are all present (staged or in the store). */
int img_txn_name(struct img_txn *t, const char *name, const char *manifest_digest, struct lc_err *e);
int img_txn_commit(struct img_txn *t, struct lc_err *e);
void img_txn_abort(struct img_txn *t);

/* Writes index.json from a list (under the lock; used by commit, tag, remove). */
int img_store_write_index(const struct img_store *s, const struct img_list *l, struct lc_err *e);
int img_store_lock(const struct img_store *s, struct lc_err *e); /* returns fd */

#endif
