/* config.json generator: the JSON crun reads, checked field by field by
 * parsing the output back with jansson. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "agent/oci_config.h"
#include "test.h"

struct fixture {
	char *args[3];
	char *env[2];
	uint32_t gids[2];
	Lcvm__Agent__V1__Process proc;
	Lcvm__Agent__V1__Layer layer;
	Lcvm__Agent__V1__Layer *layers[1];
	Lcvm__Agent__V1__CreateContainerRequest req;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->args[0] = "sh";
	f->args[1] = "-c";
	f->args[2] = "echo \"hi\" \\ \n";
	f->env[0] = "PATH=/bin";
	f->env[1] = "QUOTE=\"}{";
	f->gids[0] = 10;
	f->gids[1] = 20;
	Lcvm__Agent__V1__Process p = LCVM__AGENT__V1__PROCESS__INIT;
	f->proc = p;
	f->proc.n_args = 3;
	f->proc.args = f->args;
	f->proc.n_env = 2;
	f->proc.env = f->env;
	f->proc.cwd = "/work";
	f->proc.uid = 1000;
	f->proc.gid = 1001;
	f->proc.n_additional_gids = 2;
	f->proc.additional_gids = f->gids;
	Lcvm__Agent__V1__Layer l = LCVM__AGENT__V1__LAYER__INIT;
	f->layer = l;
	f->layer.serial = "l0";
	f->layer.fstype = "squashfs";
	f->layers[0] = &f->layer;
	Lcvm__Agent__V1__CreateContainerRequest r = LCVM__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	f->req = r;
	f->req.id = "c1";
	f->req.hostname = "box";
	f->req.process = &f->proc;
	f->req.n_layers = 1;
	f->req.layers = f->layers;
}

/* config.json for in, parsed; NULL (with a failed check) if either step fails. */
static json_t *gen_input(const struct agent_oci_input *in)
{
	char *out = NULL;
	struct lc_err e = { { 0 } };
	if (!T_CHECK_EQ_INT(agent_oci_config(in, &out, &e), 0))
		return NULL;
	json_t *j = json_loads(out, 0, NULL);
	T_CHECK(j != NULL);
	free(out);
	return j;
}

static json_t *gen(const struct fixture *f, const struct agent_oci_bind *binds, size_t n)
{
	struct agent_oci_input in = {
		.req = &f->req, .rootfs = "rootfs", .cgroups_path = "/lcvm/c1", .binds = binds, .n_binds = n,
	};
	return gen_input(&in);
}

static const char *sget(json_t *j, const char *path)
{
	/* path: dot-separated object keys */
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok(buf, "."); k && j; k = strtok(NULL, "."))
		j = json_object_get(j, k);
	return json_string_value(j);
}

static void t_process_fields(void)
{
	struct fixture f;
	fixture_init(&f);
	json_t *j = gen(&f, NULL, 0);
	if (!j)
		return;
	json_t *p = json_object_get(j, "process");
	T_CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(p, "args"), 2)), "echo \"hi\" \\ \n");
	T_CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(p, "env"), 1)), "QUOTE=\"}{");
	T_CHECK_EQ_STR(sget(j, "process.cwd"), "/work");
	json_t *u = json_object_get(p, "user");
	T_CHECK_EQ_INT(json_integer_value(json_object_get(u, "uid")), 1000);
	T_CHECK_EQ_INT(json_integer_value(json_object_get(u, "gid")), 1001);
	T_CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(u, "additionalGids"), 1)), 20);
	T_CHECK(json_is_false(json_object_get(p, "terminal")));
	T_CHECK(json_is_false(json_object_get(p, "noNewPrivileges")));
	json_t *rl = json_array_get(json_object_get(p, "rlimits"), 0);
	T_CHECK_EQ_STR(json_string_value(json_object_get(rl, "type")), "RLIMIT_NOFILE");
	T_CHECK_EQ_INT(json_integer_value(json_object_get(rl, "soft")), AGENT_OCI_NOFILE);
	T_CHECK_EQ_STR(sget(j, "hostname"), "box");
	T_CHECK_EQ_STR(sget(j, "root.path"), "rootfs");
	T_CHECK(json_is_false(json_object_get(json_object_get(j, "root"), "readonly")));
	json_decref(j);
}

static void t_capabilities_are_dockers(void)
{
	struct fixture f;
	fixture_init(&f);
	json_t *j = gen(&f, NULL, 0);
	if (!j)
		return;
	json_t *caps = json_object_get(json_object_get(j, "process"), "capabilities");
	json_t *eff = json_object_get(caps, "effective");
	T_CHECK_EQ_INT(json_array_size(eff), 14);
	int has_chown = 0, has_sys_admin = 0;
	size_t i;
	json_t *v;
	json_array_foreach(eff, i, v) {
		has_chown |= strcmp(json_string_value(v), "CAP_CHOWN") == 0;
		has_sys_admin |= strcmp(json_string_value(v), "CAP_SYS_ADMIN") == 0;
	}
	T_CHECK(has_chown && !has_sys_admin);
	T_CHECK(json_equal(eff, json_object_get(caps, "bounding")));
	json_decref(j);
}

static void t_namespaces_without_network(void)
{
	struct fixture f;
	fixture_init(&f);
	json_t *j = gen(&f, NULL, 0);
	if (!j)
		return;
	json_t *lin = json_object_get(j, "linux");
	json_t *ns = json_object_get(lin, "namespaces");
	int seen = 0, net = 0;
	size_t i;
	json_t *v;
	json_array_foreach(ns, i, v) {
		const char *t = json_string_value(json_object_get(v, "type"));
		net |= strcmp(t, "network") == 0;
		seen += strcmp(t, "mount") == 0 || strcmp(t, "pid") == 0 || strcmp(t, "uts") == 0 ||
			strcmp(t, "ipc") == 0;
	}
	T_CHECK_EQ_INT(seen, 4);
	T_CHECK(!net);
	T_CHECK_EQ_STR(json_string_value(json_object_get(lin, "cgroupsPath")), "/lcvm/c1");
	json_decref(j);
}

static json_t *find_mount(json_t *j, const char *dest)
{
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(j, "mounts"), i, m)
		if (strcmp(json_string_value(json_object_get(m, "destination")), dest) == 0)
			return m;
	return NULL;
}

static void t_default_and_bind_mounts(void)
{
	struct fixture f;
	fixture_init(&f);
	struct agent_oci_bind b[] = { { "/run/lcvm/0/m0", "/data \"x\"", true }, { "/run/lcvm/0/m1", "/rw", false } };
	json_t *j = gen(&f, b, 2);
	if (!j)
		return;
	static const char *const std[] = { "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
					   "/sys/fs/cgroup" };
	for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++)
		T_CHECK(find_mount(j, std[i]) != NULL);
	json_t *sys = find_mount(j, "/sys");
	int ro = 0;
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(sys, "options"), i, o)
		ro |= strcmp(json_string_value(o), "ro") == 0;
	T_CHECK(ro);
	json_t *m = find_mount(j, "/data \"x\"");
	if (T_CHECK(m != NULL)) {
		T_CHECK_EQ_STR(json_string_value(json_object_get(m, "source")), "/run/lcvm/0/m0");
		T_CHECK_EQ_STR(json_string_value(json_object_get(m, "type")), "bind");
		T_CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(m, "options"), 2)), "ro");
	}
	m = find_mount(j, "/rw");
	if (T_CHECK(m != NULL))
		T_CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(m, "options"), 2)), "rw");
	json_decref(j);
}

static void t_defaults_hostname_cwd_readonly(void)
{
	struct fixture f;
	fixture_init(&f);
	f.req.hostname = "";
	f.proc.cwd = "";
	f.req.read_only = 1;
	f.proc.n_additional_gids = 0;
	json_t *j = gen(&f, NULL, 0);
	if (!j)
		return;
	T_CHECK_EQ_STR(sget(j, "hostname"), "c1");
	T_CHECK_EQ_STR(sget(j, "process.cwd"), "/");
	T_CHECK(json_is_true(json_object_get(json_object_get(j, "root"), "readonly")));
	T_CHECK(json_object_get(json_object_get(json_object_get(j, "process"), "user"), "additionalGids") == NULL);
	json_decref(j);
}

/* The init shim runs the user's args behind `<target> --`, bound read-only
 * from the agent binary after /dev (so it lands on the container's /dev). */
static void t_init_shim(void)
{
	struct fixture f;
	fixture_init(&f);
	struct agent_oci_input in = { .req = &f.req, .rootfs = "rootfs", .cgroups_path = "/lcvm/c1",
				      .init_source = "/init", .init_target = "/dev/.lcvm-init" };
	json_t *j = gen_input(&in);
	if (!j)
		return;
	json_t *args = json_object_get(json_object_get(j, "process"), "args");
	T_CHECK_EQ_INT(json_array_size(args), 5);
	T_CHECK_EQ_STR(json_string_value(json_array_get(args, 0)), "/dev/.lcvm-init");
	T_CHECK_EQ_STR(json_string_value(json_array_get(args, 1)), "--");
	T_CHECK_EQ_STR(json_string_value(json_array_get(args, 2)), "sh");
	T_CHECK_EQ_STR(json_string_value(json_array_get(args, 4)), "echo \"hi\" \\ \n");
	size_t i, dev = 0, init = 0;
	json_t *m;
	json_array_foreach(json_object_get(j, "mounts"), i, m) {
		const char *d = json_string_value(json_object_get(m, "destination"));
		if (strcmp(d, "/dev") == 0)
			dev = i + 1;
		if (strcmp(d, "/dev/.lcvm-init") == 0) {
			init = i + 1;
			T_CHECK_EQ_STR(json_string_value(json_object_get(m, "source")), "/init");
			T_CHECK_EQ_STR(json_string_value(json_object_get(m, "type")), "bind");
			T_CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(m, "options"), 1)), "ro");
		}
	}
	T_CHECK(dev > 0 && init > dev);
	json_decref(j);
}

/* A resolved user replaces the process's uid, gid and additional gids. */
static void t_resolved_user(void)
{
	struct fixture f;
	fixture_init(&f);
	struct agent_user u = { .uid = 33, .gid = 44, .gids = { 100, 10, 7 }, .n_gids = 3 };
	struct agent_oci_input in = { .req = &f.req, .rootfs = "rootfs", .cgroups_path = "/lcvm/c1", .user = &u };
	json_t *j = gen_input(&in);
	if (!j)
		return;
	json_t *ju = json_object_get(json_object_get(j, "process"), "user");
	T_CHECK_EQ_INT(json_integer_value(json_object_get(ju, "uid")), 33);
	T_CHECK_EQ_INT(json_integer_value(json_object_get(ju, "gid")), 44);
	json_t *g = json_object_get(ju, "additionalGids");
	T_CHECK_EQ_INT(json_array_size(g), 3);
	T_CHECK_EQ_INT(json_integer_value(json_array_get(g, 2)), 7);
	json_decref(j);
}

static void t_non_utf8_is_refused(void)
{
	struct fixture f;
	fixture_init(&f);
	f.args[1] = "\xff\xfe";
	struct agent_oci_input in = { .req = &f.req, .rootfs = "rootfs", .cgroups_path = "/lcvm/c1" };
	char *out = NULL;
	struct lc_err e = { { 0 } };
	T_CHECK_EQ_INT(agent_oci_config(&in, &out, &e), -EINVAL);
	T_CHECK(out == NULL);
	T_CHECK(strstr(e.msg, "UTF-8") != NULL);
}

int main(void)
{
	T_RUN(t_process_fields);
	T_RUN(t_capabilities_are_dockers);
	T_RUN(t_namespaces_without_network);
	T_RUN(t_default_and_bind_mounts);
	T_RUN(t_defaults_hostname_cwd_readonly);
	T_RUN(t_init_shim);
	T_RUN(t_resolved_user);
	T_RUN(t_non_utf8_is_refused);
	return t_done();
}
