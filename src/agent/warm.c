#include "agent/warm.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/container.h"
#include "agent/init.h"
#include "agent/shim.h"
#include "util/cleanup.h"
#include "util/cmdline.h"

bool agent_warm_wanted(const char *cmdline, long online_cpus)
{
	return online_cpus >= 2 && lc_cmdline_has(cmdline, AGENT_WARM_TCG_FLAG);
}

static int write_config(const char *dir, struct lc_err *e)
{
	/* The container runs the shim with the shim as its command: the inner
	 * one exits at once (no `--`), so crun, the shim's fork and exec and
	 * crun's clean-up all run, on an empty rootfs. */
	char *args[] = { (char *)AGENT_SHIM_TARGET };
	Lcvm__Agent__V1__Process proc = LCVM__AGENT__V1__PROCESS__INIT;
	proc.n_args = 1;
	proc.args = args;
	Lcvm__Agent__V1__CreateContainerRequest req = LCVM__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	req.id = AGENT_WARM_ID;
	req.hostname = "lcvm-warm";
	req.process = &proc;
	struct agent_oci_input in = {
		.req = &req, .rootfs = "rootfs", .cgroups_path = AGENT_CGROUP_PARENT "/" AGENT_WARM_ID,
		.init_source = AGENT_SHIM_SOURCE, .init_target = AGENT_SHIM_TARGET,
	};
	return agent_bundle_write_config(dir, &in, e);
}

int agent_warm_bundle(const char *dir, struct lc_err *e)
{
	char rootfs[PATH_MAX];
	if (snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir) >= (int)sizeof(rootfs))
		return lc_err_setx(e, ENAMETOOLONG, "warm-up directory name too long");
	if (mkdir(dir, 0700) < 0)
		return lc_err_set(e, errno, "mkdir %s", dir);
	if (mkdir(rootfs, 0755) < 0)
		return lc_err_set(e, errno, "mkdir %s", rootfs);
	return write_config(dir, e);
}

int agent_warm_start(const char *dir, pid_t *pid, struct lc_err *e)
{
	int r = agent_warm_bundle(dir, e);
	if (r < 0)
		return r;
	cleanup_close int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return lc_err_set(e, errno, "open /dev/null");
	char *argv[] = { "crun", "run", "--bundle", (char *)dir, AGENT_WARM_ID, NULL };
	const int stdio[3] = { null, null, null };
	r = agent_crun_spawn(argv, stdio, pid);
	if (r < 0)
		return lc_err_set(e, -r, "spawn %s", AGENT_CRUN_PATH);
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	(void)(flag == FTW_DP ? rmdir(path) : unlink(path));
	return 0;
}

void agent_warm_finish(const char *dir)
{
	nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}
