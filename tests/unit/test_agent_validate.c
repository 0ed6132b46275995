/* CreateContainer validation with hostile ids, paths, sizes and counts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/validate.h"
#include "test.h"

static char *args[] = { "sh" };
static char *env[] = { "PATH=/bin" };

struct req {
	Lcvm__Agent__V1__Process proc;
	Lcvm__Agent__V1__Layer layer;
	Lcvm__Agent__V1__Layer *layers[1];
	Lcvm__Agent__V1__Mount9p mount;
	Lcvm__Agent__V1__Mount9p *mounts[1];
	Lcvm__Agent__V1__CreateContainerRequest r;
};

static void req_init(struct req *q)
{
	Lcvm__Agent__V1__Process p = LCVM__AGENT__V1__PROCESS__INIT;
	Lcvm__Agent__V1__Layer l = LCVM__AGENT__V1__LAYER__INIT;
	Lcvm__Agent__V1__Mount9p m = LCVM__AGENT__V1__MOUNT9P__INIT;
	Lcvm__Agent__V1__CreateContainerRequest r = LCVM__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	q->proc = p;
	q->proc.n_args = 1;
	q->proc.args = args;
	q->proc.n_env = 1;
	q->proc.env = env;
	q->layer = l;
	q->layer.serial = "layer0";
	q->layer.fstype = "squashfs";
	q->layers[0] = &q->layer;
	q->mount = m;
	q->mount.port = 0x20000;
	q->mount.target = "/data";
	q->mount.cache = "";
	q->mounts[0] = &q->mount;
	q->r = r;
	q->r.id = "web-1.a_b";
	q->r.process = &q->proc;
	q->r.n_layers = 1;
	q->r.layers = q->layers;
	q->r.n_mounts = 1;
	q->r.mounts = q->mounts;
}

static int check(struct req *q, struct lc_err *e)
{
	memset(e, 0, sizeof(*e));
	return agent_validate_create(&q->r, e);
}

static void t_good_request(void)
{
	struct req q;
	struct lc_err e;
	req_init(&q);
	T_CHECK_EQ_INT(check(&q, &e), 0);
}

static void t_ids(void)
{
	static const char *const bad[] = { "", "-x", ".x", "_x", "a/b", "..", "a b", "a\n", "é",
					   "x\x01", "a:b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		T_CHECK(!agent_valid_id(bad[i]));
	char long_id[80];
	memset(long_id, 'a', sizeof(long_id));
	long_id[64] = '\0';
	T_CHECK(agent_valid_id(long_id));
	long_id[64] = 'a';
	long_id[65] = '\0';
	T_CHECK(!agent_valid_id(long_id));
	T_CHECK(agent_valid_id("A9.z_-"));
	T_CHECK(!agent_valid_id(NULL));

	struct req q;
	struct lc_err e;
	req_init(&q);
	q.r.id = "../../etc";
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	T_CHECK(strstr(e.msg, "container id") != NULL);
}

static void t_paths(void)
{
	static const char *const bad[] = { "", "rel", "/a/../b", "/..", "/a/.", "/./a", "//a", "/a//b", "..",
					   "/a/b/..", NULL };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		T_CHECK(!agent_valid_abspath(bad[i]));
	static const char *const good[] = { "/", "/a", "/a/b/", "/a..b", "/.hidden", "/a/...", "/a b" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		T_CHECK(agent_valid_abspath(good[i]));
	char *huge = malloc(AGENT_PATH_MAX + 2);
	huge[0] = '/';
	memset(huge + 1, 'x', AGENT_PATH_MAX);
	huge[AGENT_PATH_MAX + 1] = '\0';
	T_CHECK(!agent_valid_abspath(huge));
	free(huge);

	struct req q;
	struct lc_err e;
	req_init(&q);
	q.proc.cwd = "/tmp/../..";
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	T_CHECK(strstr(e.msg, "cwd") != NULL);
	req_init(&q);
	q.mount.target = "/";
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	q.mount.target = "/x/../../etc";
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	T_CHECK(strstr(e.msg, "mounts[0].target") != NULL);
}

static void t_process(void)
{
	struct req q;
	struct lc_err e;
	req_init(&q);
	q.r.process = NULL;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	req_init(&q);
	q.proc.n_args = 0;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	req_init(&q);
	char *empty[] = { "" };
	q.proc.args = empty;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	req_init(&q);
	char *badenv[] = { "NOEQUALS" };
	q.proc.env = badenv;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	char *badenv2[] = { "=x" };
	q.proc.env = badenv2;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	req_init(&q);
	q.proc.terminal = 1;
	T_CHECK_EQ_INT(check(&q, &e), -ENOTSUP);
	req_init(&q);
	q.proc.n_additional_gids = AGENT_MAX_GIDS + 1;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	req_init(&q);
	q.proc.user = "alice:wheel";
	T_CHECK_EQ_INT(check(&q, &e), 0);
	q.proc.user = "";
	T_CHECK_EQ_INT(check(&q, &e), 0);
	q.proc.user = "a:b:c";
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	T_CHECK(strstr(e.msg, "process.user") != NULL);
	q.proc.user = "bad\nname";
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
}

static void t_sizes(void)
{
	struct req q;
	struct lc_err e;
	req_init(&q);
	/* One argument just over MAX_ARG_STRLEN. */
	char *big = malloc(AGENT_ARG_MAX + 1);
	memset(big, 'a', AGENT_ARG_MAX);
	big[AGENT_ARG_MAX] = '\0';
	char *a1[] = { "sh", big };
	q.proc.args = a1;
	q.proc.n_args = 2;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	T_CHECK(strstr(e.msg, "too long") != NULL);
	/* Many arguments each fine, together over the total. */
	big[AGENT_ARG_MAX - 10] = '\0';
	char *many[16];
	for (size_t i = 0; i < 16; i++)
		many[i] = big;
	q.proc.args = many;
	q.proc.n_args = 16;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	T_CHECK(strstr(e.msg, "too large") != NULL);
	free(big);
	/* Counts past the limits are refused before any element is read. */
	req_init(&q);
	q.proc.n_args = AGENT_MAX_ARGS + 1;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	req_init(&q);
	q.r.n_layers = AGENT_MAX_LAYERS + 1;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	req_init(&q);
	q.r.n_layers = 0;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	req_init(&q);
	q.r.n_mounts = AGENT_MAX_MOUNTS + 1;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	req_init(&q);
	q.mount.msize = 100;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	q.mount.msize = AGENT_9P_MSIZE_MAX + 1;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	q.mount.msize = AGENT_9P_MSIZE_MAX;
	T_CHECK_EQ_INT(check(&q, &e), 0);
}

static void t_layers_and_mounts(void)
{
	struct req q;
	struct lc_err e;
	req_init(&q);
	q.layer.fstype = "nfs";
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	/* The guest ships no erofs or ext4 module any more: refused up front
	 * rather than failing at mount time. */
	q.layer.fstype = "erofs";
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	T_CHECK_EQ_STR(e.msg, "layers[0].fstype must be squashfs");
	q.layer.fstype = "ext4";
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	q.layer.fstype = NULL;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	req_init(&q);
	q.layer.serial = "../vda";
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	q.layer.serial = "123456789012345678901"; /* 21 > virtio-blk's 20 */
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	q.layer.serial = "12345678901234567890";
	T_CHECK_EQ_INT(check(&q, &e), 0);
	req_init(&q);
	q.layers[0] = NULL;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	req_init(&q);
	Lcvm__Agent__V1__Layer s = LCVM__AGENT__V1__LAYER__INIT;
	s.serial = "scratch";
	s.fstype = "squashfs";
	q.r.scratch = &s;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL); /* scratch must be swap */
	T_CHECK_EQ_STR(e.msg, "scratch.fstype must be swap");
	s.fstype = "ext4"; /* was an upper of its own; the guest has no ext4 now */
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	s.fstype = NULL;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	s.fstype = "swap";
	T_CHECK_EQ_INT(check(&q, &e), 0);
	s.serial = "../vdb";
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	s.serial = "scratch";
	q.r.read_only = 1;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	req_init(&q);
	q.mount.port = 0;
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	req_init(&q);
	q.mount.cache = "loose,posixacl";
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	q.mount.cache = "mmap";
	T_CHECK_EQ_INT(check(&q, &e), 0);
	req_init(&q);
	q.r.hostname = "bad host";
	T_CHECK_EQ_INT(check(&q, &e), -EINVAL);
	q.r.hostname = "good-host.example";
	T_CHECK_EQ_INT(check(&q, &e), 0);
}

int main(void)
{
	T_RUN(t_good_request);
	T_RUN(t_ids);
	T_RUN(t_paths);
	T_RUN(t_process);
	T_RUN(t_sizes);
	T_RUN(t_layers_and_mounts);
	return t_done();
}
