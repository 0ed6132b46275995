/* libFuzzer harness for the 9P codec: any bytes either fail to decode or
 * decode to a message that re-encodes to exactly the same bytes; Rreaddir
 * data parsing stays in bounds.
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_p9_codec.c src/p9/codec.c -o build/fuzz_p9_codec */
#include <stdlib.h>
#include <string.h>

#include "p9/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < P9_HDRSZ || size > 65536)
		return 0;
	uint8_t *msg = malloc(size);
	char *arena = malloc(size);
	uint8_t *out = malloc(size + 64);
	memcpy(msg, data, size);
	/* Make the size field agree half of the time, to get past framing. */
	if (data[0] & 1) {
		msg[0] = (uint8_t)size;
		msg[1] = (uint8_t)(size >> 8);
		msg[2] = (uint8_t)(size >> 16);
		msg[3] = 0;
	}
	struct p9_msg m;
	if (p9_decode(msg, size, &m, arena, size) == 0) {
		ssize_t n = p9_encode(&m, out, size + 64);
		if (n != (ssize_t)size || memcmp(out, msg, size) != 0)
			abort(); /* decode and encode disagree */
	}
	/* The same bytes as Rreaddir data. */
	size_t pos = 0;
	struct p9_dirent d;
	char name[300];
	while (pos < size && p9_get_dirent(data, size, &pos, &d, name, sizeof(name)) == 0)
		if (d.namelen != strlen(d.name) && !memchr(d.name, 0, d.namelen))
			abort();
	free(msg);
	free(arena);
	free(out);
	return 0;
}
