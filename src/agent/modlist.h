/* Kernel modules of the guest. The initramfs holds /lib/modules/lcvm.modules
 * (written by guest/build.sh): one module per line, "<group> <path to .ko>",
 * in dependency order; '#' starts a comment. Group "boot" is loaded at
 * start-up; the others (today only "9p", see guest/modules.list) when a
 * request first needs them. Loading uses finit_module(2) from the
 * agent itself: a process per module costs ~20 ms emulated. */
#ifndef LCVM_AGENT_MODLIST_H
#define LCVM_AGENT_MODLIST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define AGENT_MODLIST_PATH "/lib/modules/lcvm.modules"
#define AGENT_MODLIST_MAX_BYTES (256u << 10)
#define AGENT_MODLIST_MAX_MODULES 512u
#define AGENT_MODGROUP_MAX 32u /* group name length, excluding NUL */
#define AGENT_MODGROUP_MAX_GROUPS 32u

struct agent_module {
	const char *group; /* points into agent_modlist.text */
	const char *path;
};

/* Owns a copy of the file's text; entries point into it. */
struct agent_modlist {
	char *text;
	struct agent_module *mods;
	size_t n;
	/* Groups already loaded (names point into text), under lock: groups
	 * may load on several threads at once (agent_modload). */
	pthread_mutex_t lock;
	const char *loaded[AGENT_MODGROUP_MAX_GROUPS];
	size_t n_loaded;
};

/* Parses the text (need not be NUL-terminated). -EINVAL for a malformed
 * line (reported with its number in e), -E2BIG past the limits. */
struct lc_err;
int agent_modlist_parse(struct agent_modlist *ml, const char *text, size_t len, struct lc_err *e);
/* Reads and parses a file; a missing file gives an empty list (ENOENT). */
int agent_modlist_load_file(struct agent_modlist *ml, const char *path, struct lc_err *e);
void agent_modlist_free(struct agent_modlist *ml);

/* Loads every module of the group once (later calls for the same group do
 * nothing). A module already in the kernel (EEXIST) is fine. Returns the
 * number of modules loaded, or the first error (after trying the rest) with
 * the module named in e. A group absent from the list loads nothing. */
int agent_modlist_load_group(struct agent_modlist *ml, const char *group, struct lc_err *e);
bool agent_modlist_group_loaded(struct agent_modlist *ml, const char *group);

/* One group loaded on a thread of its own, so that the agent goes on (and
 * the CPU has work) while a driver's probe waits on its device: virtio_blk
 * reads each disk's partition table synchronously inside finit_module. */
struct agent_modload {
	pthread_t thread;
	bool running;
	struct agent_modlist *ml;
	const char *group;
	int result;         /* agent_modlist_load_group's */
	struct lc_err err;
};
/* Starts loading the group; ml must outlive the job. Returns 0 or -errno
 * (then nothing runs). */
int agent_modload_start(struct agent_modload *job, struct agent_modlist *ml, const char *group);
/* Waits for the job, if one runs (otherwise returns 0 at once), and returns
 * its result, with its error in e. */
int agent_modload_join(struct agent_modload *job, struct lc_err *e);

#endif
