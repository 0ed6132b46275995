/* The crun warm-up (agent/warm.h): when it is wanted, the throwaway bundle it
 * hands crun, and the clean-up after it. Spawning crun itself is covered in
 * a VM by tests/integration/test_run.sh. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/shim.h"
#include "agent/warm.h"
#include "test.h"

static void t_wanted(void)
{
	const char *tcg = "console=ttyS0 quiet lcvm.tcg=1 panic=-1\n";
	T_CHECK(agent_warm_wanted(tcg, 2));
	T_CHECK(agent_warm_wanted(tcg, 8));
	/* One vCPU: the warm-up would only move the same work earlier. */
	T_CHECK(!agent_warm_wanted(tcg, 1));
	T_CHECK(!agent_warm_wanted(tcg, -1)); /* sysconf failed */
	/* KVM: the monitor passes no flag; a look-alike word is not the flag. */
	T_CHECK(!agent_warm_wanted("console=ttyS0 quiet panic=-1", 2));
	T_CHECK(!agent_warm_wanted("lcvm.tcg=10 xlcvm.tcg=1 lcvm.tcg=0", 2));
}

static void t_bundle(void)
{
	char tmp[] = "/tmp/lcvm-test-warm-XXXXXX";
	if (!T_CHECK(mkdtemp(tmp) != NULL))
		return;
	char dir[256], path[300];
	snprintf(dir, sizeof(dir), "%s/warm", tmp);
	struct lc_err e = { { 0 } };
	if (!T_CHECK_EQ_INT(agent_warm_bundle(dir, &e), 0))
		return;
	snprintf(path, sizeof(path), "%s/config.json", dir);
	json_t *j = json_load_file(path, 0, NULL);
	if (T_CHECK(j != NULL)) {
		json_t *args = json_object_get(json_object_get(j, "process"), "args");
		/* The shim runs the shim, which exits at once for want of `--`. */
		T_CHECK_EQ_INT((long long)json_array_size(args), 3);
		T_CHECK_EQ_STR(json_string_value(json_array_get(args, 0)), AGENT_SHIM_TARGET);
		T_CHECK_EQ_STR(json_string_value(json_array_get(args, 1)), "--");
		T_CHECK_EQ_STR(json_string_value(json_array_get(args, 2)), AGENT_SHIM_TARGET);
		T_CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(j, "root"), "path")), "rootfs");
		const char *cg = json_string_value(json_object_get(json_object_get(j, "linux"), "cgroupsPath"));
		T_CHECK(cg && strstr(cg, AGENT_WARM_ID) != NULL);
		json_decref(j);
	}
	struct stat st;
	snprintf(path, sizeof(path), "%s/rootfs", dir);
	T_CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	/* A second warm-up never reuses (or follows) what is already there. */
	struct lc_err e2 = { { 0 } };
	T_CHECK_EQ_INT(agent_warm_bundle(dir, &e2), -EEXIST);
	T_CHECK(strstr(e2.msg, dir) != NULL);

	/* What crun leaves in the rootfs (mount points, files, a symlink out
	 * of it) all goes; the symlink's target is not followed. */
	char keep[300];
	snprintf(keep, sizeof(keep), "%s/keep", tmp);
	int fd = open(keep, O_WRONLY | O_CREAT | O_EXCL, 0600);
	T_CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/rootfs/dev", dir);
	T_CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/rootfs/dev/pts", dir);
	T_CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/rootfs/dev/.lcvm-init", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	T_CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/rootfs/out", dir);
	T_CHECK(symlink(tmp, path) == 0);
	agent_warm_finish(dir);
	T_CHECK(lstat(dir, &st) < 0 && errno == ENOENT);
	T_CHECK(stat(keep, &st) == 0);
	unlink(keep);
	T_CHECK(rmdir(tmp) == 0);
}

int main(void)
{
	T_RUN(t_wanted);
	T_RUN(t_bundle);
	return t_done();
}
