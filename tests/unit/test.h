/* Minimal unit-test harness. Each test binary prints one line per case:
 *   PASS <binary>/<case>      FAIL <binary>/<case>: file:line: what      SKIP ...
 * tests/run.sh counts those lines; a binary that crashes or exits non-zero
 * counts as one more failure.
 *
 *   static void t_roundtrip(void) { T_CHECK(x == 1); T_CHECK_EQ_INT(a, b); }
 *   int main(void) { T_RUN(t_roundtrip); return t_done(); }
 *
 * T_CHECK records a failure and returns false; it never jumps, so a case
 * continues (use `if (!T_CHECK(p)) return;` to stop early). */
#ifndef LCVM_TEST_H
#define LCVM_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct t_state {
	const char *name;
	int case_failed;
	int failed;
	int skipped;
	char why[512];
};
extern struct t_state t_state;

bool t_check(bool ok, const char *what, const char *file, int line);
bool t_check_int(long long a, long long b, const char *ea, const char *eb, const char *file, int line);
bool t_check_str(const char *a, const char *b, const char *ea, const char *eb, const char *file, int line);
void t_skip(const char *why);
void t_run(const char *name, void (*fn)(void));
int t_done(void);

#define T_CHECK(c) t_check(!!(c), #c, __FILE__, __LINE__)
#define T_CHECK_EQ_INT(a, b) t_check_int((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__)
#define T_CHECK_EQ_STR(a, b) t_check_str((a), (b), #a, #b, __FILE__, __LINE__)
#define T_RUN(fn) t_run(#fn, fn)

#endif
