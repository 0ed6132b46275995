/* The scratch disk: created sparse with a Linux swap header, linked from the
 * state dir; removed with it; failures leave nothing; a link that does not
 * point at a scratch disk never makes removal delete anything else. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monitor/scratch.h"
#include "monitor/state.h"
#include "test.h"

static char base[PATH_MAX];

static void mkbase(void)
{
	snprintf(base, sizeof(base), "/tmp/lcvm-scratch-test.XXXXXX");
	if (!mkdtemp(base))
		base[0] = '\0';
}

static void paths(char *state, char *disk, const char *id)
{
	snprintf(state, PATH_MAX, "%s/run/%s", base, id);
	snprintf(disk, PATH_MAX, "%s/containers/%s/" MON_SCRATCH_FILE, base, id);
	char run[PATH_MAX];
	snprintf(run, sizeof(run), "%s/run", base);
	mkdir(run, 0700);
	mkdir(state, 0700);
}

static void t_create_and_remove(void)
{
	char state[PATH_MAX], disk[PATH_MAX];
	paths(state, disk, "c1");
	struct lc_err e = { { 0 } };
	int r = mon_scratch_create(state, disk, 1ull << 30, &e);
	if (!T_CHECK_EQ_INT(r, 0)) {
		fprintf(stderr, "%s\n", e.msg);
		return;
	}
	struct stat st;
	T_CHECK(stat(disk, &st) == 0 && st.st_size == (1ll << 30));
	T_CHECK(st.st_blocks * 512 < (16ll << 20)); /* sparse: a few MB at most */
	/* what swapon(2) checks: magic at the end of page 0, version 1, last page */
	char magic[11] = { 0 };
	uint32_t info[3] = { 0 };
	int fd = open(disk, O_RDONLY);
	T_CHECK(fd >= 0 && pread(fd, magic, 10, 4096 - 10) == 10 && pread(fd, info, sizeof(info), 1024) == 12);
	close(fd);
	T_CHECK_EQ_STR(magic, "SWAPSPACE2");
	T_CHECK_EQ_INT(info[0], 1);
	T_CHECK_EQ_INT(info[1], (1u << 30) / 4096 - 1);
	T_CHECK_EQ_INT(info[2], 0);
	char link[PATH_MAX + 32], target[PATH_MAX] = "";
	snprintf(link, sizeof(link), "%s/" MON_SCRATCH_LINK, state);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	T_CHECK(n > 0 && (target[n] = '\0', strcmp(target, disk) == 0));
	/* a second create on the same path must not clobber it */
	T_CHECK(mon_scratch_create(state, disk, 1ull << 30, &e) < 0);
	T_CHECK(access(disk, F_OK) == 0);
	T_CHECK_EQ_INT(mon_state_remove(state), 0);
	T_CHECK(access(disk, F_OK) < 0 && errno == ENOENT);
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s/containers/c1", base);
	T_CHECK(access(parent, F_OK) < 0 && access(state, F_OK) < 0);
}

/* A size swap cannot use fails cleanly: no disk, no link. */
static void t_bad_size(void)
{
	char state[PATH_MAX], disk[PATH_MAX];
	paths(state, disk, "c2");
	struct lc_err e = { { 0 } };
	T_CHECK(mon_scratch_create(state, disk, 4096, &e) < 0);
	T_CHECK(e.msg[0] != '\0');
	char link[PATH_MAX + 32];
	snprintf(link, sizeof(link), "%s/" MON_SCRATCH_LINK, state);
	struct stat st;
	T_CHECK(lstat(link, &st) < 0 && access(disk, F_OK) < 0);
	mon_state_remove(state);
}

/* A state dir whose link points at some other file: removal drops the link only. */
static void t_foreign_link(void)
{
	char state[PATH_MAX], disk[PATH_MAX], victim[PATH_MAX + 16], link[PATH_MAX + 32];
	paths(state, disk, "c3");
	snprintf(victim, sizeof(victim), "%s/precious", base);
	int fd = open(victim, O_WRONLY | O_CREAT, 0600);
	close(fd);
	snprintf(link, sizeof(link), "%s/" MON_SCRATCH_LINK, state);
	T_CHECK(symlink(victim, link) == 0);
	T_CHECK_EQ_INT(mon_scratch_remove(state), 0);
	T_CHECK(access(victim, F_OK) == 0);
	T_CHECK(access(link, F_OK) < 0);
	unlink(victim);
	mon_state_remove(state);
}

int main(void)
{
	mkbase();
	if (!base[0])
		return 1;
	T_RUN(t_create_and_remove);
	T_RUN(t_bad_size);
	T_RUN(t_foreign_link);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", base);
	return t_done();
}
