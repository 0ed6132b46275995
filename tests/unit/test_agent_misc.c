/* Small pure helpers: exit status mapping, kernel command line flags,
 * overlay options, pid files, gRPC codes. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/container.h"
#include "agent/init.h"
#include "agent/service.h"
#include "agent/wstatus.h"
#include "util/cmdline.h"
#include "test.h"

/* Real wait statuses from real children, not hand-built bit patterns. */
static int status_of_child(int how)
{
	pid_t p = fork();
	if (p == 0) {
		if (how < 0)
			raise(-how);
		_exit(how);
	}
	int ws = 0;
	waitpid(p, &ws, 0);
	return ws;
}

static void t_exit_status(void)
{
	T_CHECK_EQ_INT(agent_exit_status(status_of_child(0)), 0);
	T_CHECK_EQ_INT(agent_exit_status(status_of_child(3)), 3);
	T_CHECK_EQ_INT(agent_exit_status(status_of_child(255)), 255);
	T_CHECK_EQ_INT(agent_exit_status(status_of_child(-SIGKILL)), 137);
	T_CHECK_EQ_INT(agent_exit_status(status_of_child(-SIGTERM)), 143);
}

static void t_cmdline(void)
{
	const char *c = "console=ttyS0 quiet lcvm.selftest=1 panic=-1\n";
	T_CHECK(lc_cmdline_has(c, "lcvm.selftest=1"));
	T_CHECK(lc_cmdline_has("lcvm.selftest=1", "lcvm.selftest=1"));
	T_CHECK(!lc_cmdline_has("lcvm.selftest=10", "lcvm.selftest=1"));
	T_CHECK(!lc_cmdline_has("xlcvm.selftest=1", "lcvm.selftest=1"));
	T_CHECK(!lc_cmdline_has("lcvm.selftest=0 lcvm.selftest=12", "lcvm.selftest=1"));
	T_CHECK(lc_cmdline_has("a lcvm.selftest=10 lcvm.selftest=1", "lcvm.selftest=1"));
	T_CHECK(!lc_cmdline_has("", "lcvm.selftest=1"));
}

static void t_overlay_opts(void)
{
	char buf[4096];
	T_CHECK_EQ_INT(agent_overlay_opts(buf, sizeof(buf), "/run/lcvm/0", 2, true), 0);
	T_CHECK_EQ_STR(buf, "lowerdir=/run/lcvm/0/l0:/run/lcvm/0/l1,upperdir=/run/lcvm/0/s/upper,"
			    "workdir=/run/lcvm/0/s/work,volatile");
	T_CHECK_EQ_INT(agent_overlay_opts(buf, sizeof(buf), "/d", 3, false), 0);
	T_CHECK_EQ_STR(buf, "lowerdir=/d/l0:/d/l1:/d/l2");
	/* The maximum layer count fits in the kernel's one-page limit. */
	T_CHECK_EQ_INT(agent_overlay_opts(buf, sizeof(buf), "/run/lcvm/4294967295", AGENT_MAX_LAYERS, true), 0);
	char small[40];
	T_CHECK_EQ_INT(agent_overlay_opts(small, sizeof(small), "/run/lcvm/0", 2, true), -ENAMETOOLONG);
	T_CHECK_EQ_INT(agent_overlay_opts(small, 12, "/run/lcvm/0", 1, false), -ENAMETOOLONG);
}

static void t_parse_pid(void)
{
	pid_t p = 0;
	T_CHECK_EQ_INT(agent_parse_pid("83", &p), 0);
	T_CHECK_EQ_INT(p, 83);
	T_CHECK_EQ_INT(agent_parse_pid("4194304\n", &p), 0);
	static const char *const bad[] = { "", "0", "-5", "12x", "x", "99999999999999999999", "4194305" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		T_CHECK_EQ_INT(agent_parse_pid(bad[i], &p), -EINVAL);
}

static void t_grpc_codes(void)
{
	T_CHECK_EQ_INT(agent_grpc_code(-EINVAL), TTRPC_INVALID_ARGUMENT);
	T_CHECK_EQ_INT(agent_grpc_code(-EEXIST), TTRPC_ALREADY_EXISTS);
	T_CHECK_EQ_INT(agent_grpc_code(-ENOENT), TTRPC_NOT_FOUND);
	T_CHECK_EQ_INT(agent_grpc_code(-ENOTSUP), TTRPC_UNIMPLEMENTED);
	T_CHECK_EQ_INT(agent_grpc_code(-EIO), TTRPC_INTERNAL);
}

int main(void)
{
	T_RUN(t_exit_status);
	T_RUN(t_cmdline);
	T_RUN(t_overlay_opts);
	T_RUN(t_parse_pid);
	T_RUN(t_grpc_codes);
	return t_done();
}
