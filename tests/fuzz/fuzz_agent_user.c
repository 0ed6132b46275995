/* libFuzzer: user spec resolution on hostile passwd/group texts
 * (src/agent/user.c). Input: spec, '\0', passwd, '\0', group. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/user.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *z1 = memchr(p, '\0', size);
	if (!z1)
		return 0;
	const char *pw = z1 + 1;
	size_t rest = size - (size_t)(pw - p);
	const char *z2 = memchr(pw, '\0', rest);
	size_t pl = z2 ? (size_t)(z2 - pw) : rest;
	const char *gr = z2 ? z2 + 1 : NULL;
	size_t gl = z2 ? rest - pl - 1 : 0;
	struct agent_user u;
	struct lc_err e;
	agent_user_resolve(p, pw, pl, gr, gl, &u, &e);
	return 0;
}
