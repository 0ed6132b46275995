/* File and directory checks: special files, links, open flags, unlinked and
 * renamed open files, big directories, mmap, sparse files, ownership. */
#include "conformance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- FIFO ------------------------------------------------------------------ */

static int fifo_writer(void *arg)
{
	(void)arg;
	int fd = open("fifo", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	int r = conf_write_all(fd, "hello through a fifo", 20);
	close(fd);
	return r < 0;
}

static int chk_fifo(struct conf_ctx *c)
{
	if (mkfifo("fifo", 0600) < 0)
		return conf_errno(c, "mkfifo");
	struct stat st;
	if (lstat("fifo", &st) < 0)
		return conf_errno(c, "lstat");
	if (!S_ISFIFO(st.st_mode))
		return conf_fail(c, "created node has mode %o, not a FIFO", st.st_mode);
	pid_t pid = conf_spawn(fifo_writer, NULL);
	if (pid < 0)
		return conf_fail(c, "fork: %s", strerror((int)-pid));
	/* Blocks until the writer opens: the rendezvous happens in our kernel. */
	int fd = open("fifo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return conf_errno(c, "open fifo for reading");
	char buf[64];
	size_t have = 0;
	for (;;) {
		ssize_t r = read(fd, buf + have, sizeof(buf) - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	close(fd);
	if (conf_reap(pid) != 0)
		return conf_fail(c, "writer failed");
	if (have != 20 || memcmp(buf, "hello through a fifo", 20) != 0)
		return conf_fail(c, "read %zu bytes, not the 20 written", have);
	if (lstat("fifo", &st) < 0 || st.st_size != 0)
		return conf_fail(c, "fifo has size %lld after use", (long long)st.st_size);
	return CONF_PASS;
}

/* ---- device and socket nodes ---------------------------------------------- */

static int chk_device_nodes(struct conf_ctx *c)
{
	/* 1:3 is /dev/null everywhere: opening the node must reach OUR kernel's
	 * null device, whatever stores the node. */
	if (mknod("null", S_IFCHR | 0666, makedev(1, 3)) < 0) {
		if (errno == EPERM && geteuid() != 0)
			return conf_skip(c, "mknod of a device needs root");
		return conf_errno(c, "mknod char 1:3");
	}
	if (mknod("loop", S_IFBLK | 0600, makedev(7, 200)) < 0)
		return conf_errno(c, "mknod block 7:200");
	struct stat st;
	if (lstat("null", &st) < 0)
		return conf_errno(c, "lstat char node");
	if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3)
		return conf_fail(c, "char node reads back as mode %o rdev %u:%u", st.st_mode,
				 major(st.st_rdev), minor(st.st_rdev));
	if ((st.st_mode & 07777) != 0666)
		return conf_fail(c, "char node permissions %o, not 666", st.st_mode & 07777);
	if (lstat("loop", &st) < 0)
		return conf_errno(c, "lstat block node");
	if (!S_ISBLK(st.st_mode) || major(st.st_rdev) != 7 || minor(st.st_rdev) != 200)
		return conf_fail(c, "block node reads back as mode %o rdev %u:%u", st.st_mode,
				 major(st.st_rdev), minor(st.st_rdev));
	int fd = open("null", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EACCES)
			return conf_skip(c, "nodes created but the mount refuses device access (nodev)");
		return conf_errno(c, "open char node");
	}
	char buf[8];
	ssize_t w = write(fd, "discard", 7);
	ssize_t r = read(fd, buf, sizeof(buf));
	close(fd);
	if (w != 7 || r != 0)
		return conf_fail(c, "char node 1:3 does not behave as /dev/null (write %zd, read %zd)", w, r);
	return CONF_PASS;
}

static int chk_socket_node(struct conf_ctx *c)
{
	if (mknod("sock", S_IFSOCK | 0600, 0) < 0)
		return conf_errno(c, "mknod S_IFSOCK");
	struct stat st;
	if (lstat("sock", &st) < 0)
		return conf_errno(c, "lstat");
	if (!S_ISSOCK(st.st_mode))
		return conf_fail(c, "mknod socket reads back as mode %o", st.st_mode);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return conf_errno(c, "socket");
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, "bound");
	int r = bind(s, (struct sockaddr *)&a, sizeof(a));
	close(s);
	if (r < 0)
		return conf_errno(c, "bind a unix socket");
	if (lstat("bound", &st) < 0)
		return conf_errno(c, "lstat bound socket");
	if (!S_ISSOCK(st.st_mode))
		return conf_fail(c, "bound socket reads back as mode %o", st.st_mode);
	return CONF_PASS;
}

/* Binding and then connecting needs the kernel to find the same socket inode
 * again; separate from chk_socket_node because 9P cache modes differ here. */
static int chk_socket_connect(struct conf_ctx *c)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int t = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || t < 0)
		return conf_errno(c, "socket");
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, "srv");
	int st = CONF_PASS;
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 1) < 0)
		st = conf_errno(c, "bind/listen");
	else if (connect(t, (struct sockaddr *)&a, sizeof(a)) < 0)
		st = conf_errno(c, "connect to a socket bound in DIR");
	else if (conf_write_all(t, "x", 1) < 0)
		st = conf_errno(c, "send");
	close(s);
	close(t);
	return st;
}

/* ---- links ----------------------------------------------------------------- */

static int nlink_of(const char *name)
{
	struct stat st;
	return lstat(name, &st) < 0 ? -1 : (int)st.st_nlink;
}

static int chk_nlink(struct conf_ctx *c)
{
	if (conf_make_file("a", "data", 4, 0644) < 0)
		return conf_errno(c, "create");
	if (mkdir("sub", 0755) < 0)
		return conf_errno(c, "mkdir");
	int fd = open("a", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return conf_errno(c, "open");
	struct stat st;
	int n1 = nlink_of("a");
	if (link("a", "b") < 0)
		return conf_errno(c, "link a b");
	int n2 = nlink_of("a");
	if (link("b", "sub/c") < 0)
		return conf_errno(c, "link b sub/c (across directories)");
	int n3 = nlink_of("sub/c");
	fstat(fd, &st);
	int nfd = (int)st.st_nlink;
	struct stat sa, sc;
	if (lstat("a", &sa) < 0 || lstat("sub/c", &sc) < 0)
		return conf_errno(c, "lstat");
	if (unlink("b") < 0 || unlink("sub/c") < 0)
		return conf_errno(c, "unlink");
	int n4 = nlink_of("a");
	close(fd);
	if (n1 != 1 || n2 != 2 || n3 != 3 || nfd != 3 || n4 != 1)
		return conf_fail(c, "nlink went %d -> %d -> %d (fstat %d) -> %d, want 1 -> 2 -> 3 (3) -> 1", n1,
				 n2, n3, nfd, n4);
	if (sa.st_ino != sc.st_ino)
		return conf_fail(c, "hard links have different inode numbers %llu and %llu",
				 (unsigned long long)sa.st_ino, (unsigned long long)sc.st_ino);
	if (link("sub", "sub2") == 0 || errno != EPERM)
		return conf_fail(c, "hard link to a directory: want EPERM, got %s",
				 errno ? strerror(errno) : "success");
	return CONF_PASS;
}

static int chk_symlink(struct conf_ctx *c)
{
	/* Targets are opaque bytes, stored and returned as they are. */
	const char *targets[] = { "plain", "../../x/../y", "/abs/path", "with space", "\x01\xff-bytes",
				  "dangling/nowhere/" };
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		char name[32], buf[256];
		snprintf(name, sizeof(name), "l%zu", i);
		if (symlink(targets[i], name) < 0)
			return conf_errno(c, "symlink");
		ssize_t n = readlink(name, buf, sizeof(buf));
		if (n < 0)
			return conf_errno(c, "readlink");
		if ((size_t)n != strlen(targets[i]) || memcmp(buf, targets[i], (size_t)n) != 0)
			return conf_fail(c, "readlink returned %.*s for target %s", (int)n, buf, targets[i]);
		struct stat st;
		if (lstat(name, &st) < 0 || !S_ISLNK(st.st_mode))
			return conf_fail(c, "lstat of a symlink does not report S_IFLNK");
		if (st.st_size != (off_t)strlen(targets[i]))
			return conf_fail(c, "symlink size %lld, want %zu", (long long)st.st_size, strlen(targets[i]));
	}
	if (conf_make_file("target", "T", 1, 0644) < 0 || symlink("target", "rel") < 0)
		return conf_errno(c, "create target");
	char b = 0;
	int fd = open("rel", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, &b, 1) != 1 || b != 'T')
		return conf_fail(c, "opening through a relative symlink did not reach its target");
	close(fd);
	if (open("rel", O_RDONLY | O_NOFOLLOW | O_CLOEXEC) >= 0 || errno != ELOOP)
		return conf_fail(c, "O_NOFOLLOW on a symlink did not fail with ELOOP");
	return CONF_PASS;
}

/* ---- open flags ------------------------------------------------------------ */

#define APPEND_WRITERS 4
#define APPEND_RECORDS 400
#define APPEND_REC 64

struct append_arg {
	int start_fd;
	int start_wfd; /* closed in the writer, so the parent's close is the only EOF */
	int id;
};

static int append_writer(void *p)
{
	struct append_arg *a = p;
	int fd = open("log", O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return 1;
	close(a->start_wfd);
	char b;
	if (read(a->start_fd, &b, 1) != 0) /* EOF = everyone starts */
		return 1;
	for (int i = 0; i < APPEND_RECORDS; i++) {
		char rec[APPEND_REC + 1];
		snprintf(rec, sizeof(rec), "w%d r%05d %-*s\n", a->id, i, APPEND_REC - 11, "payload");
		if (write(fd, rec, APPEND_REC) != APPEND_REC)
			return 1;
	}
	close(fd);
	return 0;
}

static int chk_append(struct conf_ctx *c)
{
	if (conf_make_file("log", NULL, 0, 0644) < 0)
		return conf_errno(c, "create");
	int start[2];
	if (pipe(start) < 0)
		return conf_errno(c, "pipe");
	pid_t pids[APPEND_WRITERS];
	struct append_arg args[APPEND_WRITERS];
	for (int i = 0; i < APPEND_WRITERS; i++) {
		args[i] = (struct append_arg){ start[0], start[1], i };
		pids[i] = conf_spawn(append_writer, &args[i]);
		if (pids[i] < 0)
			return conf_fail(c, "fork: %s", strerror((int)-pids[i]));
	}
	close(start[1]);
	int bad = 0;
	for (int i = 0; i < APPEND_WRITERS; i++)
		bad |= conf_reap(pids[i]) != 0;
	if (bad)
		return conf_fail(c, "a writer failed");
	int fd = open("log", O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return conf_errno(c, "open log");
	size_t want = (size_t)APPEND_WRITERS * APPEND_RECORDS * APPEND_REC;
	if ((size_t)st.st_size != want)
		return conf_fail(c, "log has %lld bytes, want %zu (records were overwritten)",
				 (long long)st.st_size, want);
	char *buf = malloc(want);
	if (!buf || conf_read_all(fd, buf, want) < 0)
		return conf_errno(c, "read log");
	close(fd);
	int next[APPEND_WRITERS] = { 0 };
	for (size_t off = 0; off < want; off += APPEND_REC) {
		int w, r;
		if (sscanf(buf + off, "w%d r%d ", &w, &r) != 2 || w < 0 || w >= APPEND_WRITERS ||
		    buf[off + APPEND_REC - 1] != '\n')
			return conf_fail(c, "torn record at offset %zu", off);
		if (r != next[w])
			return conf_fail(c, "writer %d record %d found where %d was expected", w, r, next[w]);
		next[w]++;
	}
	free(buf);
	return CONF_PASS;
}

static int chk_excl(struct conf_ctx *c)
{
	int fd = open("e", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
	if (fd < 0)
		return conf_errno(c, "O_CREAT|O_EXCL of a new name");
	close(fd);
	struct stat st;
	if (stat("e", &st) < 0 || (st.st_mode & 0777) != 0640)
		return conf_fail(c, "created file has mode %o, want 640", st.st_mode & 0777);
	if (open("e", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600) >= 0 || errno != EEXIST)
		return conf_fail(c, "O_EXCL on an existing file: want EEXIST, got %s", strerror(errno));
	/* POSIX: O_EXCL does not follow a (dangling) symlink. */
	if (symlink("made-through-link", "dangling") < 0)
		return conf_errno(c, "symlink");
	if (open("dangling", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600) >= 0 || errno != EEXIST)
		return conf_fail(c, "O_EXCL on a dangling symlink: want EEXIST, got %s", strerror(errno));
	if (lstat("made-through-link", &st) == 0)
		return conf_fail(c, "O_EXCL created the symlink's target");
	return CONF_PASS;
}

static int chk_trunc(struct conf_ctx *c)
{
	char big[1000];
	memset(big, 'x', sizeof(big));
	if (conf_make_file("t", big, sizeof(big), 0644) < 0)
		return conf_errno(c, "create");
	int fd = open("t", O_RDWR | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return conf_errno(c, "open O_TRUNC");
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size != 0)
		return conf_fail(c, "size after O_TRUNC is %lld", (long long)st.st_size);
	if (conf_write_all(fd, "abc", 3) < 0)
		return conf_errno(c, "write");
	if (ftruncate(fd, 5000) < 0)
		return conf_errno(c, "ftruncate grow");
	char buf[8] = "zzzzzzzz";
	if (pread(fd, buf, 8, 4000) != 8 || memcmp(buf, "\0\0\0\0\0\0\0\0", 8) != 0)
		return conf_fail(c, "grown region does not read as zeros");
	if (truncate("t", 2) < 0)
		return conf_errno(c, "truncate by name");
	if (fstat(fd, &st) < 0 || st.st_size != 2)
		return conf_fail(c, "size after truncate(2) is %lld", (long long)st.st_size);
	if (pread(fd, buf, 8, 0) != 2 || memcmp(buf, "ab", 2) != 0)
		return conf_fail(c, "content after truncation is wrong");
	close(fd);
	return CONF_PASS;
}

static int chk_direct(struct conf_ctx *c)
{
	const size_t n = 8192;
	void *wbuf = NULL, *rbuf = NULL;
	if (posix_memalign(&wbuf, 4096, n) || posix_memalign(&rbuf, 4096, n))
		return conf_fail(c, "out of memory");
	for (size_t i = 0; i < n; i++)
		((unsigned char *)wbuf)[i] = (unsigned char)(i * 7 + 1);
	int fd = open("d", O_CREAT | O_RDWR | O_DIRECT | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EINVAL)
		return conf_skip(c, "this filesystem refuses O_DIRECT");
	if (fd < 0)
		return conf_errno(c, "open O_DIRECT");
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || !(fl & O_DIRECT))
		return conf_fail(c, "O_DIRECT not kept on the open file (flags %#x)", fl);
	if (pwrite(fd, wbuf, n, 0) != (ssize_t)n)
		return conf_errno(c, "aligned O_DIRECT write");
	if (pread(fd, rbuf, n, 0) != (ssize_t)n || memcmp(wbuf, rbuf, n) != 0)
		return conf_fail(c, "O_DIRECT read does not return the data written");
	close(fd);
	fd = open("d", O_RDONLY | O_CLOEXEC);
	memset(rbuf, 0, n);
	if (fd < 0 || pread(fd, rbuf, n, 0) != (ssize_t)n || memcmp(wbuf, rbuf, n) != 0)
		return conf_fail(c, "buffered read does not see the O_DIRECT write");
	close(fd);
	free(wbuf);
	free(rbuf);
	return CONF_PASS;
}

/* ---- unlinked and replaced open files ------------------------------------- */

static int chk_unlink_open(struct conf_ctx *c)
{
	int fd = open("u", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0 || conf_write_all(fd, "abc", 3) < 0)
		return conf_errno(c, "create");
	if (unlink("u") < 0)
		return conf_errno(c, "unlink");
	struct stat st;
	if (fstat(fd, &st) < 0)
		return conf_errno(c, "fstat after unlink");
	if (st.st_nlink != 0 || st.st_size != 3)
		return conf_fail(c, "fstat after unlink: nlink %lu size %lld, want 0 and 3",
				 (unsigned long)st.st_nlink, (long long)st.st_size);
	if (pwrite(fd, "def", 3, 3) != 3)
		return conf_errno(c, "write after unlink");
	char buf[8];
	if (pread(fd, buf, 8, 0) != 6 || memcmp(buf, "abcdef", 6) != 0)
		return conf_fail(c, "read after unlink does not return the data");
	if (ftruncate(fd, 2) < 0)
		return conf_errno(c, "ftruncate after unlink");
	if (fstat(fd, &st) < 0 || st.st_size != 2)
		return conf_fail(c, "size after ftruncate of an unlinked file is %lld", (long long)st.st_size);
	if (fchmod(fd, 0600) < 0)
		return conf_errno(c, "fchmod after unlink");
	if (fsync(fd) < 0)
		return conf_errno(c, "fsync after unlink");
	if (access("u", F_OK) == 0 || errno != ENOENT)
		return conf_fail(c, "unlinked name still visible");
	close(fd);
	return CONF_PASS;
}

static int chk_rename_open(struct conf_ctx *c)
{
	if (conf_make_file("a", "old-content", 11, 0644) < 0 || conf_make_file("b", "new", 3, 0644) < 0)
		return conf_errno(c, "create");
	int fd = open("a", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return conf_errno(c, "open a");
	if (rename("b", "a") < 0)
		return conf_errno(c, "rename b over a");
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	if (n != 11 || memcmp(buf, "old-content", 11) != 0)
		return conf_fail(c, "the open file changed content when replaced (read %zd bytes)", n);
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_nlink != 0)
		return conf_fail(c, "the replaced open file has nlink %lu, want 0", (unsigned long)st.st_nlink);
	if (pwrite(fd, "OLD", 3, 0) != 3)
		return conf_errno(c, "write to the replaced open file");
	close(fd);
	fd = open("a", O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
	if (n != 3 || memcmp(buf, "new", 3) != 0)
		return conf_fail(c, "the name does not show the new file");
	close(fd);
	if (access("b", F_OK) == 0)
		return conf_fail(c, "old name still exists after rename");
	if (mkdir("d1", 0755) < 0 || mkdir("d2", 0755) < 0 || rename("a", "d1/x") < 0 ||
	    rename("d1", "d2/d1") < 0)
		return conf_errno(c, "rename across directories");
	if (stat("d2/d1/x", &st) < 0 || st.st_size != 3)
		return conf_fail(c, "file not found after moving its directory");
	if (mkdir("full", 0755) < 0 || conf_make_file("full/f", "", 0, 0644) < 0 || mkdir("empty", 0755) < 0)
		return conf_errno(c, "mkdir");
	if (rename("empty", "full") == 0 || (errno != ENOTEMPTY && errno != EEXIST))
		return conf_fail(c, "rename over a non-empty directory: want ENOTEMPTY, got %s", strerror(errno));
	return CONF_PASS;
}

static int chk_rmdir(struct conf_ctx *c)
{
	if (mkdir("d", 0755) < 0 || conf_make_file("d/f", "", 0, 0644) < 0)
		return conf_errno(c, "create");
	if (rmdir("d") == 0 || (errno != ENOTEMPTY && errno != EEXIST))
		return conf_fail(c, "rmdir of a non-empty directory: want ENOTEMPTY, got %s", strerror(errno));
	if (unlink("d") == 0 || (errno != EISDIR && errno != EPERM))
		return conf_fail(c, "unlink of a directory: want EISDIR, got %s", strerror(errno));
	if (rmdir("d/f") == 0 || errno != ENOTDIR)
		return conf_fail(c, "rmdir of a file: want ENOTDIR, got %s", strerror(errno));
	if (unlink("d/f") < 0 || rmdir("d") < 0)
		return conf_errno(c, "remove");
	if (access("d", F_OK) == 0)
		return conf_fail(c, "directory still exists");
	return CONF_PASS;
}

/* ---- a big directory read while others change it --------------------------- */

#define BIGDIR_N 10000

static int churner(void *arg)
{
	int *fds = arg; /* [0] stop pipe read end, [1] "started" write end, [2] stop write end */
	char name[32];
	close(fds[2]); /* the parent's close must be the last one */
	for (int i = 0; i < 1000000; i++) {
		snprintf(name, sizeof(name), "big/c%07d", i);
		int fd = open(name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			return 1;
		close(fd);
		if (i >= 20) {
			snprintf(name, sizeof(name), "big/c%07d", i - 20);
			if (unlink(name) < 0)
				return 1;
		}
		if (i == 50)
			conf_write_byte(fds[1], 'S');
		if (i > 50 && conf_wait_readable(fds[0], 0) != 0)
			return 0;
	}
	return 0;
}

struct big_mark {
	long pos;  /* telldir() taken halfway through */
	int next;  /* first stable entry read after it, -1 until seen */
};

/* Reads the whole directory, counting stable entries "sNNNNN" in seen[]. */
static int read_big(struct conf_ctx *c, DIR *d, unsigned char *seen, struct big_mark *mark)
{
	struct dirent *e;
	long n = 0;
	errno = 0;
	while ((e = readdir(d))) {
		unsigned idx;
		char extra;
		if (sscanf(e->d_name, "s%5u%c", &idx, &extra) != 1 || idx >= BIGDIR_N)
			continue;
		if (seen[idx]++ != 0)
			return conf_fail(c, "entry %s returned twice", e->d_name);
		if (mark && mark->pos >= 0 && mark->next < 0)
			mark->next = (int)idx;
		if (mark && ++n == BIGDIR_N / 2)
			mark->pos = telldir(d);
	}
	if (errno)
		return conf_errno(c, "readdir");
	return CONF_PASS;
}

static int chk_bigdir(struct conf_ctx *c)
{
	if (mkdir("big", 0755) < 0)
		return conf_errno(c, "mkdir");
	char name[32];
	for (int i = 0; i < BIGDIR_N; i++) {
		snprintf(name, sizeof(name), "big/s%05d", i);
		int fd = open(name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			return conf_fail(c, "create entry %d: %s", i, strerror(errno));
		close(fd);
	}
	int stop[2], started[2];
	if (pipe(stop) < 0 || pipe(started) < 0)
		return conf_errno(c, "pipe");
	int fds[3] = { stop[0], started[1], stop[1] };
	pid_t pid = conf_spawn(churner, fds);
	if (pid < 0)
		return conf_fail(c, "fork: %s", strerror((int)-pid));
	if (conf_read_byte(started[0], CONF_PEER_TIMEOUT_MS) != 'S')
		return conf_fail(c, "churning child did not start");
	static unsigned char seen[BIGDIR_N];
	DIR *d = opendir("big");
	if (!d)
		return conf_errno(c, "opendir");
	struct big_mark mark = { -1, -1 };
	int st = read_big(c, d, seen, &mark);
	close(stop[1]);
	if (conf_reap(pid) != 0 && st == CONF_PASS)
		st = conf_fail(c, "churning child failed to create/remove entries");
	if (st != CONF_PASS)
		return st;
	for (int i = 0; i < BIGDIR_N; i++)
		if (seen[i] != 1)
			return conf_fail(c, "stable entry s%05d seen %d times while others changed", i, seen[i]);
	/* A cookie taken mid-listing still leads to the same stable entry. */
	if (mark.pos < 0 || mark.next < 0)
		return conf_fail(c, "no telldir mark taken");
	seekdir(d, mark.pos);
	struct dirent *e;
	unsigned idx = BIGDIR_N;
	char extra;
	while ((e = readdir(d)) && sscanf(e->d_name, "s%5u%c", &idx, &extra) != 1)
		;
	if (!e || (int)idx != mark.next)
		return conf_fail(c, "seekdir(telldir()) led to s%05u, not s%05d", idx, mark.next);
	memset(seen, 0, sizeof(seen));
	rewinddir(d);
	st = read_big(c, d, seen, NULL);
	closedir(d);
	if (st != CONF_PASS)
		return st;
	for (int i = 0; i < BIGDIR_N; i++)
		if (seen[i] != 1)
			return conf_fail(c, "after rewinddir entry s%05d seen %d times", i, seen[i]);
	return CONF_PASS;
}

/* ---- mmap ------------------------------------------------------------------ */

static int mmap_peer(void *arg)
{
	int *p = arg; /* [0] read "written", [1] write verdict */
	int fd = open("m", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 1;
	unsigned char *m = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 1;
	if (conf_read_byte(p[0], CONF_PEER_TIMEOUT_MS) != 'W')
		return 1;
	int ok = m[9000] == 0x5a && m[16383] == 0xa5;
	m[100] = 0x42; /* the parent checks this one through read() */
	msync(m, 16384, MS_SYNC);
	conf_write_byte(p[1], ok ? 'Y' : 'N');
	return 0;
}

static int chk_mmap_shared(struct conf_ctx *c)
{
	int fd = open("m", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, 16384) < 0)
		return conf_errno(c, "create");
	unsigned char *m = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return conf_errno(c, "mmap MAP_SHARED PROT_WRITE");
	int to_peer[2], from_peer[2];
	if (pipe(to_peer) < 0 || pipe(from_peer) < 0)
		return conf_errno(c, "pipe");
	int fds[2] = { to_peer[0], from_peer[1] };
	pid_t pid = conf_spawn(mmap_peer, fds);
	if (pid < 0)
		return conf_fail(c, "fork: %s", strerror((int)-pid));
	m[9000] = 0x5a;
	m[16383] = 0xa5;
	if (msync(m, 16384, MS_SYNC) < 0)
		return conf_errno(c, "msync");
	conf_write_byte(to_peer[1], 'W');
	int v = conf_read_byte(from_peer[0], CONF_PEER_TIMEOUT_MS);
	conf_reap(pid);
	if (v != 'Y')
		return conf_fail(c, "another process's shared mapping does not see our stores");
	int fd2 = open("m", O_RDONLY | O_CLOEXEC);
	unsigned char b[3] = { 0 };
	if (fd2 < 0 || pread(fd2, &b[0], 1, 9000) != 1 || pread(fd2, &b[1], 1, 16383) != 1 ||
	    pread(fd2, &b[2], 1, 100) != 1)
		return conf_errno(c, "read back");
	if (b[0] != 0x5a || b[1] != 0xa5 || b[2] != 0x42)
		return conf_fail(c, "read() after msync does not return the mapped stores (%02x %02x %02x)",
				 b[0], b[1], b[2]);
	munmap(m, 16384);
	close(fd);
	close(fd2);
	return CONF_PASS;
}

/* ---- sparse, large --------------------------------------------------------- */

static int chk_sparse_5g(struct conf_ctx *c)
{
	const off_t size = 5LL << 30;
	int fd = open("sparse", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0)
		return conf_errno(c, "create");
	if (pwrite(fd, "past4G", 6, (4LL << 30) + 1) != 6)
		return conf_errno(c, "write just past 4 GiB");
	if (pwrite(fd, "end", 3, size - 3) != 3)
		return conf_errno(c, "write at 5 GiB");
	struct stat st;
	if (fstat(fd, &st) < 0)
		return conf_errno(c, "fstat");
	if (st.st_size != size)
		return conf_fail(c, "size %lld, want %lld", (long long)st.st_size, (long long)size);
	if ((long long)st.st_blocks * 512 > 64LL << 20)
		return conf_fail(c, "sparse file occupies %lld bytes", (long long)st.st_blocks * 512);
	char buf[8];
	if (pread(fd, buf, 6, (4LL << 30) + 1) != 6 || memcmp(buf, "past4G", 6) != 0)
		return conf_fail(c, "data past 4 GiB does not read back (offset truncated to 32 bits?)");
	if (pread(fd, buf, 8, 1) != 8 || memcmp(buf, "\0\0\0\0\0\0\0\0", 8) != 0)
		return conf_fail(c, "hole at offset 1 does not read as zeros");
	if (pread(fd, buf, 8, size - 3) != 3 || memcmp(buf, "end", 3) != 0)
		return conf_fail(c, "tail read returned wrong data");
	if (pread(fd, buf, 8, size) != 0)
		return conf_fail(c, "read at EOF returned data");
	if (ftruncate(fd, size + 4096) < 0)
		return conf_errno(c, "ftruncate beyond 5 GiB");
	close(fd);
	return CONF_PASS;
}

/* ---- ownership and times --------------------------------------------------- */

static int mode_of(const char *name)
{
	struct stat st;
	return lstat(name, &st) < 0 ? -1 : (int)(st.st_mode & 07777);
}

static int chk_chmod_chown(struct conf_ctx *c)
{
	if (conf_make_file("f", "x", 1, 0644) < 0 || mkdir("d", 0751) < 0 || symlink("f", "l") < 0)
		return conf_errno(c, "create");
	if (mode_of("f") != 0644 || mode_of("d") != 0751)
		return conf_fail(c, "creation modes %o / %o, want 644 / 751", mode_of("f"), mode_of("d"));
	if (chmod("f", 0600) < 0 || mode_of("f") != 0600)
		return conf_fail(c, "chmod 600 gave %o", mode_of("f"));
	int fd = open("f", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fchmod(fd, 0640) < 0 || mode_of("f") != 0640)
		return conf_fail(c, "fchmod 640 gave %o", mode_of("f"));
	if (chmod("d", 01777) < 0 || mode_of("d") != 01777)
		return conf_fail(c, "chmod 1777 on a directory gave %o", mode_of("d"));
	struct stat st;
	if (geteuid() != 0) {
		if (chown("f", getuid(), getgid()) < 0)
			return conf_errno(c, "chown to ourselves");
		close(fd);
		return CONF_PASS;
	}
	if (chown("f", 1234, 5678) < 0)
		return conf_errno(c, "chown 1234:5678");
	if (stat("f", &st) < 0 || st.st_uid != 1234 || st.st_gid != 5678)
		return conf_fail(c, "after chown owner is %u:%u", st.st_uid, st.st_gid);
	if (fchown(fd, -1, 4321) < 0 || stat("f", &st) < 0 || st.st_uid != 1234 || st.st_gid != 4321)
		return conf_fail(c, "fchown(-1, 4321) left %u:%u", st.st_uid, st.st_gid);
	if (lchown("l", 999, 999) < 0)
		return conf_errno(c, "lchown of a symlink");
	if (lstat("l", &st) < 0 || st.st_uid != 999 || stat("f", &st) < 0 || st.st_uid != 1234)
		return conf_fail(c, "lchown changed the target or not the link");
	close(fd);
	return CONF_PASS;
}

static int chk_utimes(struct conf_ctx *c)
{
	if (conf_make_file("f", "x", 1, 0644) < 0)
		return conf_errno(c, "create");
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1500000000, 987654321 } };
	if (utimensat(AT_FDCWD, "f", ts, 0) < 0)
		return conf_errno(c, "utimensat");
	struct stat st;
	if (stat("f", &st) < 0)
		return conf_errno(c, "stat");
	if (st.st_atim.tv_sec != ts[0].tv_sec || st.st_mtim.tv_sec != ts[1].tv_sec)
		return conf_fail(c, "times read back as %lld / %lld", (long long)st.st_atim.tv_sec,
				 (long long)st.st_mtim.tv_sec);
	if (st.st_mtim.tv_nsec != ts[1].tv_nsec && st.st_mtim.tv_nsec != 0)
		return conf_fail(c, "mtime nanoseconds %ld", st.st_mtim.tv_nsec);
	struct timespec now[2] = { { 0, UTIME_OMIT }, { 0, UTIME_NOW } };
	if (utimensat(AT_FDCWD, "f", now, 0) < 0 || stat("f", &st) < 0)
		return conf_errno(c, "utimensat UTIME_NOW");
	if (st.st_atim.tv_sec != ts[0].tv_sec || st.st_mtim.tv_sec <= ts[1].tv_sec)
		return conf_fail(c, "UTIME_OMIT/UTIME_NOW not honoured");
	return CONF_PASS;
}

static int chk_statfs(struct conf_ctx *c)
{
	struct statvfs v;
	if (statvfs(".", &v) < 0)
		return conf_errno(c, "statvfs");
	if (v.f_bsize == 0 || v.f_blocks == 0 || v.f_namemax < 255 || v.f_bavail > v.f_blocks)
		return conf_fail(c, "implausible statvfs: bsize %lu blocks %llu bavail %llu namemax %lu", v.f_bsize,
				 (unsigned long long)v.f_blocks, (unsigned long long)v.f_bavail, v.f_namemax);
	int fd = open("f", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0 || conf_write_all(fd, "x", 1) < 0 || fsync(fd) < 0 || fdatasync(fd) < 0)
		return conf_errno(c, "write + fsync + fdatasync");
	close(fd);
	int dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		return conf_errno(c, "fsync of a directory");
	close(dfd);
	return CONF_PASS;
}

const struct conf_check conf_file_checks[] = {
	{ "fifo", chk_fifo, "mkfifo, then a reader and a writer meet through it" },
	{ "device_nodes", chk_device_nodes, "mknod char 1:3 and block nodes; 1:3 acts as /dev/null" },
	{ "socket_node", chk_socket_node, "mknod S_IFSOCK and bind() create socket nodes" },
	{ "socket_connect", chk_socket_connect, "connect() to a unix socket bound in DIR" },
	{ "nlink", chk_nlink, "hard links across directories: nlink 1 -> 2 -> 3 -> 1" },
	{ "symlink", chk_symlink, "symlink targets stored verbatim; O_NOFOLLOW gives ELOOP" },
	{ "append", chk_append, "concurrent O_APPEND writers never overwrite each other" },
	{ "excl", chk_excl, "O_CREAT|O_EXCL, also on a dangling symlink" },
	{ "trunc", chk_trunc, "O_TRUNC, ftruncate, truncate" },
	{ "direct", chk_direct, "O_DIRECT is kept and aligned I/O works" },
	{ "unlink_open", chk_unlink_open, "an open, unlinked file keeps working (fstat/read/write/ftruncate)" },
	{ "rename_open", chk_rename_open, "rename over an open file; rename across directories" },
	{ "rmdir", chk_rmdir, "rmdir/unlink errors and removal" },
	{ "bigdir", chk_bigdir, "10000 entries listed exactly once while others come and go" },
	{ "mmap_shared", chk_mmap_shared, "shared writable mmap seen by another process and by read()" },
	{ "sparse_5g", chk_sparse_5g, "a 5 GiB sparse file, data past 4 GiB" },
	{ "chmod_chown", chk_chmod_chown, "chmod, fchmod, chown, fchown, lchown" },
	{ "utimes", chk_utimes, "explicit times, UTIME_NOW and UTIME_OMIT" },
	{ "statfs_fsync", chk_statfs, "statvfs values, fsync and fdatasync" },
};
const size_t conf_file_checks_n = sizeof(conf_file_checks) / sizeof(conf_file_checks[0]);

int conf_mmap_write(const char *file)
{
	int fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, CONF_MMAP_SIZE) < 0) {
		perror(file);
		return 1;
	}
	char *m = mmap(NULL, CONF_MMAP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	static const char unit[] = "lcvm-mmap\n";
	for (size_t i = 0; i < CONF_MMAP_SIZE; i++)
		m[i] = unit[i % (sizeof(unit) - 1)];
	munmap(m, CONF_MMAP_SIZE);
	close(fd);
	return 0;
}
