#include "image/digest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

int img_sha_init(struct img_sha *s)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!c)
		return -ENOMEM;
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(c);
		return -EIO;
	}
	s->ctx = c;
	return 0;
}

void img_sha_update(struct img_sha *s, const void *p, size_t n)
{
	if (n)
		EVP_DigestUpdate(s->ctx, p, n);
}

int img_sha_final(struct img_sha *s, char out[IMG_DIGEST_LEN + 1])
{
	unsigned char md[32];
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(s->ctx, md, &len) != 1 || len != sizeof(md))
		return -EIO;
	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
	return 0;
}

void img_sha_free(struct img_sha *s)
{
	if (s->ctx)
		EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

int img_sha_buf(const void *p, size_t n, char out[IMG_DIGEST_LEN + 1])
{
	struct img_sha s;
	int r = img_sha_init(&s);
	if (r < 0)
		return r;
	img_sha_update(&s, p, n);
	r = img_sha_final(&s, out);
	img_sha_free(&s);
	return r;
}

bool img_hex64_valid(const char *h)
{
	for (int i = 0; i < IMG_DIGEST_HEX; i++) {
		char c = h[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false; /* also stops at NUL */
	}
	return h[IMG_DIGEST_HEX] == '\0';
}

bool img_digest_valid(const char *d)
{
	return d && !strncmp(d, "sha256:", 7) && img_hex64_valid(d + 7);
}
