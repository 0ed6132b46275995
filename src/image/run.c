#include "image/image.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "image/layer.h"
#include "image/oci.h"
#include "image/store.h"
#include "util/cleanup.h"

void img_run_info_free(struct img_run_info *ri)
{
	free(ri->id);
	for (size_t i = 0; i < ri->nlayers; i++) {
		if (ri->layer_paths)
			free(ri->layer_paths[i]);
		if (ri->layer_fstypes)
			free(ri->layer_fstypes[i]);
	}
	free(ri->layer_paths);
	free(ri->layer_fstypes);
	img_strv_free(ri->entrypoint);
	img_strv_free(ri->cmd);
	img_strv_free(ri->env);
	img_strv_free(ri->exposed_ports);
	free(ri->working_dir);
	free(ri->user);
	memset(ri, 0, sizeof(*ri));
}

static int fill_layers(const struct img_store *s, const struct img_manifest *m, const struct img_config *c,
		       struct img_run_info *ri, struct lc_err *e)
{
	if (m->nlayers != c->ndiff_ids)
		return lc_err_setx(e, EINVAL, "image has %zu layers but %zu diff_ids", m->nlayers, c->ndiff_ids);
	ri->layer_paths = calloc(m->nlayers + 1, sizeof(char *));
	ri->layer_fstypes = calloc(m->nlayers + 1, sizeof(char *));
	if (!ri->layer_paths || !ri->layer_fstypes)
		return -ENOMEM;
	ri->nlayers = m->nlayers;
	for (size_t i = 0; i < m->nlayers; i++) {
		char p[PATH_MAX];
		int ret = img_layer_ensure(s, c->diff_ids[i], m->layers[i].digest, p, sizeof(p), e);
		if (ret < 0)
			return ret;
		size_t k = m->nlayers - 1 - i; /* top-most first */
		if (!(ri->layer_paths[k] = strdup(p)) || !(ri->layer_fstypes[k] = strdup(IMG_LAYER_FSTYPE)))
			return -ENOMEM;
	}
	return 0;
}

int img_resolve_for_run(const char *data_dir, const char *ref, struct img_run_info *out, struct lc_err *e)
{
	memset(out, 0, sizeof(*out));
	struct img_store s;
	struct img_list l;
	int ret = img_store_open(data_dir, &s, e);
	if (ret < 0 || (ret = img_store_list(&s, &l, e)) < 0)
		return ret;
	int k = img_list_find(&l, ref, e);
	char digest[IMG_DIGEST_LEN + 1];
	if (k >= 0)
		strcpy(digest, l.v[k].digest);
	img_list_free(&l);
	if (k < 0)
		return k;
	cleanup_free char *mbuf = NULL, *cbuf = NULL;
	size_t mn, cn;
	struct img_manifest m = { 0 };
	struct img_config c = { 0 };
	if ((ret = img_store_read_blob(&s, digest, IMG_MANIFEST_MAX, &mbuf, &mn, e)) < 0 ||
	    (ret = img_manifest_parse(mbuf, mn, &m, e)) < 0)
		return lc_err_wrap(e, ret, "image %s", ref);
	if ((ret = img_store_read_blob(&s, m.config.digest, IMG_CONFIG_MAX, &cbuf, &cn, e)) < 0 ||
	    (ret = img_config_parse(cbuf, cn, &c, e)) < 0) {
		img_manifest_free(&m);
		return lc_err_wrap(e, ret, "image %s", ref);
	}
	if (!(out->id = strdup(m.config.digest)))
		ret = -ENOMEM;
	if (ret == 0)
		ret = fill_layers(&s, &m, &c, out, e);
	if (ret == 0) {
		/* hand the config's strings over instead of copying them */
		out->entrypoint = take_ptr(&c.entrypoint);
		out->cmd = take_ptr(&c.cmd);
		out->env = take_ptr(&c.env);
		out->exposed_ports = take_ptr(&c.exposed_ports);
		out->working_dir = take_ptr(&c.working_dir);
		out->user = take_ptr(&c.user);
	}
	img_config_free(&c);
	img_manifest_free(&m);
	if (ret < 0)
		img_run_info_free(out);
	return ret;
}
