/* Finds a virtio-blk disk by its serial (QEMU's -device ...,serial=S), which
 * stays stable whatever order the devices are probed in. */
#ifndef LCVM_AGENT_BLKDEV_H
#define LCVM_AGENT_BLKDEV_H

#include <stddef.h>

#define AGENT_SYS_BLOCK "/sys/block"
#define AGENT_BLKDEV_NAME_MAX 32u

/* Scans <sysblock>/vd*\/serial for one whose content (without trailing
 * newline/spaces) equals serial; writes the device name ("vdb") into name.
 * -ENOENT when none matches, -ENAMETOOLONG for an oversized name. The
 * sysblock argument lets tests use a fake directory. */
int agent_blkdev_by_serial(const char *sysblock, const char *serial, char *name, size_t name_len);

#endif
