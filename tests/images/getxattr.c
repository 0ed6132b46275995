/* getxattr PATH NAME: prints the value of one extended attribute, or
 * "no NAME" when absent. Built static by tests/integration/test_image_run.sh
 * into a test image layer: busybox has no getfattr. */
#include <errno.h>
#include <stdio.h>
#include <sys/xattr.h>

int main(int argc, char **argv)
{
	char v[256];
	if (argc != 3)
		return 2;
	ssize_t n = lgetxattr(argv[1], argv[2], v, sizeof(v) - 1);
	if (n < 0) {
		printf(errno == ENODATA ? "no %s\n" : "error %s\n", argv[2]);
		return 1;
	}
	printf("%s=%.*s\n", argv[2], (int)n, v);
	return 0;
}
