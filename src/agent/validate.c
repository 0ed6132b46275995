#include "agent/validate.h"

#include "agent/user.h"

#include <errno.h>
#include <string.h>

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool agent_valid_id(const char *id)
{
	if (!id || !is_alnum(id[0]))
		return false;
	size_t n = 1;
	for (; id[n]; n++) {
		char c = id[n];
		if (n >= AGENT_ID_MAX || !(is_alnum(c) || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

bool agent_valid_hostname(const char *h)
{
	if (!h || !h[0])
		return false;
	size_t n = 0;
	for (; h[n]; n++)
		if (n >= AGENT_HOSTNAME_MAX || !(is_alnum(h[n]) || h[n] == '-' || h[n] == '.'))
			return false;
	return h[0] != '-' && h[0] != '.';
}

bool agent_valid_abspath(const char *p)
{
	if (!p || p[0] != '/')
		return false;
	size_t len = strnlen(p, AGENT_PATH_MAX);
	if (len >= AGENT_PATH_MAX)
		return false;
	const char *c = p + 1;
	while (*c) {
		const char *end = strchr(c, '/');
		size_t n = end ? (size_t)(end - c) : strlen(c);
		if (n == 0 && end)
			return false; /* "//" */
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!end)
			break;
		c = end + 1;
	}
	return true;
}

bool agent_valid_serial(const char *s)
{
	if (!s || !s[0])
		return false;
	size_t n = 0;
	for (; s[n]; n++)
		if (n >= AGENT_SERIAL_MAX || !(is_alnum(s[n]) || s[n] == '-' || s[n] == '_' || s[n] == '.'))
			return false;
	return true;
}

bool agent_valid_fstype(const char *t)
{
	return t && strcmp(t, "squashfs") == 0;
}

bool agent_valid_9p_cache(const char *c)
{
	static const char *const ok[] = { "", "none", "loose", "fscache", "mmap" };
	for (size_t i = 0; c && i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(c, ok[i]) == 0)
			return true;
	return false;
}

static int check_strings(char **v, size_t n, size_t max_n, const char *what, bool need_eq,
			 size_t *total, struct lc_err *e)
{
	if (n > max_n)
		return lc_err_setx(e, EINVAL, "too many %s (%zu > %zu)", what, n, (size_t)max_n);
	for (size_t i = 0; i < n; i++) {
		if (!v[i])
			return lc_err_setx(e, EINVAL, "%s[%zu] missing", what, i);
		size_t len = strnlen(v[i], AGENT_ARG_MAX);
		if (len >= AGENT_ARG_MAX)
			return lc_err_setx(e, EINVAL, "%s[%zu] too long", what, i);
		if (need_eq && (v[i][0] == '=' || !strchr(v[i], '=')))
			return lc_err_setx(e, EINVAL, "%s[%zu] is not KEY=VALUE", what, i);
		*total += len + 1;
		if (*total > AGENT_ARGS_TOTAL_MAX)
			return lc_err_setx(e, EINVAL, "args and env too large");
	}
	return 0;
}

static int check_process(const Lcvm__Agent__V1__Process *p, struct lc_err *e)
{
	if (!p)
		return lc_err_setx(e, EINVAL, "process missing");
	if (p->n_args == 0 || !p->args || !p->args[0] || !p->args[0][0])
		return lc_err_setx(e, EINVAL, "process.args empty");
	size_t total = 0;
	int r = check_strings(p->args, p->n_args, AGENT_MAX_ARGS, "process.args", false, &total, e);
	if (r == 0)
		r = check_strings(p->env, p->n_env, AGENT_MAX_ENV, "process.env", true, &total, e);
	if (r < 0)
		return r;
	if (p->cwd && p->cwd[0] && !agent_valid_abspath(p->cwd))
		return lc_err_setx(e, EINVAL, "process.cwd must be an absolute path without . or ..");
	if (p->n_additional_gids > AGENT_MAX_GIDS)
		return lc_err_setx(e, EINVAL, "too many additional gids (%zu > %u)", p->n_additional_gids,
				   AGENT_MAX_GIDS);
	if (p->terminal)
		return lc_err_setx(e, ENOTSUP, "process.terminal is not supported yet");
	if (p->user && p->user[0] && !agent_user_spec_valid(p->user))
		return lc_err_setx(e, EINVAL, "process.user invalid (want name, uid, name:group or uid:gid, up to %u bytes)",
				   AGENT_USER_SPEC_MAX);
	return 0;
}

static int check_layer(const Lcvm__Agent__V1__Layer *l, const char *what, size_t i, struct lc_err *e)
{
	if (!l)
		return lc_err_setx(e, EINVAL, "%s[%zu] missing", what, i);
	if (!agent_valid_serial(l->serial))
		return lc_err_setx(e, EINVAL, "%s[%zu].serial invalid (1-%u of [A-Za-z0-9_.-])", what, i,
				   AGENT_SERIAL_MAX);
	if (!agent_valid_fstype(l->fstype))
		return lc_err_setx(e, EINVAL, "%s[%zu].fstype must be squashfs", what, i);
	return 0;
}

static int check_mounts(const Lcvm__Agent__V1__CreateContainerRequest *r, struct lc_err *e)
{
	if (r->n_mounts > AGENT_MAX_MOUNTS)
		return lc_err_setx(e, EINVAL, "too many mounts (%zu > %u)", r->n_mounts, AGENT_MAX_MOUNTS);
	for (size_t i = 0; i < r->n_mounts; i++) {
		const Lcvm__Agent__V1__Mount9p *m = r->mounts[i];
		if (!m)
			return lc_err_setx(e, EINVAL, "mounts[%zu] missing", i);
		if (m->port == 0)
			return lc_err_setx(e, EINVAL, "mounts[%zu].port is 0", i);
		if (!agent_valid_abspath(m->target) || strcmp(m->target, "/") == 0)
			return lc_err_setx(e, EINVAL,
					   "mounts[%zu].target must be an absolute path other than / without . or ..", i);
		if (m->msize && (m->msize < AGENT_9P_MSIZE_MIN || m->msize > AGENT_9P_MSIZE_MAX))
			return lc_err_setx(e, EINVAL, "mounts[%zu].msize out of range (%u..%u)", i,
					   AGENT_9P_MSIZE_MIN, AGENT_9P_MSIZE_MAX);
		if (!agent_valid_9p_cache(m->cache))
			return lc_err_setx(e, EINVAL, "mounts[%zu].cache must be none, loose, fscache or mmap", i);
	}
	return 0;
}

int agent_validate_create(const Lcvm__Agent__V1__CreateContainerRequest *r, struct lc_err *e)
{
	if (!r)
		return lc_err_setx(e, EINVAL, "request missing");
	if (!agent_valid_id(r->id))
		return lc_err_setx(e, EINVAL, "invalid container id (want [a-zA-Z0-9][a-zA-Z0-9_.-]{0,63})");
	if (r->hostname && r->hostname[0] && !agent_valid_hostname(r->hostname))
		return lc_err_setx(e, EINVAL, "invalid hostname");
	int ret = check_process(r->process, e);
	if (ret < 0)
		return ret;
	if (r->n_layers == 0 || r->n_layers > AGENT_MAX_LAYERS)
		return lc_err_setx(e, EINVAL, "need 1 to %u layers, got %zu", AGENT_MAX_LAYERS, r->n_layers);
	for (size_t i = 0; i < r->n_layers; i++)
		if ((ret = check_layer(r->layers[i], "layers", i, e)) < 0)
			return ret;
	if (r->scratch) {
		if (r->read_only)
			return lc_err_setx(e, EINVAL, "scratch given with read_only");
		/* A swap area under a tmpfs upper: swap is built into the guest
		 * kernel, which ships no writable disk filesystem. */
		if (!r->scratch->fstype || strcmp(r->scratch->fstype, "swap") != 0)
			return lc_err_setx(e, EINVAL, "scratch.fstype must be swap");
		if (!agent_valid_serial(r->scratch->serial))
			return lc_err_setx(e, EINVAL, "scratch.serial is invalid");
	}
	return check_mounts(r, e);
}
