#include "agent/user.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/readfile.h"

/* A field of a line: not NUL-terminated. */
struct field {
	const char *p;
	size_t n;
};

#define MAX_FIELDS 7u /* passwd has 7, group 4 */

/* Splits one line at ':' into at most MAX_FIELDS fields; returns how many. */
static size_t split(const char *line, size_t len, struct field *f)
{
	size_t n = 0, start = 0;
	for (size_t i = 0; i <= len && n < MAX_FIELDS; i++) {
		if (i == len || line[i] == ':') {
			f[n].p = line + start;
			f[n].n = i - start;
			n++;
			start = i + 1;
		}
	}
	return n;
}

/* Strict decimal id: digits only, no sign, <= AGENT_USER_ID_MAX (-ERANGE
 * past it, however many digits). */
static int parse_id(const char *p, size_t n, uint32_t *out)
{
	if (n == 0)
		return -EINVAL;
	uint64_t v = 0;
	bool range = false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(p[i] - '0');
		if (v > AGENT_USER_ID_MAX) {
			range = true;
			v = AGENT_USER_ID_MAX + 1ull; /* stays bounded, no overflow */
		}
	}
	if (range)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

static bool field_is(const struct field *f, const char *s, size_t n)
{
	return f->n == n && memcmp(f->p, s, n) == 0;
}

/* Calls fn on each line (without its newline) until it returns nonzero. */
static int each_line(const char *text, size_t len, int (*fn)(const struct field *f, size_t n, void *arg),
		     void *arg)
{
	size_t off = 0;
	while (text && off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (text + off)) : len - off;
		struct field f[MAX_FIELDS];
		size_t n = split(text + off, l, f);
		int r = fn(f, n, arg);
		if (r)
			return r;
		off += l + 1;
	}
	return 0;
}

struct spec {
	const char *user, *group; /* parts of the spec (NUL-terminated copies) */
	size_t user_n, group_n;   /* group_n 0: none given */
	bool user_num, group_num;
	uint32_t uid, gid;        /* numeric values when *_num */
};

struct pw_match {
	const struct spec *s;
	bool found;
	uint32_t uid, gid;
	char name[AGENT_USER_SPEC_MAX + 1];
};

static int pw_line(const struct field *f, size_t n, void *arg)
{
	struct pw_match *m = arg;
	uint32_t uid, gid;
	/* name:passwd:uid:gid:gecos:home:shell; a line without valid ids is skipped. */
	if (n < 4 || f[0].n == 0 || f[0].n > AGENT_USER_SPEC_MAX || parse_id(f[2].p, f[2].n, &uid) < 0 ||
	    parse_id(f[3].p, f[3].n, &gid) < 0)
		return 0;
	if (m->s->user_num ? uid != m->s->uid : !field_is(&f[0], m->s->user, m->s->user_n))
		return 0;
	m->found = true;
	m->uid = uid;
	m->gid = gid;
	memcpy(m->name, f[0].p, f[0].n);
	m->name[f[0].n] = '\0';
	return 1; /* first match wins */
}

struct gr_match {
	const struct spec *s;
	const char *member; /* implicit form: the matched user's name, else NULL */
	struct agent_user *u;
	bool found;
	uint32_t gid;
	int err;
};

static bool lists_member(const struct field *list, const char *name)
{
	size_t nl = strlen(name), start = 0;
	for (size_t i = 0; i <= list->n; i++)
		if (i == list->n || list->p[i] == ',') {
			if (i - start == nl && memcmp(list->p + start, name, nl) == 0)
				return true;
			start = i + 1;
		}
	return false;
}

static int gr_line(const struct field *f, size_t n, void *arg)
{
	struct gr_match *m = arg;
	uint32_t gid;
	/* name:passwd:gid:member,member */
	if (n < 3 || f[0].n == 0 || parse_id(f[2].p, f[2].n, &gid) < 0)
		return 0;
	if (!m->member) { /* explicit group */
		if (m->s->group_num ? gid != m->s->gid : !field_is(&f[0], m->s->group, m->s->group_n))
			return 0;
		m->found = true;
		m->gid = gid;
		return 1;
	}
	if (n < 4 || !lists_member(&f[3], m->member))
		return 0;
	for (size_t i = 0; i < m->u->n_gids; i++)
		if (m->u->gids[i] == gid)
			return 0;
	if (m->u->n_gids >= AGENT_USER_MAX_GIDS) {
		m->err = -E2BIG;
		return 1;
	}
	m->u->gids[m->u->n_gids++] = gid;
	return 0;
}

int agent_user_spec_valid(const char *spec)
{
	size_t len = spec ? strlen(spec) : 0;
	if (len == 0 || len > AGENT_USER_SPEC_MAX)
		return 0;
	const char *colon = strchr(spec, ':');
	if (colon && (colon == spec || colon[1] == '\0' || strchr(colon + 1, ':')))
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)spec[i] < 0x20 || spec[i] == 0x7f)
			return 0;
	return 1;
}

static int parse_spec(const char *spec, char *buf, struct spec *s, struct lc_err *e)
{
	if (!agent_user_spec_valid(spec))
		return lc_err_setx(e, EINVAL, "invalid user (want name, uid, name:group or uid:gid)");
	strcpy(buf, spec); /* fits: checked against AGENT_USER_SPEC_MAX */
	char *colon = strchr(buf, ':');
	if (colon)
		*colon = '\0';
	*s = (struct spec){ .user = buf, .user_n = strlen(buf), .group = colon ? colon + 1 : "" };
	s->group_n = strlen(s->group);
	int r = parse_id(s->user, s->user_n, &s->uid);
	if (r == -ERANGE)
		return lc_err_setx(e, ERANGE, "uid %s out of range (0-%u)", s->user, AGENT_USER_ID_MAX);
	s->user_num = r == 0;
	r = s->group_n ? parse_id(s->group, s->group_n, &s->gid) : -EINVAL;
	if (r == -ERANGE)
		return lc_err_setx(e, ERANGE, "gid %s out of range (0-%u)", s->group, AGENT_USER_ID_MAX);
	s->group_num = r == 0;
	return 0;
}

int agent_user_resolve(const char *spec, const char *passwd, size_t plen, const char *group, size_t glen,
		       struct agent_user *out, struct lc_err *e)
{
	char buf[AGENT_USER_SPEC_MAX + 1];
	struct spec s;
	int r = parse_spec(spec, buf, &s, e);
	if (r < 0)
		return r;
	memset(out, 0, sizeof(*out));
	struct pw_match pw = { .s = &s };
	each_line(passwd, plen, pw_line, &pw);
	if (pw.found) {
		out->uid = pw.uid;
		out->gid = pw.gid;
	} else if (s.user_num) {
		out->uid = s.uid; /* gid stays 0, like runc */
	} else {
		return lc_err_setx(e, ENOENT, "unable to find user %s: no matching entries in passwd file", s.user);
	}
	if (s.group_n) {
		struct gr_match gm = { .s = &s, .u = out };
		each_line(group, glen, gr_line, &gm);
		if (gm.found)
			out->gid = gm.gid;
		else if (s.group_num)
			out->gid = s.gid;
		else
			return lc_err_setx(e, ENOENT, "unable to find group %s: no matching entries in group file",
					   s.group);
	} else if (pw.found) {
		struct gr_match gm = { .s = &s, .member = pw.name, .u = out };
		each_line(group, glen, gr_line, &gm);
		if (gm.err)
			return lc_err_setx(e, E2BIG, "user %s is in more than %u groups", s.user, AGENT_USER_MAX_GIDS);
	}
	return 0;
}

/* Reads a whole file below rootfd; *text NULL and 0 when it does not exist. */
static int read_in_root(int rootfd, const char *path, char **text, size_t *len, struct lc_err *e)
{
	*text = NULL;
	*len = 0;
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	cleanup_close int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return lc_err_set(e, errno, "open /%s in the container", path);
	int r = lc_read_small_file(fd, AGENT_USER_FILE_MAX, text, len);
	if (r == -EINVAL)
		return lc_err_setx(e, EINVAL, "/%s in the container is not a regular file", path);
	if (r == -EFBIG)
		return lc_err_setx(e, E2BIG, "/%s in the container is larger than %u bytes", path, AGENT_USER_FILE_MAX);
	if (r < 0)
		return lc_err_set(e, -r, "read /%s in the container", path);
	return 0;
}

int agent_user_lookup(int rootfd, const char *spec, struct agent_user *out, struct lc_err *e)
{
	cleanup_free char *pw = NULL;
	cleanup_free char *gr = NULL;
	size_t pl, gl;
	int r = read_in_root(rootfd, "etc/passwd", &pw, &pl, e);
	if (r == 0)
		r = read_in_root(rootfd, "etc/group", &gr, &gl, e);
	if (r < 0)
		return r;
	return agent_user_resolve(spec, pw, pl, gr, gl, out, e);
}
