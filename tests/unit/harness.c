#include "test.h"

#include <errno.h>
#include <stdlib.h>

struct t_state t_state;

static const char *prog(void)
{
	extern char *program_invocation_short_name;
	return program_invocation_short_name;
}

bool t_check(bool ok, const char *what, const char *file, int line)
{
	if (!ok && !t_state.case_failed) {
		t_state.case_failed = 1;
		snprintf(t_state.why, sizeof(t_state.why), "%s:%d: %s", file, line, what);
	}
	return ok;
}

bool t_check_int(long long a, long long b, const char *ea, const char *eb, const char *file, int line)
{
	if (a == b)
		return true;
	char what[400];
	snprintf(what, sizeof(what), "%s == %s (%lld != %lld)", ea, eb, a, b);
	return t_check(false, what, file, line);
}

bool t_check_str(const char *a, const char *b, const char *ea, const char *eb, const char *file, int line)
{
	if (a && b && strcmp(a, b) == 0)
		return true;
	char what[400];
	snprintf(what, sizeof(what), "%s == %s (\"%.120s\" != \"%.120s\")", ea, eb, a ? a : "(null)",
		 b ? b : "(null)");
	return t_check(false, what, file, line);
}

void t_skip(const char *why)
{
	t_state.skipped = 1;
	snprintf(t_state.why, sizeof(t_state.why), "%s", why);
}

void t_run(const char *name, void (*fn)(void))
{
	t_state.name = name;
	t_state.case_failed = 0;
	t_state.skipped = 0;
	t_state.why[0] = '\0';
	fn();
	if (t_state.case_failed) {
		t_state.failed++;
		printf("FAIL %s/%s: %s\n", prog(), name, t_state.why);
	} else if (t_state.skipped) {
		printf("SKIP %s/%s: %s\n", prog(), name, t_state.why);
	} else {
		printf("PASS %s/%s\n", prog(), name);
	}
	fflush(stdout);
}

int t_done(void)
{
	return t_state.failed ? 1 : 0;
}
