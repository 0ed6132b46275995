#include "cli/image_resolve.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"

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
	json_decref(root);
	img->layers = calloc(1, sizeof(*img->layers));
	if (!img->layers)
		return lc_err_set(e, ENOMEM, "image %s", ref);
	img->nlayers = 1;
	img->layers[0].path = strdup(disk);
	img->layers[0].fstype = strdup("squashfs");
	if (!img->layers[0].path || !img->layers[0].fstype)
		return lc_err_set(e, ENOMEM, "image %s", ref);
	return 0;
}

int cli_image_resolve(const struct cli_globals *g, const char *guest_dir, const char *ref,
		      struct cli_image *out, struct lc_err *e)
{
	*out = (struct cli_image){ 0 };
	int r = resolve_builtin(guest_dir, ref, out, e);
	if (r == -ENOENT)
		return lc_err_setx(e, ENOENT, "image '%s' not found (built-in images are in %s/images)", ref, guest_dir);
	if (r < 0)
		cli_image_free(out);
	return r;
}
