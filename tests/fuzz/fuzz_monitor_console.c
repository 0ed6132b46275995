/* libFuzzer: the monitor's watch of the guest console (src/monitor/console.c)
 * on arbitrary guest output, fed in chunks whose sizes come from the input:
 * first byte = chunk size (0 = all at once), the rest = console bytes. The
 * verdict must not depend on how the bytes were split. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "monitor/console.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t chunk = data[0] ? data[0] : size;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	struct mon_console split = { 0 }, whole = { 0 };
	enum mon_console_event first = MON_CONSOLE_NONE;
	for (size_t off = 0; off < n; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk;
		enum mon_console_event ev = mon_console_feed(&split, p + off, k);
		if (first == MON_CONSOLE_NONE)
			first = ev;
		if (split.len > sizeof(split.line))
			abort();
	}
	if (mon_console_feed(&whole, p, n) != first || whole.len != split.len)
		abort();
	return 0;
}
