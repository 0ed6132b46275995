/* libFuzzer: registry/archive documents (manifest, index, config) and the
 * WWW-Authenticate parser; the first byte picks the decoder. */
#include <stdint.h>
#include <string.h>

#include "image/oci.h"
#include "image/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	struct lc_err e;
	switch (data[0] % 5) {
	case 0: {
		struct img_manifest m;
		if (img_manifest_parse(p, n, &m, &e) == 0)
			img_manifest_free(&m);
		break;
	}
	case 1: {
		struct img_index ix;
		const struct img_desc *d;
		if (img_index_parse(p, n, &ix, &e) == 0) {
			img_index_pick(&ix, "linux", "amd64", &d, &e);
			img_index_free(&ix);
		}
		break;
	}
	case 2: {
		struct img_config c;
		if (img_config_parse(p, n, &c, &e) == 0)
			img_config_free(&c);
		break;
	}
	case 3: {
		enum img_doc_kind k;
		img_doc_kind(p, n, NULL, &k, &e);
		break;
	}
	default: {
		struct img_challenge c;
		img_parse_challenge(p, n, &c);
		break;
	}
	}
	return 0;
}
