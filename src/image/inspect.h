/* Read-only views of stored images for `lcvm images` and `lcvm image inspect`. */
#ifndef LCVM_IMAGE_INSPECT_H
#define LCVM_IMAGE_INSPECT_H

#include <stdint.h>

#include "image/store.h"

struct img_summary {
	char created[40]; /* RFC 3339 from the config, "" if unknown */
	uint64_t size;    /* config + layers as stored (compressed) */
};

int img_summarize(const struct img_store *s, const struct img_entry *en, struct img_summary *out, struct lc_err *e);
/* JSON (malloc'd, caller frees) describing the image `what`: Id, RepoTags,
 * RepoDigests, Created, Os, Architecture, Size, Config, RootFS, Layers. */
int img_inspect_json(const struct img_store *s, const char *what, char **out, struct lc_err *e);

#endif
