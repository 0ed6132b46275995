#include "cli/image_resolve.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/image.h"
#include "image/store.h"
#include "util/cleanup.h"
#include "util/paths.h"

void cli_image_free(struct cli_image *img)
{
	for (size_t i = 0; i < img->nlayers; i++) {
		free(img->layers[i].path);
		free(img->layers[i].fstype);
	}
	free(img->layers);
	strv_free(img->entrypoint);
	strv_free(img->cmd);
	strv_free(img->env);
	free(img->working_dir);
	free(img->user);
	strv_free(img->exposed_ports);
	free(img->id);
	*img = (struct cli_image){ 0 };
}

static char **json_strv(json_t *a)
{
	if (!json_is_array(a))
		return NULL;
	char **v = calloc(json_array_size(a) + 1, sizeof(*v));
	for (size_t i = 0; v && i < json_array_size(a); i++) {
		const char *s = json_string_value(json_array_get(a, i));
		if (!s || !(v[i] = strdup(s))) {
			strv_free(v);
			return NULL;
		}
	}
	return v;
}

/* True when one of the first n entries failed to copy. */
static int strv_has_null(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		if (!v[i])
			return 1;
	return 0;
}

static char *json_strdup(json_t *s)
{
	const char *v = json_string_value(s);
	return v ? strdup(v) : NULL;
}

/* Built-in image names: [a-z0-9._-], optional ":latest". */
static int builtin_name(const char *ref, char *out, size_t outlen)
{
	size_t n = strcspn(ref, ":");
	if (ref[n] && strcmp(ref + n, ":latest"))
		return -ENOENT;
	if (n == 0 || n >= outlen || strspn(ref, "abcdefghijklmnopqrstuvwxyz0123456789._-") < n || ref[0] == '.')
		return -ENOENT;
	memcpy(out, ref, n);
	out[n] = '\0';
	return 0;
}

static int resolve_builtin(const char *guest_dir, const char *ref, struct cli_image *img, struct lc_err *e)
{
	char name[128], dir[PATH_MAX], disk[PATH_MAX], cfg[PATH_MAX];
	if (builtin_name(ref, name, sizeof(name)) < 0)
		return -ENOENT;
	snprintf(dir, sizeof(dir), "%s/images/%s", guest_dir, name);
	snprintf(disk, sizeof(disk), "%s/rootfs.squashfs", dir);
	snprintf(cfg, sizeof(cfg), "%s/config.json", dir);
	if (access(disk, R_OK) < 0)
		return -ENOENT;
	json_error_t jerr;
	json_t *root = json_load_file(cfg, 0, &jerr);
	if (!root)
		return lc_err_setx(e, EINVAL, "image %s: %s: %s", ref, cfg, jerr.text);
	json_t *c = json_object_get(root, "config");
	img->entrypoint = json_strv(json_object_get(c, "Entrypoint"));
	img->cmd = json_strv(json_object_get(c, "Cmd"));
	img->env = json_strv(json_object_get(c, "Env"));
	img->working_dir = json_strdup(json_object_get(c, "WorkingDir"));
	const char *user = json_string_value(json_object_get(c, "User"));
	img->user = user && *user ? strdup(user) : NULL;
	json_t *ports = json_object_get(c, "ExposedPorts");
	size_t np = json_object_size(ports), k = 0;
	const char *port;
	json_t *ignored;
	if (np && (img->exposed_ports = calloc(np + 1, sizeof(char *))))
		json_object_foreach(ports, port, ignored)
			img->exposed_ports[k++] = strdup(port);
	json_decref(root);
	if (asprintf(&img->id, "builtin:%s", name) < 0)
		img->id = NULL;
	img->layers = calloc(1, sizeof(*img->layers));
	if (!img->layers)
		return lc_err_set(e, ENOMEM, "image %s", ref);
	img->nlayers = 1;
	img->layers[0].path = strdup(disk);
	img->layers[0].fstype = strdup("squashfs");
	if (!img->layers[0].path || !img->layers[0].fstype || !img->id || strv_has_null(img->exposed_ports, np))
		return lc_err_set(e, ENOMEM, "image %s", ref);
	return 0;
}

/* Moves what the store resolved into img (the store's strings are taken, not copied). */
static int from_store(struct img_run_info *ri, struct cli_image *img)
{
	img->layers = calloc(ri->nlayers + 1, sizeof(*img->layers));
	if (!img->layers)
		return -ENOMEM;
	img->nlayers = ri->nlayers;
	for (size_t i = 0; i < ri->nlayers; i++) {
		img->layers[i].path = take_ptr(&ri->layer_paths[i]);
		img->layers[i].fstype = take_ptr(&ri->layer_fstypes[i]);
	}
	img->entrypoint = take_ptr(&ri->entrypoint);
	img->cmd = take_ptr(&ri->cmd);
	img->env = take_ptr(&ri->env);
	img->exposed_ports = take_ptr(&ri->exposed_ports);
	img->working_dir = take_ptr(&ri->working_dir);
	img->user = take_ptr(&ri->user);
	img->id = take_ptr(&ri->id);
	if (img->user && !*img->user) {
		free(img->user);
		img->user = NULL;
	}
	return 0;
}

static int resolve_store(const struct cli_globals *g, const char *ref, struct cli_image *img, struct lc_err *e)
{
	char data[PATH_MAX];
	int r = lc_data_dir(g->root, data, sizeof(data));
	if (r < 0)
		return lc_err_setx(e, -r, "cannot find the data directory (set HOME or use --root)");
	/* Only "no such name" falls through to the built-ins; a store that has
	 * the name but cannot produce it (missing blob, failed conversion) is an
	 * error the user must see. */
	struct img_store s;
	struct img_list l;
	if ((r = img_store_open(data, &s, e)) < 0 || (r = img_store_list(&s, &l, e)) < 0)
		return r == -ENOENT ? -EIO : r;
	r = img_list_find(&l, ref, e);
	img_list_free(&l);
	if (r < 0)
		return r;
	struct img_run_info ri;
	r = img_resolve_for_run(data, ref, &ri, e);
	if (r < 0)
		return r == -ENOENT ? -EIO : r;
	r = from_store(&ri, img);
	img_run_info_free(&ri);
	return r < 0 ? lc_err_set(e, -r, "image %s", ref) : 0;
}

int cli_image_resolve(const struct cli_globals *g, const char *guest_dir, const char *ref,
		      struct cli_image *out, struct lc_err *e)
{
	*out = (struct cli_image){ 0 };
	struct lc_err se = { { 0 } };
	int r = resolve_store(g, ref, out, &se);
	if (r == -ENOENT) {
		cli_image_free(out);
		r = resolve_builtin(guest_dir, ref, out, e);
		if (r == -ENOENT)
			r = lc_err_setx(e, ENOENT, "image '%s' not found: pull it with 'lcvm pull %s' (built-in images are in %s/images)",
					ref, ref, guest_dir);
	} else if (r < 0) {
		*e = se;
	}
	if (r < 0)
		cli_image_free(out);
	return r;
}
