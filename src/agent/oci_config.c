#include "agent/oci_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"


/* docker's default capability set (moby oci/caps/defaults.go). */
static const char *const default_caps[] = {
	"CAP_CHOWN",	  "CAP_DAC_OVERRIDE", "CAP_FSETID",	      "CAP_FOWNER",	"CAP_MKNOD",
	"CAP_NET_RAW",	  "CAP_SETGID",	      "CAP_SETUID",	      "CAP_SETFCAP",	"CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",	      "CAP_AUDIT_WRITE",
};

static const char *const masked_paths[] = {
	"/proc/asound",	     "/proc/acpi",	   "/proc/kcore",	"/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi",	     "/sys/firmware",
};

static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

/* The mounts every container gets (moby oci/defaults.go). The /sys/fs/cgroup
 * mount relies on the cgroup namespace to show only the container's tree. */
struct std_mount {
	const char *dest, *type, *source;
	const char *opts[8];
};
static const struct std_mount std_mounts[] = {
	{ "/proc", "proc", "proc", { "nosuid", "noexec", "nodev" } },
	{ "/dev", "tmpfs", "tmpfs", { "nosuid", "strictatime", "mode=755", "size=65536k" } },
	{ "/dev/pts", "devpts", "devpts",
	  { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" } },
	{ "/sys", "sysfs", "sysfs", { "nosuid", "noexec", "nodev", "ro" } },
	{ "/sys/fs/cgroup", "cgroup", "cgroup", { "nosuid", "noexec", "nodev", "relatime", "ro" } },
	{ "/dev/mqueue", "mqueue", "mqueue", { "nosuid", "noexec", "nodev" } },
	{ "/dev/shm", "tmpfs", "shm", { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" } },
};

/* Appends a new reference; returns -1 (and drops v) on failure, including
 * v == NULL, which is how a non-UTF-8 json_string() fails. */
static int arr_add(json_t *a, json_t *v)
{
	return (v && json_array_append_new(a, v) == 0) ? 0 : -1;
}

static int obj_set(json_t *o, const char *k, json_t *v)
{
	return (v && json_object_set_new(o, k, v) == 0) ? 0 : -1;
}

static json_t *str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (arr_add(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* args, behind `<init> --` when the shim runs them. */
static json_t *args_json(const Lcvm__Agent__V1__Process *p, const char *init)
{
	json_t *a = json_array();
	if (a && init && (arr_add(a, json_string(init)) < 0 || arr_add(a, json_string("--")) < 0))
		goto fail;
	for (size_t i = 0; a && i < p->n_args; i++)
		if (arr_add(a, json_string(p->args[i])) < 0)
			goto fail;
	return a;
fail:
	json_decref(a);
	return NULL;
}

static json_t *user_json(const Lcvm__Agent__V1__Process *p, const struct agent_user *u)
{
	uint32_t uid = u ? u->uid : p->uid, gid = u ? u->gid : p->gid;
	size_t n = u ? u->n_gids : p->n_additional_gids;
	const uint32_t *gids = u ? u->gids : p->additional_gids;
	json_t *user = json_pack("{s:I,s:I}", "uid", (json_int_t)uid, "gid", (json_int_t)gid);
	json_t *a = n ? json_array() : NULL;
	for (size_t i = 0; a && i < n; i++)
		if (arr_add(a, json_integer(gids[i])) < 0) {
			json_decref(a);
			a = NULL;
		}
	if (user && n && obj_set(user, "additionalGids", a) < 0) {
		json_decref(user);
		return NULL;
	}
	return user;
}

static json_t *process_json(const Lcvm__Agent__V1__Process *p, const char *init, const struct agent_user *u)
{
	json_t *proc = json_object();
	json_t *user = user_json(p, u);
	json_t *caps = json_object();
	json_t *rl = json_pack("[{s:s,s:I,s:I}]", "type", "RLIMIT_NOFILE", "hard", (json_int_t)AGENT_OCI_NOFILE,
			       "soft", (json_int_t)AGENT_OCI_NOFILE);
	int bad = !proc || !user || !caps;
	static const char *const cap_sets[] = { "bounding", "effective", "permitted" };
	for (size_t i = 0; !bad && i < ARRAY_SIZE(cap_sets); i++)
		bad = obj_set(caps, cap_sets[i], str_array(default_caps, ARRAY_SIZE(default_caps)));
	if (!bad)
		bad = obj_set(proc, "terminal", json_false()) || obj_set(proc, "user", json_incref(user)) ||
		      obj_set(proc, "args", args_json(p, init)) ||
		      obj_set(proc, "env", str_array((const char *const *)p->env, p->n_env)) ||
		      obj_set(proc, "cwd", json_string(p->cwd && p->cwd[0] ? p->cwd : "/")) ||
		      obj_set(proc, "capabilities", json_incref(caps)) ||
		      obj_set(proc, "rlimits", json_incref(rl)) ||
		      obj_set(proc, "noNewPrivileges", json_false());
	json_decref(user);
	json_decref(caps);
	json_decref(rl);
	if (bad) {
		json_decref(proc);
		return NULL;
	}
	return proc;
}

static json_t *mount_json(const char *dest, const char *type, const char *source, const char *const *opts,
			  size_t nopts)
{
	json_t *m = json_pack("{s:s,s:s,s:s}", "destination", dest, "type", type, "source", source);
	if (m && obj_set(m, "options", str_array(opts, nopts)) < 0) {
		json_decref(m);
		return NULL;
	}
	return m;
}

static json_t *mounts_json(const struct agent_oci_input *in)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < ARRAY_SIZE(std_mounts); i++) {
		const struct std_mount *s = &std_mounts[i];
		size_t n = 0;
		while (n < ARRAY_SIZE(s->opts) && s->opts[n])
			n++;
		if (arr_add(a, mount_json(s->dest, s->type, s->source, s->opts, n)) < 0)
			goto fail;
	}
	for (size_t i = 0; a && i < in->n_binds; i++) {
		const struct agent_oci_bind *b = &in->binds[i];
		/* rprivate: a share's mounts never propagate back to the guest. */
		const char *opts[] = { "rbind", "rprivate", b->read_only ? "ro" : "rw" };
		if (arr_add(a, mount_json(b->target, "bind", b->source, opts, ARRAY_SIZE(opts))) < 0)
			goto fail;
	}
	if (a && in->init_source && in->init_target) {
		/* After /dev (a tmpfs crun creates) so it lands on that tmpfs.
		 * ro: nothing in the container can change the agent binary. */
		static const char *const opts[] = { "bind", "ro", "nosuid", "nodev" };
		if (arr_add(a, mount_json(in->init_target, "bind", in->init_source, opts, ARRAY_SIZE(opts))) < 0)
			goto fail;
	}
	return a;
fail:
	json_decref(a);
	return NULL;
}

static json_t *linux_json(const struct agent_oci_input *in)
{
	/* No network namespace: the container shares the VM's network. The
	 * cgroup namespace is docker's default on cgroup v2. */
	json_t *l = json_pack("{s:[{s:s},{s:s},{s:s},{s:s},{s:s}],s:s}", "namespaces", "type", "mount", "type",
			      "pid", "type", "uts", "type", "ipc", "type", "cgroup", "cgroupsPath",
			      in->cgroups_path);
	if (l && (obj_set(l, "maskedPaths", str_array(masked_paths, ARRAY_SIZE(masked_paths))) < 0 ||
		  obj_set(l, "readonlyPaths", str_array(readonly_paths, ARRAY_SIZE(readonly_paths))) < 0)) {
		json_decref(l);
		return NULL;
	}
	return l;
}

int agent_oci_config(const struct agent_oci_input *in, char **out, struct lc_err *e)
{
	const Lcvm__Agent__V1__CreateContainerRequest *r = in->req;
	*out = NULL;
	json_t *root = json_pack("{s:s,s:{s:s,s:b}}", "ociVersion", "1.0.2", "root", "path", in->rootfs,
				 "readonly", (int)r->read_only);
	if (!root)
		return lc_err_setx(e, ENOMEM, "config.json: out of memory");
	const char *host = r->hostname && r->hostname[0] ? r->hostname : r->id;
	int bad = obj_set(root, "hostname", json_string(host));
	if (bad)
		goto fail;
	json_t *proc = process_json(r->process, in->init_target, in->user);
	if (obj_set(root, "process", proc) < 0) {
		json_decref(root);
		return lc_err_setx(e, EINVAL, "config.json: process args, env or cwd are not valid UTF-8");
	}
	if (obj_set(root, "mounts", mounts_json(in)) < 0) {
		json_decref(root);
		return lc_err_setx(e, EINVAL, "config.json: a mount path is not valid UTF-8");
	}
	if (obj_set(root, "linux", linux_json(in)) < 0)
		goto fail;
	*out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return *out ? 0 : lc_err_setx(e, ENOMEM, "config.json: out of memory");
fail:
	json_decref(root);
	return lc_err_setx(e, EINVAL, "config.json: cannot encode the request");
}
