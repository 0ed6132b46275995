/* Cleanup attributes for locals (see STYLE.md "What lcvm takes" 2).
 * Struct members are freed by their owner's destroy function, not by these.
 * Ownership moves out of a cleanup variable with take_fd()/take_ptr(). */
#ifndef LCVM_UTIL_CLEANUP_H
#define LCVM_UTIL_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void lc_freep(void *p) { free(*(void **)p); }
static inline void lc_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void lc_fclosep(FILE **f) { if (*f) fclose(*f); }
static inline void lc_closedirp(DIR **d) { if (*d) closedir(*d); }

#define cleanup_free __attribute__((cleanup(lc_freep)))
#define cleanup_close __attribute__((cleanup(lc_closep)))
#define cleanup_fclose __attribute__((cleanup(lc_fclosep)))
#define cleanup_closedir __attribute__((cleanup(lc_closedirp)))

static inline int take_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

static inline void *take_ptr_(void **p)
{
	void *r = *p;
	*p = NULL;
	return r;
}
#define take_ptr(pp) take_ptr_((void **)(pp))

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

#endif
