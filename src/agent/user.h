/* docker's --user for a container: "name", "uid", "uid:gid", "name:group",
 * "uid:group", "name:gid", resolved against the container's own
 * /etc/passwd and /etc/group with runc's rules (libcontainer/user
 * GetExecUser):
 *   - a numeric user is a uid even when passwd has no entry for it (gid 0
 *     then); a name must have an entry: "unable to find user X: no matching
 *     entries in passwd file";
 *   - the first matching line wins; the primary gid comes from passwd
 *     unless a group is given (numeric: taken as is; a name must exist in
 *     group: "unable to find group X: no matching entries in group file");
 *   - supplementary groups, only without an explicit group: every group
 *     whose member list names the matched user;
 *   - ids are 0..2^31-1.
 * The files come from a container image: the parser is bounded (file size,
 * line fields), skips malformed lines instead of guessing (a bad uid field
 * is never read as 0), and the files are opened below the rootfs with
 * openat2(RESOLVE_IN_ROOT) so no symlink leads out of it, and only when
 * they are regular files (a FIFO would block PID 1). */
#ifndef LCVM_AGENT_USER_H
#define LCVM_AGENT_USER_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define AGENT_USER_SPEC_MAX 256u          /* bytes of "user[:group]" */
#define AGENT_USER_FILE_MAX (1u << 20)    /* /etc/passwd or /etc/group */
#define AGENT_USER_MAX_GIDS 256u          /* supplementary groups */
#define AGENT_USER_ID_MAX 2147483647u     /* runc's maxID */

struct agent_user {
	uint32_t uid, gid;
	uint32_t gids[AGENT_USER_MAX_GIDS]; /* supplementary, without duplicates */
	size_t n_gids;
};

/* True when spec is a syntactically valid user spec: 1..SPEC_MAX bytes,
 * printable, at most one ':', neither part empty. Pure. */
int agent_user_spec_valid(const char *spec);

/* Resolves spec against the texts of passwd and group (NULL = the file
 * does not exist; neither need be NUL-terminated). -ENOENT with the docker
 * message for an unknown name, -ERANGE for an id out of range, -EINVAL for a
 * bad spec, -E2BIG for more than AGENT_USER_MAX_GIDS groups. Pure. */
int agent_user_resolve(const char *spec, const char *passwd, size_t plen, const char *group, size_t glen,
		       struct agent_user *out, struct lc_err *e);

/* Reads etc/passwd and etc/group below rootfd (a directory fd of the
 * container's root) and resolves spec. A file that is missing counts as
 * empty; one that is not a regular file or too large is an error. */
int agent_user_lookup(int rootfd, const char *spec, struct agent_user *out, struct lc_err *e);

#endif
