/* Disk lookup by virtio-blk serial against a fake /sys/block. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/blkdev.h"
#include "test.h"

static char root[64];

static void add_disk(const char *name, const char *serial)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", root, name);
	mkdir(p, 0755);
	if (!serial)
		return;
	snprintf(p, sizeof(p), "%s/%s/serial", root, name);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(serial, f);
		fclose(f);
	}
}

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/lcvm-blk.XXXXXX");
	if (!mkdtemp(root))
		root[0] = '\0';
	add_disk("vda", "rootfs\n");
	add_disk("vdb", "layer1");
	add_disk("vdc", NULL);            /* no serial attribute */
	add_disk("sda", "layer2");        /* not virtio-blk: ignored */
	add_disk("vdd", "layer10\n");
}

static void t_found(void)
{
	char name[AGENT_BLKDEV_NAME_MAX];
	T_CHECK_EQ_INT(agent_blkdev_by_serial(root, "rootfs", name, sizeof(name)), 0);
	T_CHECK_EQ_STR(name, "vda");
	T_CHECK_EQ_INT(agent_blkdev_by_serial(root, "layer1", name, sizeof(name)), 0);
	T_CHECK_EQ_STR(name, "vdb");
	T_CHECK_EQ_INT(agent_blkdev_by_serial(root, "layer10", name, sizeof(name)), 0);
	T_CHECK_EQ_STR(name, "vdd");
}

static void t_not_found(void)
{
	char name[AGENT_BLKDEV_NAME_MAX];
	T_CHECK_EQ_INT(agent_blkdev_by_serial(root, "layer2", name, sizeof(name)), -ENOENT);
	T_CHECK_EQ_INT(agent_blkdev_by_serial(root, "layer", name, sizeof(name)), -ENOENT); /* no prefix match */
	T_CHECK_EQ_INT(agent_blkdev_by_serial(root, "", name, sizeof(name)), -ENOENT);
	T_CHECK_EQ_INT(agent_blkdev_by_serial("/nonexistent", "rootfs", name, sizeof(name)), -ENOENT);
	char tiny[3];
	T_CHECK_EQ_INT(agent_blkdev_by_serial(root, "rootfs", tiny, sizeof(tiny)), -ENAMETOOLONG);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (root[0] && system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", root);
}

int main(void)
{
	setup();
	T_RUN(t_found);
	T_RUN(t_not_found);
	teardown();
	return t_done();
}
