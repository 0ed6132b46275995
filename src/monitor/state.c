#include "monitor/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monitor/scratch.h"
#include "util/cleanup.h"
#include "util/readfile.h"
#include "util/paths.h"

#define STATE_MAX_SPEC (16u << 20)

int mon_state_write_file(const char *dir, const char *name, const void *data, size_t len, struct lc_err *e)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%d", dir, name, (int)getpid());
	cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return lc_err_set(e, errno, "creating %s", tmp);
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			unlink(tmp);
			return lc_err_set(e, err, "writing %s", tmp);
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0 || rename(tmp, dst) < 0) {
		int err = errno;
		unlink(tmp);
		return lc_err_set(e, err, "saving %s", dst);
	}
	return 0;
}

int mon_state_read_file(const char *dir, const char *name, size_t max, char **out, size_t *len,
			struct lc_err *e)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return lc_err_set(e, errno, "opening %s", path);
	int r = lc_read_small_file(fd, max, out, len);
	if (r == -EINVAL || r == -EFBIG)
		return lc_err_setx(e, EFBIG, "%s: not a regular file or larger than %zu bytes", path, max);
	if (r < 0)
		return lc_err_set(e, -r, "reading %s", path);
	return 0;
}

int mon_state_create(const char *runtime_dir, const struct mon_spec *s, char *out, size_t outlen,
		     struct lc_err *e)
{
	int r = lc_mkdir_p(runtime_dir, 0700);
	if (r < 0)
		return lc_err_set(e, -r, "creating %s", runtime_dir);
	int n = snprintf(out, outlen, "%s/%s", runtime_dir, s->id);
	if (n < 0 || (size_t)n >= outlen)
		return lc_err_setx(e, ENAMETOOLONG, "state directory path too long");
	if (mkdir(out, 0700) < 0)
		return lc_err_set(e, errno, "creating %s", out);
	cleanup_free char *json = NULL;
	r = mon_spec_to_json(s, &json, e);
	if (r == 0)
		r = mon_state_write_file(out, "spec.json", json, strlen(json), e);
	if (r < 0)
		mon_state_remove(out);
	return r;
}

int mon_state_read_spec(const char *dir, struct mon_spec *s, struct lc_err *e)
{
	cleanup_free char *text = NULL;
	size_t len;
	int r = mon_state_read_file(dir, "spec.json", STATE_MAX_SPEC, &text, &len, e);
	if (r < 0)
		return r;
	return mon_spec_from_json(text, len, s, e);
}

int mon_state_write_status(const char *dir, int status)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", status);
	return mon_state_write_file(dir, "exit-status", buf, (size_t)n, NULL);
}

static int remove_at(int parent, const char *name, int depth)
{
	if (depth > 64)
		return -ELOOP;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOTDIR || errno == ELOOP)
			return unlinkat(parent, name, 0) < 0 && errno != ENOENT ? -errno : 0;
		return errno == ENOENT ? 0 : -errno;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int rr = remove_at(dirfd(d), de->d_name, depth + 1);
		if (rr < 0)
			r = rr;
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}

int mon_state_remove(const char *dir)
{
	int r = mon_scratch_remove(dir);
	int rr = remove_at(AT_FDCWD, dir, 0);
	return r < 0 ? r : rr;
}
