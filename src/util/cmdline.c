#include "util/cmdline.h"

#include <string.h>

bool lc_cmdline_has(const char *cmdline, const char *flag)
{
	size_t fl = strlen(flag);
	if (fl == 0)
		return false;
	for (const char *p = cmdline; (p = strstr(p, flag)); p += fl) {
		bool start_ok = p == cmdline || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n';
		char end = p[fl];
		if (start_ok && (end == '\0' || end == ' ' || end == '\t' || end == '\n'))
			return true;
	}
	return false;
}
