/* Manifest, index, config and WWW-Authenticate parsing: good documents and hostile ones. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image/oci.h"
#include "image/registry.h"
#include "test.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static int parse_m(const char *s, struct img_manifest *m, struct lc_err *e)
{
	return img_manifest_parse(s, strlen(s), m, e);
}

static void t_manifest(void)
{
	const char *doc = "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_DOCKER_MANIFEST "\","
			  "\"config\":{\"mediaType\":\"" IMG_MT_DOCKER_CONFIG "\",\"digest\":\"" D1 "\",\"size\":7},"
			  "\"layers\":[{\"mediaType\":\"" IMG_MT_DOCKER_LAYER_GZIP "\",\"digest\":\"" D2 "\",\"size\":9},"
			  "{\"mediaType\":\"" IMG_MT_OCI_LAYER_ZSTD "\",\"digest\":\"" D1 "\",\"size\":1}]}";
	struct img_manifest m;
	struct lc_err e = { { 0 } };
	if (!T_CHECK_EQ_INT(parse_m(doc, &m, &e), 0))
		return;
	T_CHECK_EQ_STR(m.config.digest, D1);
	T_CHECK_EQ_INT(m.nlayers, 2);
	T_CHECK_EQ_INT(m.layers[0].size, 9);
	enum img_comp c;
	T_CHECK(img_layer_comp(m.layers[1].media_type, &c) == 0 && c == IMG_COMP_ZSTD);
	enum img_doc_kind k;
	T_CHECK(img_doc_kind(doc, strlen(doc), NULL, &k, &e) == 0 && k == IMG_DOC_MANIFEST);
	img_manifest_free(&m);
}

static void expect_bad_manifest(const char *doc, const char *why)
{
	struct img_manifest m;
	struct lc_err e = { { 0 } };
	T_CHECK(parse_m(doc, &m, &e) < 0);
	if (!T_CHECK(strstr(e.msg, why) != NULL))
		fprintf(stderr, "got: %s\n", e.msg);
	T_CHECK(m.layers == NULL && m.nlayers == 0);
}

static void t_manifest_hostile(void)
{
	expect_bad_manifest("", "not a JSON object");
	expect_bad_manifest("[1]", "not a JSON object");
	expect_bad_manifest("{\"schemaVersion\":1}", "schemaVersion");
	expect_bad_manifest("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" IMG_MT_OCI_CONFIG "\",\"digest\":\"md5:00\",\"size\":1},\"layers\":[]}",
			    "digest");
	expect_bad_manifest("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" IMG_MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}",
			    "size");
	expect_bad_manifest("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" IMG_MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":99999999999999999},\"layers\":[]}",
			    "size");
	expect_bad_manifest("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" IMG_MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":1},"
			    "\"layers\":[{\"mediaType\":\"application/x-evil\",\"digest\":\"" D2 "\",\"size\":1}]}",
			    "unsupported layer media type");
	expect_bad_manifest("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"text/plain\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}",
			    "config media type");
	expect_bad_manifest("{\"schemaVersion\":2,\"schemaVersion\":2}", "not a JSON object"); /* duplicate keys */
	/* more layers than the cap */
	size_t cap = 300 * 200 + 1000;
	char *big = malloc(cap);
	strcpy(big, "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" IMG_MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[");
	for (int i = 0; i < IMG_LAYERS_MAX + 1; i++)
		strcat(big, i ? ",{\"mediaType\":\"" IMG_MT_OCI_LAYER "\",\"digest\":\"" D2 "\",\"size\":1}"
			      : "{\"mediaType\":\"" IMG_MT_OCI_LAYER "\",\"digest\":\"" D2 "\",\"size\":1}");
	strcat(big, "]}");
	expect_bad_manifest(big, "layers missing or more than");
	free(big);
	/* over the byte cap */
	char *huge = calloc(1, IMG_MANIFEST_MAX + 2);
	memset(huge, ' ', IMG_MANIFEST_MAX + 1);
	expect_bad_manifest(huge, "too large");
	free(huge);
}

static void t_index(void)
{
	const char *doc = "{\"schemaVersion\":2,\"manifests\":["
			  "{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":3,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
			  "{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":4,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"},"
			  "\"annotations\":{\"org.opencontainers.image.ref.name\":\"x:1\"}}]}";
	struct img_index ix;
	struct lc_err e = { { 0 } };
	if (!T_CHECK_EQ_INT(img_index_parse(doc, strlen(doc), &ix, &e), 0))
		return;
	const struct img_desc *d = NULL;
	T_CHECK_EQ_INT(img_index_pick(&ix, "linux", "amd64", &d, &e), 0);
	T_CHECK(d && !strcmp(d->digest, D2) && d->ref_name && !strcmp(d->ref_name, "x:1"));
	T_CHECK_EQ_INT(img_index_pick(&ix, "linux", "s390x", &d, &e), -ENOENT);
	T_CHECK(strstr(e.msg, "linux/s390x") != NULL);
	enum img_doc_kind k;
	T_CHECK(img_doc_kind(doc, strlen(doc), NULL, &k, &e) == 0 && k == IMG_DOC_INDEX);
	img_index_free(&ix);
	const char *bad = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1,"
			  "\"platform\":{\"os\":\"linuxlinuxlinuxlinuxlinuxlinuxlinuxlinux\"}}]}";
	T_CHECK(img_index_parse(bad, strlen(bad), &ix, &e) < 0);
	T_CHECK(img_doc_kind("{\"mediaType\":\"text/html\"}", 25, NULL, &k, &e) == -ENOTSUP);
}

static void t_config(void)
{
	const char *doc = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\","
			  "\"config\":{\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":null,\"Env\":[\"A=1\",\"B=2\"],"
			  "\"WorkingDir\":\"/w\",\"User\":\"app:app\",\"ExposedPorts\":{\"80/tcp\":{}}},"
			  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]}}";
	struct img_config c;
	struct lc_err e = { { 0 } };
	if (!T_CHECK_EQ_INT(img_config_parse(doc, strlen(doc), &c, &e), 0))
		return;
	T_CHECK_EQ_STR(c.entrypoint[1], "-c");
	T_CHECK(c.entrypoint[2] == NULL && c.cmd == NULL);
	T_CHECK_EQ_STR(c.env[1], "B=2");
	T_CHECK_EQ_STR(c.working_dir, "/w");
	T_CHECK_EQ_STR(c.user, "app:app");
	T_CHECK_EQ_STR(c.exposed_ports[0], "80/tcp");
	T_CHECK_EQ_INT(c.ndiff_ids, 2);
	T_CHECK_EQ_STR(c.diff_ids[1], D2);
	img_config_free(&c);
	const char *bad[] = {
		"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"nope\"]}}",
		"{\"rootfs\":{\"type\":\"other\",\"diff_ids\":[]}}",
		"{\"config\":{\"Env\":[1,2]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		"{\"config\":{\"Cmd\":\"sh\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		T_CHECK(img_config_parse(bad[i], strlen(bad[i]), &c, &e) < 0);
		T_CHECK(c.env == NULL && c.diff_ids == NULL);
	}
}

static void t_challenge(void)
{
	struct img_challenge c;
	const char *h = "Bearer realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:library/busybox:pull\"";
	T_CHECK_EQ_INT(img_parse_challenge(h, strlen(h), &c), 0);
	T_CHECK_EQ_STR(c.scheme, "bearer");
	T_CHECK_EQ_STR(c.realm, "https://auth.example/token");
	T_CHECK_EQ_STR(c.scope, "repository:library/busybox:pull");
	h = "Basic realm=\"x\"";
	T_CHECK(img_parse_challenge(h, strlen(h), &c) == 0 && !strcmp(c.scheme, "basic"));
	const char *bad[] = { "", "Negotiate", "Bearer realm=\"https://x", "Bearer realm=\"file:///etc/passwd\"",
			      "Bearer =x", "Bearer realm" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		T_CHECK(img_parse_challenge(bad[i], strlen(bad[i]), &c) < 0);
	char big[2100] = "Bearer realm=\"https://";
	memset(big + strlen(big), 'a', 2000);
	big[2090] = '"';
	big[2091] = 0;
	T_CHECK(img_parse_challenge(big, strlen(big), &c) < 0);
}

int main(void)
{
	T_RUN(t_manifest);
	T_RUN(t_manifest_hostile);
	T_RUN(t_index);
	T_RUN(t_config);
	T_RUN(t_challenge);
	return t_done();
}
