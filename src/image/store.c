#include "image/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "image/oci.h"
#include "image/ref.h"
#include "util/cleanup.h"
#include "util/readfile.h"
#include "util/paths.h"

#define ANN_NAME "org.opencontainers.image.ref.name"
#define ANN_ID "io.lcvm.image.id"


static int pathf(char *out, size_t n, const char *a, const char *b)
{
	int w = snprintf(out, n, "%s%s", a, b);
	return (w < 0 || (size_t)w >= n) ? -ENAMETOOLONG : 0;
}

static int fsync_dir(const char *dir)
{
	cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

/* Writes buf to path atomically: temp in the same dir, fsync, rename, fsync dir. */
static int write_atomic(const char *path, const void *buf, size_t n)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	if (pathf(tmp, sizeof(tmp), path, ".tmp") < 0 || pathf(dir, sizeof(dir), path, "") < 0)
		return -ENAMETOOLONG;
	cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int r = -errno;
			unlink(tmp);
			return r ? r : -EIO;
		}
		p += w;
		n -= (size_t)w;
	}
	if (fsync(fd) < 0 || rename(tmp, path) < 0) {
		int r = -errno;
		unlink(tmp);
		return r;
	}
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	return fsync_dir(dir);
}

static int rm_rf_at(int dfd, const char *name)
{
	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	cleanup_closedir DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rm_rf_at(dirfd(d), de->d_name);
	return unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

static int rm_rf(const char *path)
{
	return rm_rf_at(AT_FDCWD, path);
}

int img_store_open(const char *data_dir, struct img_store *s, struct lc_err *e)
{
	memset(s, 0, sizeof(*s));
	char p[PATH_MAX];
	if (pathf(s->data, sizeof(s->data), data_dir, "") < 0 || pathf(s->images, sizeof(s->images), data_dir, "/images") < 0 ||
	    pathf(s->layers, sizeof(s->layers), data_dir, "/layers") < 0 ||
	    pathf(p, sizeof(p), s->images, "/blobs/sha256") < 0)
		return lc_err_setx(e, ENAMETOOLONG, "data directory path too long");
	int r;
	if ((r = lc_mkdir_p(p, 0755)) < 0 || (r = lc_mkdir_p(s->layers, 0755)) < 0)
		return lc_err_set(e, -r, "cannot create the image store in %s", data_dir);
	pathf(p, sizeof(p), s->images, "/tmp");
	if ((r = lc_mkdir_p(p, 0700)) < 0)
		return lc_err_set(e, -r, "cannot create %s", p);
	pathf(p, sizeof(p), s->images, "/oci-layout");
	if (access(p, F_OK) < 0) {
		static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
		if ((r = write_atomic(p, layout, sizeof(layout) - 1)) < 0)
			return lc_err_set(e, -r, "cannot write %s", p);
	}
	return 0;
}

int img_store_blob_path(const struct img_store *s, const char *digest, char *out, size_t n)
{
	if (!img_digest_valid(digest))
		return -EINVAL;
	int w = snprintf(out, n, "%s/blobs/sha256/%s", s->images, img_digest_hex(digest));
	return (w < 0 || (size_t)w >= n) ? -ENAMETOOLONG : 0;
}

bool img_store_has_blob(const struct img_store *s, const char *digest)
{
	char p[PATH_MAX];
	return img_store_blob_path(s, digest, p, sizeof(p)) == 0 && access(p, F_OK) == 0;
}

static int read_verified(const char *path, const char *digest, size_t max, char **buf, size_t *len,
			 struct lc_err *e)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lc_err_set(e, errno, "blob %.19s", digest);
	cleanup_free char *b = NULL;
	size_t got = 0;
	int r = lc_read_small_file(fd, max, &b, &got);
	if (r == -EFBIG)
		return lc_err_setx(e, EFBIG, "blob %.19s is too large", digest);
	if (r < 0)
		return lc_err_set(e, -r, "reading blob %.19s", digest);
	char d[IMG_DIGEST_LEN + 1];
	int ret = img_sha_buf(b, got, d);
	if (ret < 0)
		return ret;
	if (strcmp(d, digest))
		return lc_err_setx(e, EILSEQ, "blob %.19s is corrupt (digest mismatch)", digest);
	*buf = take_ptr(&b);
	*len = got;
	return 0;
}

int img_store_read_blob(const struct img_store *s, const char *digest, size_t max, char **buf, size_t *len,
			struct lc_err *e)
{
	char p[PATH_MAX];
	if (img_store_blob_path(s, digest, p, sizeof(p)) < 0)
		return lc_err_setx(e, EINVAL, "bad digest");
	return read_verified(p, digest, max, buf, len, e);
}

/* --- index.json ---------------------------------------------------------- */

void img_list_free(struct img_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int list_add(struct img_list *l, const char *name, const char *digest, const char *id, const char *mt,
		    uint64_t size)
{
	if (l->n >= IMG_NAMES_MAX)
		return -E2BIG;
	struct img_entry *v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	struct img_entry *en = &v[l->n];
	memset(en, 0, sizeof(*en));
	if (!(en->name = strdup(name ? name : "")))
		return -ENOMEM;
	snprintf(en->digest, sizeof(en->digest), "%s", digest);
	snprintf(en->id, sizeof(en->id), "%s", id);
	snprintf(en->media_type, sizeof(en->media_type), "%s", mt);
	en->size = size;
	l->n++;
	return 0;
}

int img_store_list(const struct img_store *s, struct img_list *out, struct lc_err *e)
{
	memset(out, 0, sizeof(*out));
	char p[PATH_MAX];
	pathf(p, sizeof(p), s->images, "/index.json");
	json_error_t je;
	json_t *j = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		if (access(p, F_OK) < 0 && errno == ENOENT)
			return 0;
		return lc_err_setx(e, EINVAL, "%s: %s", p, je.text);
	}
	json_t *ms = json_object_get(j, "manifests");
	int ret = 0;
	for (size_t i = 0; json_is_array(ms) && i < json_array_size(ms) && ret == 0; i++) {
		json_t *m = json_array_get(ms, i);
		json_t *ann = json_object_get(m, "annotations");
		const char *dg = json_string_value(json_object_get(m, "digest"));
		const char *id = json_string_value(json_object_get(ann, ANN_ID));
		const char *mt = json_string_value(json_object_get(m, "mediaType"));
		const char *name = json_string_value(json_object_get(ann, ANN_NAME));
		json_int_t sz = json_integer_value(json_object_get(m, "size"));
		if (!img_digest_valid(dg) || !img_digest_valid(id) || !mt) {
			ret = lc_err_setx(e, EINVAL, "%s: bad entry %zu", p, i);
			break;
		}
		ret = list_add(out, name, dg, id, mt, (uint64_t)sz);
	}
	json_decref(j);
	if (ret < 0)
		img_list_free(out);
	return ret;
}

int img_store_write_index(const struct img_store *s, const struct img_list *l, struct lc_err *e)
{
	json_t *ms = json_array();
	for (size_t i = 0; i < l->n; i++) {
		const struct img_entry *en = &l->v[i];
		json_array_append_new(ms, json_pack("{s:s,s:s,s:I,s:{s:s,s:s}}", "mediaType", en->media_type, "digest",
						   en->digest, "size", (json_int_t)en->size, "annotations", ANN_NAME,
						   en->name, ANN_ID, en->id));
	}
	json_t *j = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType", IMG_MT_OCI_INDEX, "manifests", ms);
	cleanup_free char *txt = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
	json_decref(j);
	if (!txt)
		return -ENOMEM;
	char p[PATH_MAX];
	pathf(p, sizeof(p), s->images, "/index.json");
	int r = write_atomic(p, txt, strlen(txt));
	return r < 0 ? lc_err_set(e, -r, "writing %s", p) : 0;
}

int img_store_lock(const struct img_store *s, struct lc_err *e)
{
	char p[PATH_MAX];
	pathf(p, sizeof(p), s->images, "/.lock");
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return lc_err_set(e, errno, "opening %s", p);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int r = lc_err_set(e, errno, "locking %s", p);
			close(fd);
			return r;
		}
	}
	return fd;
}

static bool hex_prefix(const char *s, size_t *n)
{
	size_t i = 0;
	for (; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	*n = i;
	return i >= 4 && i <= IMG_DIGEST_HEX;
}

int img_list_find(const struct img_list *l, const char *what, struct lc_err *e)
{
	const char *h = !strncmp(what, "sha256:", 7) ? what + 7 : what;
	size_t hn;
	if (hex_prefix(h, &hn)) {
		int found = -1;
		for (size_t i = 0; i < l->n; i++) {
			if (!strncmp(img_digest_hex(l->v[i].id), h, hn) || (hn == IMG_DIGEST_HEX && !strcmp(l->v[i].digest + 7, h))) {
				if (found >= 0 && strcmp(l->v[found].id, l->v[i].id))
					return lc_err_setx(e, EINVAL, "image id prefix %s is ambiguous", what);
				found = (int)i;
			}
		}
		if (found >= 0)
			return found;
	}
	struct img_ref r;
	char name[IMG_REF_MAX + 16];
	struct lc_err ignore;
	if (img_ref_parse(what, &r, &ignore) == 0 && img_ref_name(&r, name, sizeof(name)) == 0) {
		for (size_t i = 0; i < l->n; i++)
			if (!strcmp(l->v[i].name, name))
				return (int)i;
		/* repo@digest also finds a tagged image with that manifest */
		char repo[IMG_REF_MAX];
		img_ref_repo(&r, repo, sizeof(repo));
		size_t rl = strlen(repo);
		for (size_t i = 0; r.digest[0] && i < l->n; i++)
			if (!strcmp(l->v[i].digest, r.digest) && !strncmp(l->v[i].name, repo, rl) &&
			    (l->v[i].name[rl] == ':' || l->v[i].name[rl] == '@'))
				return (int)i;
	}
	return lc_err_setx(e, ENOENT, "image %s not found; pull it with 'lcvm pull %s'", what, what);
}

/* Sets name -> (digest, id, ...) in l, replacing an entry with the same name
 * and dropping an untagged entry of the same manifest. */
static int list_set(struct img_list *l, const char *name, const char *digest, const char *id, const char *mt,
		    uint64_t size)
{
	for (size_t i = 0; i < l->n; i++) {
		struct img_entry *en = &l->v[i];
		bool same_name = name[0] && !strcmp(en->name, name);
		bool stale_untagged = !en->name[0] && !strcmp(en->digest, digest);
		if (same_name || stale_untagged) {
			if (!name[0] && stale_untagged)
				return 0;
			snprintf(en->digest, sizeof(en->digest), "%s", digest);
			snprintf(en->id, sizeof(en->id), "%s", id);
			snprintf(en->media_type, sizeof(en->media_type), "%s", mt);
			en->size = size;
			if (stale_untagged) {
				char *nn = strdup(name);
				if (!nn)
					return -ENOMEM;
				free(en->name);
				en->name = nn;
			}
			return 0;
		}
	}
	if (!name[0]) /* untagged but another name already keeps it */
		for (size_t i = 0; i < l->n; i++)
			if (!strcmp(l->v[i].digest, digest))
				return 0;
	return list_add(l, name, digest, id, mt, size);
}

int img_store_tag(const struct img_store *s, const char *what, const char *newname, struct lc_err *e)
{
	struct img_ref r;
	char name[IMG_REF_MAX + 16];
	int ret = img_ref_parse(newname, &r, e);
	if (ret < 0)
		return ret;
	if (!r.tag[0] || r.digest[0])
		return lc_err_setx(e, EINVAL, "target name %s must have a tag, not a digest", newname);
	img_ref_name(&r, name, sizeof(name));
	cleanup_close int lock = img_store_lock(s, e);
	if (lock < 0)
		return lock;
	struct img_list l;
	if ((ret = img_store_list(s, &l, e)) < 0)
		return ret;
	int i = img_list_find(&l, what, e);
	if (i < 0) {
		img_list_free(&l);
		return i;
	}
	struct img_entry src = l.v[i];
	ret = list_set(&l, name, src.digest, src.id, src.media_type, src.size);
	if (ret == 0)
		ret = img_store_write_index(s, &l, e);
	img_list_free(&l);
	return ret;
}

static void list_del(struct img_list *l, size_t i)
{
	free(l->v[i].name);
	memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(l->v[0]));
	l->n--;
}

int img_store_remove(const struct img_store *s, const char *what, bool force, struct lc_err *e)
{
	int ret;
	{
		cleanup_close int lock = img_store_lock(s, e);
		if (lock < 0)
			return lock;
		struct img_list l;
		if ((ret = img_store_list(s, &l, e)) < 0)
			return ret;
		int i = img_list_find(&l, what, e);
		if (i < 0) {
			img_list_free(&l);
			return i;
		}
		const char *h = !strncmp(what, "sha256:", 7) ? what + 7 : what;
		bool by_id = !strncmp(img_digest_hex(l.v[i].id), h, strlen(h));
		if (by_id) {
			char id[IMG_DIGEST_LEN + 1];
			strcpy(id, l.v[i].id);
			size_t names = 0;
			for (size_t k = 0; k < l.n; k++)
				names += !strcmp(l.v[k].id, id);
			if (names > 1 && !force) {
				img_list_free(&l);
				return lc_err_setx(e, EBUSY, "image %s is referenced by %zu names; remove them or use -f",
						   what, names);
			}
			for (size_t k = l.n; k-- > 0;)
				if (!strcmp(l.v[k].id, id))
					list_del(&l, k);
		} else {
			list_del(&l, (size_t)i);
		}
		ret = img_store_write_index(s, &l, e);
		img_list_free(&l);
		if (ret < 0)
			return ret;
	}
	return img_store_gc(s, e);
}

/* --- garbage collection -------------------------------------------------- */

struct hexset {
	size_t n, cap;
	char (*v)[IMG_DIGEST_HEX + 1];
};

static int hexset_add(struct hexset *h, const char *digest)
{
	if (!img_digest_valid(digest))
		return -EINVAL;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		void *v = realloc(h->v, cap * sizeof(*h->v));
		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	strcpy(h->v[h->n++], img_digest_hex(digest));
	return 0;
}

static bool hexset_has(const struct hexset *h, const char *hex)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->v[i], hex))
			return true;
	return false;
}

/* Collects everything reachable from one manifest digest. */
static int mark_image(const struct img_store *s, const char *digest, struct hexset *blobs, struct hexset *diffs,
		      struct lc_err *e)
{
	cleanup_free char *buf = NULL;
	size_t n;
	int ret = img_store_read_blob(s, digest, IMG_MANIFEST_MAX, &buf, &n, e);
	if (ret < 0)
		return ret;
	struct img_manifest m;
	if ((ret = img_manifest_parse(buf, n, &m, e)) < 0)
		return ret;
	hexset_add(blobs, digest);
	hexset_add(blobs, m.config.digest);
	for (size_t i = 0; i < m.nlayers; i++)
		hexset_add(blobs, m.layers[i].digest);
	cleanup_free char *cbuf = NULL;
	struct img_config c;
	if (img_store_read_blob(s, m.config.digest, IMG_CONFIG_MAX, &cbuf, &n, e) == 0 &&
	    img_config_parse(cbuf, n, &c, e) == 0) {
		for (size_t i = 0; i < c.ndiff_ids; i++)
			hexset_add(diffs, c.diff_ids[i]);
		img_config_free(&c);
	}
	img_manifest_free(&m);
	return 0;
}

static void sweep(const char *dir, const struct hexset *keep)
{
	cleanup_closedir DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.') /* ".", "..", conversions in progress */
			continue;
		if (!hexset_has(keep, de->d_name))
			rm_rf_at(dirfd(d), de->d_name);
	}
}

/* Staging dirs whose owner still holds its flock are in use. */
static void sweep_staging(const char *dir)
{
	cleanup_closedir DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char lockp[PATH_MAX];
		if (snprintf(lockp, sizeof(lockp), "%s/%s/.lock", dir, de->d_name) >= (int)sizeof(lockp))
			continue;
		cleanup_close int fd = open(lockp, O_RDWR | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0)
			continue;
		rm_rf_at(dirfd(d), de->d_name);
	}
}

int img_store_gc(const struct img_store *s, struct lc_err *e)
{
	cleanup_close int lock = img_store_lock(s, e);
	if (lock < 0)
		return lock;
	struct img_list l;
	int ret = img_store_list(s, &l, e);
	if (ret < 0)
		return ret;
	struct hexset blobs = { 0 }, diffs = { 0 };
	for (size_t i = 0; i < l.n && ret == 0; i++)
		ret = mark_image(s, l.v[i].digest, &blobs, &diffs, e);
	img_list_free(&l);
	if (ret == 0) {
		char p[PATH_MAX];
		pathf(p, sizeof(p), s->images, "/blobs/sha256");
		sweep(p, &blobs);
		sweep(s->layers, &diffs);
		pathf(p, sizeof(p), s->images, "/tmp");
		sweep_staging(p);
	} else {
		lc_err_wrap(e, ret, "garbage collection skipped");
	}
	free(blobs.v);
	free(diffs.v);
	return ret;
}

/* --- transactions -------------------------------------------------------- */

int img_txn_begin(const struct img_store *s, struct img_txn *t, struct lc_err *e)
{
	memset(t, 0, sizeof(*t));
	t->s = s;
	t->lock_fd = -1;
	if (snprintf(t->dir, sizeof(t->dir), "%s/tmp/txn-XXXXXX", s->images) >= (int)sizeof(t->dir))
		return lc_err_setx(e, ENAMETOOLONG, "store path too long");
	if (!mkdtemp(t->dir))
		return lc_err_set(e, errno, "creating a staging directory in %s/tmp", s->images);
	char p[PATH_MAX];
	pathf(p, sizeof(p), t->dir, "/.lock");
	t->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (t->lock_fd < 0 || flock(t->lock_fd, LOCK_EX) < 0) {
		int r = lc_err_set(e, errno, "locking %s", p);
		img_txn_abort(t);
		return r;
	}
	return 0;
}

int img_txn_blob_path(const struct img_txn *t, const char *digest, char *out, size_t n)
{
	if (!img_digest_valid(digest))
		return -EINVAL;
	int w = snprintf(out, n, "%s/%s", t->dir, img_digest_hex(digest));
	if (w < 0 || (size_t)w >= n)
		return -ENAMETOOLONG;
	if (access(out, F_OK) == 0)
		return 0;
	return img_store_blob_path(t->s, digest, out, n);
}

bool img_txn_has_blob(const struct img_txn *t, const char *digest)
{
	char p[PATH_MAX];
	return img_txn_blob_path(t, digest, p, sizeof(p)) == 0 && access(p, F_OK) == 0;
}

int img_txn_read_blob(const struct img_txn *t, const char *digest, size_t max, char **buf, size_t *len,
		      struct lc_err *e)
{
	char p[PATH_MAX];
	if (img_txn_blob_path(t, digest, p, sizeof(p)) < 0)
		return lc_err_setx(e, EINVAL, "bad digest");
	return read_verified(p, digest, max, buf, len, e);
}

int img_blob_open(struct img_txn *t, struct img_blob_writer *w, uint64_t limit, struct lc_err *e)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->limit = limit ? limit : IMG_BLOB_MAX;
	if (snprintf(w->path, sizeof(w->path), "%s/.incoming-XXXXXX", t->dir) >= (int)sizeof(w->path))
		return -ENAMETOOLONG;
	w->fd = mkostemp(w->path, O_CLOEXEC);
	if (w->fd < 0)
		return lc_err_set(e, errno, "creating %s", w->path);
	int r = img_sha_init(&w->sha);
	if (r < 0) {
		img_blob_discard(w);
		return lc_err_set(e, -r, "sha256");
	}
	return 0;
}

int img_blob_write(struct img_blob_writer *w, const void *p, size_t n, struct lc_err *e)
{
	if (w->size + n > w->limit || w->size + n < w->size)
		return lc_err_setx(e, EFBIG, "blob larger than its declared size");
	for (size_t i = 0; w->size + i < sizeof(w->head) && i < n; i++)
		w->head[w->size + i] = ((const unsigned char *)p)[i];
	img_sha_update(&w->sha, p, n);
	w->size += n;
	const char *c = p;
	while (n) {
		ssize_t r = write(w->fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return lc_err_set(e, r < 0 ? errno : EIO, "writing a blob");
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

void img_blob_discard(struct img_blob_writer *w)
{
	if (w->fd >= 0) {
		close(w->fd);
		unlink(w->path);
	}
	w->fd = -1;
	img_sha_free(&w->sha);
}

int img_blob_close(struct img_txn *t, struct img_blob_writer *w, const char *expect, char out[IMG_DIGEST_LEN + 1],
		   struct lc_err *e)
{
	char d[IMG_DIGEST_LEN + 1], p[PATH_MAX];
	int ret = img_sha_final(&w->sha, d);
	if (ret < 0) {
		img_blob_discard(w);
		return lc_err_set(e, -ret, "sha256");
	}
	if (expect && strcmp(d, expect)) {
		img_blob_discard(w);
		return lc_err_setx(e, EILSEQ, "digest mismatch: expected %s, got %s", expect, d);
	}
	if (fsync(w->fd) < 0) {
		ret = lc_err_set(e, errno, "fsync blob");
		img_blob_discard(w);
		return ret;
	}
	snprintf(p, sizeof(p), "%s/%s", t->dir, img_digest_hex(d));
	if (rename(w->path, p) < 0) {
		ret = lc_err_set(e, errno, "staging blob");
		img_blob_discard(w);
		return ret;
	}
	close(w->fd);
	w->fd = -1;
	img_sha_free(&w->sha);
	if (out)
		strcpy(out, d);
	return 0;
}

int img_txn_put(struct img_txn *t, const void *p, size_t n, char out[IMG_DIGEST_LEN + 1], struct lc_err *e)
{
	struct img_blob_writer w;
	int ret = img_blob_open(t, &w, n, e);
	if (ret < 0)
		return ret;
	if ((ret = img_blob_write(&w, p, n, e)) < 0) {
		img_blob_discard(&w);
		return ret;
	}
	return img_blob_close(t, &w, NULL, out, e);
}

int img_txn_name(struct img_txn *t, const char *name, const char *manifest_digest, struct lc_err *e)
{
	cleanup_free char *buf = NULL;
	size_t n;
	int ret = img_txn_read_blob(t, manifest_digest, IMG_MANIFEST_MAX, &buf, &n, e);
	if (ret < 0)
		return lc_err_wrap(e, ret, "manifest %.19s", manifest_digest);
	struct img_manifest m;
	if ((ret = img_manifest_parse(buf, n, &m, e)) < 0)
		return ret;
	cleanup_free char *cbuf = NULL;
	size_t cn;
	struct img_config c;
	ret = img_txn_read_blob(t, m.config.digest, IMG_CONFIG_MAX, &cbuf, &cn, e);
	if (ret == 0 && (ret = img_config_parse(cbuf, cn, &c, e)) == 0) {
		if (c.ndiff_ids != m.nlayers)
			ret = lc_err_setx(e, EINVAL, "image has %zu layers but %zu diff_ids", m.nlayers, c.ndiff_ids);
		img_config_free(&c);
	}
	for (size_t i = 0; ret == 0 && i < m.nlayers; i++) {
		char p[PATH_MAX];
		struct stat st;
		if (img_txn_blob_path(t, m.layers[i].digest, p, sizeof(p)) < 0 || stat(p, &st) < 0)
			ret = lc_err_setx(e, ENOENT, "layer %.19s is missing", m.layers[i].digest);
		else if ((uint64_t)st.st_size != m.layers[i].size)
			ret = lc_err_setx(e, EINVAL, "layer %.19s has %lld bytes, the manifest says %llu",
					  m.layers[i].digest, (long long)st.st_size, (unsigned long long)m.layers[i].size);
	}
	struct img_txn_name *nm = ret == 0 ? calloc(1, sizeof(*nm)) : NULL;
	if (ret == 0 && (!nm || !(nm->name = strdup(name)))) {
		free(nm);
		ret = -ENOMEM;
	}
	if (ret == 0) {
		strcpy(nm->digest, manifest_digest);
		strcpy(nm->id, m.config.digest);
		bool docker = strcmp(m.config.media_type, IMG_MT_OCI_CONFIG) != 0;
		snprintf(nm->media_type, sizeof(nm->media_type), "%s", docker ? IMG_MT_DOCKER_MANIFEST : IMG_MT_OCI_MANIFEST);
		nm->size = n;
		nm->next = t->names;
		t->names = nm;
	}
	img_manifest_free(&m);
	return ret;
}

static void free_names(struct img_txn *t)
{
	while (t->names) {
		struct img_txn_name *n = t->names;
		t->names = n->next;
		free(n->name);
		free(n);
	}
}

int img_txn_commit(struct img_txn *t, struct lc_err *e)
{
	cleanup_close int lock = img_store_lock(t->s, e);
	if (lock < 0)
		return lock;
	int ret = 0;
	char blobs[PATH_MAX];
	pathf(blobs, sizeof(blobs), t->s->images, "/blobs/sha256");
	{
		cleanup_closedir DIR *d = opendir(t->dir);
		if (!d)
			return lc_err_set(e, errno, "opening %s", t->dir);
		cleanup_close int bfd = open(blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (bfd < 0)
			return lc_err_set(e, errno, "opening %s", blobs);
		struct dirent *de;
		while ((de = readdir(d)))
			if (img_hex64_valid(de->d_name) && renameat(dirfd(d), de->d_name, bfd, de->d_name) < 0)
				return lc_err_set(e, errno, "moving blob %s into the store", de->d_name);
		if (fsync(bfd) < 0)
			return lc_err_set(e, errno, "fsync %s", blobs);
	}
	struct img_list l;
	if ((ret = img_store_list(t->s, &l, e)) < 0)
		return ret;
	/* names were queued newest first; apply oldest first */
	struct img_txn_name *rev = NULL;
	while (t->names) {
		struct img_txn_name *n = t->names;
		t->names = n->next;
		n->next = rev;
		rev = n;
	}
	t->names = rev;
	for (struct img_txn_name *n = t->names; n && ret == 0; n = n->next)
		ret = list_set(&l, n->name, n->digest, n->id, n->media_type, n->size);
	if (ret == 0)
		ret = img_store_write_index(t->s, &l, e);
	else
		lc_err_set(e, -ret, "updating the image index");
	img_list_free(&l);
	img_txn_abort(t);
	return ret;
}

void img_txn_abort(struct img_txn *t)
{
	free_names(t);
	if (t->dir[0])
		rm_rf(t->dir);
	t->dir[0] = 0;
	if (t->lock_fd >= 0)
		close(t->lock_fd);
	t->lock_fd = -1;
}
