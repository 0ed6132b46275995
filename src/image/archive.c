#include "image/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "image/oci.h"
#include "image/ref.h"
#include "util/cleanup.h"

/* One archive member that became a staged blob (docker-save layouts refer
 * to files by path) or a symlink to another member. */
struct member {
	char *path;
	char *link; /* symlink target resolved against path's dir, or NULL */
	char digest[IMG_DIGEST_LEN + 1];
	uint64_t size;
	enum img_comp comp;
};

struct load_ctx {
	const struct img_store *s;
	struct img_txn t;
	struct member *m;
	size_t nm;
	char *index_json, *manifest_json;
	size_t index_len, manifest_len;
};

static void clean_path(char *p)
{
	while (p[0] == '.' && p[1] == '/')
		memmove(p, p + 2, strlen(p + 2) + 1);
	while (p[0] == '/')
		memmove(p, p + 1, strlen(p));
}

static int read_small(struct archive *a, int64_t size, char **out, size_t *len, struct lc_err *e)
{
	if (size < 0 || size > IMG_MANIFEST_MAX)
		return lc_err_setx(e, EFBIG, "archive: metadata file too large");
	char *b = malloc((size_t)size + 1);
	if (!b)
		return -ENOMEM;
	la_ssize_t r = archive_read_data(a, b, (size_t)size);
	if (r != size) {
		free(b);
		return lc_err_setx(e, EIO, "archive: truncated metadata file");
	}
	b[size] = 0;
	free(*out);
	*out = b;
	*len = (size_t)size;
	return 0;
}

static enum img_comp sniff(const unsigned char h[4], uint64_t size)
{
	if (size >= 2 && h[0] == 0x1f && h[1] == 0x8b)
		return IMG_COMP_GZIP;
	if (size >= 4 && h[0] == 0x28 && h[1] == 0xb5 && h[2] == 0x2f && h[3] == 0xfd)
		return IMG_COMP_ZSTD;
	return IMG_COMP_NONE;
}

static int stage_member(struct load_ctx *c, struct archive *a, const char *path, const char *expect,
			struct lc_err *e)
{
	if (c->nm >= IMG_ARCHIVE_FILES_MAX)
		return lc_err_setx(e, E2BIG, "archive: too many files");
	struct img_blob_writer w;
	int ret = img_blob_open(&c->t, &w, 0, e);
	if (ret < 0)
		return ret;
	char buf[65536];
	la_ssize_t r;
	while ((r = archive_read_data(a, buf, sizeof(buf))) > 0)
		if ((ret = img_blob_write(&w, buf, (size_t)r, e)) < 0)
			break;
	if (r < 0)
		ret = lc_err_setx(e, EIO, "archive: %s: %s", path, archive_error_string(a));
	if (ret < 0) {
		img_blob_discard(&w);
		return ret;
	}
	struct member *m = realloc(c->m, (c->nm + 1) * sizeof(*m));
	if (!m) {
		img_blob_discard(&w);
		return -ENOMEM;
	}
	c->m = m;
	m = &c->m[c->nm];
	memset(m, 0, sizeof(*m));
	m->size = w.size;
	m->comp = sniff(w.head, w.size);
	if ((ret = img_blob_close(&c->t, &w, expect, m->digest, e)) < 0)
		return lc_err_wrap(e, ret, "archive: %s", path);
	if (!(m->path = strdup(path)))
		return -ENOMEM;
	c->nm++;
	return 0;
}

static int add_link(struct load_ctx *c, const char *path, const char *target)
{
	if (c->nm >= IMG_ARCHIVE_FILES_MAX)
		return -E2BIG;
	struct member *m = realloc(c->m, (c->nm + 1) * sizeof(*m));
	if (!m)
		return -ENOMEM;
	c->m = m;
	m = &c->m[c->nm];
	memset(m, 0, sizeof(*m));
	/* docker writes "../<id>/layer.tar": resolve one level relative to path's dir */
	char buf[1024];
	const char *slash = strrchr(path, '/');
	if (!strncmp(target, "../", 3) && slash)
		snprintf(buf, sizeof(buf), "%s", target + 3);
	else if (slash)
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(slash - path), path, target);
	else
		snprintf(buf, sizeof(buf), "%s", target);
	m->path = strdup(path);
	m->link = strdup(buf);
	if (!m->path || !m->link) {
		free(m->path);
		free(m->link);
		return -ENOMEM;
	}
	c->nm++;
	return 0;
}

static const struct member *find_member(const struct load_ctx *c, const char *path)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s", path);
	clean_path(p);
	for (int hops = 0; hops < 8; hops++) {
		const struct member *hit = NULL;
		for (size_t i = 0; i < c->nm && !hit; i++)
			if (!strcmp(c->m[i].path, p))
				hit = &c->m[i];
		if (!hit || !hit->link)
			return hit;
		snprintf(p, sizeof(p), "%s", hit->link);
	}
	return NULL;
}

static int read_members(struct load_ctx *c, int fd, struct lc_err *e)
{
	struct archive *a = archive_read_new();
	if (!a)
		return -ENOMEM;
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	int ret = 0;
	if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
		ret = lc_err_setx(e, EINVAL, "archive: %s", archive_error_string(a));
		goto out;
	}
	struct archive_entry *en;
	int r;
	while (ret == 0 && (r = archive_read_next_header(a, &en)) == ARCHIVE_OK) {
		char path[1024];
		const char *pn = archive_entry_pathname(en);
		if (!pn || strlen(pn) >= sizeof(path))
			continue;
		strcpy(path, pn);
		clean_path(path);
		mode_t type = archive_entry_filetype(en);
		if (type == AE_IFLNK) {
			const char *tg = archive_entry_symlink(en);
			if (tg && strlen(tg) < 512)
				ret = add_link(c, path, tg);
			continue;
		}
		if (type != AE_IFREG)
			continue;
		if (!strcmp(path, "index.json"))
			ret = read_small(a, archive_entry_size(en), &c->index_json, &c->index_len, e);
		else if (!strcmp(path, "manifest.json"))
			ret = read_small(a, archive_entry_size(en), &c->manifest_json, &c->manifest_len, e);
		else if (!strncmp(path, "blobs/sha256/", 13)) {
			char expect[IMG_DIGEST_LEN + 1];
			if (!img_hex64_valid(path + 13))
				return lc_err_setx(e, EINVAL, "archive: bad blob name %.100s", path);
			snprintf(expect, sizeof(expect), "sha256:%s", path + 13);
			ret = stage_member(c, a, path, expect, e);
		} else {
			size_t l = strlen(path);
			bool json = l > 5 && !strcmp(path + l - 5, ".json");
			bool layer = l > 10 && !strcmp(path + l - 10, "/layer.tar");
			if (json || layer)
				ret = stage_member(c, a, path, NULL, e);
		}
	}
	if (ret == 0 && r != ARCHIVE_EOF)
		ret = lc_err_setx(e, EIO, "archive: %s", archive_error_string(a));
out:
	archive_read_free(a);
	return ret;
}

static int pick_manifest(struct load_ctx *c, const struct img_desc *d, char out[IMG_DIGEST_LEN + 1],
			 struct lc_err *e)
{
	if (strcmp(d->media_type, IMG_MT_OCI_INDEX) && strcmp(d->media_type, IMG_MT_DOCKER_LIST)) {
		strcpy(out, d->digest);
		return 0;
	}
	cleanup_free char *buf = NULL;
	size_t n;
	struct img_index ix;
	const struct img_desc *pick;
	int ret = img_txn_read_blob(&c->t, d->digest, IMG_MANIFEST_MAX, &buf, &n, e);
	if (ret < 0 || (ret = img_index_parse(buf, n, &ix, e)) < 0)
		return ret;
	if ((ret = img_index_pick(&ix, "linux", "amd64", &pick, e)) == 0)
		strcpy(out, pick->digest);
	img_index_free(&ix);
	return ret;
}

static int canonical_name(const char *raw, char *out, size_t n, struct lc_err *e)
{
	out[0] = 0;
	if (!raw || !*raw)
		return 0;
	struct img_ref r;
	int ret = img_ref_parse(raw, &r, e);
	if (ret < 0)
		return ret;
	return img_ref_name(&r, out, n);
}

static int load_oci(struct load_ctx *c, void (*cb)(const char *, const char *, void *), void *arg,
		    struct lc_err *e)
{
	struct img_index ix;
	int ret = img_index_parse(c->index_json, c->index_len, &ix, e);
	if (ret < 0)
		return lc_err_wrap(e, ret, "archive index.json");
	for (size_t i = 0; i < ix.n && ret == 0; i++) {
		char md[IMG_DIGEST_LEN + 1], name[IMG_REF_MAX + 16];
		if ((ret = pick_manifest(c, &ix.m[i], md, e)) < 0 ||
		    (ret = canonical_name(ix.m[i].ref_name, name, sizeof(name), e)) < 0 ||
		    (ret = img_txn_name(&c->t, name, md, e)) < 0)
			break;
	}
	img_index_free(&ix);
	return ret;
}

static int docker_layer_desc(struct load_ctx *c, const char *path, json_t *layers, struct lc_err *e)
{
	const struct member *m = find_member(c, path);
	if (!m)
		return lc_err_setx(e, ENOENT, "archive: layer %.100s is missing", path);
	const char *mt = m->comp == IMG_COMP_GZIP ? IMG_MT_DOCKER_LAYER_GZIP :
			 m->comp == IMG_COMP_ZSTD ? IMG_MT_OCI_LAYER_ZSTD : IMG_MT_DOCKER_LAYER;
	json_array_append_new(layers, json_pack("{s:s,s:I,s:s}", "mediaType", mt, "size", (json_int_t)m->size,
						"digest", m->digest));
	return 0;
}

/* docker save: [{"Config": "x.json", "RepoTags": [...], "Layers": [...]}] -> a
 * schema2 manifest per entry, staged as a blob. */
static int load_docker(struct load_ctx *c, void (*cb)(const char *, const char *, void *), void *arg,
		       struct lc_err *e)
{
	json_error_t je;
	json_t *j = json_loadb(c->manifest_json, c->manifest_len, JSON_REJECT_DUPLICATES, &je);
	int ret = 0;
	if (!json_is_array(j) || json_array_size(j) > IMG_INDEX_MAX) {
		json_decref(j);
		return lc_err_setx(e, EINVAL, "archive: bad manifest.json");
	}
	for (size_t i = 0; i < json_array_size(j) && ret == 0; i++) {
		json_t *en = json_array_get(j, i);
		const char *cfg = json_string_value(json_object_get(en, "Config"));
		json_t *ls = json_object_get(en, "Layers"), *tags = json_object_get(en, "RepoTags");
		const struct member *cm = cfg ? find_member(c, cfg) : NULL;
		if (!cm || !json_is_array(ls) || json_array_size(ls) > IMG_LAYERS_MAX) {
			ret = lc_err_setx(e, EINVAL, "archive: manifest.json entry %zu is incomplete", i);
			break;
		}
		json_t *layers = json_array();
		for (size_t k = 0; k < json_array_size(ls) && ret == 0; k++) {
			const char *lp = json_string_value(json_array_get(ls, k));
			ret = lp ? docker_layer_desc(c, lp, layers, e) : lc_err_setx(e, EINVAL, "archive: bad layer path");
		}
		json_t *man = json_pack("{s:i,s:s,s:{s:s,s:I,s:s},s:o}", "schemaVersion", 2, "mediaType",
					IMG_MT_DOCKER_MANIFEST, "config", "mediaType", IMG_MT_DOCKER_CONFIG, "size",
					(json_int_t)cm->size, "digest", cm->digest, "layers", layers);
		cleanup_free char *txt = man ? json_dumps(man, JSON_COMPACT) : NULL;
		json_decref(man);
		char md[IMG_DIGEST_LEN + 1];
		if (ret == 0 && !txt)
			ret = -ENOMEM;
		if (ret == 0)
			ret = img_txn_put(&c->t, txt, strlen(txt), md, e);
		size_t ntags = json_is_array(tags) ? json_array_size(tags) : 0;
		for (size_t k = 0; k < ntags && ret == 0; k++) {
			char name[IMG_REF_MAX + 16];
			ret = canonical_name(json_string_value(json_array_get(tags, k)), name, sizeof(name), e);
			if (ret == 0)
				ret = img_txn_name(&c->t, name, md, e);
		}
		if (ret == 0 && ntags == 0)
			ret = img_txn_name(&c->t, "", md, e);
	}
	json_decref(j);
	return ret;
}

int img_load(const struct img_store *s, int fd, void (*cb)(const char *, const char *, void *), void *arg,
	     struct lc_err *e)
{
	struct load_ctx c = { .s = s };
	int ret = img_txn_begin(s, &c.t, e);
	if (ret < 0)
		return ret;
	ret = read_members(&c, fd, e);
	if (ret == 0) {
		if (c.index_json)
			ret = load_oci(&c, cb, arg, e);
		else if (c.manifest_json)
			ret = load_docker(&c, cb, arg, e);
		else
			ret = lc_err_setx(e, EINVAL, "archive has neither index.json nor manifest.json");
	}
	if (ret == 0 && !c.t.names)
		ret = lc_err_setx(e, EINVAL, "archive contains no image");
	if (ret == 0 && cb)
		for (struct img_txn_name *n = c.t.names; n; n = n->next)
			cb(n->name, n->id, arg);
	if (ret == 0)
		ret = img_txn_commit(&c.t, e);
	else
		img_txn_abort(&c.t);
	for (size_t i = 0; i < c.nm; i++) {
		free(c.m[i].path);
		free(c.m[i].link);
	}
	free(c.m);
	free(c.index_json);
	free(c.manifest_json);
	return ret;
}

/* --- save ---------------------------------------------------------------- */

static int write_entry(struct archive *a, const char *name, const void *buf, size_t n, struct lc_err *e)
{
	struct archive_entry *en = archive_entry_new();
	if (!en)
		return -ENOMEM;
	archive_entry_set_pathname(en, name);
	archive_entry_set_filetype(en, AE_IFREG);
	archive_entry_set_perm(en, 0644);
	archive_entry_set_size(en, (la_int64_t)n);
	int ret = 0;
	if (archive_write_header(a, en) != ARCHIVE_OK || (n && archive_write_data(a, buf, n) != (la_ssize_t)n))
		ret = lc_err_setx(e, EIO, "writing the archive: %s", archive_error_string(a));
	archive_entry_free(en);
	return ret;
}

static int write_blob(struct archive *a, const struct img_store *s, const char *digest, struct lc_err *e)
{
	char p[PATH_MAX], name[96];
	img_store_blob_path(s, digest, p, sizeof(p));
	cleanup_close int fd = open(p, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return lc_err_set(e, errno, "blob %.19s", digest);
	snprintf(name, sizeof(name), "blobs/sha256/%s", img_digest_hex(digest));
	struct archive_entry *en = archive_entry_new();
	if (!en)
		return -ENOMEM;
	archive_entry_set_pathname(en, name);
	archive_entry_set_filetype(en, AE_IFREG);
	archive_entry_set_perm(en, 0644);
	archive_entry_set_size(en, st.st_size);
	int ret = 0;
	if (archive_write_header(a, en) != ARCHIVE_OK)
		ret = lc_err_setx(e, EIO, "writing the archive: %s", archive_error_string(a));
	char buf[65536];
	ssize_t r;
	while (ret == 0 && (r = read(fd, buf, sizeof(buf))) > 0)
		if (archive_write_data(a, buf, (size_t)r) != r)
			ret = lc_err_setx(e, EIO, "writing the archive: %s", archive_error_string(a));
	archive_entry_free(en);
	return ret;
}

struct saved {
	size_t n;
	char (*d)[IMG_DIGEST_LEN + 1];
};

static int save_once(struct archive *a, const struct img_store *s, struct saved *done, const char *digest,
		     struct lc_err *e)
{
	for (size_t i = 0; i < done->n; i++)
		if (!strcmp(done->d[i], digest))
			return 0;
	void *v = realloc(done->d, (done->n + 1) * sizeof(*done->d));
	if (!v)
		return -ENOMEM;
	done->d = v;
	strcpy(done->d[done->n++], digest);
	return write_blob(a, s, digest, e);
}

static int save_image(struct archive *a, const struct img_store *s, const struct img_entry *en, struct saved *done,
		      json_t *index, json_t *dman, struct lc_err *e)
{
	cleanup_free char *buf = NULL;
	size_t n;
	struct img_manifest m;
	int ret = img_store_read_blob(s, en->digest, IMG_MANIFEST_MAX, &buf, &n, e);
	if (ret < 0 || (ret = img_manifest_parse(buf, n, &m, e)) < 0)
		return ret;
	ret = save_once(a, s, done, en->digest, e);
	if (ret == 0)
		ret = save_once(a, s, done, m.config.digest, e);
	json_t *layers = json_array();
	for (size_t i = 0; i < m.nlayers && ret == 0; i++) {
		ret = save_once(a, s, done, m.layers[i].digest, e);
		json_array_append_new(layers, json_sprintf("blobs/sha256/%s", img_digest_hex(m.layers[i].digest)));
	}
	json_t *ann = json_object();
	if (en->name[0]) {
		json_object_set_new(ann, "org.opencontainers.image.ref.name", json_string(en->name));
		json_object_set_new(ann, "io.containerd.image.name", json_string(en->name));
	}
	json_array_append_new(index, json_pack("{s:s,s:s,s:I,s:o}", "mediaType", en->media_type, "digest", en->digest,
					       "size", (json_int_t)en->size, "annotations", ann));
	json_t *tags = json_array();
	if (en->name[0])
		json_array_append_new(tags, json_string(en->name));
	json_array_append_new(dman, json_pack("{s:o,s:o,s:o}", "Config",
					      json_sprintf("blobs/sha256/%s", img_digest_hex(m.config.digest)),
					      "RepoTags", tags, "Layers", layers));
	img_manifest_free(&m);
	return ret;
}

int img_save(const struct img_store *s, const char *const *what, size_t n, int fd, struct lc_err *e)
{
	struct img_list l;
	int ret = img_store_list(s, &l, e);
	if (ret < 0)
		return ret;
	struct archive *a = archive_write_new();
	json_t *index = json_array(), *dman = json_array();
	struct saved done = { 0 };
	if (!a) {
		ret = -ENOMEM;
		goto out;
	}
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		ret = lc_err_setx(e, EIO, "archive: %s", archive_error_string(a));
		goto out;
	}
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	ret = write_entry(a, "oci-layout", layout, sizeof(layout) - 1, e);
	for (size_t i = 0; i < n && ret == 0; i++) {
		int k = img_list_find(&l, what[i], e);
		ret = k < 0 ? k : save_image(a, s, &l.v[k], &done, index, dman, e);
	}
	if (ret == 0) {
		json_t *ij = json_pack("{s:i,s:s,s:O}", "schemaVersion", 2, "mediaType", IMG_MT_OCI_INDEX, "manifests", index);
		cleanup_free char *it = json_dumps(ij, JSON_COMPACT);
		cleanup_free char *mt = json_dumps(dman, JSON_COMPACT);
		json_decref(ij);
		if (!it || !mt)
			ret = -ENOMEM;
		else if ((ret = write_entry(a, "index.json", it, strlen(it), e)) == 0)
			ret = write_entry(a, "manifest.json", mt, strlen(mt), e);
	}
	if (ret == 0 && archive_write_close(a) != ARCHIVE_OK)
		ret = lc_err_setx(e, EIO, "archive: %s", archive_error_string(a));
out:
	if (a)
		archive_write_free(a);
	json_decref(index);
	json_decref(dman);
	free(done.d);
	img_list_free(&l);
	return ret;
}
