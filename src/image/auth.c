#include "image/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "util/cleanup.h"

int img_auth_decode(const char *b64, struct img_cred *c)
{
	size_t n = strlen(b64);
	if (n == 0 || n % 4 || n > 4 * IMG_AUTH_FIELD_MAX)
		return -EINVAL;
	unsigned char out[3 * IMG_AUTH_FIELD_MAX + 4];
	int len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
	if (len < 0)
		return -EINVAL;
	while (n && b64[--n] == '=') /* DecodeBlock counts padding as zero bytes */
		len--;
	out[len] = 0;
	if (memchr(out, 0, (size_t)len))
		return -EINVAL;
	char *colon = strchr((char *)out, ':');
	if (!colon || (size_t)(colon - (char *)out) >= sizeof(c->user) || strlen(colon + 1) >= sizeof(c->pass))
		return -EINVAL;
	*colon = 0;
	strcpy(c->user, (char *)out);
	strcpy(c->pass, colon + 1);
	return 0;
}

static int from_file(const char *path, const char *host, struct img_cred *c)
{
	json_t *j = json_load_file(path, 0, NULL);
	if (!j)
		return -ENOENT;
	json_t *auths = json_object_get(j, "auths");
	json_t *h = json_object_get(auths, host);
	if (!h && !strcmp(host, "docker.io")) /* docker's own key for Docker Hub */
		h = json_object_get(auths, "https://index.docker.io/v1/");
	const char *a = json_string_value(json_object_get(h, "auth"));
	int r = a ? img_auth_decode(a, c) : -ENOENT;
	json_decref(j);
	return r;
}

int img_auth_get(const char *data_dir, const char *host, struct img_cred *c)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/auth.json", data_dir);
	if (from_file(p, host, c) == 0)
		return 0;
	const char *dc = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
	if (dc && *dc)
		snprintf(p, sizeof(p), "%s/config.json", dc);
	else if (home && *home)
		snprintf(p, sizeof(p), "%s/.docker/config.json", home);
	else
		return -ENOENT;
	return from_file(p, host, c);
}

int img_auth_put(const char *data_dir, const char *host, const struct img_cred *c, struct lc_err *e)
{
	char p[PATH_MAX], tmp[PATH_MAX + 8];
	snprintf(p, sizeof(p), "%s/auth.json", data_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	json_t *j = json_load_file(p, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	json_t *auths = json_object_get(j, "auths");
	if (!json_is_object(auths)) {
		auths = json_object();
		json_object_set_new(j, "auths", auths);
	}
	char plain[2 * IMG_AUTH_FIELD_MAX + 2];
	unsigned char b64[4 * sizeof(plain) / 3 + 8];
	int n = snprintf(plain, sizeof(plain), "%s:%s", c->user, c->pass);
	EVP_EncodeBlock(b64, (const unsigned char *)plain, n);
	explicit_bzero(plain, sizeof(plain));
	json_object_set_new(auths, host, json_pack("{s:s}", "auth", (char *)b64));
	cleanup_free char *txt = json_dumps(j, JSON_INDENT(1));
	json_decref(j);
	if (!txt)
		return -ENOMEM;
	cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return lc_err_set(e, errno, "writing %s", tmp);
	size_t len = strlen(txt);
	if (fchmod(fd, 0600) < 0 || write(fd, txt, len) != (ssize_t)len || fsync(fd) < 0 || rename(tmp, p) < 0) {
		int r = lc_err_set(e, errno, "writing %s", p);
		unlink(tmp);
		return r;
	}
	return 0;
}
