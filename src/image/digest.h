/* Content digests: "sha256:<64 lowercase hex>", the only algorithm lcvm
 * accepts (OCI image-spec "Digests"; anything else is refused, fail closed).
 * struct img_sha is a streaming hasher owned by the caller (init, update,
 * final, free). No I/O. */
#ifndef LCVM_IMAGE_DIGEST_H
#define LCVM_IMAGE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#define IMG_DIGEST_HEX 64
#define IMG_DIGEST_LEN (7 + IMG_DIGEST_HEX) /* "sha256:" + hex, without NUL */

struct img_sha {
	void *ctx; /* EVP_MD_CTX */
};

int img_sha_init(struct img_sha *s);
void img_sha_update(struct img_sha *s, const void *p, size_t n);
/* Writes "sha256:<hex>" plus NUL into out (IMG_DIGEST_LEN + 1 bytes). */
int img_sha_final(struct img_sha *s, char out[IMG_DIGEST_LEN + 1]);
void img_sha_free(struct img_sha *s);

/* One-shot digest of a buffer. */
int img_sha_buf(const void *p, size_t n, char out[IMG_DIGEST_LEN + 1]);

/* True for exactly "sha256:" followed by 64 lowercase hex digits. */
bool img_digest_valid(const char *d);
/* Pointer to the hex part of a valid digest. */
static inline const char *img_digest_hex(const char *d) { return d + 7; }
/* True for a string of 64 lowercase hex digits. */
bool img_hex64_valid(const char *h);

#endif
