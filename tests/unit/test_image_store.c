/* Store, transactions, docker-save load, resolve for run; hostile archives
 * leave the store unchanged. Archives are built here with libarchive. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/archive.h"
#include "image/digest.h"
#include "image/image.h"
#include "image/store.h"
#include "test.h"

static char dir[] = "/tmp/lcvm-test-store-XXXXXX";

struct member {
	const char *name;
	const void *data;
	size_t len;
	const char *symlink;
};

static int write_archive(const char *path, const struct member *m, size_t n)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *en = archive_entry_new();
		archive_entry_set_pathname(en, m[i].name);
		archive_entry_set_filetype(en, m[i].symlink ? AE_IFLNK : AE_IFREG);
		archive_entry_set_perm(en, 0644);
		if (m[i].symlink)
			archive_entry_set_symlink(en, m[i].symlink);
		else
			archive_entry_set_size(en, (la_int64_t)m[i].len);
		archive_write_header(a, en);
		if (!m[i].symlink && m[i].len)
			archive_write_data(a, m[i].data, m[i].len);
		archive_entry_free(en);
	}
	archive_write_free(a);
	return 0;
}

/* A one-file layer tar in memory. */
static size_t layer_tar(const char *fname, const char *content, char *buf, size_t cap)
{
	struct archive *a = archive_write_new();
	size_t used = 0;
	archive_write_set_format_pax_restricted(a);
	archive_write_open_memory(a, buf, cap, &used);
	struct archive_entry *en = archive_entry_new();
	archive_entry_set_pathname(en, fname);
	archive_entry_set_filetype(en, AE_IFREG);
	archive_entry_set_perm(en, 0644);
	archive_entry_set_size(en, (la_int64_t)strlen(content));
	archive_write_header(a, en);
	archive_write_data(a, content, strlen(content));
	archive_entry_free(en);
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

static char l1[20480], l2[20480], l3[20480];
static size_t l1n, l2n, l3n;
static char cfg[2048];

/* Two layers: l1 and top (l2 or l3); corrupt flips a byte of top's file after its diff_id was taken. */
static void build_docker_save(const char *path, const char *tag, const char *top, size_t topn, bool corrupt)
{
	char d1[IMG_DIGEST_LEN + 1], d2[IMG_DIGEST_LEN + 1], cfgname[100], man[600];
	img_sha_buf(l1, l1n, d1);
	img_sha_buf(top, topn, d2);
	snprintf(cfg, sizeof(cfg),
		 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"echo\",\"hi\"],\"Env\":[\"X=1\"],\"WorkingDir\":\"/srv\",\"User\":\"1000\"},"
		 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}", d1, d2);
	char cd[IMG_DIGEST_LEN + 1];
	img_sha_buf(cfg, strlen(cfg), cd);
	snprintf(cfgname, sizeof(cfgname), "%s.json", img_digest_hex(cd));
	snprintf(man, sizeof(man), "[{\"Config\":\"%s\",\"RepoTags\":[\"%s\"],\"Layers\":[\"aaa/layer.tar\",\"bbb/layer.tar\"]}]",
		 cfgname, tag);
	static char l2bad[20480];
	memcpy(l2bad, top, topn);
	l2bad[512] ^= 1; /* the file content: still a tar, wrong diff_id */
	struct member m[] = {
		{ "aaa/layer.tar", l1, l1n, NULL },
		{ "bbb/layer.tar", corrupt ? l2bad : top, topn, NULL },
		{ "ccc/layer.tar", NULL, 0, "../aaa/layer.tar" },
		{ cfgname, cfg, strlen(cfg), NULL },
		{ "manifest.json", man, strlen(man), NULL },
	};
	write_archive(path, m, sizeof(m) / sizeof(m[0]));
}

static int load_file(const struct img_store *s, const char *path, struct lc_err *e)
{
	int fd = open(path, O_RDONLY);
	int r = img_load(s, fd, NULL, NULL, e);
	close(fd);
	return r;
}

static char *snapshot(void)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "cd %s/data && (cat images/index.json 2>/dev/null; ls images/blobs/sha256 images/tmp layers) | sha256sum", dir);
	FILE *p = popen(cmd, "r");
	static char buf[100];
	size_t n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = 0;
	pclose(p);
	return strdup(buf);
}

static void t_docker_save_and_run_info(void)
{
	char data[300], ar[300];
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(ar, sizeof(ar), "%s/ok.tar", dir);
	struct img_store s;
	struct lc_err e = { { 0 } };
	if (!T_CHECK_EQ_INT(img_store_open(data, &s, &e), 0))
		return;
	build_docker_save(ar, "example.com/app:v1", l2, l2n, false);
	if (!T_CHECK_EQ_INT(load_file(&s, ar, &e), 0)) {
		fprintf(stderr, "%s\n", e.msg);
		return;
	}
	struct img_run_info ri;
	if (!T_CHECK_EQ_INT(img_resolve_for_run(data, "example.com/app:v1", &ri, &e), 0)) {
		fprintf(stderr, "%s\n", e.msg);
		return;
	}
	char d2[IMG_DIGEST_LEN + 1];
	img_sha_buf(l2, l2n, d2);
	T_CHECK_EQ_INT(ri.nlayers, 2);
	T_CHECK(strstr(ri.layer_paths[0], img_digest_hex(d2)) != NULL); /* top-most first */
	T_CHECK(access(ri.layer_paths[1], R_OK) == 0);
	T_CHECK_EQ_STR(ri.layer_fstypes[0], "squashfs");
	T_CHECK(ri.entrypoint == NULL && ri.cmd && !strcmp(ri.cmd[1], "hi") && ri.cmd[2] == NULL);
	T_CHECK_EQ_STR(ri.working_dir, "/srv");
	T_CHECK_EQ_STR(ri.user, "1000");
	T_CHECK_EQ_STR(ri.env[0], "X=1");
	img_run_info_free(&ri);
	/* the same image by id prefix */
	struct img_list l;
	T_CHECK_EQ_INT(img_store_list(&s, &l, &e), 0);
	if (T_CHECK_EQ_INT(l.n, 1)) {
		char pre[16];
		snprintf(pre, sizeof(pre), "%.12s", img_digest_hex(l.v[0].id));
		T_CHECK_EQ_INT(img_resolve_for_run(data, pre, &ri, &e), 0);
		img_run_info_free(&ri);
	}
	img_list_free(&l);
	T_CHECK_EQ_INT(img_resolve_for_run(data, "example.com/other:v1", &ri, &e), -ENOENT);
	T_CHECK_EQ_STR(e.msg, "image example.com/other:v1 not found; pull it with 'lcvm pull example.com/other:v1'");
}

static void t_hostile_unchanged(void)
{
	char data[300], ar[300];
	snprintf(data, sizeof(data), "%s/data", dir);
	struct img_store s;
	struct lc_err e = { { 0 } };
	img_store_open(data, &s, &e);
	char *before = snapshot();
	/* a blob whose name is not its digest */
	snprintf(ar, sizeof(ar), "%s/bad1.tar", dir);
	struct member m1[] = {
		{ "oci-layout", "{}", 2, NULL },
		{ "blobs/sha256/1111111111111111111111111111111111111111111111111111111111111111", "x", 1, NULL },
		{ "index.json", "{\"schemaVersion\":2,\"manifests\":[]}", 34, NULL },
	};
	write_archive(ar, m1, 3);
	T_CHECK(load_file(&s, ar, &e) < 0);
	T_CHECK(strstr(e.msg, "digest mismatch") != NULL);
	/* a manifest.json naming a missing layer */
	snprintf(ar, sizeof(ar), "%s/bad2.tar", dir);
	struct member m2[] = { { "manifest.json", "[{\"Config\":\"c.json\",\"Layers\":[\"x/layer.tar\"]}]", 47, NULL } };
	write_archive(ar, m2, 1);
	T_CHECK(load_file(&s, ar, &e) < 0);
	/* not an archive at all */
	snprintf(ar, sizeof(ar), "%s/bad3.tar", dir);
	FILE *f = fopen(ar, "w");
	fputs("this is not a tar archive, not even close, and it is long enough to look at", f);
	fclose(f);
	T_CHECK(load_file(&s, ar, &e) < 0);
	char *after = snapshot();
	T_CHECK_EQ_STR(after, before);
	free(after);
	/* a layer whose content does not match its diff_id: loads (blobs are
	 * consistent) but refuses to become a disk, and caches nothing */
	snprintf(ar, sizeof(ar), "%s/bad4.tar", dir);
	build_docker_save(ar, "example.com/bad:1", l3, l3n, true);
	T_CHECK_EQ_INT(load_file(&s, ar, &e), 0);
	struct img_run_info ri;
	T_CHECK(img_resolve_for_run(data, "example.com/bad:1", &ri, &e) < 0);
	T_CHECK(strstr(e.msg, "diff_id") != NULL);
	free(before);
}

static void t_txn_mismatch(void)
{
	char data[300];
	snprintf(data, sizeof(data), "%s/data", dir);
	struct img_store s;
	struct img_txn t;
	struct lc_err e = { { 0 } };
	img_store_open(data, &s, &e);
	char *before = snapshot();
	T_CHECK_EQ_INT(img_txn_begin(&s, &t, &e), 0);
	struct img_blob_writer w;
	T_CHECK_EQ_INT(img_blob_open(&t, &w, 3, &e), 0);
	T_CHECK_EQ_INT(img_blob_write(&w, "abc", 3, &e), 0);
	T_CHECK_EQ_INT(img_blob_write(&w, "d", 1, &e), -EFBIG); /* over the declared size */
	T_CHECK_EQ_INT(img_blob_close(&t, &w, "sha256:0000000000000000000000000000000000000000000000000000000000000000", NULL, &e),
		       -EILSEQ);
	T_CHECK_EQ_INT(img_txn_commit(&t, &e), 0); /* nothing staged, nothing named */
	char *after = snapshot();
	T_CHECK_EQ_STR(after, before);
	free(before);
	free(after);
}

static void t_rmi_gc(void)
{
	char data[300];
	snprintf(data, sizeof(data), "%s/data", dir);
	struct img_store s;
	struct lc_err e = { { 0 } };
	img_store_open(data, &s, &e);
	T_CHECK_EQ_INT(img_store_tag(&s, "example.com/app:v1", "example.com/app:v2", &e), 0);
	T_CHECK_EQ_INT(img_store_remove(&s, "example.com/app:v1", false, &e), 0);
	struct img_run_info ri;
	T_CHECK_EQ_INT(img_resolve_for_run(data, "example.com/app:v2", &ri, &e), 0);
	img_run_info_free(&ri);
	T_CHECK_EQ_INT(img_store_remove(&s, "example.com/app:v2", false, &e), 0);
	T_CHECK_EQ_INT(img_store_remove(&s, "example.com/bad:1", false, &e), 0);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "test -z \"$(find %s/images/blobs/sha256 %s/layers -mindepth 1)\"", data, data);
	T_CHECK_EQ_INT(system(cmd), 0);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	l1n = layer_tar("etc/one", "1\n", l1, sizeof(l1));
	l2n = layer_tar("etc/two", "2\n", l2, sizeof(l2));
	l3n = layer_tar("etc/three", "3\n", l3, sizeof(l3));
	T_RUN(t_docker_save_and_run_info);
	T_RUN(t_hostile_unchanged);
	T_RUN(t_txn_mismatch);
	T_RUN(t_rmi_gc);
	char cmd[100];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return t_done();
}
