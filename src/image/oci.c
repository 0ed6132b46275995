#include "image/oci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static json_t *load(const void *buf, size_t n, size_t max, const char *what, struct lc_err *e, int *ret)
{
	if (n > max) {
		*ret = lc_err_setx(e, EFBIG, "%s is too large (%zu bytes)", what, n);
		return NULL;
	}
	json_error_t je;
	json_t *j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		*ret = lc_err_setx(e, EINVAL, "%s is not a JSON object%s%s", what, j ? "" : ": ", j ? "" : je.text);
		return NULL;
	}
	return j;
}

static const char *str(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int copy_field(char *dst, size_t cap, const char *src)
{
	if (!src)
		return 0;
	size_t l = strlen(src);
	if (l >= cap)
		return -EINVAL;
	memcpy(dst, src, l + 1);
	return 0;
}

static int desc_parse(json_t *o, struct img_desc *d, const char *what, struct lc_err *e)
{
	memset(d, 0, sizeof(*d));
	if (!json_is_object(o))
		return lc_err_setx(e, EINVAL, "%s: descriptor is not an object", what);
	const char *mt = str(o, "mediaType"), *dg = str(o, "digest");
	json_t *sz = json_object_get(o, "size");
	if (!mt || copy_field(d->media_type, sizeof(d->media_type), mt) < 0)
		return lc_err_setx(e, EINVAL, "%s: missing or bad mediaType", what);
	if (!img_digest_valid(dg))
		return lc_err_setx(e, EINVAL, "%s: missing or unsupported digest", what);
	strcpy(d->digest, dg);
	if (!json_is_integer(sz) || json_integer_value(sz) < 0 ||
	    (uint64_t)json_integer_value(sz) > IMG_BLOB_MAX)
		return lc_err_setx(e, EINVAL, "%s: missing or absurd size", what);
	d->size = (uint64_t)json_integer_value(sz);
	json_t *p = json_object_get(o, "platform");
	if (json_is_object(p) && (copy_field(d->os, sizeof(d->os), str(p, "os")) < 0 ||
				  copy_field(d->arch, sizeof(d->arch), str(p, "architecture")) < 0 ||
				  copy_field(d->variant, sizeof(d->variant), str(p, "variant")) < 0))
		return lc_err_setx(e, EINVAL, "%s: bad platform", what);
	json_t *ann = json_object_get(o, "annotations");
	const char *rn = json_is_object(ann) ? str(ann, "org.opencontainers.image.ref.name") : NULL;
	if (rn && !(d->ref_name = strndup(rn, 1024)))
		return -ENOMEM;
	return 0;
}

static void desc_free(struct img_desc *d)
{
	free(d->ref_name);
	d->ref_name = NULL;
}

static bool is_index_mt(const char *mt)
{
	return !strcmp(mt, IMG_MT_OCI_INDEX) || !strcmp(mt, IMG_MT_DOCKER_LIST);
}

static bool is_manifest_mt(const char *mt)
{
	return !strcmp(mt, IMG_MT_OCI_MANIFEST) || !strcmp(mt, IMG_MT_DOCKER_MANIFEST);
}

int img_doc_kind(const void *buf, size_t n, const char *ct, enum img_doc_kind *out, struct lc_err *e)
{
	int ret = 0;
	json_t *j = load(buf, n, IMG_MANIFEST_MAX, "manifest", e, &ret);
	if (!j)
		return ret;
	const char *mt = str(j, "mediaType");
	if (!mt && ct)
		mt = ct;
	if (mt && is_index_mt(mt))
		*out = IMG_DOC_INDEX;
	else if (mt && is_manifest_mt(mt))
		*out = IMG_DOC_MANIFEST;
	else if (!mt && json_is_array(json_object_get(j, "manifests")))
		*out = IMG_DOC_INDEX;
	else if (!mt && json_is_object(json_object_get(j, "config")))
		*out = IMG_DOC_MANIFEST;
	else
		ret = lc_err_setx(e, ENOTSUP, "unsupported manifest media type %.100s", mt ? mt : "(none)");
	json_decref(j);
	return ret;
}

int img_layer_comp(const char *mt, enum img_comp *out)
{
	if (!strcmp(mt, IMG_MT_OCI_LAYER) || !strcmp(mt, IMG_MT_DOCKER_LAYER))
		*out = IMG_COMP_NONE;
	else if (!strcmp(mt, IMG_MT_OCI_LAYER_GZIP) || !strcmp(mt, IMG_MT_DOCKER_LAYER_GZIP))
		*out = IMG_COMP_GZIP;
	else if (!strcmp(mt, IMG_MT_OCI_LAYER_ZSTD))
		*out = IMG_COMP_ZSTD;
	else
		return -ENOTSUP;
	return 0;
}

int img_manifest_parse(const void *buf, size_t n, struct img_manifest *m, struct lc_err *e)
{
	memset(m, 0, sizeof(*m));
	int ret = 0;
	json_t *j = load(buf, n, IMG_MANIFEST_MAX, "manifest", e, &ret);
	if (!j)
		return ret;
	json_t *sv = json_object_get(j, "schemaVersion");
	const char *mt = str(j, "mediaType");
	json_t *layers = json_object_get(j, "layers");
	if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
		ret = lc_err_setx(e, ENOTSUP, "manifest: only schemaVersion 2 is supported");
		goto out;
	}
	if (mt && !is_manifest_mt(mt)) {
		ret = lc_err_setx(e, ENOTSUP, "manifest: unsupported media type %.100s", mt);
		goto out;
	}
	if ((ret = desc_parse(json_object_get(j, "config"), &m->config, "manifest config", e)) < 0)
		goto out;
	if (strcmp(m->config.media_type, IMG_MT_OCI_CONFIG) && strcmp(m->config.media_type, IMG_MT_DOCKER_CONFIG)) {
		ret = lc_err_setx(e, ENOTSUP, "manifest: unsupported config media type %.100s", m->config.media_type);
		goto out;
	}
	if (!json_is_array(layers) || json_array_size(layers) > IMG_LAYERS_MAX) {
		ret = lc_err_setx(e, EINVAL, "manifest: layers missing or more than %d", IMG_LAYERS_MAX);
		goto out;
	}
	m->layers = calloc(json_array_size(layers) + 1, sizeof(*m->layers));
	if (!m->layers) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(layers); i++) {
		enum img_comp c;
		ret = desc_parse(json_array_get(layers, i), &m->layers[i], "manifest layer", e);
		m->nlayers = i + 1;
		if (ret < 0)
			goto out;
		if (img_layer_comp(m->layers[i].media_type, &c) < 0) {
			ret = lc_err_setx(e, ENOTSUP, "manifest: unsupported layer media type %.100s",
					  m->layers[i].media_type);
			goto out;
		}
	}
out:
	json_decref(j);
	if (ret < 0)
		img_manifest_free(m);
	return ret;
}

void img_manifest_free(struct img_manifest *m)
{
	desc_free(&m->config);
	for (size_t i = 0; i < m->nlayers; i++)
		desc_free(&m->layers[i]);
	free(m->layers);
	memset(m, 0, sizeof(*m));
}

int img_index_parse(const void *buf, size_t n, struct img_index *ix, struct lc_err *e)
{
	memset(ix, 0, sizeof(*ix));
	int ret = 0;
	json_t *j = load(buf, n, IMG_MANIFEST_MAX, "index", e, &ret);
	if (!j)
		return ret;
	json_t *ms = json_object_get(j, "manifests");
	json_t *sv = json_object_get(j, "schemaVersion");
	if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
		ret = lc_err_setx(e, ENOTSUP, "index: only schemaVersion 2 is supported");
		goto out;
	}
	if (!json_is_array(ms) || json_array_size(ms) > IMG_INDEX_MAX) {
		ret = lc_err_setx(e, EINVAL, "index: manifests missing or more than %d", IMG_INDEX_MAX);
		goto out;
	}
	ix->m = calloc(json_array_size(ms) + 1, sizeof(*ix->m));
	if (!ix->m) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(ms); i++) {
		ret = desc_parse(json_array_get(ms, i), &ix->m[i], "index entry", e);
		ix->n = i + 1;
		if (ret < 0)
			goto out;
	}
out:
	json_decref(j);
	if (ret < 0)
		img_index_free(ix);
	return ret;
}

void img_index_free(struct img_index *ix)
{
	for (size_t i = 0; i < ix->n; i++)
		desc_free(&ix->m[i]);
	free(ix->m);
	memset(ix, 0, sizeof(*ix));
}

int img_index_pick(const struct img_index *ix, const char *os, const char *arch, const struct img_desc **out,
		   struct lc_err *e)
{
	for (size_t i = 0; i < ix->n; i++) {
		const struct img_desc *d = &ix->m[i];
		if (is_manifest_mt(d->media_type) && !strcmp(d->os, os) && !strcmp(d->arch, arch)) {
			*out = d;
			return 0;
		}
	}
	return lc_err_setx(e, ENOENT, "no %s/%s image in the manifest list", os, arch);
}

void img_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

char **img_strv_dup(char *const *v)
{
	if (!v)
		return NULL;
	size_t n = 0;
	while (v[n])
		n++;
	char **r = calloc(n + 1, sizeof(*r));
	for (size_t i = 0; r && i < n; i++) {
		if (!(r[i] = strdup(v[i]))) {
			img_strv_free(r);
			return NULL;
		}
	}
	return r;
}

/* A JSON array of strings (or null / absent) -> strv. */
static int strv_from_array(json_t *a, char ***out)
{
	*out = NULL;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a) || json_array_size(a) > IMG_STRV_MAX)
		return -EINVAL;
	char **v = calloc(json_array_size(a) + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *s = json_array_get(a, i);
		if (!json_is_string(s) || !(v[i] = strdup(json_string_value(s)))) {
			img_strv_free(v);
			return json_is_string(s) ? -ENOMEM : -EINVAL;
		}
	}
	*out = v;
	return 0;
}

/* The keys of a JSON object (ExposedPorts: {"80/tcp": {}}) -> strv. */
static int strv_from_keys(json_t *o, char ***out)
{
	*out = NULL;
	if (!o || json_is_null(o))
		return 0;
	if (!json_is_object(o) || json_object_size(o) > IMG_STRV_MAX)
		return -EINVAL;
	char **v = calloc(json_object_size(o) + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t i = 0;
	const char *k;
	json_t *val;
	json_object_foreach(o, k, val) {
		if (!(v[i++] = strdup(k))) {
			img_strv_free(v);
			return -ENOMEM;
		}
	}
	*out = v;
	return 0;
}

static int dup_opt(json_t *o, const char *k, char **out)
{
	const char *s = str(o, k);
	*out = NULL;
	if (s && *s && !(*out = strdup(s)))
		return -ENOMEM;
	return 0;
}

int img_config_parse(const void *buf, size_t n, struct img_config *c, struct lc_err *e)
{
	memset(c, 0, sizeof(*c));
	int ret = 0;
	json_t *j = load(buf, n, IMG_CONFIG_MAX, "image config", e, &ret);
	if (!j)
		return ret;
	json_t *cfg = json_object_get(j, "config");
	json_t *rootfs = json_object_get(j, "rootfs");
	json_t *ids = json_is_object(rootfs) ? json_object_get(rootfs, "diff_ids") : NULL;
	const char *rtype = json_is_object(rootfs) ? str(rootfs, "type") : NULL;
	if (!rtype || strcmp(rtype, "layers") || !json_is_array(ids) || json_array_size(ids) > IMG_LAYERS_MAX) {
		ret = lc_err_setx(e, EINVAL, "image config: rootfs.diff_ids missing or bad");
		goto out;
	}
	if ((ret = dup_opt(j, "os", &c->os)) < 0 || (ret = dup_opt(j, "architecture", &c->arch)) < 0 ||
	    (ret = dup_opt(j, "created", &c->created)) < 0)
		goto out;
	c->diff_ids = calloc(json_array_size(ids) + 1, sizeof(*c->diff_ids));
	if (!c->diff_ids) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(ids); i++) {
		const char *d = json_string_value(json_array_get(ids, i));
		if (!img_digest_valid(d)) {
			ret = lc_err_setx(e, EINVAL, "image config: bad diff_id");
			goto out;
		}
		strcpy(c->diff_ids[i], d);
		c->ndiff_ids = i + 1;
	}
	if (json_is_object(cfg)) {
		if ((ret = strv_from_array(json_object_get(cfg, "Entrypoint"), &c->entrypoint)) < 0 ||
		    (ret = strv_from_array(json_object_get(cfg, "Cmd"), &c->cmd)) < 0 ||
		    (ret = strv_from_array(json_object_get(cfg, "Env"), &c->env)) < 0 ||
		    (ret = strv_from_keys(json_object_get(cfg, "ExposedPorts"), &c->exposed_ports)) < 0) {
			if (ret == -EINVAL)
				lc_err_setx(e, EINVAL, "image config: bad Entrypoint, Cmd, Env or ExposedPorts");
			goto out;
		}
		if ((ret = dup_opt(cfg, "WorkingDir", &c->working_dir)) < 0 || (ret = dup_opt(cfg, "User", &c->user)) < 0)
			goto out;
	}
out:
	json_decref(j);
	if (ret < 0)
		img_config_free(c);
	return ret;
}

void img_config_free(struct img_config *c)
{
	free(c->os);
	free(c->arch);
	free(c->created);
	img_strv_free(c->entrypoint);
	img_strv_free(c->cmd);
	img_strv_free(c->env);
	img_strv_free(c->exposed_ports);
	free(c->working_dir);
	free(c->user);
	free(c->diff_ids);
	memset(c, 0, sizeof(*c));
}
