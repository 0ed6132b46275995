/* lcvm run: parse flags, resolve the image, write the container spec into a
 * new state directory, start `lcvm monitor DIR` in its own session with the
 * user's stdio, forward SIGINT/SIGTERM/SIGHUP to it, and exit with its
 * status (the container's). Also the internal `lcvm monitor` verb. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/image_resolve.h"
#include "monitor/monitor.h"
#include "monitor/spec.h"
#include "monitor/state.h"
#include "util/cleanup.h"
#include "util/paths.h"

#define RUN_DEFAULT_MEMORY_MIB 512

static const char run_usage[] =
	"Usage: lcvm run [OPTIONS] IMAGE [COMMAND [ARG...]]\n\n"
	"Run a command in a new container, inside its own virtual machine.\n\n"
	"Options:\n"
	"      --rm               remove the container's state when it exits\n"
	"  -i, --interactive      keep stdin open and forward it (EOF included)\n"
	"  -e, --env KEY=VALUE    set an environment variable (KEY alone: take it from here)\n"
	"  -w, --workdir DIR      working directory inside the container\n"
	"  -u, --user USER[:GROUP] user to run as (names resolved in the image)\n"
	"      --entrypoint CMD   override the image's entrypoint\n"
	"      --name NAME        name the container\n"
	"      --read-only        mount the container's root filesystem read-only\n"
	"  -v, --volume SRC:DST[:OPTS]  share host directory SRC at DST over 9P; OPTS is a\n"
	"                         comma list of ro, rw, mapped, passthrough (default:\n"
	"                         passthrough as root, mapped otherwise)\n"
	"      --accel MODE       auto (default), kvm or tcg\n"
	"      --cpus N           virtual CPUs (default 2; 1 on a one-CPU host)\n"
	"  -m, --memory SIZE      guest memory, e.g. 512M, 2G (default 512M)\n"
	"  -h, --help             show this help\n";

struct run_opts {
	int remove, interactive, read_only;
	const char *name, *workdir, *user, *entrypoint;
	char **env; /* from -e, NULL-terminated */
	size_t nenv;
	struct mon_mount mounts[MON_MAX_MOUNTS];
	size_t nmounts;
	enum mon_accel accel;
	unsigned cpus;
	uint64_t memory_mib;
};

static int add_env(struct run_opts *o, const char *kv)
{
	char *copy;
	if (strchr(kv, '=')) {
		copy = strdup(kv);
	} else {
		const char *v = getenv(kv);
		if (!v)
			return 0; /* docker: -e KEY with KEY unset sets nothing */
		if (asprintf(&copy, "%s=%s", kv, v) < 0)
			copy = NULL;
	}
	char **n = realloc(o->env, (o->nenv + 2) * sizeof(*n));
	if (!copy || !n) {
		free(copy);
		if (n)
			o->env = n;
		return -ENOMEM;
	}
	o->env = n;
	o->env[o->nenv++] = copy;
	o->env[o->nenv] = NULL;
	return 0;
}

static void free_mounts(struct run_opts *o)
{
	for (size_t i = 0; i < o->nmounts; i++) {
		free(o->mounts[i].source);
		free(o->mounts[i].target);
	}
	o->nmounts = 0;
}

/* -v SRC:DST[:OPTS]. SRC must be an existing host directory (made absolute
 * and canonical here, so the monitor exports exactly what the user saw). */
static int add_volume(struct run_opts *o, const char *spec)
{
	if (o->nmounts >= MON_MAX_MOUNTS)
		return cli_error("run: too many volumes (at most %d)", MON_MAX_MOUNTS), -E2BIG;
	char buf[PATH_MAX * 2 + 64];
	if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf))
		return cli_error("run: volume '%.40s...' too long", spec), -ENAMETOOLONG;
	char *src = buf, *dst = strchr(buf, ':'), *opts = NULL;
	if (!dst || dst == src)
		return cli_error("run: invalid volume '%s' (want HOSTDIR:CONTAINERDIR[:ro][,mapped])", spec), -EINVAL;
	*dst++ = '\0';
	if ((opts = strchr(dst, ':')))
		*opts++ = '\0';
	struct mon_mount m = { .mapped = geteuid() != 0 };
	for (char *tok = opts ? strtok(opts, ",") : NULL; tok; tok = strtok(NULL, ",")) {
		if (!strcmp(tok, "ro"))
			m.read_only = 1;
		else if (!strcmp(tok, "rw"))
			m.read_only = 0;
		else if (!strcmp(tok, "mapped"))
			m.mapped = 1;
		else if (!strcmp(tok, "passthrough"))
			m.mapped = 0;
		else
			return cli_error("run: unknown volume option '%s' (want ro, rw, mapped or passthrough)", tok),
			       -EINVAL;
	}
	if (dst[0] != '/' || strstr(dst, "/../") || !strcmp(dst, "/") ||
	    (strlen(dst) >= 3 && !strcmp(dst + strlen(dst) - 3, "/..")))
		return cli_error("run: volume target '%s' must be an absolute path other than /", dst), -EINVAL;
	char real[PATH_MAX];
	if (!realpath(src, real))
		return cli_error("run: volume source %s: %s", src, strerror(errno)), -ENOENT;
	struct stat st;
	if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
		return cli_error("run: volume source %s is not a directory", src), -ENOTDIR;
	m.source = strdup(real);
	m.target = strdup(dst);
	if (!m.source || !m.target) {
		free(m.source);
		free(m.target);
		return cli_error("run: out of memory"), -ENOMEM;
	}
	o->mounts[o->nmounts++] = m;
	return 0;
}

/* Returns 0, -EINVAL after printing the error, or 1 when --help was shown. */
static int parse_run(int argc, char **argv, struct run_opts *o)
{
	enum { O_RM = 256, O_NAME, O_ACCEL, O_CPUS, O_ENTRYPOINT, O_READ_ONLY };
	static const struct option longopts[] = {
		{ "rm", no_argument, NULL, O_RM },
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "entrypoint", required_argument, NULL, O_ENTRYPOINT },
		{ "name", required_argument, NULL, O_NAME },
		{ "read-only", no_argument, NULL, O_READ_ONLY },
		{ "accel", required_argument, NULL, O_ACCEL },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "memory", required_argument, NULL, 'm' },
		{ "volume", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	o->cpus = mon_default_cpus(sysconf(_SC_NPROCESSORS_ONLN));
	o->memory_mib = RUN_DEFAULT_MEMORY_MIB;
	opterr = 0;
	optind = 1;
	int c;
	/* '+': stop at the image name; everything after it is the command. */
	while ((c = getopt_long(argc, argv, "+ite:w:u:m:v:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_RM: o->remove = 1; break;
		case 'i': o->interactive = 1; break;
		case 't':
			cli_error("run: --tty is not supported yet; use -i and a pipe");
			return -EINVAL;
		case 'e':
			if (add_env(o, optarg) < 0)
				return cli_error("run: out of memory"), -ENOMEM;
			break;
		case 'w': o->workdir = optarg; break;
		case 'u': o->user = optarg; break;
		case O_ENTRYPOINT: o->entrypoint = optarg; break;
		case O_NAME: o->name = optarg; break;
		case O_READ_ONLY: o->read_only = 1; break;
		case O_ACCEL:
			if (mon_accel_parse(optarg, &o->accel) < 0) {
				cli_error("run: invalid --accel '%s' (want auto, kvm or tcg)", optarg);
				return -EINVAL;
			}
			break;
		case O_CPUS: {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);
			if (*end || !*optarg || n < 1 || n > MON_MAX_CPUS) {
				cli_error("run: invalid --cpus '%s' (want 1 to %d)", optarg, MON_MAX_CPUS);
				return -EINVAL;
			}
			o->cpus = (unsigned)n;
			break;
		}
		case 'm':
			if (mon_parse_memory(optarg, &o->memory_mib) < 0 || o->memory_mib < MON_MIN_MEMORY_MIB ||
			    o->memory_mib > MON_MAX_MEMORY_MIB) {
				cli_error("run: invalid --memory '%s' (want e.g. 512M or 2G, at least %dM)", optarg,
					  MON_MIN_MEMORY_MIB);
				return -EINVAL;
			}
			break;
		case 'v':
			if (add_volume(o, optarg) < 0)
				return -EINVAL;
			break;
		case 'h':
			fputs(run_usage, stdout);
			return 1;
		default:
			if (optopt && optopt < 256)
				cli_error("run: unknown or incomplete option '-%c' (see 'lcvm run --help')", optopt);
			else
				cli_error("run: unknown or incomplete option '%s' (see 'lcvm run --help')",
					  argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind >= argc) {
		cli_error("run: requires an IMAGE (see 'lcvm run --help')");
		return -EINVAL;
	}
	return 0;
}

static int random_id(char out[65])
{
	unsigned char b[32];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -errno;
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

static char **strv_dup(char *const *v, size_t extra)
{
	size_t n = strv_len(v);
	char **r = calloc(n + extra + 1, sizeof(*r));
	for (size_t i = 0; r && i < n; i++)
		if (!(r[i] = strdup(v[i]))) {
			strv_free(r);
			return NULL;
		}
	return r;
}

/* docker's PATH for images whose config sets none. */
#define RUN_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int has_key(char *const *env, const char *key, size_t klen)
{
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], key, klen) && env[i][klen] == '=')
			return 1;
	return 0;
}

/* Image env (plus docker's default PATH when neither it nor -e has one),
 * then -e values replacing the same keys. */
static char **merge_env(char *const *image_env, char *const *user_env)
{
	char **env = strv_dup(image_env, strv_len(user_env) + 1);
	if (env && !has_key(image_env, "PATH", 4) && !has_key(user_env, "PATH", 4)) {
		size_t n = strv_len(env);
		if (!(env[n] = strdup(RUN_DEFAULT_PATH))) {
			strv_free(env);
			return NULL;
		}
	}
	if (!env)
		return NULL;
	size_t n = strv_len(env);
	for (size_t i = 0; user_env && user_env[i]; i++) {
		size_t klen = strcspn(user_env[i], "=");
		size_t j = 0;
		while (j < n && !(strncmp(env[j], user_env[i], klen) == 0 && env[j][klen] == '='))
			j++;
		char *dup = strdup(user_env[i]);
		if (!dup) {
			strv_free(env);
			return NULL;
		}
		if (j < n)
			free(env[j]);
		else
			n++;
		env[j] = dup;
	}
	return env;
}

/* docker's rule: entrypoint (image or --entrypoint) + (command line or image Cmd).
 * --entrypoint resets the image's Cmd. */
static char **compose_args(const struct run_opts *o, const struct cli_image *img, int argc, char **argv)
{
	char *ep_override[2] = { (char *)o->entrypoint, NULL };
	char *const *ep = o->entrypoint ? (o->entrypoint[0] ? ep_override : NULL) : img->entrypoint;
	char *const *cmd = argc > 0 ? argv : (o->entrypoint ? NULL : img->cmd);
	size_t ne = strv_len(ep), nc = argc > 0 ? (size_t)argc : strv_len(cmd);
	char **args = calloc(ne + nc + 1, sizeof(*args));
	if (!args)
		return NULL;
	for (size_t i = 0; i < ne + nc; i++)
		if (!(args[i] = strdup(i < ne ? ep[i] : cmd[i - ne]))) {
			strv_free(args);
			return NULL;
		}
	return args;
}

static int build_spec(const struct cli_globals *g, struct run_opts *o, const char *image, int argc,
		      char **argv, struct mon_spec *s, struct lc_err *e)
{
	char guest[PATH_MAX];
	int r = lc_guest_dir(guest, sizeof(guest));
	if (r < 0)
		return lc_err_setx(e, -r, "the guest kernel is not built (looked in %s): run 'make guest'", guest);
	struct cli_image img = { 0 };
	r = cli_image_resolve(g, guest, image, &img, e);
	if (r < 0)
		return r;
	char id[65];
	if ((r = random_id(id)) < 0) {
		cli_image_free(&img);
		return lc_err_set(e, -r, "getrandom");
	}
	char hostname[13];
	snprintf(hostname, sizeof(hostname), "%.12s", id);
	s->id = strdup(id);
	s->hostname = strdup(hostname);
	if (o->name)
		s->name = strdup(o->name);
	else if (asprintf(&s->name, "lcvm-%.12s", id) < 0)
		s->name = NULL;
	s->image = strdup(image);
	s->args = compose_args(o, &img, argc, argv);
	s->env = merge_env(img.env, o->env);
	s->cwd = strdup(o->workdir ? o->workdir : img.working_dir && *img.working_dir ? img.working_dir : "/");
	s->layers = img.layers;
	s->nlayers = img.nlayers;
	s->mounts = calloc(o->nmounts + 1, sizeof(*s->mounts));
	if (!s->mounts) {
		cli_image_free(&img);
		return lc_err_set(e, ENOMEM, "building the container spec");
	}
	memcpy(s->mounts, o->mounts, o->nmounts * sizeof(*s->mounts));
	s->nmounts = o->nmounts;
	o->nmounts = 0; /* the spec owns the strings now */
	img.layers = NULL;
	img.nlayers = 0;
	/* Names are resolved by the agent in the image's own /etc/passwd and /etc/group. */
	const char *user = o->user ? o->user : img.user;
	r = 0;
	if (user && strnlen(user, 256) >= 256)
		r = lc_err_setx(e, EINVAL, "--user: name too long");
	if (user)
		s->user = strdup(user);
	s->image_id = take_ptr(&img.id);
	s->exposed_ports = take_ptr(&img.exposed_ports);
	cli_image_free(&img);
	if (r < 0)
		return r;
	/* The scratch disk goes to the data dir (disk-backed), not the runtime dir (often tmpfs). */
	char data[PATH_MAX];
	if (!o->read_only && (r = lc_data_dir(g->root, data, sizeof(data))) < 0)
		return lc_err_setx(e, -r, "cannot find the data directory (set HOME or use --root)");
	if (!o->read_only && asprintf(&s->scratch, "%s/containers/%s/scratch.img", data, id) < 0)
		return lc_err_set(e, ENOMEM, "building the container spec");
	if (asprintf(&s->kernel, "%s/vmlinux", guest) < 0)
		s->kernel = NULL;
	if (asprintf(&s->initrd, "%s/initramfs.cpio", guest) < 0)
		s->initrd = NULL;
	if (!s->id || !s->hostname || !s->name || !s->image || !s->args || !s->env || !s->cwd || !s->kernel ||
	    !s->initrd || (user && !s->user))
		return lc_err_set(e, ENOMEM, "building the container spec");
	if (strv_len(s->args) == 0)
		return lc_err_setx(e, EINVAL, "no command specified and image '%s' has none", image);
	s->accel = o->accel;
	s->cpus = o->cpus;
	s->memory_mib = o->memory_mib;
	s->interactive = o->interactive;
	s->remove = o->remove;
	s->read_only = o->read_only;
	s->debug = g->debug;
	return mon_spec_validate(s, e);
}

/* Waits for the monitor, forwarding terminal and termination signals to it
 * (it tears the VM down). No signal handler, no global: signals are blocked
 * and taken with sigwaitinfo. */
static int wait_monitor(pid_t mon, const sigset_t *set)
{
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(set, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(mon, sig);
			continue;
		}
		int st;
		pid_t p = waitpid(mon, &st, WNOHANG);
		if (p != mon)
			continue;
		if (WIFEXITED(st))
			return WEXITSTATUS(st);
		return 128 + WTERMSIG(st);
	}
}

int cmd_run(const struct cli_globals *g, int argc, char **argv)
{
	struct run_opts o = { 0 };
	int r = parse_run(argc, argv, &o);
	if (r != 0) {
		strv_free(o.env);
		free_mounts(&o);
		return r > 0 ? 0 : CLI_EXIT_ERROR;
	}
	struct lc_err e = { 0 };
	struct mon_spec s = { 0 };
	r = build_spec(g, &o, argv[optind], argc - optind - 1, argv + optind + 1, &s, &e);
	strv_free(o.env);
	free_mounts(&o);
	char runtime[PATH_MAX], dir[PATH_MAX];
	if (r == 0 && (r = lc_runtime_dir(g->root, runtime, sizeof(runtime))) < 0)
		lc_err_set(&e, -r, "runtime directory");
	if (r == 0)
		r = mon_state_create(runtime, &s, dir, sizeof(dir), &e);
	int remove = s.remove;
	mon_spec_free(&s);
	if (r < 0)
		return cli_fail(&e);

	/* Like docker's CLI: catch these even when the shell started us with them
	 * ignored (background jobs run with SIGINT ignored); an ignored signal
	 * would be discarded before sigwaitinfo could take it. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	pid_t mon = fork();
	if (mon < 0) {
		int err = errno;
		mon_state_remove(dir);
		return cli_error("run: fork: %s", strerror(err));
	}
	if (mon == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		setsid(); /* terminal signals reach the CLI only; it forwards them */
		if (!o.interactive) {
			int nul = open("/dev/null", O_RDONLY);
			if (nul >= 0 && nul != 0) {
				dup2(nul, 0);
				close(nul);
			}
		}
		char *margv[] = { "lcvm", "monitor", dir, NULL };
		execv("/proc/self/exe", margv);
		fprintf(stderr, "lcvm: run: cannot start the monitor: %s\n", strerror(errno));
		_exit(CLI_EXIT_ERROR);
	}
	int status = wait_monitor(mon, &set);
	/* The monitor removes the state of --rm containers; if it died hard, do it here. */
	if (remove)
		mon_state_remove(dir);
	return status;
}

int cmd_monitor(const struct cli_globals *g, int argc, char **argv)
{
	if (argc != 2)
		return cli_error("monitor: internal command, usage: lcvm monitor STATE_DIR");
	struct lc_err e = { 0 };
	int r = mon_run(argv[1], &e);
	return r < 0 ? cli_fail(&e) : r;
}
