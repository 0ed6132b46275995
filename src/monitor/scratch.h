/* The per-container writable scratch disk: a sparse file on the host,
 * attached read-write as virtio-blk serial MON_SCRATCH_SERIAL, so container
 * writes land on host disk instead of staying in guest RAM.
 *
 * Format, measured (docs/images.md): a swap area. The agent enables it with
 * swapon(2) and puts the container's overlayfs upper on a tmpfs as large as
 * the disk; tmpfs pages the guest cannot keep in RAM are written to the
 * disk. Swap is built into the guest kernel, whereas an ext4 upper needed
 * five modules (ext4, jbd2, mbcache, crc16, crc32c) loaded at every start:
 * ~300 ms of emulated time under TCG, a third of a bare boot. The guest no
 * longer ships those modules and its agent accepts only "swap" here. The
 * header is written here (scratch.c), nothing runs.
 *
 * The file lives in the data dir (<data>/containers/<id>/scratch.img, the
 * path is chosen by the CLI and carried in spec.json), not in the state dir:
 * runtime dirs (/run, $XDG_RUNTIME_DIR) are RAM-backed tmpfs on most hosts,
 * and a full host file system makes QEMU pause the guest. The state dir
 * holds a symlink MON_SCRATCH_LINK to it, so removing a container's state
 * (mon_state_remove) removes its scratch disk too. */
#ifndef LCVM_MONITOR_SCRATCH_H
#define LCVM_MONITOR_SCRATCH_H

#include <stdint.h>

#include "util/err.h"

#define MON_SCRATCH_SIZE (8ull << 30) /* apparent size; sparse, so only written blocks use disk */
#define MON_SCRATCH_FILE "scratch.img"
#define MON_SCRATCH_LINK "scratch.img" /* symlink in the state dir */
#define MON_SCRATCH_SERIAL "scratch"
#define MON_SCRATCH_FSTYPE "swap"

/* Creates path (which must not exist; its parent is created mode 0700),
 * sizes it, writes the swap header and links it from state_dir. On failure
 * nothing is left behind. */
int mon_scratch_create(const char *state_dir, const char *path, uint64_t size, struct lc_err *e);

/* Removes the disk state_dir links to, its link and its (then empty)
 * directory. Missing pieces are not an error. */
int mon_scratch_remove(const char *state_dir);

#endif
