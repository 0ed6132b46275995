#include "monitor/scratch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/paths.h"

/* Linux swap area header, version 1 (include/linux/swap.h, union
 * swap_header; what mkswap(8) writes): the first page holds the version,
 * the last usable page and no bad pages at byte 1024, and the magic
 * "SWAPSPACE2" in its last 10 bytes. Written here rather than by running
 * mkswap: it is one 4 KiB page of a stable, documented format, and saves a
 * fork+exec per container. */
#define SWAP_PAGE 4096u
static int write_swap_header(int fd, uint64_t size, struct lc_err *e)
{
	unsigned char page[SWAP_PAGE] = { 0 };
	uint64_t pages = size / SWAP_PAGE;
	if (pages < 10 || pages - 1 > UINT32_MAX)
		return lc_err_setx(e, EINVAL, "scratch size %llu out of range", (unsigned long long)size);
	uint32_t info[3] = { 1, (uint32_t)(pages - 1), 0 }; /* version, last_page, nr_badpages */
	memcpy(page + 1024, info, sizeof(info));
	memcpy(page + 1024 + sizeof(info) + 16, "lcvm-scratch", 12); /* after the uuid: the label */
	memcpy(page + SWAP_PAGE - 10, "SWAPSPACE2", 10);
	if (pwrite(fd, page, sizeof(page), 0) != (ssize_t)sizeof(page))
		return lc_err_set(e, errno ? errno : EIO, "writing the swap header");
	return 0;
}

int mon_scratch_create(const char *state_dir, const char *path, uint64_t size, struct lc_err *e)
{
	char parent[PATH_MAX], link[PATH_MAX];
	if (snprintf(parent, sizeof(parent), "%s", path) >= (int)sizeof(parent) ||
	    snprintf(link, sizeof(link), "%s/" MON_SCRATCH_LINK, state_dir) >= (int)sizeof(link))
		return lc_err_setx(e, ENAMETOOLONG, "scratch disk path too long");
	char *slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return lc_err_setx(e, EINVAL, "scratch disk path %s is not absolute", path);
	*slash = '\0';
	int r = lc_mkdir_p(parent, 0700);
	if (r < 0)
		return lc_err_set(e, -r, "creating %s", parent);
	/* The link first: whatever fails later, mon_scratch_remove finds it all. */
	if (symlink(path, link) < 0) {
		r = lc_err_set(e, errno, "linking %s", link);
		rmdir(parent);
		return r;
	}
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		r = lc_err_set(e, errno, "creating %s", path);
	else if (ftruncate(fd, (off_t)size) < 0)
		r = lc_err_set(e, errno, "sizing %s", path);
	else
		r = write_swap_header(fd, size, e);
	if (r < 0) {
		if (fd >= 0)
			unlink(path);
		unlink(link);
		rmdir(parent);
	}
	return r < 0 ? lc_err_wrap(e, r, "scratch disk") : 0;
}

int mon_scratch_remove(const char *state_dir)
{
	char link[PATH_MAX], target[PATH_MAX];
	if (snprintf(link, sizeof(link), "%s/" MON_SCRATCH_LINK, state_dir) >= (int)sizeof(link))
		return -ENAMETOOLONG;
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return errno == ENOENT || errno == EINVAL ? 0 : -errno;
	target[n] = '\0';
	/* Only ever what mon_scratch_create made: an absolute .../scratch.img. */
	size_t fl = strlen("/" MON_SCRATCH_FILE);
	int r = 0;
	if (target[0] == '/' && (size_t)n > fl && !strcmp(target + n - fl, "/" MON_SCRATCH_FILE)) {
		if (unlink(target) < 0 && errno != ENOENT)
			r = -errno;
		target[n - fl] = '\0';
		rmdir(target);
	}
	if (unlink(link) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}
