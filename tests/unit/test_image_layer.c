/* Layer conversion: a tar built here -> squashfs via img_layer_convert_fd,
 * checked by listing the result with unsquashfs; hostile tars refused. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/digest.h"
#include "image/layer.h"
#include "test.h"

static char dir[] = "/tmp/lcvm-test-layer-XXXXXX";

struct ent {
	const char *name;
	int type; /* AE_IF* */
	unsigned mode;
	const char *data; /* file content, symlink target or hard link target */
	const char *xattr;
	int uid;
};

/* Writes a tar (gzip when gz) of ents to path; its uncompressed sha256 to diff. */
static int mk_tar(const char *path, const struct ent *ents, size_t n, bool gz, char diff[IMG_DIGEST_LEN + 1])
{
	char plain[600];
	snprintf(plain, sizeof(plain), "%s.plain", path);
	for (int pass = 0; pass < 2; pass++) {
		struct archive *a = archive_write_new();
		archive_write_set_format_pax(a);
		if (pass == 1 && gz)
			archive_write_add_filter_gzip(a);
		if (archive_write_open_filename(a, pass == 0 ? plain : path) != ARCHIVE_OK)
			return -1;
		for (size_t i = 0; i < n; i++) {
			struct archive_entry *en = archive_entry_new();
			archive_entry_set_pathname(en, ents[i].name);
			archive_entry_set_uid(en, (la_int64_t)ents[i].uid);
			archive_entry_set_gid(en, (la_int64_t)ents[i].uid);
			archive_entry_set_mtime(en, 1000000 + (time_t)i, 0);
			if (ents[i].type == 0) {
				archive_entry_set_hardlink(en, ents[i].data);
			} else {
				archive_entry_set_filetype(en, (unsigned)ents[i].type);
				archive_entry_set_perm(en, ents[i].mode);
			}
			if (ents[i].type == AE_IFLNK)
				archive_entry_set_symlink(en, ents[i].data);
			if (ents[i].type == AE_IFCHR)
				archive_entry_set_rdev(en, makedev(1, 3));
			if (ents[i].xattr)
				archive_entry_xattr_add_entry(en, ents[i].xattr, "v1", 2);
			size_t len = ents[i].type == AE_IFREG && ents[i].data ? strlen(ents[i].data) : 0;
			archive_entry_set_size(en, (la_int64_t)len);
			archive_write_header(a, en);
			if (len)
				archive_write_data(a, ents[i].data, len);
			archive_entry_free(en);
		}
		archive_write_free(a);
	}
	int fd = open(plain, O_RDONLY);
	char buf[65536];
	ssize_t r;
	struct img_sha s;
	img_sha_init(&s);
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		img_sha_update(&s, buf, (size_t)r);
	close(fd);
	img_sha_final(&s, diff);
	img_sha_free(&s);
	if (!gz)
		rename(plain, path);
	else
		unlink(plain);
	return 0;
}

static int convert(const char *tar, const char *diff, const char *out, struct lc_err *e)
{
	int fd = open(tar, O_RDONLY);
	int r = img_layer_convert_fd(fd, diff, out, e);
	close(fd);
	return r;
}

/* unsquashfs -lln listing, one "mode uid/gid name" per line, root dropped. */
static char *listing(const char *sq)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "unsquashfs -lln %s 2>/dev/null | awk '{for (i = 3; i <= NF; i++) if ($i ~ /^squashfs-root\\//) { sub(\"squashfs-root/\", \"\", $i); print $1, $2, $i } }'", sq);
	FILE *p = popen(cmd, "r");
	static char buf[8192];
	size_t n = p ? fread(buf, 1, sizeof(buf) - 1, p) : 0;
	buf[n] = 0;
	if (p)
		pclose(p);
	return buf;
}

static void t_tree(void)
{
	static const struct ent ents[] = {
		{ "./", AE_IFDIR, 0755, NULL, NULL, 0 },
		{ "./etc/", AE_IFDIR, 0750, NULL, "user.tag", 0 },
		{ "./etc/passwd", AE_IFREG, 0644, "root:x:0:0::/:/bin/sh\n", "user.x", 0 },
		{ "./etc/hard", 0, 0, "etc/passwd", NULL, 0 },
		{ "./etc/link", AE_IFLNK, 0777, "/etc/passwd", NULL, 0 },
		{ "./dev/null", AE_IFCHR, 0666, NULL, NULL, 0 },
		{ "./fifo", AE_IFIFO, 0600, NULL, NULL, 1000 },
		{ "./opq/.wh..wh..opq", AE_IFREG, 0644, NULL, NULL, 0 },
		{ "./opq/new", AE_IFREG, 0600, "n", NULL, 7 },
		{ "./gone/.wh.old", AE_IFREG, 0644, NULL, NULL, 0 },
		{ "./.wh.top", AE_IFREG, 0644, NULL, NULL, 0 },
		{ "./opq/", AE_IFDIR, 0700, NULL, NULL, 5 },
	};
	char tar[300], sq[300], diff[IMG_DIGEST_LEN + 1];
	snprintf(tar, sizeof(tar), "%s/l.tar.gz", dir);
	snprintf(sq, sizeof(sq), "%s/l.sqfs", dir);
	if (!T_CHECK_EQ_INT(mk_tar(tar, ents, sizeof(ents) / sizeof(ents[0]), true, diff), 0))
		return;
	struct lc_err e = { { 0 } };
	int r = convert(tar, diff, sq, &e);
	if (!T_CHECK_EQ_INT(r, 0)) {
		fprintf(stderr, "%s\n", e.msg);
		return;
	}
	const char *want = "drwxr-xr-x 0/0 dev\n"
			   "crw-rw-rw- 0/0 dev/null\n"
			   "drwxr-x--- 0/0 etc\n"
			   "-rw-r--r-- 0/0 etc/hard\n"
			   "lrwxrwxrwx 0/0 etc/link\n"
			   "-rw-r--r-- 0/0 etc/passwd\n"
			   "prw------- 1000/1000 fifo\n"
			   "drwxr-xr-x 0/0 gone\n"
			   "c--------- 0/0 gone/old\n"
			   "drwx------ 5/5 opq\n"
			   "-rw------- 7/7 opq/new\n"
			   "c--------- 0/0 top\n";
	T_CHECK_EQ_STR(listing(sq), want);
	/* xattrs, opaque marker and hard link, checked on an extracted copy (trusted.* needs root) */
	char cmd[800], p[400];
	snprintf(cmd, sizeof(cmd), "unsquashfs -q -n -d %s/x %s >/dev/null 2>&1", dir, sq);
	T_CHECK_EQ_INT(system(cmd), 0);
	char v[8] = "";
	snprintf(p, sizeof(p), "%s/x/etc/passwd", dir);
	T_CHECK_EQ_INT(getxattr(p, "user.x", v, sizeof(v)), 2);
	struct stat a, b;
	T_CHECK(stat(p, &a) == 0 && a.st_nlink == 2);
	snprintf(p, sizeof(p), "%s/x/etc/hard", dir);
	T_CHECK(stat(p, &b) == 0 && a.st_ino == b.st_ino);
	snprintf(p, sizeof(p), "%s/x/opq", dir);
	if (geteuid() == 0) {
		memset(v, 0, sizeof(v));
		T_CHECK_EQ_INT(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
		T_CHECK_EQ_STR(v, "y");
	}
}

static void expect_refused(const struct ent *ents, size_t n, const char *why)
{
	char tar[300], sq[300], diff[IMG_DIGEST_LEN + 1];
	snprintf(tar, sizeof(tar), "%s/bad.tar", dir);
	snprintf(sq, sizeof(sq), "%s/bad.sqfs", dir);
	mk_tar(tar, ents, n, false, diff);
	struct lc_err e = { { 0 } };
	int r = convert(tar, diff, sq, &e);
	T_CHECK(r < 0);
	if (!T_CHECK(strstr(e.msg, why) != NULL))
		fprintf(stderr, "message: %s\n", e.msg);
	T_CHECK(access(sq, F_OK) < 0);
}

static void t_hostile(void)
{
	const struct ent dotdot[] = { { "a/../../etc/x", AE_IFREG, 0644, "x", NULL, 0 } };
	expect_refused(dotdot, 1, "\"..\"");
	const struct ent abs[] = { { "/etc/shadow", AE_IFREG, 0644, "x", NULL, 0 } };
	expect_refused(abs, 1, "absolute");
	const struct ent below[] = { { "l", AE_IFLNK, 0777, "/etc", NULL, 0 }, { "l/x", AE_IFREG, 0644, "x", NULL, 0 } };
	expect_refused(below, 2, "below a symlink");
	const struct ent hl[] = { { "h", 0, 0, "../outside", NULL, 0 } };
	expect_refused(hl, 1, "hard link");
	const struct ent hl2[] = { { "h", 0, 0, "not/seen", NULL, 0 } };
	expect_refused(hl2, 1, "hard link");
}

static void t_diff_id_mismatch(void)
{
	const struct ent ok[] = { { "f", AE_IFREG, 0644, "data", NULL, 0 } };
	char tar[300], sq[300], diff[IMG_DIGEST_LEN + 1];
	snprintf(tar, sizeof(tar), "%s/m.tar", dir);
	snprintf(sq, sizeof(sq), "%s/m.sqfs", dir);
	mk_tar(tar, ok, 1, false, diff);
	diff[10] = diff[10] == 'a' ? 'b' : 'a';
	struct lc_err e = { { 0 } };
	T_CHECK(convert(tar, diff, sq, &e) < 0);
	T_CHECK(strstr(e.msg, "diff_id") != NULL);
	T_CHECK(access(sq, F_OK) < 0);
}

/* Files larger than the I/O buffers (a regression: file data once shared the input buffer). */
static void t_big_file(void)
{
	static char big[1 << 20];
	for (size_t i = 0; i + 1 < sizeof(big); i++)
		big[i] = (char)('a' + (i * 131) % 26);
	const struct ent ents[] = { { "big", AE_IFREG, 0644, big, NULL, 0 }, { "after", AE_IFREG, 0644, "z", NULL, 0 } };
	char tar[300], sq[300], diff[IMG_DIGEST_LEN + 1], cmd[700], want[IMG_DIGEST_LEN + 1], got[100] = "";
	snprintf(tar, sizeof(tar), "%s/big.tar.gz", dir);
	snprintf(sq, sizeof(sq), "%s/big.sqfs", dir);
	mk_tar(tar, ents, 2, true, diff);
	struct lc_err e = { { 0 } };
	if (!T_CHECK_EQ_INT(convert(tar, diff, sq, &e), 0)) {
		fprintf(stderr, "%s\n", e.msg);
		return;
	}
	snprintf(cmd, sizeof(cmd), "unsquashfs -cat %s big | sha256sum", sq);
	FILE *p = popen(cmd, "r");
	if (fgets(got, sizeof(got), p) == NULL)
		got[0] = 0;
	pclose(p);
	img_sha_buf(big, strlen(big), want);
	T_CHECK(!strncmp(got, want + 7, IMG_DIGEST_HEX));
	T_CHECK(strstr(listing(sq), "-rw-r--r-- 0/0 after") != NULL);
}

static void t_garbage(void)
{
	char p[300], sq[300];
	snprintf(p, sizeof(p), "%s/garbage", dir);
	snprintf(sq, sizeof(sq), "%s/g.sqfs", dir);
	FILE *f = fopen(p, "w");
	for (int i = 0; i < 3000; i++)
		fputc((i * 7919) & 0xff, f);
	fclose(f);
	struct lc_err e = { { 0 } };
	T_CHECK(convert(p, NULL, sq, &e) < 0);
	T_CHECK(access(sq, F_OK) < 0);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	T_RUN(t_tree);
	T_RUN(t_hostile);
	T_RUN(t_diff_id_mismatch);
	T_RUN(t_big_file);
	T_RUN(t_garbage);
	char cmd[100];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	system(cmd);
	return t_done();
}
