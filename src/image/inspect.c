#include "image/inspect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "image/oci.h"
#include "image/ref.h"
#include "util/cleanup.h"

int img_summarize(const struct img_store *s, const struct img_entry *en, struct img_summary *out, struct lc_err *e)
{
	memset(out, 0, sizeof(*out));
	cleanup_free char *buf = NULL, *cbuf = NULL;
	size_t n, cn;
	struct img_manifest m;
	int ret = img_store_read_blob(s, en->digest, IMG_MANIFEST_MAX, &buf, &n, e);
	if (ret < 0 || (ret = img_manifest_parse(buf, n, &m, e)) < 0)
		return ret;
	out->size = m.config.size;
	for (size_t i = 0; i < m.nlayers; i++)
		out->size += m.layers[i].size;
	struct img_config c;
	if (img_store_read_blob(s, m.config.digest, IMG_CONFIG_MAX, &cbuf, &cn, e) == 0 &&
	    img_config_parse(cbuf, cn, &c, e) == 0) {
		if (c.created)
			snprintf(out->created, sizeof(out->created), "%.39s", c.created);
		img_config_free(&c);
	}
	img_manifest_free(&m);
	return 0;
}

int img_inspect_json(const struct img_store *s, const char *what, char **out, struct lc_err *e)
{
	struct img_list l;
	int ret = img_store_list(s, &l, e);
	if (ret < 0)
		return ret;
	int k = img_list_find(&l, what, e);
	if (k < 0) {
		img_list_free(&l);
		return k;
	}
	const struct img_entry *en = &l.v[k];
	cleanup_free char *buf = NULL, *cbuf = NULL;
	size_t n, cn;
	struct img_manifest m = { 0 };
	json_t *cfg = NULL;
	if ((ret = img_store_read_blob(s, en->digest, IMG_MANIFEST_MAX, &buf, &n, e)) < 0 ||
	    (ret = img_manifest_parse(buf, n, &m, e)) < 0 ||
	    (ret = img_store_read_blob(s, m.config.digest, IMG_CONFIG_MAX, &cbuf, &cn, e)) < 0)
		goto out;
	cfg = json_loadb(cbuf, cn, 0, NULL);
	if (!json_is_object(cfg)) {
		ret = lc_err_setx(e, EINVAL, "image config of %s is not JSON", what);
		goto out;
	}
	json_t *tags = json_array(), *digests = json_array(), *layers = json_array();
	uint64_t size = m.config.size;
	for (size_t i = 0; i < m.nlayers; i++) {
		size += m.layers[i].size;
		json_array_append_new(layers, json_pack("{s:s,s:s,s:I}", "Digest", m.layers[i].digest, "MediaType",
							m.layers[i].media_type, "Size", (json_int_t)m.layers[i].size));
	}
	for (size_t i = 0; i < l.n; i++) {
		if (strcmp(l.v[i].id, en->id) || !l.v[i].name[0])
			continue;
		struct img_ref r;
		char repo[IMG_REF_MAX];
		if (img_ref_parse(l.v[i].name, &r, NULL) < 0 || img_ref_repo(&r, repo, sizeof(repo)) < 0)
			continue;
		if (r.tag[0])
			json_array_append_new(tags, json_string(l.v[i].name));
		json_array_append_new(digests, json_sprintf("%s@%s", repo, l.v[i].digest));
	}
	json_t *o = json_pack("{s:s,s:o,s:o,s:s,s:O?,s:O?,s:O?,s:I,s:O?,s:O?,s:o}", "Id", en->id, "RepoTags", tags,
			      "RepoDigests", digests, "ManifestDigest", en->digest, "Created",
			      json_object_get(cfg, "created"), "Os", json_object_get(cfg, "os"), "Architecture",
			      json_object_get(cfg, "architecture"), "Size", (json_int_t)size, "Config",
			      json_object_get(cfg, "config"), "RootFS", json_object_get(cfg, "rootfs"), "Layers", layers);
	*out = o ? json_dumps(o, JSON_INDENT(4)) : NULL;
	json_decref(o);
	if (!*out)
		ret = -ENOMEM;
out:
	json_decref(cfg);
	img_manifest_free(&m);
	img_list_free(&l);
	return ret;
}
