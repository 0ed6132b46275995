/* Extended attributes and escape attempts. */
#include "conformance.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ---- xattrs ---------------------------------------------------------------- */

static bool list_has(const char *list, ssize_t n, const char *name)
{
	for (ssize_t off = 0; off < n; off += (ssize_t)strlen(list + off) + 1)
		if (strcmp(list + off, name) == 0)
			return true;
	return false;
}

static int xattr_roundtrip(struct conf_ctx *c, const char *path)
{
	char buf[4096];
	if (setxattr(path, "user.lcvm.k", "v1", 2, XATTR_CREATE) < 0) {
		if (errno == ENOTSUP)
			return conf_skip(c, "this filesystem has no user xattrs");
		return conf_errno(c, "setxattr XATTR_CREATE");
	}
	if (setxattr(path, "user.lcvm.k", "v2", 2, XATTR_CREATE) == 0 || errno != EEXIST)
		return conf_fail(c, "XATTR_CREATE on an existing name: want EEXIST, got %s", strerror(errno));
	if (setxattr(path, "user.lcvm.none", "v", 1, XATTR_REPLACE) == 0 || errno != ENODATA)
		return conf_fail(c, "XATTR_REPLACE on a missing name: want ENODATA, got %s", strerror(errno));
	ssize_t n = getxattr(path, "user.lcvm.k", NULL, 0);
	if (n != 2)
		return conf_fail(c, "size probe returned %zd, want 2", n);
	if (getxattr(path, "user.lcvm.k", buf, 1) >= 0 || errno != ERANGE)
		return conf_fail(c, "getxattr into a too small buffer: want ERANGE, got %s", strerror(errno));
	n = getxattr(path, "user.lcvm.k", buf, sizeof(buf));
	if (n != 2 || memcmp(buf, "v1", 2) != 0)
		return conf_fail(c, "getxattr returned %zd bytes, not \"v1\"", n);
	const char *longer = "a-longer-replacement-value";
	if (setxattr(path, "user.lcvm.k", longer, strlen(longer), XATTR_REPLACE) < 0)
		return conf_errno(c, "setxattr XATTR_REPLACE");
	n = getxattr(path, "user.lcvm.k", buf, sizeof(buf));
	if (n != (ssize_t)strlen(longer) || memcmp(buf, longer, (size_t)n) != 0)
		return conf_fail(c, "replaced value reads back wrong (%zd bytes)", n);
	/* Binary value with NULs, large enough to need several 9P messages at small msize. */
	char big[3000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i % 251);
	if (setxattr(path, "user.lcvm.big", big, sizeof(big), 0) < 0)
		return conf_errno(c, "setxattr 3000-byte value");
	n = getxattr(path, "user.lcvm.big", buf, sizeof(buf));
	if (n != (ssize_t)sizeof(big) || memcmp(buf, big, sizeof(big)) != 0)
		return conf_fail(c, "3000-byte binary value reads back wrong (%zd bytes)", n);
	n = listxattr(path, buf, sizeof(buf));
	if (n < 0)
		return conf_errno(c, "listxattr");
	if (!list_has(buf, n, "user.lcvm.k") || !list_has(buf, n, "user.lcvm.big"))
		return conf_fail(c, "listxattr does not list both names");
	if (removexattr(path, "user.lcvm.k") < 0)
		return conf_errno(c, "removexattr");
	if (getxattr(path, "user.lcvm.k", buf, sizeof(buf)) >= 0 || errno != ENODATA)
		return conf_fail(c, "getxattr after remove: want ENODATA, got %s", strerror(errno));
	if (removexattr(path, "user.lcvm.k") == 0 || errno != ENODATA)
		return conf_fail(c, "removexattr of a missing name: want ENODATA, got %s", strerror(errno));
	n = listxattr(path, buf, sizeof(buf));
	if (n < 0 || list_has(buf, n, "user.lcvm.k") || !list_has(buf, n, "user.lcvm.big"))
		return conf_fail(c, "listxattr after remove is wrong");
	return CONF_PASS;
}

static int chk_xattr(struct conf_ctx *c)
{
	if (conf_make_file("f", "x", 1, 0644) < 0 || mkdir("d", 0755) < 0)
		return conf_errno(c, "create");
	int st = xattr_roundtrip(c, "f");
	if (st != CONF_PASS)
		return st;
	st = xattr_roundtrip(c, "d");
	if (st != CONF_PASS)
		return st;
	/* Through an open file descriptor too. */
	int fd = open("f", O_RDWR | O_CLOEXEC);
	char v[8];
	if (fd < 0 || fsetxattr(fd, "user.lcvm.fd", "fd", 2, 0) < 0 || fgetxattr(fd, "user.lcvm.fd", v, 8) != 2)
		return conf_errno(c, "fsetxattr/fgetxattr");
	close(fd);
	return CONF_PASS;
}

/* trusted.* needs CAP_SYS_ADMIN, which container runtimes drop by default. */
static bool have_sys_admin(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long eff = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	if (f)
		fclose(f);
	return eff & (1ULL << 21); /* CAP_SYS_ADMIN */
}

static int chk_xattr_trusted(struct conf_ctx *c)
{
	if (geteuid() != 0 || !have_sys_admin())
		return conf_skip(c, "trusted.* needs root with CAP_SYS_ADMIN");
	if (conf_make_file("f", "x", 1, 0644) < 0)
		return conf_errno(c, "create");
	char v[16];
	if (setxattr("f", "trusted.lcvm", "tv", 2, 0) < 0) {
		if (errno == ENOTSUP)
			return conf_skip(c, "no trusted xattrs here");
		return conf_errno(c, "setxattr trusted.lcvm");
	}
	if (getxattr("f", "trusted.lcvm", v, sizeof(v)) != 2 || memcmp(v, "tv", 2) != 0)
		return conf_fail(c, "trusted.lcvm reads back wrong");
	if (removexattr("f", "trusted.lcvm") < 0)
		return conf_errno(c, "removexattr trusted.lcvm");
	return CONF_PASS;
}

/* ---- escapes ----------------------------------------------------------------- */

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Symlinks pointing out of DIR are resolved by the kernel that resolves the
 * path, in the root of the process that follows them: inside a guest that is
 * the guest's "/", never the host's. */
static int chk_escape(struct conf_ctx *c)
{
	char deep[PATH_MAX] = "";
	for (int i = 0; i < 64; i++)
		strcat(deep, "../");
	if (symlink("/", "abs") < 0 || symlink(deep, "up") < 0 || mkdir("d", 0755) < 0 ||
	    symlink("../../../../../../../../../../../../../../../../", "d/up") < 0)
		return conf_errno(c, "symlink");
	if (!same_file("abs", "/") || !same_file("up", "/") || !same_file("d/up", "/"))
		return conf_fail(c, "a symlink to / or to ../../.. does not resolve to this process's root");
	if (!same_file("abs/.", "up/../../..") || !same_file("./up/", "/"))
		return conf_fail(c, "'..' above the root does not stay at the root");
	if (!c->outside_marker)
		return CONF_PASS;
	/* The caller put a file outside the export (on the host); whatever way a
	 * path starts inside DIR, it must not reach it. */
	const char *m = c->outside_marker;
	char p[PATH_MAX + 64];
	const char *via[] = { "abs", "up", "d/up" };
	for (size_t i = 0; i < sizeof(via) / sizeof(via[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", via[i], m[0] == '/' ? m + 1 : m);
		if (access(p, F_OK) == 0)
			return conf_fail(c, "%s is reachable through %s", m, via[i]);
	}
	if (symlink(m, "marker") < 0)
		return conf_errno(c, "symlink to the marker");
	if (access("marker", F_OK) == 0)
		return conf_fail(c, "%s is reachable through a symlink made in DIR", m);
	snprintf(p, sizeof(p), "%s%s", deep, m[0] == '/' ? m + 1 : m);
	if (access(p, F_OK) == 0)
		return conf_fail(c, "%s is reachable through ../ from DIR", m);
	return CONF_PASS;
}

/* Names that a server must refuse or treat specially. */
static int chk_names(struct conf_ctx *c)
{
	char name[300];
	memset(name, 'n', 255);
	name[255] = '\0';
	int fd = open(name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return conf_errno(c, "create a 255-byte name");
	close(fd);
	strcat(name, "n");
	if (open(name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644) >= 0 || errno != ENAMETOOLONG)
		return conf_fail(c, "256-byte name: want ENAMETOOLONG, got %s", strerror(errno));
	const char *odd = "sp ace\t\x01\xfe\xff";
	fd = open(odd, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return conf_errno(c, "create a name with odd bytes");
	close(fd);
	if (access(odd, F_OK) < 0)
		return conf_fail(c, "name with odd bytes not found again");
	if (mkdir(".", 0755) == 0 || errno != EEXIST)
		return conf_fail(c, "mkdir .: want EEXIST, got %s", strerror(errno));
	return CONF_PASS;
}

const struct conf_check conf_misc_checks[] = {
	{ "xattr", chk_xattr, "user.* set/get/list/remove, CREATE/REPLACE, ERANGE, ENODATA" },
	{ "xattr_trusted", chk_xattr_trusted, "trusted.* set/get/remove as root" },
	{ "escape", chk_escape, "symlinks out of DIR resolve in this process's root, not the host's" },
	{ "names", chk_names, "255-byte names, ENAMETOOLONG, odd bytes, '.'" },
};
const size_t conf_misc_checks_n = sizeof(conf_misc_checks) / sizeof(conf_misc_checks[0]);
