#include "agent/container.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/swap.h>
#include <sys/sysinfo.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/blkdev.h"
#include "agent/init.h"
#include "agent/log.h"
#include "agent/oci_config.h"
#include "agent/shim.h"
#include "agent/warm.h"
#include "agent/vsock.h"
#include "agent/wstatus.h"
#include "util/cleanup.h"

struct agent_container *agent_container_find(struct agent *a, const char *id)
{
	for (struct agent_container *c = a->containers; c; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

int agent_overlay_opts(char *buf, size_t len, const char *dir, size_t n_layers, bool has_upper)
{
	size_t off = 0;
	int n = snprintf(buf, len, "lowerdir=");
	for (size_t i = 0; n >= 0 && (size_t)n < len - off && i < n_layers; i++) {
		off += (size_t)n;
		n = snprintf(buf + off, len - off, "%s%s/l%zu", i ? ":" : "", dir, i);
	}
	if (n >= 0 && (size_t)n < len - off && has_upper) {
		off += (size_t)n;
		/* volatile: the upper is per container and thrown away, so
		 * overlayfs may skip syncs (each one is emulated disk work). */
		n = snprintf(buf + off, len - off, ",upperdir=%s/s/upper,workdir=%s/s/work,volatile", dir, dir);
	}
	if (n < 0 || (size_t)n >= len - off)
		return -ENAMETOOLONG;
	return 0;
}

int agent_parse_pid(const char *text, pid_t *pid)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	while (*end == '\n' || *end == ' ')
		end++;
	if (errno || end == text || *end || v <= 0 || v > 0x400000) /* PID_MAX_LIMIT */
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

/* --- mounts ---------------------------------------------------------------*/

static int do_mount(struct agent_container *c, const char *src, const char *target, const char *type,
		    unsigned long flags, const char *data, struct lc_err *e)
{
	if (mkdir(target, 0755) < 0 && errno != EEXIST)
		return lc_err_set(e, errno, "mkdir %s", target);
	char **nm = realloc(c->mounts, (c->n_mounts + 1) * sizeof(*nm));
	if (!nm)
		return -ENOMEM;
	c->mounts = nm;
	char *copy = strdup(target);
	if (!copy)
		return -ENOMEM;
	if (mount(src, target, type, flags, data) < 0) {
		int err = errno;
		rmdir(target);
		free(copy);
		return lc_err_set(e, err, "mount %s (%s) on %s", src, type, target);
	}
	c->mounts[c->n_mounts++] = copy;
	return 0;
}

static void unmount_all(struct agent_container *c)
{
	while (c->n_mounts > 0) {
		char *m = c->mounts[--c->n_mounts];
		if (umount2(m, MNT_DETACH) < 0)
			agent_log("umount %s: %s", m, strerror(errno));
		else
			rmdir(m);
		free(m);
	}
	free(c->mounts);
	c->mounts = NULL;
}

static int mount_disk(struct agent *a, struct agent_container *c, const Lcvm__Agent__V1__Layer *l,
		      const char *target, bool ro, struct lc_err *e)
{
	struct lc_err me = { { 0 } };
	if (agent_modlist_load_group(&a->mods, l->fstype, &me) < 0)
		agent_log("%s", me.msg); /* the mount below says whether it mattered */
	char name[AGENT_BLKDEV_NAME_MAX];
	int r = agent_blkdev_by_serial(AGENT_SYS_BLOCK, l->serial, name, sizeof(name));
	if (r < 0)
		return lc_err_set(e, -r, "no disk with serial %s", l->serial);
	char dev[64];
	snprintf(dev, sizeof(dev), "/dev/%s", name);
	return do_mount(c, dev, target, l->fstype, (ro ? MS_RDONLY : 0) | MS_NODEV, NULL, e);
}

/* swapon(2) of an 8 GiB area costs ~30 ms emulated (the kernel allocates and
 * clears its page map), and nothing needs swap while a container starts: it
 * runs on a thread at SCHED_IDLE, which only gets the CPU the start leaves
 * idle. Once the container runs, a thread still waiting is raised to normal
 * priority (swapon_hurry), so that a container keeping the CPU busy cannot
 * starve it while filling its rootfs. A failure is logged; the container
 * then has RAM only. */
struct agent_swapon {
	pthread_t thread;
	pthread_mutex_t lock;
	pid_t tid;  /* under lock: the thread's, while it runs */
	bool done;  /* under lock */
	char dev[64];
};

static void *swapon_main(void *arg)
{
	struct agent_swapon *s = arg;
	struct sched_param sp = { 0 };
	pthread_mutex_lock(&s->lock);
	s->tid = gettid();
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	pthread_mutex_unlock(&s->lock);
	if (swapon(s->dev, 0) < 0 && errno != EBUSY)
		agent_log("swapon %s: %s (the container has no swap)", s->dev, strerror(errno));
	pthread_mutex_lock(&s->lock);
	s->done = true;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static int swapon_start(struct agent_container *c, const char *dev)
{
	struct agent_swapon *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	snprintf(s->dev, sizeof(s->dev), "%s", dev);
	pthread_mutex_init(&s->lock, NULL);
	int r = pthread_create(&s->thread, NULL, swapon_main, s);
	if (r != 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return -r;
	}
	c->swapon = s;
	return 0;
}

static void swapon_hurry(struct agent_swapon *s)
{
	if (!s)
		return;
	struct sched_param sp = { 0 };
	pthread_mutex_lock(&s->lock); /* held: the thread cannot end meanwhile */
	if (!s->done && s->tid > 0)
		sched_setscheduler(s->tid, SCHED_OTHER, &sp);
	pthread_mutex_unlock(&s->lock);
}

/* Waits for the thread (raised first, so that waiting cannot starve it). */
static void swapon_free(struct agent_swapon *s)
{
	if (!s)
		return;
	swapon_hurry(s);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* A swap scratch disk: swapon(2) it (swap is built into the kernel; a disk
 * file system would cost module loads per start) and put the upper on a tmpfs as
 * large as RAM + swap, so container writes the guest cannot keep in memory
 * go to the host's sparse file. */
static int swap_upper(struct agent_container *c, const Lcvm__Agent__V1__Layer *l, const char *target,
		      struct lc_err *e)
{
	char name[AGENT_BLKDEV_NAME_MAX];
	int r = agent_blkdev_by_serial(AGENT_SYS_BLOCK, l->serial, name, sizeof(name));
	if (r < 0)
		return lc_err_set(e, -r, "no disk with serial %s", l->serial);
	char dev[64], path[128];
	snprintf(dev, sizeof(dev), "/dev/%s", name);
	int r2 = swapon_start(c, dev);
	if (r2 < 0)
		return lc_err_set(e, -r2, "swapon %s", dev);
	unsigned long long sectors = 0;
	snprintf(path, sizeof(path), "%s/%s/size", AGENT_SYS_BLOCK, name);
	FILE *f = fopen(path, "re");
	if (!f || fscanf(f, "%llu", &sectors) != 1)
		sectors = 0;
	if (f)
		fclose(f);
	struct sysinfo si;
	unsigned long long ram = sysinfo(&si) == 0 ? (unsigned long long)si.totalram * si.mem_unit : 0;
	char opts[64];
	snprintf(opts, sizeof(opts), "mode=0755,size=%lluk", (sectors * 512 + ram) / 1024);
	return do_mount(c, "tmpfs", target, "tmpfs", MS_NODEV, opts, e);
}

static int mkdirs_upper(const char *dir, struct lc_err *e)
{
	char p[128];
	static const char *const sub[] = { "upper", "work" };
	for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
		snprintf(p, sizeof(p), "%s/s/%s", dir, sub[i]);
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return lc_err_set(e, errno, "mkdir %s", p);
	}
	return 0;
}

static int build_rootfs(struct agent *a, struct agent_container *c,
			const Lcvm__Agent__V1__CreateContainerRequest *r, struct lc_err *e)
{
	char p[128], opts[4096];
	int ret;
	for (size_t i = 0; i < r->n_layers; i++) {
		snprintf(p, sizeof(p), "%s/l%zu", c->dir, i);
		if ((ret = mount_disk(a, c, r->layers[i], p, true, e)) < 0)
			return lc_err_wrap(e, ret, "layer %zu", i);
	}
	snprintf(p, sizeof(p), "%s/rootfs", c->dir);
	if (r->read_only && r->n_layers == 1) {
		/* overlayfs needs two lowers when there is no upper: bind the layer. */
		char l0[128];
		snprintf(l0, sizeof(l0), "%s/l0", c->dir);
		return do_mount(c, l0, p, NULL, MS_BIND, NULL, e);
	}
	bool upper = !r->read_only;
	if (upper) {
		char s[128];
		snprintf(s, sizeof(s), "%s/s", c->dir);
		if (r->scratch) /* always swap (agent_validate_create) */
			ret = swap_upper(c, r->scratch, s, e);
		else
			ret = do_mount(c, "tmpfs", s, "tmpfs", MS_NODEV, "mode=0755", e);
		if (ret < 0 || (ret = mkdirs_upper(c->dir, e)) < 0)
			return lc_err_wrap(e, ret, "scratch");
	}
	if ((ret = agent_overlay_opts(opts, sizeof(opts), c->dir, r->n_layers, upper)) < 0)
		return lc_err_set(e, -ret, "overlay options");
	struct lc_err me = { { 0 } };
	if (agent_modlist_load_group(&a->mods, "overlay", &me) < 0)
		agent_log("%s", me.msg);
	return do_mount(c, "overlay", p, "overlay", 0, opts, e);
}

/* 9P shares: v9fs over a vsock stream to the host's 9P server (trans=fd).
 * access=client: one attach for the whole share and permission checks done
 * by the guest kernel against the owners and modes the server reports, as
 * for a local filesystem; the container's users never need their own attach
 * (access=user) and the server needs no per-uid state. The kernel takes its
 * own references on the fd at mount time, so ours is closed right after. */
static int mount_9p(struct agent *a, struct agent_container *c,
		    const Lcvm__Agent__V1__CreateContainerRequest *r, struct agent_oci_bind *binds,
		    struct lc_err *e)
{
	if (r->n_mounts == 0)
		return 0;
	struct lc_err me = { { 0 } };
	if (agent_modlist_load_group(&a->mods, "9p", &me) < 0)
		agent_log("%s", me.msg);
	for (size_t i = 0; i < r->n_mounts; i++) {
		const Lcvm__Agent__V1__Mount9p *m = r->mounts[i];
		cleanup_close int fd = -1;
		int ret = agent_vsock_connect(m->port, &fd);
		if (ret < 0)
			return lc_err_set(e, -ret, "9P share %zu: connect to host port %u", i, m->port);
		char opts[256], target[128];
		snprintf(opts, sizeof(opts), "trans=fd,rfdno=%d,wfdno=%d,version=9p2000.L,msize=%u,cache=%s,access=client",
			 fd, fd, m->msize ? m->msize : AGENT_9P_DEFAULT_MSIZE,
			 m->cache && m->cache[0] ? m->cache : AGENT_9P_DEFAULT_CACHE);
		snprintf(target, sizeof(target), "%s/m%zu", c->dir, i);
		ret = do_mount(c, "lcvm", target, "9p", MS_NODEV | (m->read_only ? MS_RDONLY : 0), opts, e);
		if (ret < 0)
			return lc_err_wrap(e, ret, "9P share %zu", i);
		binds[i].source = c->mounts[c->n_mounts - 1];
		binds[i].target = m->target;
		binds[i].read_only = m->read_only;
	}
	return 0;
}

static int write_file(const char *path, const char *text, struct lc_err *e)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return lc_err_set(e, errno, "create %s", path);
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return lc_err_set(e, errno, "write %s", path);
		off += (size_t)n;
	}
	return 0;
}

/* process.user, resolved in the container's own files (user.h), plus the
 * request's additional gids (docker's --group-add). */
static int resolve_user(struct agent_container *c, const Lcvm__Agent__V1__Process *p, struct agent_user *u,
			struct lc_err *e)
{
	char root[128];
	snprintf(root, sizeof(root), "%s/rootfs", c->dir);
	cleanup_close int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return lc_err_set(e, errno, "open %s", root);
	int r = agent_user_lookup(fd, p->user, u, e);
	for (size_t i = 0; r == 0 && i < p->n_additional_gids; i++) {
		size_t k = 0;
		while (k < u->n_gids && u->gids[k] != p->additional_gids[i])
			k++;
		if (k < u->n_gids)
			continue;
		if (u->n_gids >= AGENT_USER_MAX_GIDS)
			return lc_err_setx(e, E2BIG, "more than %u supplementary groups", AGENT_USER_MAX_GIDS);
		u->gids[u->n_gids++] = p->additional_gids[i];
	}
	return r;
}

static int write_bundle(struct agent_container *c, const Lcvm__Agent__V1__CreateContainerRequest *r,
			const struct agent_oci_bind *binds, const struct agent_user *user, struct lc_err *e)
{
	char cg[AGENT_ID_MAX + 16];
	snprintf(cg, sizeof(cg), AGENT_CGROUP_PARENT "/%s", c->id);
	struct agent_oci_input in = {
		.req = r, .rootfs = "rootfs", .cgroups_path = cg, .binds = binds, .n_binds = r->n_mounts,
		.init_source = AGENT_SHIM_SOURCE, .init_target = AGENT_SHIM_TARGET, .user = user,
	};
	return agent_bundle_write_config(c->dir, &in, e);
}

int agent_bundle_write_config(const char *dir, const struct agent_oci_input *in, struct lc_err *e)
{
	cleanup_free char *json = NULL;
	int ret = agent_oci_config(in, &json, e);
	if (ret < 0)
		return ret;
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/config.json", dir) >= (int)sizeof(path))
		return lc_err_setx(e, ENAMETOOLONG, "bundle directory name too long");
	return write_file(path, json, e);
}

static void container_free(struct agent_container *c)
{
	swapon_free(c->swapon);
	unmount_all(c);
	for (int i = 0; i < 3; i++)
		if (c->stdio_fds[i] >= 0)
			close(c->stdio_fds[i]);
	free(c);
}

/* A connection that cannot even begin is retried, and reported, at start. */
static void stdio_begin(struct agent_container *c)
{
	for (int i = 0; i < 3; i++)
		if (c->stdio_ports[i] && agent_vsock_connect_start(c->stdio_ports[i], &c->stdio_fds[i]) < 0)
			c->stdio_fds[i] = -1;
}

int agent_container_take_stdio(struct agent_container *c, int fds[3], struct lc_err *e)
{
	for (int i = 0; i < 3; i++) {
		int r = 0;
		if (c->stdio_fds[i] >= 0) {
			fds[i] = c->stdio_fds[i];
			c->stdio_fds[i] = -1;
			r = agent_vsock_connect_finish(fds[i]);
			if (r < 0)
				close(fds[i]);
		} else if (c->stdio_ports[i]) {
			r = agent_vsock_connect(c->stdio_ports[i], &fds[i]);
		} else if ((fds[i] = open("/dev/null", i ? O_WRONLY | O_CLOEXEC : O_RDONLY | O_CLOEXEC)) < 0) {
			r = -errno;
		}
		if (r < 0) {
			for (int j = 0; j < i; j++)
				close(fds[j]);
			return lc_err_set(e, -r, "stdio stream %d: connect to host port %u", i, c->stdio_ports[i]);
		}
	}
	return 0;
}

int agent_container_create(struct agent *a, const Lcvm__Agent__V1__CreateContainerRequest *r,
			   struct agent_container **out, struct lc_err *e)
{
	int ret = agent_validate_create(r, e);
	if (ret < 0)
		return ret;
	if (agent_container_find(a, r->id))
		return lc_err_setx(e, EEXIST, "container %s already exists", r->id);
	size_t n = 0;
	for (struct agent_container *it = a->containers; it; it = it->next)
		n++;
	if (n >= AGENT_MAX_CONTAINERS)
		return lc_err_setx(e, EMFILE, "too many containers (%u)", AGENT_MAX_CONTAINERS);
	struct agent_container *c = calloc(1, sizeof(*c));
	struct agent_oci_bind *binds = calloc(r->n_mounts + 1, sizeof(*binds));
	if (!c || !binds) {
		free(c);
		free(binds);
		return lc_err_setx(e, ENOMEM, "out of memory");
	}
	snprintf(c->id, sizeof(c->id), "%s", r->id);
	snprintf(c->dir, sizeof(c->dir), "%s/%u", a->run_dir, a->next_idx++);
	c->crun_pid = c->pid = -1;
	c->stdio_ports[0] = r->process->stdin_port;
	c->stdio_ports[1] = r->process->stdout_port;
	c->stdio_ports[2] = r->process->stderr_port;
	c->stdio_fds[0] = c->stdio_fds[1] = c->stdio_fds[2] = -1;
	stdio_begin(c); /* first: their round trips overlap what follows */
	struct lc_err me = { { 0 } };
	int nmods = agent_modload_join(&a->storage_mods, &me);
	if (nmods < 0)
		agent_log("%s", me.msg); /* the mounts below say whether it mattered */
	else if (nmods > 0)
		agent_log("loaded %d storage modules", nmods);
	if (mkdir(a->run_dir, 0700) < 0 && errno != EEXIST)
		ret = lc_err_set(e, errno, "mkdir %s", a->run_dir);
	else if (mkdir(c->dir, 0700) < 0)
		ret = lc_err_set(e, errno, "mkdir %s", c->dir);
	if (ret == 0)
		ret = build_rootfs(a, c, r, e);
	if (ret == 0)
		ret = mount_9p(a, c, r, binds, e);
	struct agent_user user;
	bool has_user = r->process->user && r->process->user[0];
	if (ret == 0 && has_user)
		ret = resolve_user(c, r->process, &user, e);
	if (ret == 0)
		ret = write_bundle(c, r, binds, has_user ? &user : NULL, e);
	free(binds);
	if (ret < 0) {
		unmount_all(c);
		rmdir(c->dir); /* empty unless config.json was written */
		container_free(c);
		return ret;
	}
	c->state = AGENT_C_CREATED;
	c->next = a->containers;
	a->containers = c;
	*out = c;
	return 0;
}

/* --- start and reap -------------------------------------------------------*/

int agent_crun_spawn(char *const argv[], const int stdio[3], pid_t *pid)
{
	/* The binary is a read-only bind (init.c): crun need not copy itself. */
	char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "_LIBCONTAINER_CLONED_BINARY=1", NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	for (int i = 0; i < 3; i++)
		posix_spawn_file_actions_adddup2(&fa, stdio[i], i);
	/* The agent blocks SIGCHLD (signalfd) and ignores SIGPIPE: undo both. */
	sigset_t none, def;
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGCHLD);
	sigaddset(&def, SIGPIPE);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
	int r = posix_spawn(pid, AGENT_CRUN_PATH, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return -r;
}

int agent_container_start(struct agent *a, struct agent_container *c, const int stdio[3], struct lc_err *e)
{
	if (c->state != AGENT_C_CREATED)
		return lc_err_setx(e, EBUSY, "container %s was already started", c->id);
	char log[96], pidf[96], logopt[112];
	snprintf(log, sizeof(log), "%s/crun.log", c->dir);
	snprintf(pidf, sizeof(pidf), "%s/pid", c->dir);
	snprintf(logopt, sizeof(logopt), "--log=file:%s", log);
	/* crun's own errors go to its log (read back on failure), never into
	 * the container's stderr stream. */
	char *argv[] = { "crun", logopt, "run", "--detach", "--bundle", c->dir, "--pid-file", pidf, c->id, NULL };
	pid_t pid;
	int r = agent_crun_spawn(argv, stdio, &pid);
	if (r < 0)
		return lc_err_set(e, -r, "spawn %s", AGENT_CRUN_PATH);
	c->crun_pid = pid;
	c->state = AGENT_C_STARTING;
	(void)a;
	return 0;
}

int agent_container_signal(struct agent_container *c, int sig, struct lc_err *e)
{
	if (sig <= 0 || sig >= NSIG)
		return lc_err_setx(e, EINVAL, "invalid signal %d", sig);
	if (c->state != AGENT_C_RUNNING || c->pid <= 0)
		return lc_err_setx(e, EBUSY, "container %s is not running", c->id);
	if (kill(c->pid, sig) < 0)
		return lc_err_set(e, errno, "kill %d", (int)c->pid);
	return 0;
}

static void read_crun_error(struct agent_container *c)
{
	char path[96], buf[4096];
	snprintf(path, sizeof(path), "%s/crun.log", c->dir);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(c->start_msg, sizeof(c->start_msg), "crun failed");
	if (fd < 0)
		return;
	/* The last non-empty line is crun's error. */
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
	if (n <= 0)
		return;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	char *line = strrchr(buf, '\n');
	snprintf(c->start_msg, sizeof(c->start_msg), "crun: %s", line ? line + 1 : buf);
}

static int read_pidfile(struct agent_container *c, pid_t *pid)
{
	char path[96], buf[32];
	snprintf(path, sizeof(path), "%s/pid", c->dir);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return agent_parse_pid(buf, pid);
}

static void emit(struct agent *a, struct agent_container *c, enum agent_cevent ev)
{
	if (a->on_event)
		a->on_event(a, c, ev);
}

static void on_crun_exit(struct agent *a, struct agent_container *c, int ws)
{
	c->crun_pid = -1;
	pid_t pid;
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0 || read_pidfile(c, &pid) < 0) {
		read_crun_error(c);
		c->start_error = -EIO;
		c->state = AGENT_C_STOPPED;
		/* docker's statuses: 126 cannot be run, 127 not found. */
		c->exit_status = strstr(c->start_msg, "ermission denied") ? 126 : 127;
		agent_log("container %s: %s", c->id, c->start_msg);
		emit(a, c, AGENT_EV_STARTED);
		return;
	}
	c->pid = pid;
	swapon_hurry(c->swapon);
	c->state = c->init_exited ? AGENT_C_STOPPED : AGENT_C_RUNNING;
	emit(a, c, AGENT_EV_STARTED);
	if (c->init_exited)
		emit(a, c, AGENT_EV_EXITED);
}

static void on_init_exit(struct agent *a, struct agent_container *c, int ws)
{
	c->init_exited = true;
	c->exit_status = agent_exit_status(ws);
	if (c->state == AGENT_C_RUNNING) {
		c->state = AGENT_C_STOPPED;
		emit(a, c, AGENT_EV_EXITED);
	}
}

/* A pid we did not spawn: a container's init re-parented to us whose crun
 * exit we have not reaped yet (both can be reaped in one pass, in either
 * order), or any other orphan. crun writes the pid file before it exits. */
static struct agent_container *find_by_pid(struct agent *a, pid_t pid)
{
	for (struct agent_container *c = a->containers; c; c = c->next) {
		pid_t p;
		if (c->pid == pid && !c->init_exited)
			return c;
		if (c->state == AGENT_C_STARTING && c->pid < 0 && read_pidfile(c, &p) == 0 && p == pid) {
			c->pid = p;
			return c;
		}
	}
	return NULL;
}

void agent_reap(struct agent *a)
{
	for (;;) {
		int ws;
		pid_t pid = waitpid(-1, &ws, WNOHANG);
		if (pid <= 0)
			return;
		if (a->warm_pid > 0 && pid == a->warm_pid) {
			a->warm_pid = 0;
			agent_warm_finish(AGENT_WARM_DIR);
			agent_log("crun warmed up in %.3f s (status %d)", agent_uptime() - a->warm_started,
				  agent_exit_status(ws));
			continue;
		}
		struct agent_container *c;
		for (c = a->containers; c; c = c->next)
			if (c->crun_pid == pid)
				break;
		if (c) {
			on_crun_exit(a, c, ws);
			continue;
		}
		c = find_by_pid(a, pid);
		if (c)
			on_init_exit(a, c, ws);
	}
}

void agent_containers_teardown(struct agent *a)
{
	kill(-1, SIGKILL); /* from PID 1: every other process */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	for (struct agent_container *c = a->containers; c; c = c->next)
		unmount_all(c);
}
