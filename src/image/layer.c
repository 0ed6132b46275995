#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"

extern char **environ;

/* A set of paths (open addressing, FNV-1a) for hard-link targets and symlinks. */
struct pathset {
	size_t n, cap;
	char **v;
};

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static bool pathset_has(const struct pathset *p, const char *s)
{
	if (!p->cap)
		return false;
	for (size_t i = fnv(s) & (p->cap - 1);; i = (i + 1) & (p->cap - 1)) {
		if (!p->v[i])
			return false;
		if (!strcmp(p->v[i], s))
			return true;
	}
}

static int pathset_add(struct pathset *p, const char *s)
{
	if (pathset_has(p, s))
		return 0;
	if ((p->n + 1) * 2 > p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		char **v = calloc(cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < p->cap; i++) {
			if (!p->v[i])
				continue;
			size_t k = fnv(p->v[i]) & (cap - 1);
			while (v[k])
				k = (k + 1) & (cap - 1);
			v[k] = p->v[i];
		}
		free(p->v);
		p->v = v;
		p->cap = cap;
	}
	char *d = strdup(s);
	if (!d)
		return -ENOMEM;
	size_t k = fnv(s) & (p->cap - 1);
	while (p->v[k])
		k = (k + 1) & (p->cap - 1);
	p->v[k] = d;
	p->n++;
	return 0;
}

static void pathset_free(struct pathset *p)
{
	for (size_t i = 0; i < p->cap; i++)
		free(p->v[i]);
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* Normalises an entry name in place: drops leading "./" and "/"-free checks.
 * Returns 0, or -EPERM for an absolute name or a ".." component, -ENAMETOOLONG. */
static int clean_name(char *p)
{
	if (p[0] == '/')
		return -EPERM;
	while (p[0] == '.' && p[1] == '/')
		memmove(p, p + 2, strlen(p + 2) + 1);
	size_t l = strlen(p);
	while (l && p[l - 1] == '/')
		p[--l] = 0;
	if (!strcmp(p, "."))
		p[0] = 0;
	for (const char *c = p; *c;) {
		const char *s = strchr(c, '/');
		size_t n = s ? (size_t)(s - c) : strlen(c);
		if ((n == 2 && c[0] == '.' && c[1] == '.') || n == 0)
			return -EPERM;
		if (n == 1 && c[0] == '.')
			return -EPERM;
		c += n + (s ? 1 : 0);
	}
	return 0;
}

struct conv {
	struct archive *raw, *tar, *out;
	struct img_sha sha;
	char buf[65536];  /* decompressed input, owned by the tar reader between callbacks */
	char dbuf[65536]; /* file data on its way to the writer */
	int sock; /* to sqfstar's stdin */
	struct pathset files, links, dirnames;
	struct archive_entry **dirs; /* deferred, emitted at the end */
	size_t ndirs, capdirs;
	uint64_t entries;
};

/* The tar reader pulls decompressed bytes from the raw reader, hashing them. */
static la_ssize_t tar_read_cb(struct archive *a, void *arg, const void **buf)
{
	struct conv *c = arg;
	la_ssize_t n = archive_read_data(c->raw, c->buf, sizeof(c->buf));
	if (n < 0) {
		archive_set_error(a, EIO, "%s", archive_error_string(c->raw));
		return -1;
	}
	img_sha_update(&c->sha, c->buf, (size_t)n);
	*buf = c->buf;
	return n;
}

static la_ssize_t out_write_cb(struct archive *a, void *arg, const void *buf, size_t n)
{
	struct conv *c = arg;
	const char *p = buf;
	size_t left = n;
	while (left) {
		ssize_t w = send(c->sock, p, left, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			archive_set_error(a, errno, "sqfstar stopped reading");
			return -1;
		}
		p += w;
		left -= (size_t)w;
	}
	return (la_ssize_t)n;
}

static int defer_dir(struct conv *c, struct archive_entry *en, const char *name)
{
	/* a directory listed twice: the later entry wins */
	for (size_t i = 0; pathset_has(&c->dirnames, name) && i < c->ndirs; i++) {
		if (!strcmp(archive_entry_pathname(c->dirs[i]), name)) {
			bool opaque = false;
			const char *xn;
			const void *xv;
			size_t xs;
			archive_entry_xattr_reset(c->dirs[i]);
			while (archive_entry_xattr_next(c->dirs[i], &xn, &xv, &xs) == ARCHIVE_OK)
				opaque = opaque || !strcmp(xn, "trusted.overlay.opaque");
			archive_entry_free(c->dirs[i]);
			c->dirs[i] = archive_entry_clone(en);
			if (!c->dirs[i])
				return -ENOMEM;
			archive_entry_set_pathname(c->dirs[i], name);
			if (opaque)
				archive_entry_xattr_add_entry(c->dirs[i], "trusted.overlay.opaque", "y", 1);
			return 0;
		}
	}
	if (c->ndirs == c->capdirs) {
		size_t cap = c->capdirs ? c->capdirs * 2 : 64;
		void *v = realloc(c->dirs, cap * sizeof(*c->dirs));
		if (!v)
			return -ENOMEM;
		c->dirs = v;
		c->capdirs = cap;
	}
	struct archive_entry *d = archive_entry_clone(en);
	if (!d)
		return -ENOMEM;
	archive_entry_set_pathname(d, name);
	c->dirs[c->ndirs++] = d;
	return pathset_add(&c->dirnames, name);
}

static int mark_opaque(struct conv *c, const char *dir)
{
	for (size_t i = 0; i < c->ndirs; i++) {
		if (!strcmp(archive_entry_pathname(c->dirs[i]), dir)) {
			archive_entry_xattr_add_entry(c->dirs[i], "trusted.overlay.opaque", "y", 1);
			return 0;
		}
	}
	/* marker before (or without) its directory entry: make one */
	struct archive_entry *d = archive_entry_new();
	if (!d)
		return -ENOMEM;
	archive_entry_set_pathname(d, dir);
	archive_entry_set_filetype(d, AE_IFDIR);
	archive_entry_set_perm(d, 0755);
	archive_entry_xattr_add_entry(d, "trusted.overlay.opaque", "y", 1);
	int r = defer_dir(c, d, dir);
	archive_entry_free(d);
	return r;
}

static int write_entry(struct conv *c, struct archive_entry *en, bool with_data, struct lc_err *e)
{
	if (archive_write_header(c->out, en) != ARCHIVE_OK)
		return lc_err_setx(e, EIO, "layer: writing %.200s: %s", archive_entry_pathname(en),
				   archive_error_string(c->out));
	if (!with_data)
		return 0;
	la_ssize_t n;
	while ((n = archive_read_data(c->tar, c->dbuf, sizeof(c->dbuf))) > 0)
		if (archive_write_data(c->out, c->dbuf, (size_t)n) != n)
			return lc_err_setx(e, EIO, "layer: writing %.200s: %s", archive_entry_pathname(en),
					   archive_error_string(c->out));
	if (n < 0)
		return lc_err_setx(e, EIO, "layer: reading %.200s: %s", archive_entry_pathname(en),
				   archive_error_string(c->tar));
	return 0;
}

/* Parents of name must not be symlinks of this layer. */
static bool below_symlink(const struct conv *c, char *name)
{
	if (!c->links.n)
		return false;
	for (char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		bool hit = pathset_has(&c->links, name);
		*s = '/';
		if (hit)
			return true;
	}
	return false;
}

static int whiteout(struct conv *c, char *name, char *base, struct lc_err *e)
{
	const char *wh = base + 4;
	if (base != name)
		base[-1] = 0;
	const char *dir = base != name ? name : "";
	if (!strcmp(wh, ".wh..opq"))
		return dir[0] ? mark_opaque(c, dir) : 0; /* an opaque root has nothing below it to hide */
	if (!strncmp(wh, ".wh.", 4))
		return 0; /* aufs metadata (.wh..wh.plnk ...), meaningless to overlayfs */
	if (!*wh || !strcmp(wh, ".") || !strcmp(wh, ".."))
		return lc_err_setx(e, EPERM, "layer: bad whiteout name");
	char path[IMG_LAYER_PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s%s%s", dir, dir[0] ? "/" : "", wh);
	struct archive_entry *w = archive_entry_new();
	if (!w)
		return -ENOMEM;
	archive_entry_set_pathname(w, path);
	archive_entry_set_filetype(w, AE_IFCHR);
	archive_entry_set_perm(w, 0);
	archive_entry_set_rdev(w, 0);
	int r = write_entry(c, w, false, e);
	archive_entry_free(w);
	return r;
}

static int one_entry(struct conv *c, struct archive_entry *en, struct lc_err *e)
{
	const char *pn = archive_entry_pathname(en);
	char name[IMG_LAYER_PATH_MAX + 1];
	if (!pn || strlen(pn) > IMG_LAYER_PATH_MAX)
		return lc_err_setx(e, ENAMETOOLONG, "layer: entry name missing or too long");
	strcpy(name, pn);
	if (clean_name(name) < 0)
		return lc_err_setx(e, EPERM, "layer: refusing entry \"%.200s\" (absolute or \"..\")", pn);
	if (++c->entries > IMG_LAYER_ENTRIES_MAX)
		return lc_err_setx(e, E2BIG, "layer: more than %u entries", IMG_LAYER_ENTRIES_MAX);
	if (!name[0])
		return 0; /* the root directory: sqfstar's -root-* options own it */
	if (below_symlink(c, name))
		return lc_err_setx(e, EPERM, "layer: refusing entry \"%.200s\" below a symlink", pn);
	if (archive_entry_size(en) < 0 || (uint64_t)archive_entry_size(en) > IMG_BLOB_MAX_LAYER_FILE)
		return lc_err_setx(e, EFBIG, "layer: entry \"%.200s\" has an absurd size", pn);
	char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	if (!strncmp(base, ".wh.", 4))
		return whiteout(c, name, base, e);
	/* numeric ids only: names would be mapped through the host's passwd */
	archive_entry_set_uname(en, NULL);
	archive_entry_set_gname(en, NULL);
	archive_entry_set_pathname(en, name);
	const char *hl = archive_entry_hardlink(en);
	if (hl) {
		char target[IMG_LAYER_PATH_MAX + 1];
		if (strlen(hl) > IMG_LAYER_PATH_MAX)
			return lc_err_setx(e, ENAMETOOLONG, "layer: hard link target too long");
		strcpy(target, hl);
		if (clean_name(target) < 0 || !pathset_has(&c->files, target))
			return lc_err_setx(e, EPERM, "layer: refusing hard link \"%.200s\" -> \"%.200s\" (not an earlier file of the layer)",
					   pn, hl);
		archive_entry_set_hardlink(en, target);
		archive_entry_set_size(en, 0);
		return write_entry(c, en, false, e);
	}
	switch (archive_entry_filetype(en)) {
	case AE_IFDIR:
		return defer_dir(c, en, name);
	case AE_IFLNK:
		if (pathset_add(&c->links, name) < 0)
			return -ENOMEM;
		return write_entry(c, en, false, e);
	case AE_IFREG:
		if (pathset_add(&c->files, name) < 0)
			return -ENOMEM;
		return write_entry(c, en, true, e);
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return write_entry(c, en, false, e);
	default:
		return lc_err_setx(e, ENOTSUP, "layer: entry \"%.200s\" has an unsupported type", pn);
	}
}

static int spawn_sqfstar(const char *out_path, int *sock, int errfd, pid_t *pid, struct lc_err *e)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return lc_err_set(e, errno, "socketpair");
	const char *prog = getenv("LCVM_SQFSTAR");
	if (!prog || !*prog)
		prog = IMG_SQFSTAR;
	/* lz4: the guest decompresses under TCG, where cheap decompression wins (docs/images.md) */
	char *argv[] = { (char *)prog, "-quiet", "-no-progress", "-comp", "lz4", "-root-mode", "0755", "-root-uid", "0",
			 "-root-gid", "0", "-root-time", "0", "-mkfs-time", "0", "-force", "-exit-on-error",
			 (char *)out_path, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
	posix_spawn_file_actions_adddup2(&fa, errfd, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	int r = posix_spawnp(pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (r) {
		close(sv[0]);
		return lc_err_set(e, r, "cannot run %s (install squashfs-tools >= 4.5)", prog);
	}
	*sock = sv[0];
	return 0;
}

static int wait_sqfstar(pid_t pid, int errfd, struct lc_err *e)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return lc_err_set(e, errno, "waitpid sqfstar");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	char msg[200] = "";
	ssize_t n = pread(errfd, msg, sizeof(msg) - 1, 0);
	msg[n > 0 ? n : 0] = 0;
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return lc_err_setx(e, EIO, "sqfstar failed: %s", msg[0] ? msg : "no message");
}

static int convert(struct conv *c, int in_fd, const char *diff_id, struct lc_err *e)
{
	if (archive_read_open_fd(c->raw, in_fd, 65536) != ARCHIVE_OK ||
	    archive_read_next_header(c->raw, &(struct archive_entry *){ NULL }) != ARCHIVE_OK)
		return lc_err_setx(e, EINVAL, "layer: %s", archive_error_string(c->raw));
	if (archive_read_open(c->tar, c, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
		return lc_err_setx(e, EINVAL, "layer: not a tar archive: %s", archive_error_string(c->tar));
	if (archive_write_open(c->out, c, NULL, out_write_cb, NULL) != ARCHIVE_OK)
		return lc_err_setx(e, EIO, "layer: %s", archive_error_string(c->out));
	struct archive_entry *en;
	int r, ret = 0;
	while (ret == 0 && (r = archive_read_next_header(c->tar, &en)) == ARCHIVE_OK)
		ret = one_entry(c, en, e);
	if (ret < 0)
		return ret;
	if (r != ARCHIVE_EOF)
		return lc_err_setx(e, EINVAL, "layer: bad tar: %s", archive_error_string(c->tar));
	for (size_t i = 0; i < c->ndirs && ret == 0; i++)
		ret = write_entry(c, c->dirs[i], false, e);
	if (ret < 0)
		return ret;
	if (archive_write_close(c->out) != ARCHIVE_OK)
		return lc_err_setx(e, EIO, "layer: %s", archive_error_string(c->out));
	/* hash what the tar reader left unread (end-of-archive padding) */
	const void *b;
	while (tar_read_cb(c->tar, c, &b) > 0)
		;
	char got[IMG_DIGEST_LEN + 1];
	if ((ret = img_sha_final(&c->sha, got)) < 0)
		return ret;
	if (diff_id && strcmp(got, diff_id))
		return lc_err_setx(e, EILSEQ, "layer content does not match its diff_id %.19s (got %.19s)", diff_id, got);
	return 0;
}

int img_layer_convert_fd(int in_fd, const char *diff_id, const char *out_path, struct lc_err *e)
{
	struct conv c = { .sock = -1 };
	char errpath[] = "/tmp/lcvm-sqfstar-XXXXXX";
	cleanup_close int errfd = mkostemp(errpath, O_CLOEXEC);
	if (errfd < 0)
		return lc_err_set(e, errno, "temp file");
	unlink(errpath);
	int ret = img_sha_init(&c.sha);
	if (ret < 0)
		return ret;
	c.raw = archive_read_new();
	c.tar = archive_read_new();
	c.out = archive_write_new();
	pid_t pid = -1;
	if (!c.raw || !c.tar || !c.out) {
		ret = -ENOMEM;
		goto out;
	}
	archive_read_support_filter_all(c.raw);
	archive_read_support_format_raw(c.raw);
	archive_read_support_format_tar(c.tar);
	archive_write_set_format_pax(c.out);
	archive_write_set_bytes_in_last_block(c.out, 1);
	if ((ret = spawn_sqfstar(out_path, &c.sock, errfd, &pid, e)) < 0)
		goto out;
	ret = convert(&c, in_fd, diff_id, e);
	close(c.sock);
	c.sock = -1;
	if (ret < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	} else {
		ret = wait_sqfstar(pid, errfd, e);
	}
	if (ret < 0)
		unlink(out_path);
out:
	if (c.sock >= 0)
		close(c.sock);
	for (size_t i = 0; i < c.ndirs; i++)
		archive_entry_free(c.dirs[i]);
	free(c.dirs);
	pathset_free(&c.files);
	pathset_free(&c.links);
	pathset_free(&c.dirnames);
	if (c.out)
		archive_write_free(c.out);
	if (c.tar)
		archive_read_free(c.tar);
	if (c.raw)
		archive_read_free(c.raw);
	img_sha_free(&c.sha);
	return ret;
}

int img_layer_ensure(const struct img_store *s, const char *diff_id, const char *blob_digest, char *out, size_t n,
		     struct lc_err *e)
{
	if (!img_digest_valid(diff_id))
		return lc_err_setx(e, EINVAL, "bad diff_id");
	char dir[PATH_MAX], tmpdir[PATH_MAX], tmpfile[PATH_MAX], blob[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/%s", s->layers, img_digest_hex(diff_id)) >= (int)sizeof(dir) ||
	    snprintf(out, n, "%s/" IMG_LAYER_FILE, dir) >= (int)n)
		return lc_err_setx(e, ENAMETOOLONG, "layer path too long");
	if (access(out, R_OK) == 0)
		return 0;
	if (img_store_blob_path(s, blob_digest, blob, sizeof(blob)) < 0)
		return lc_err_setx(e, EINVAL, "bad layer digest");
	cleanup_close int fd = open(blob, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lc_err_set(e, errno, "layer blob %.19s", blob_digest);
	snprintf(tmpdir, sizeof(tmpdir), "%s/.tmp-XXXXXX", s->layers);
	if (!mkdtemp(tmpdir))
		return lc_err_set(e, errno, "creating a temp dir in %s", s->layers);
	snprintf(tmpfile, sizeof(tmpfile), "%s/" IMG_LAYER_FILE, tmpdir);
	int ret = img_layer_convert_fd(fd, diff_id, tmpfile, e);
	if (ret == 0) {
		cleanup_close int f = open(tmpfile, O_RDONLY | O_CLOEXEC);
		if (f < 0 || fsync(f) < 0)
			ret = lc_err_set(e, errno, "fsync %s", tmpfile);
	}
	if (ret == 0 && rename(tmpdir, dir) < 0 && errno != EEXIST && errno != ENOTEMPTY)
		ret = lc_err_set(e, errno, "caching layer %.19s", diff_id);
	if (ret < 0 || access(tmpdir, F_OK) == 0) { /* failed, or another process won the race */
		unlink(tmpfile);
		rmdir(tmpdir);
	}
	return ret < 0 ? lc_err_wrap(e, ret, "converting layer %.19s", diff_id) : 0;
}
