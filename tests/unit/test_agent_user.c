/* User specs (src/agent/user.h): docker/runc resolution rules on passwd and
 * group texts, hostile files, and the lookup below a rootfs that must not
 * follow symlinks out of it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/user.h"
#include "test.h"

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
			     "daemon:x:1:1::/:/sbin/nologin\n"
			     "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
			     "alice:x:2000:2000:second entry, ignored:/:/bin/sh\n"
			     "bob:x:1001:100::/home/bob:/bin/sh"; /* no final newline */
static const char group[] = "root:x:0:\n"
			    "users:x:100:alice,bob\n"
			    "alice:x:1000:\n"
			    "wheel:x:10:carol,alice\n"
			    "audio:x:29:bob\n"
			    "users2:x:100:alice\n"; /* same gid twice: listed once */

static int res(const char *spec, struct agent_user *u, struct lc_err *e)
{
	return agent_user_resolve(spec, passwd, strlen(passwd), group, strlen(group), u, e);
}

static void t_names_and_ids(void)
{
	struct agent_user u;
	struct lc_err e = { { 0 } };
	T_CHECK_EQ_INT(res("alice", &u, &e), 0);
	T_CHECK_EQ_INT(u.uid, 1000);
	T_CHECK_EQ_INT(u.gid, 1000);
	/* Supplementary: groups listing alice, first-seen order, no duplicate. */
	T_CHECK_EQ_INT(u.n_gids, 2);
	T_CHECK_EQ_INT(u.gids[0], 100);
	T_CHECK_EQ_INT(u.gids[1], 10);
	T_CHECK_EQ_INT(res("1001", &u, &e), 0); /* numeric, in passwd: its gid and groups */
	T_CHECK_EQ_INT(u.uid, 1001);
	T_CHECK_EQ_INT(u.gid, 100);
	T_CHECK_EQ_INT(u.n_gids, 2);
	T_CHECK_EQ_INT(res("4242", &u, &e), 0); /* numeric, not in passwd: gid 0, no groups */
	T_CHECK_EQ_INT(u.uid, 4242);
	T_CHECK_EQ_INT(u.gid, 0);
	T_CHECK_EQ_INT(u.n_gids, 0);
	T_CHECK_EQ_INT(res("root", &u, &e), 0);
	T_CHECK_EQ_INT(u.uid, 0);
	T_CHECK_EQ_INT(u.n_gids, 0);
}

static void t_explicit_groups(void)
{
	struct agent_user u;
	struct lc_err e = { { 0 } };
	T_CHECK_EQ_INT(res("alice:audio", &u, &e), 0);
	T_CHECK_EQ_INT(u.uid, 1000);
	T_CHECK_EQ_INT(u.gid, 29);
	T_CHECK_EQ_INT(u.n_gids, 0); /* explicit group: no supplementary ones (runc) */
	T_CHECK_EQ_INT(res("1000:5000", &u, &e), 0);
	T_CHECK_EQ_INT(u.gid, 5000);
	T_CHECK_EQ_INT(res("bob:10", &u, &e), 0);
	T_CHECK_EQ_INT(u.uid, 1001);
	T_CHECK_EQ_INT(u.gid, 10);
	T_CHECK_EQ_INT(res("77:wheel", &u, &e), 0);
	T_CHECK_EQ_INT(u.uid, 77);
	T_CHECK_EQ_INT(u.gid, 10);
}

static void t_errors(void)
{
	struct agent_user u;
	struct lc_err e = { { 0 } };
	T_CHECK_EQ_INT(res("mallory", &u, &e), -ENOENT);
	T_CHECK_EQ_STR(e.msg, "unable to find user mallory: no matching entries in passwd file");
	T_CHECK_EQ_INT(res("alice:nogroup", &u, &e), -ENOENT);
	T_CHECK_EQ_STR(e.msg, "unable to find group nogroup: no matching entries in group file");
	T_CHECK_EQ_INT(res("2147483648", &u, &e), -ERANGE);
	T_CHECK_EQ_INT(res("1:99999999999", &u, &e), -ERANGE);
	/* Not numbers, so names: and no such names. */
	T_CHECK_EQ_INT(res("-1", &u, &e), -ENOENT);
	T_CHECK_EQ_INT(res("+5", &u, &e), -ENOENT);
	static const char *const bad[] = { "", ":", "a:", ":b", "a:b:c", "a\nb", "tab\there" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		T_CHECK_EQ_INT(res(bad[i], &u, &e), -EINVAL);
	char longspec[AGENT_USER_SPEC_MAX + 2];
	memset(longspec, 'a', sizeof(longspec) - 1);
	longspec[sizeof(longspec) - 1] = '\0';
	T_CHECK_EQ_INT(res(longspec, &u, &e), -EINVAL);
	/* No files at all (NULL): ids work, names do not. */
	T_CHECK_EQ_INT(agent_user_resolve("5:6", NULL, 0, NULL, 0, &u, &e), 0);
	T_CHECK(u.uid == 5 && u.gid == 6);
	T_CHECK_EQ_INT(agent_user_resolve("root", NULL, 0, NULL, 0, &u, &e), -ENOENT);
}

static void t_hostile_files(void)
{
	struct agent_user u;
	struct lc_err e = { { 0 } };
	/* Garbage ids are skipped, never read as 0 (root). */
	const char *pw = "evil:x::0::/:\nevil2:x:abc:0::/:\nevil3:x:-5:0\nevil4:x:1:\nevil5\n:x:9:9\n"
			 "ok:x:7:8\n";
	T_CHECK_EQ_INT(agent_user_resolve("evil", pw, strlen(pw), NULL, 0, &u, &e), -ENOENT);
	T_CHECK_EQ_INT(agent_user_resolve("evil2", pw, strlen(pw), NULL, 0, &u, &e), -ENOENT);
	T_CHECK_EQ_INT(agent_user_resolve("evil3", pw, strlen(pw), NULL, 0, &u, &e), -ENOENT);
	T_CHECK_EQ_INT(agent_user_resolve("evil4", pw, strlen(pw), NULL, 0, &u, &e), -ENOENT);
	T_CHECK_EQ_INT(agent_user_resolve("evil5", pw, strlen(pw), NULL, 0, &u, &e), -ENOENT);
	T_CHECK_EQ_INT(agent_user_resolve("ok", pw, strlen(pw), NULL, 0, &u, &e), 0);
	T_CHECK(u.uid == 7 && u.gid == 8);
	/* Not NUL-terminated: a length that stops mid-line is honoured. */
	const char *cut = "ab:x:1:1\nabc:x:2:2\n";
	T_CHECK_EQ_INT(agent_user_resolve("abc", cut, 11, NULL, 0, &u, &e), -ENOENT);
	T_CHECK_EQ_INT(agent_user_resolve("ab", cut, 11, NULL, 0, &u, &e), 0);
	/* NUL bytes inside a file do not end it early or match a prefix. */
	const char nul[] = "a\0b:x:3:3\nab:x:4:4\n";
	T_CHECK_EQ_INT(agent_user_resolve("a", nul, sizeof(nul) - 1, NULL, 0, &u, &e), -ENOENT);
	T_CHECK_EQ_INT(agent_user_resolve("ab", nul, sizeof(nul) - 1, NULL, 0, &u, &e), 0);
	T_CHECK_EQ_INT(u.uid, 4);
	/* A user in too many groups fails closed. */
	size_t cap = (AGENT_USER_MAX_GIDS + 2) * 24;
	char *gr = malloc(cap);
	if (!T_CHECK(gr != NULL))
		return;
	size_t off = 0;
	for (unsigned i = 0; i < AGENT_USER_MAX_GIDS + 1; i++)
		off += (size_t)snprintf(gr + off, cap - off, "g%u:x:%u:ok\n", i, 100 + i);
	T_CHECK_EQ_INT(agent_user_resolve("ok", pw, strlen(pw), gr, off, &u, &e), -E2BIG);
	free(gr);
	/* Very long lines and fields. */
	size_t big = 300000;
	char *lp = malloc(big);
	if (!T_CHECK(lp != NULL))
		return;
	memset(lp, ':', big);
	memcpy(lp, "ok:x:7:8", 8);
	T_CHECK_EQ_INT(agent_user_resolve("ok", lp, big, lp, big, &u, &e), 0);
	memset(lp, 'a', big);
	T_CHECK_EQ_INT(agent_user_resolve("ok", lp, big, lp, big, &u, &e), -ENOENT);
	free(lp);
}

/* A rootfs in a temp dir: etc/passwd and etc/group, one outside file. */
struct root {
	char dir[64], outside[80];
	int fd;
};

static bool put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	fputs(text, f);
	return fclose(f) == 0;
}

static bool root_init(struct root *r)
{
	snprintf(r->dir, sizeof(r->dir), "/tmp/lcvm-user-XXXXXX");
	if (!mkdtemp(r->dir))
		return false;
	char p[128];
	snprintf(p, sizeof(p), "%s/etc", r->dir);
	snprintf(r->outside, sizeof(r->outside), "%s.outside", r->dir);
	r->fd = -1;
	if (mkdir(p, 0755) < 0 || !put(r->outside, "evil:x:0:0::/:/bin/sh\n"))
		return false;
	r->fd = open(r->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return r->fd >= 0;
}

static void root_free(struct root *r)
{
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", r->dir, r->outside);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", r->dir);
	if (r->fd >= 0)
		close(r->fd);
}

static void t_lookup_in_root(void)
{
	struct root r;
	if (!T_CHECK(root_init(&r))) {
		root_free(&r);
		return;
	}
	char pw[128], gr[128];
	snprintf(pw, sizeof(pw), "%s/etc/passwd", r.dir);
	snprintf(gr, sizeof(gr), "%s/etc/group", r.dir);
	struct agent_user u;
	struct lc_err e = { { 0 } };
	/* No files: ids only. */
	T_CHECK_EQ_INT(agent_user_lookup(r.fd, "12:34", &u, &e), 0);
	T_CHECK(u.uid == 12 && u.gid == 34);
	T_CHECK(put(pw, passwd) && put(gr, group));
	T_CHECK_EQ_INT(agent_user_lookup(r.fd, "alice", &u, &e), 0);
	T_CHECK(u.uid == 1000 && u.n_gids == 2);

	/* Symlinks out of the root resolve inside it, so the outside file (which
	 * names "evil") is never read: absolute and ../ forms. */
	unlink(pw);
	T_CHECK(symlink(r.outside, pw) == 0);
	T_CHECK_EQ_INT(agent_user_lookup(r.fd, "evil", &u, &e), -ENOENT);
	T_CHECK_EQ_STR(e.msg, "unable to find user evil: no matching entries in passwd file");
	unlink(pw);
	char rel[200];
	snprintf(rel, sizeof(rel), "../../../../../..%s", r.outside);
	T_CHECK(symlink(rel, pw) == 0);
	T_CHECK_EQ_INT(agent_user_lookup(r.fd, "evil", &u, &e), -ENOENT);
	/* A symlink that stays inside works (as in many images). */
	unlink(pw);
	char inside[128];
	snprintf(inside, sizeof(inside), "%s/etc/passwd.real", r.dir);
	T_CHECK(put(inside, "carol:x:55:66\n") && symlink("/etc/passwd.real", pw) == 0);
	T_CHECK_EQ_INT(agent_user_lookup(r.fd, "carol", &u, &e), 0);
	T_CHECK(u.uid == 55 && u.gid == 66);

	/* A FIFO must not block PID 1; a directory is refused too. */
	unlink(pw);
	T_CHECK(mkfifo(pw, 0644) == 0);
	T_CHECK_EQ_INT(agent_user_lookup(r.fd, "carol", &u, &e), -EINVAL);
	T_CHECK(strstr(e.msg, "not a regular file") != NULL);
	unlink(pw);
	T_CHECK(mkdir(pw, 0755) == 0);
	T_CHECK(agent_user_lookup(r.fd, "carol", &u, &e) < 0);
	rmdir(pw);
	/* Too large. */
	int fd = open(pw, O_WRONLY | O_CREAT, 0644);
	T_CHECK(fd >= 0 && ftruncate(fd, AGENT_USER_FILE_MAX + 1) == 0);
	if (fd >= 0)
		close(fd);
	T_CHECK_EQ_INT(agent_user_lookup(r.fd, "carol", &u, &e), -E2BIG);
	root_free(&r);
}

int main(void)
{
	T_RUN(t_names_and_ids);
	T_RUN(t_explicit_groups);
	T_RUN(t_errors);
	T_RUN(t_hostile_files);
	T_RUN(t_lookup_in_root);
	return t_done();
}
