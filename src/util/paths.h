/* Where lcvm keeps things (ARCHITECTURE.md "Conventions").
 *   data dir     /var/lib/lcvm as root, $XDG_DATA_HOME/lcvm (~/.local/share/lcvm) otherwise
 *   runtime dir  /run/lcvm as root, $XDG_RUNTIME_DIR/lcvm otherwise
 *   guest dir    kernel, initramfs and built-in images: $LCVM_GUEST_DIR, else
 *                <dir of the lcvm binary>/guest (the build tree: build/guest), else
 *                <dir of the binary>/../lib/lcvm (make install)
 * A --root DIR given on the command line replaces both data and runtime dirs
 * (runtime under DIR/run). Results are written into caller buffers of
 * PATH_MAX bytes; functions return 0 or -errno (-ENAMETOOLONG, -ENOENT). */
#ifndef LCVM_UTIL_PATHS_H
#define LCVM_UTIL_PATHS_H

#include <stddef.h>

int lc_data_dir(const char *root_override, char *out, size_t outlen);
int lc_runtime_dir(const char *root_override, char *out, size_t outlen);
int lc_guest_dir(char *out, size_t outlen);
/* mkdir -p with mode for each created component. */
int lc_mkdir_p(const char *path, unsigned mode);

#endif
