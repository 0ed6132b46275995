/* Errors: every fallible function returns 0 (or a count) on success and a
 * negative errno on failure. Where a user will see the failure, the caller
 * also passes a struct lc_err that the failing layer fills with a one-line
 * message; outer layers prefix context with lc_err_wrap(). Only the CLI
 * prints it ("lcvm: <msg>"). */
#ifndef LCVM_UTIL_ERR_H
#define LCVM_UTIL_ERR_H

#include <stddef.h>

#define LC_ERR_LEN 512

struct lc_err {
	char msg[LC_ERR_LEN];
};

/* Sets the message (overwriting) and returns -errnum, so callers can write
 * `return lc_err_set(e, ENOENT, "image %s not found", name);`.
 * When errnum != 0 and the format does not already say why, ": strerror"
 * is appended. e may be NULL. */
int lc_err_set(struct lc_err *e, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Same, without appending strerror. */
int lc_err_setx(struct lc_err *e, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes context: "<context>: <previous message>". Returns ret unchanged
 * (a negative errno) so it can be used in a return statement. If no message
 * was set yet, strerror(-ret) is used as the previous message. */
int lc_err_wrap(struct lc_err *e, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
