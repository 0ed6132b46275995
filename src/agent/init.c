#include "agent/init.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "agent/log.h"
#include "util/cleanup.h"

#define NEWROOT "/.lcvm-root"

/* The initramfs root is the kernel's "rootfs" mount, which has no parent, so
 * pivot_root(2) (crun's default way into the container's rootfs) fails
 * on it with EINVAL. Rather than `crun --no-pivot` (chroot-like: the
 * container could walk back out of its root with a second chroot) or
 * copying the initramfs into a tmpfs (emulated copies of megabytes), bind
 * the root onto itself and chroot into the bind: the new root is an ordinary
 * mount with a parent, and pivot_root works inside containers. Costs four
 * syscalls. Same dance as switch_root, without deleting anything. */
static int reroot(struct lc_err *e)
{
	if (mkdir(NEWROOT, 0700) < 0 && errno != EEXIST)
		return lc_err_set(e, errno, "mkdir " NEWROOT);
	if (mount("/", NEWROOT, NULL, MS_BIND, NULL) < 0)
		return lc_err_set(e, errno, "bind / on " NEWROOT);
	if (chdir(NEWROOT) < 0)
		return lc_err_set(e, errno, "chdir " NEWROOT);
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		return lc_err_set(e, errno, "move " NEWROOT " to /");
	if (chroot(".") < 0 || chdir("/") < 0)
		return lc_err_set(e, errno, "chroot into the bound root");
	return 0;
}

struct fs_mount {
	const char *target, *type;
	unsigned long flags;
	const char *data;
};

static const struct fs_mount base_mounts[] = {
	{ "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
	{ "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666" },
	{ "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
	{ "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "nsdelegate" },
};

static int mount_base(struct lc_err *e)
{
	for (size_t i = 0; i < ARRAY_SIZE(base_mounts); i++) {
		const struct fs_mount *m = &base_mounts[i];
		if (mkdir(m->target, 0755) < 0 && errno != EEXIST)
			return lc_err_set(e, errno, "mkdir %s", m->target);
		if (mount(m->type, m->target, m->type, m->flags, m->data) < 0 && errno != EBUSY)
			return lc_err_set(e, errno, "mount %s on %s", m->type, m->target);
	}
	return 0;
}

/* stdin from /dev/null, stdout/stderr to the console: the kernel may have
 * started us without any fd when the initramfs has no /dev/console. */
static int setup_console(struct lc_err *e)
{
	cleanup_close int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	cleanup_close int con = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (null < 0 || con < 0)
		return lc_err_set(e, errno, "open /dev/null or /dev/console");
	if (dup2(null, 0) < 0 || dup2(con, 1) < 0 || dup2(con, 2) < 0)
		return lc_err_set(e, errno, "dup2 console");
	return 0;
}

/* Returns how many of the controllers are enabled. */
static int enable_controllers(const char *subtree_control)
{
	static const char *const ctl[] = { "+cpu", "+memory", "+pids" };
	cleanup_close int fd = open(subtree_control, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		agent_log("%s: %s", subtree_control, strerror(errno));
		return 0;
	}
	int n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(ctl); i++) {
		if (write(fd, ctl[i], strlen(ctl[i])) < 0)
			agent_log("enable cgroup controller %s in %s: %s", ctl[i], subtree_control, strerror(errno));
		else
			n++;
	}
	return n;
}

/* crun creates each container's cgroup below AGENT_CGROUP_PARENT; the
 * controllers it needs must be enabled in the subtree_control of the root
 * and of the parent (one write per controller, so one the kernel lacks
 * does not block the others).
 *
 * The parent is made here, before anything runs beside the agent, and kept:
 * the first memory cgroup turns static keys on (memcg_kmem_enabled_key,
 * memcg_sockets_enabled_key), and the kernel patches its own text to do it
 * (text_poke_bp: an int3, an IPI, the new bytes). Under multi-threaded TCG,
 * with the other vCPU in __alloc_pages at that moment, QEMU can keep
 * running a stale translation that still holds the int3; the int3 handler
 * sees the new bytes in memory and sends the CPU back to the same address,
 * forever: both vCPUs in a soft lockup at __alloc_pages+0x1e8 (2 of 267
 * `--cpus 2` runs with three VMs on the two host cores, when crun's
 * warm-up made the first memory cgroup while the other vCPU loaded
 * modules). Made here, the keys flip while the other vCPU idles, and with
 * the parent alive they never drop back to zero. */
static void setup_cgroups(void)
{
	enable_controllers("/sys/fs/cgroup/cgroup.subtree_control");
	if (mkdir("/sys/fs/cgroup" AGENT_CGROUP_PARENT, 0755) < 0 && errno != EEXIST) {
		agent_log("mkdir /sys/fs/cgroup%s: %s", AGENT_CGROUP_PARENT, strerror(errno));
		return;
	}
	int n = enable_controllers("/sys/fs/cgroup" AGENT_CGROUP_PARENT "/cgroup.subtree_control");
	agent_log("cgroup %s made with %d controllers", AGENT_CGROUP_PARENT, n);
}

/* The container shares the VM's network; 127.0.0.1 must work in it. */
static void loopback_up(void)
{
	cleanup_close int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		agent_log("bring up lo: %s", strerror(errno));
}

/* crun re-executes itself from a sealed copy at every start (CVE-2019-5736
 * protection) unless its binary is already safe: a sealed memfd, or a file
 * on a read-only mount. Its test asks F_GET_SEALS first and stops there when
 * that succeeds, and on tmpfs (the kernel's default initramfs root) it does
 * succeed, with F_SEAL_SEAL only: crun then takes its binary for unsafe,
 * re-executes from a read-only bind, finds tmpfs again and copies itself
 * into a memfd, three executions of crun per container (measured with
 * LD_DEBUG=statistics; each costs tens of ms under TCG). ramfs has no seals:
 * the monitor boots with rootfstype=ramfs and agent_seal_root makes the root
 * read-only, which passes the test the first time (nothing in a container
 * can write crun, which is what the protection is for). On any other root
 * (a kernel command line without rootfstype=ramfs), a copy on a read-only
 * ramfs is bound over crun instead (agent_protect_binary). */
#define CRUN_RAMFS "/.lcvm-crun"

static int copy_file(const char *from, const char *to)
{
	cleanup_close int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	struct stat st;
	if (fstat(in, &st) < 0)
		return -errno;
	cleanup_close int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0555);
	if (out < 0)
		return -errno;
	for (off_t left = st.st_size; left > 0;) {
		ssize_t n = sendfile(out, in, NULL, (size_t)left);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		left -= n;
	}
	return 0;
}

int agent_protect_binary(const char *path, const char *ramfs_dir, struct lc_err *e)
{
	char copy[256];
	if ((size_t)snprintf(copy, sizeof(copy), "%s/bin", ramfs_dir) >= sizeof(copy))
		return lc_err_setx(e, ENAMETOOLONG, "%s: path too long", ramfs_dir);
	int r;
	if (mkdir(ramfs_dir, 0700) < 0 && errno != EEXIST)
		return lc_err_set(e, errno, "mkdir %s", ramfs_dir);
	if (mount("ramfs", ramfs_dir, "ramfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0)
		return lc_err_set(e, errno, "mount ramfs on %s", ramfs_dir);
	if ((r = copy_file(path, copy)) < 0)
		return lc_err_set(e, -r, "copy %s to %s", path, copy);
	if (mount(NULL, ramfs_dir, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return lc_err_set(e, errno, "remount %s read-only", ramfs_dir);
	if (mount(copy, path, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
		return lc_err_set(e, errno, "read-only bind of %s on %s", copy, path);
	return 0;
}

int agent_seal_root(const char *root, struct lc_err *e)
{
	struct statfs st;
	if (statfs(root, &st) < 0)
		return lc_err_set(e, errno, "statfs %s", root);
	if (st.f_type != RAMFS_MAGIC)
		return 0;
	if (mount(NULL, root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
		return lc_err_set(e, errno, "remount %s read-only", root);
	return 1;
}

int agent_init_system(struct lc_err *e)
{
	int r = reroot(e);
	if (r == 0)
		r = mount_base(e);
	if (r == 0)
		r = setup_console(e);
	if (r < 0)
		return r;
	setup_cgroups();
	loopback_up();
	/* Not fatal either way: crun then copies itself at every start. */
	struct lc_err pe = { { 0 } };
	r = agent_seal_root("/", &pe);
	if (r < 0)
		agent_log("%s", pe.msg);
	else if (r == 1)
		agent_log("read-only ramfs root: crun runs in place");
	if (r <= 0 && agent_protect_binary(AGENT_CRUN_PATH, CRUN_RAMFS, &pe) < 0)
		agent_log("%s (crun will copy itself)", pe.msg);
	return 0;
}

int agent_read_cmdline(char *buf, size_t len)
{
	cleanup_close int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

void agent_poweroff(void)
{
	sync();
	reboot(RB_POWER_OFF);
	for (;;) /* PID 1 must not return, even if power-off failed */
		pause();
}

void agent_fatal(const char *msg)
{
	char line[600];
	int n = snprintf(line, sizeof(line), "lcvm-agent: fatal: %s\n", msg);
	/* stderr may not be the console yet: try both. */
	ssize_t w = write(2, line, (size_t)MIN(n, (int)sizeof(line) - 1));
	int con = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (con >= 0 && con != 2) {
		w = write(con, line, (size_t)MIN(n, (int)sizeof(line) - 1));
		close(con);
	}
	(void)w;
	agent_poweroff();
}
