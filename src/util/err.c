#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int vset(struct lc_err *e, int errnum, int with_strerror, const char *fmt, va_list ap)
{
	if (!e)
		return -errnum;
	int n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	if (n < 0)
		e->msg[0] = '\0';
	else if (with_strerror && errnum && (size_t)n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - (size_t)n, ": %s", strerror(errnum));
	return -errnum;
}

int lc_err_set(struct lc_err *e, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vset(e, errnum, 1, fmt, ap);
	va_end(ap);
	return r;
}

int lc_err_setx(struct lc_err *e, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vset(e, errnum, 0, fmt, ap);
	va_end(ap);
	return r;
}

int lc_err_wrap(struct lc_err *e, int ret, const char *fmt, ...)
{
	if (!e)
		return ret;
	char prev[LC_ERR_LEN];
	if (e->msg[0])
		memcpy(prev, e->msg, sizeof(prev));
	else
		snprintf(prev, sizeof(prev), "%s", strerror(ret < 0 ? -ret : ret));
	char ctx[LC_ERR_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	snprintf(e->msg, sizeof(e->msg), "%s: %s", ctx, prev);
	return ret;
}
