/* lcvm guest info: where the guest kernel and initramfs are and what they
 * weigh. Files come from lc_guest_dir() (build/guest after `make guest`);
 * guest/build.sh produces them. Output, one "key: value" per line:
 *   kernel: PATH              the package bzImage (the shipped artifact)
 *   kernel-version: VERSION
 *   vmlinux: PATH             the uncompressed ELF QEMU boots through PVH
 *   initrd: PATH
 *   kernel-size / vmlinux-size / initrd-size: N bytes (X.X MiB)
 *   total: N bytes (X.X MiB) kernel+initrd, P% of LCOW's 100 MB
 * The total counts what a user downloads (bzImage + initramfs); vmlinux is a
 * cache rebuilt from the bzImage. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "util/cleanup.h"
#include "util/paths.h"

/* LCOW's utility VM kernel + initrd, the figure we compare against. */
#define GUEST_LCOW_BYTES 100000000LL

struct guest_file {
	const char *key;   /* output key */
	const char *name;  /* file name in the guest dir */
	char path[PATH_MAX];
	long long size;
};

static int stat_file(const char *dir, struct guest_file *f)
{
	int n = snprintf(f->path, sizeof(f->path), "%s/%s", dir, f->name);
	if (n < 0 || (size_t)n >= sizeof(f->path))
		return -ENAMETOOLONG;
	struct stat st;
	if (stat(f->path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	f->size = (long long)st.st_size;
	return 0;
}

/* Reads the first line of dir/kernel-version into out, without the newline. */
static int read_version(const char *dir, char *out, size_t outlen)
{
	char p[PATH_MAX];
	int n = snprintf(p, sizeof(p), "%s/kernel-version", dir);
	if (n < 0 || (size_t)n >= sizeof(p))
		return -ENAMETOOLONG;
	cleanup_fclose FILE *f = fopen(p, "r");
	if (!f)
		return -errno;
	if (!fgets(out, (int)outlen, f))
		return -EINVAL;
	out[strcspn(out, "\r\n")] = '\0';
	return out[0] ? 0 : -EINVAL;
}

static void print_size(const char *key, long long bytes)
{
	printf("%s: %lld bytes (%.1f MiB)\n", key, bytes, (double)bytes / (1024.0 * 1024.0));
}

static int guest_info(void)
{
	char dir[PATH_MAX];
	int r = lc_guest_dir(dir, sizeof(dir));
	if (r == -ENOENT)
		return cli_error("guest info: no guest image in %s: run `make guest`", dir);
	if (r < 0)
		return cli_error("guest info: cannot locate the guest directory: %s", strerror(-r));

	struct guest_file files[] = {
		{ .key = "kernel", .name = "vmlinuz" },
		{ .key = "vmlinux", .name = "vmlinux" },
		{ .key = "initrd", .name = "initramfs.cpio" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		r = stat_file(dir, &files[i]);
		if (r < 0)
			return cli_error("guest info: %s/%s: %s: run `make guest`", dir, files[i].name,
					 strerror(-r));
	}
	char version[128];
	r = read_version(dir, version, sizeof(version));
	if (r < 0)
		return cli_error("guest info: %s/kernel-version: %s: run `make guest`", dir, strerror(-r));

	printf("kernel: %s\n", files[0].path);
	printf("kernel-version: %s\n", version);
	printf("vmlinux: %s\n", files[1].path);
	printf("initrd: %s\n", files[2].path);
	print_size("kernel-size", files[0].size);
	print_size("vmlinux-size", files[1].size);
	print_size("initrd-size", files[2].size);
	long long total = files[0].size + files[2].size;
	printf("total: %lld bytes (%.1f MiB) kernel+initrd, %.1f%% of LCOW's 100 MB\n", total,
	       (double)total / (1024.0 * 1024.0), 100.0 * (double)total / (double)GUEST_LCOW_BYTES);
	return 0;
}

int cmd_guest(const struct cli_globals *g, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "info") == 0)
		return guest_info();
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("Usage: lcvm guest info\n\n"
		       "Show the guest kernel and initramfs lcvm boots, and their sizes.\n");
		return 0;
	}
	return cli_error("guest: usage: lcvm guest info");
}
