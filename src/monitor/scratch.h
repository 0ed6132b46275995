/* The per-container writable scratch disk: a sparse file formatted ext4 on
 * the host, attached read-write as virtio-blk serial MON_SCRATCH_SERIAL, on
 * which the agent puts the container's overlayfs upper and work dirs, so
 * container writes land on host disk instead of guest RAM.
 *
 * The file lives in the data dir (<data>/containers/<id>/scratch.img, the
 * path is chosen by the CLI and carried in spec.json), not in the state dir:
 * runtime dirs (/run, $XDG_RUNTIME_DIR) are RAM-backed tmpfs on most hosts,
 * and a full host file system makes QEMU pause the guest. The state dir
 * holds a symlink MON_SCRATCH_LINK to it, so removing a container's state
 * (mon_state_remove) removes its scratch disk too.
 *
 * Format, measured (docs/images.md): ext4 without journal (the upper is
 * thrown away with the container; overlayfs mounts it volatile), without
 * resize inode, inode tables marked zeroed by mke2fs's discard of the sparse
 * file, so the guest kernel starts no lazy-init writer. mke2fs: $LCVM_MKE2FS,
 * else mke2fs from PATH, /sbin or /usr/sbin (e2fsprogs is Priority: required). */
#ifndef LCVM_MONITOR_SCRATCH_H
#define LCVM_MONITOR_SCRATCH_H

#include <stdint.h>

#include "util/err.h"

#define MON_SCRATCH_SIZE (16ull << 30) /* apparent size; sparse, so only written blocks use disk */
#define MON_SCRATCH_FILE "scratch.img"
#define MON_SCRATCH_LINK "scratch.img" /* symlink in the state dir */
#define MON_SCRATCH_SERIAL "scratch"
#define MON_SCRATCH_FSTYPE "ext4"

/* Creates path (which must not exist; its parent is created mode 0700),
 * sizes it, formats it with mke2fs (output to log_fd) and links it from
 * state_dir. On failure nothing is left behind. */
int mon_scratch_create(const char *state_dir, const char *path, uint64_t size, int log_fd, struct lc_err *e);

/* Removes the disk state_dir links to, its link and its (then empty)
 * directory. Missing pieces are not an error. */
int mon_scratch_remove(const char *state_dir);

#endif
