/* libFuzzer: image reference parser. Any input: no crash, and a parsed
 * reference re-parses from its canonical name to the same fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[IMG_REF_MAX + 64];
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
	memcpy(s, data, n);
	s[n] = 0;
	struct img_ref r, r2;
	struct lc_err e;
	if (img_ref_parse(s, &r, &e) < 0)
		return 0;
	char name[IMG_REF_MAX + 400];
	if (img_ref_name(&r, name, sizeof(name)) < 0)
		abort();
	if (img_ref_parse(name, &r2, &e) < 0 || strcmp(r.domain, r2.domain) || strcmp(r.path, r2.path))
		abort();
	return 0;
}
