#include "util/paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fmt(char *out, size_t outlen, const char *a, const char *b)
{
	int n = snprintf(out, outlen, "%s%s", a, b);
	return (n < 0 || (size_t)n >= outlen) ? -ENAMETOOLONG : 0;
}

int lc_data_dir(const char *root, char *out, size_t outlen)
{
	if (root && *root)
		return fmt(out, outlen, root, "");
	if (geteuid() == 0)
		return fmt(out, outlen, "/var/lib/lcvm", "");
	const char *x = getenv("XDG_DATA_HOME");
	if (x && *x == '/')
		return fmt(out, outlen, x, "/lcvm");
	const char *h = getenv("HOME");
	if (!h || *h != '/')
		return -ENOENT;
	return fmt(out, outlen, h, "/.local/share/lcvm");
}

int lc_runtime_dir(const char *root, char *out, size_t outlen)
{
	if (root && *root)
		return fmt(out, outlen, root, "/run");
	if (geteuid() == 0)
		return fmt(out, outlen, "/run/lcvm", "");
	const char *x = getenv("XDG_RUNTIME_DIR");
	if (x && *x == '/')
		return fmt(out, outlen, x, "/lcvm");
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "/tmp/lcvm-%u", (unsigned)geteuid());
	return fmt(out, outlen, tmp, "");
}

static int is_guest_dir(const char *dir)
{
	char p[PATH_MAX];
	if (fmt(p, sizeof(p), dir, "/vmlinux") < 0)
		return 0;
	return access(p, R_OK) == 0;
}

int lc_guest_dir(char *out, size_t outlen)
{
	const char *env = getenv("LCVM_GUEST_DIR");
	if (env && *env)
		return fmt(out, outlen, env, "");
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	char cand[PATH_MAX];
	if (fmt(cand, sizeof(cand), exe, "/guest") == 0 && is_guest_dir(cand))
		return fmt(out, outlen, cand, "");
	if (fmt(cand, sizeof(cand), exe, "/../lib/lcvm") == 0 && is_guest_dir(cand))
		return fmt(out, outlen, cand, "");
	/* Not built yet: report the build-tree location so errors name it. */
	return fmt(out, outlen, exe, "/guest") == 0 ? -ENOENT : -ENAMETOOLONG;
}

int lc_mkdir_p(const char *path, unsigned mode)
{
	char p[PATH_MAX];
	if (fmt(p, sizeof(p), path, "") < 0)
		return -ENAMETOOLONG;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}
