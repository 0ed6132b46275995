/* Image references: normalisation and hostile input. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image/ref.h"
#include "test.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void expect_name(const char *in, const char *want)
{
	struct img_ref r;
	struct lc_err e = { { 0 } };
	char name[IMG_REF_MAX + 16] = "";
	int ret = img_ref_parse(in, &r, &e);
	if (T_CHECK_EQ_INT(ret, 0))
		img_ref_name(&r, name, sizeof(name));
	T_CHECK_EQ_STR(name, want);
}

static void expect_bad(const char *in)
{
	struct img_ref r;
	struct lc_err e = { { 0 } };
	T_CHECK_EQ_INT(img_ref_parse(in, &r, &e), -EINVAL);
	T_CHECK(strstr(e.msg, "invalid reference") != NULL);
}

static void t_normalise(void)
{
	expect_name("busybox", "docker.io/library/busybox:latest");
	expect_name("library/debian:12", "docker.io/library/debian:12");
	expect_name("foo/bar", "docker.io/foo/bar:latest");
	expect_name("index.docker.io/foo/bar:1", "docker.io/foo/bar:1");
	expect_name("localhost:5000/a/b:v1.2-x", "localhost:5000/a/b:v1.2-x");
	expect_name("127.0.0.1:5000/repo", "127.0.0.1:5000/repo:latest");
	expect_name("localhost/x", "localhost/x:latest");
	expect_name("a__b/c-d.e:T_", "docker.io/a__b/c-d.e:T_");
	expect_name("busybox@sha256:" D64, "docker.io/library/busybox@sha256:" D64);
	expect_name("busybox:1@sha256:" D64, "docker.io/library/busybox:1");
}

static void t_fields(void)
{
	struct img_ref r;
	T_CHECK_EQ_INT(img_ref_parse("reg.example:443/ns/app:3@sha256:" D64, &r, NULL), 0);
	T_CHECK_EQ_STR(r.domain, "reg.example:443");
	T_CHECK_EQ_STR(r.path, "ns/app");
	T_CHECK_EQ_STR(r.tag, "3");
	T_CHECK_EQ_STR(r.digest, "sha256:" D64);
	T_CHECK_EQ_STR(img_ref_api_host(&r), "reg.example:443");
	char fam[300];
	T_CHECK_EQ_INT(img_ref_parse("busybox", &r, NULL), 0);
	T_CHECK_EQ_STR(img_ref_api_host(&r), "registry-1.docker.io");
	img_ref_familiar_repo(&r, fam, sizeof(fam));
	T_CHECK_EQ_STR(fam, "busybox");
}

static void t_hostile(void)
{
	expect_bad("");
	expect_bad("UPPER");
	expect_bad("a//b");
	expect_bad("/abs");
	expect_bad("a/");
	expect_bad("-a");
	expect_bad("a..b");
	expect_bad("a:");
	expect_bad("a:-tag");
	expect_bad("a@sha256:short");
	expect_bad("a@md5:" D64);
	expect_bad("a@sha256:" D64 "00");
	expect_bad("a@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef");
	expect_bad("host:99999/a");
	expect_bad("host:/a");
	expect_bad("-host.com/a");
	expect_bad("a b");
	expect_bad("a\nb");
	expect_bad("../../etc/passwd");
	/* a tag of 129 characters, a repository path over 255, an input over the cap */
	char big[2048];
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = 0;
	expect_bad(big);
	char tag[200] = "a:";
	memset(tag + 2, 't', 129);
	tag[131] = 0;
	expect_bad(tag);
	char path[300];
	memset(path, 'p', 256);
	path[256] = 0;
	expect_bad(path);
	path[250] = 0; /* 250 + "library/" > 255 */
	expect_bad(path);
	/* a host of 250 characters plus a port (found by fuzz_image_ref) */
	char host[400];
	memset(host, 'h', 250);
	strcpy(host + 250, ":5000/a:1");
	expect_bad(host);
}

int main(void)
{
	T_RUN(t_normalise);
	T_RUN(t_fields);
	T_RUN(t_hostile);
	return t_done();
}
