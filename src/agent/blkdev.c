#include "agent/blkdev.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"

/* Reads a small sysfs attribute and strips trailing whitespace. */
static int read_attr(int dirfd, const char *rel, char *buf, size_t len)
{
	cleanup_close int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\0'))
		n--;
	buf[n] = '\0';
	return 0;
}

int agent_blkdev_by_serial(const char *sysblock, const char *serial, char *name, size_t name_len)
{
	cleanup_closedir DIR *d = opendir(sysblock);
	if (!d)
		return -errno;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "vd", 2) != 0)
			continue;
		char rel[300];
		snprintf(rel, sizeof(rel), "%s/serial", de->d_name);
		char got[64]; /* a serial is at most 20 bytes; longer never matches */
		if (read_attr(dirfd(d), rel, got, sizeof(got)) < 0 || strcmp(got, serial) != 0)
			continue;
		if (strlen(de->d_name) >= name_len)
			return -ENAMETOOLONG;
		memcpy(name, de->d_name, strlen(de->d_name) + 1);
		return 0;
	}
	return -ENOENT;
}
