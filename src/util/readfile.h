/* Reading a small file whole, bounded: for files that come from somewhere
 * that is not trusted to keep them small (a container image, a state
 * directory). */
#ifndef LCVM_UTIL_READFILE_H
#define LCVM_UTIL_READFILE_H

#include <stddef.h>

/* Reads the file open on fd from its current offset: at most the size
 * fstat reports (a file growing meanwhile is cut there), which must not
 * exceed max. *out is malloc'd and NUL-terminated (the caller frees it),
 * *len the bytes read. Returns 0, -EINVAL when fd is not a regular file,
 * -EFBIG when it is larger than max, or the -errno of fstat/read/malloc. */
int lc_read_small_file(int fd, size_t max, char **out, size_t *len);

#endif
