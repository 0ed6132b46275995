#include "agent/modlist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/err.h"

/* An empty list, usable (and lockable) as it is. */
static void modlist_reset(struct agent_modlist *ml)
{
	memset(ml, 0, sizeof(*ml));
	pthread_mutex_init(&ml->lock, NULL);
}

void agent_modlist_free(struct agent_modlist *ml)
{
	free(ml->text);
	free(ml->mods);
	pthread_mutex_destroy(&ml->lock);
	modlist_reset(ml);
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Splits one line (NUL-terminated in place) into group and path. Returns 1
 * for an entry, 0 for a blank/comment line, -EINVAL when malformed. */
static int parse_line(char *line, struct agent_module *m)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	char *p = line;
	while (is_space(*p))
		p++;
	if (!*p)
		return 0;
	char *group = p;
	while (*p && !is_space(*p))
		p++;
	if (!*p)
		return -EINVAL; /* group without a path */
	*p++ = '\0';
	while (is_space(*p))
		p++;
	char *path = p;
	while (*p && !is_space(*p))
		p++;
	char *end = p;
	while (is_space(*p))
		p++;
	if (*p || path[0] != '/' || strlen(group) > AGENT_MODGROUP_MAX)
		return -EINVAL; /* trailing words, relative path, long group */
	*end = '\0';
	m->group = group;
	m->path = path;
	return 1;
}

int agent_modlist_parse(struct agent_modlist *ml, const char *text, size_t len, struct lc_err *e)
{
	modlist_reset(ml);
	if (len > AGENT_MODLIST_MAX_BYTES)
		return lc_err_setx(e, E2BIG, "module list larger than %u bytes", AGENT_MODLIST_MAX_BYTES);
	if (memchr(text, '\0', len))
		return lc_err_setx(e, EINVAL, "module list contains a NUL byte");
	ml->text = malloc(len + 1);
	if (!ml->text)
		return -ENOMEM;
	memcpy(ml->text, text, len);
	ml->text[len] = '\0';
	size_t cap = 0;
	unsigned lineno = 0;
	for (char *line = ml->text; line; ) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		lineno++;
		struct agent_module m;
		int r = parse_line(line, &m);
		if (r < 0) {
			agent_modlist_free(ml);
			return lc_err_setx(e, EINVAL, "module list line %u: want \"<group> </path/to/module.ko>\"",
					   lineno);
		}
		if (r > 0) {
			if (ml->n >= AGENT_MODLIST_MAX_MODULES) {
				agent_modlist_free(ml);
				return lc_err_setx(e, E2BIG, "more than %u modules", AGENT_MODLIST_MAX_MODULES);
			}
			if (ml->n == cap) {
				cap = cap ? cap * 2 : 32;
				struct agent_module *nm = realloc(ml->mods, cap * sizeof(*nm));
				if (!nm) {
					agent_modlist_free(ml);
					return -ENOMEM;
				}
				ml->mods = nm;
			}
			ml->mods[ml->n++] = m;
		}
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}

int agent_modlist_load_file(struct agent_modlist *ml, const char *path, struct lc_err *e)
{
	modlist_reset(ml);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lc_err_set(e, errno, "%s", path);
	char *buf = malloc(AGENT_MODLIST_MAX_BYTES + 1);
	if (!buf)
		return -ENOMEM;
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, AGENT_MODLIST_MAX_BYTES + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			free(buf);
			return lc_err_set(e, err, "read %s", path);
		}
		if (n == 0 || (len += (size_t)n) > AGENT_MODLIST_MAX_BYTES)
			break;
	}
	int r = agent_modlist_parse(ml, buf, len, e);
	free(buf);
	return r;
}

static bool group_loaded_locked(const struct agent_modlist *ml, const char *group)
{
	for (size_t i = 0; i < ml->n_loaded; i++)
		if (strcmp(ml->loaded[i], group) == 0)
			return true;
	return false;
}

bool agent_modlist_group_loaded(struct agent_modlist *ml, const char *group)
{
	pthread_mutex_lock(&ml->lock);
	bool r = group_loaded_locked(ml, group);
	pthread_mutex_unlock(&ml->lock);
	return r;
}

static int load_one(const char *path)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int agent_modlist_load_group(struct agent_modlist *ml, const char *group, struct lc_err *e)
{
	if (agent_modlist_group_loaded(ml, group))
		return 0;
	int first_err = 0, loaded = 0;
	const char *name = NULL;
	for (size_t i = 0; i < ml->n; i++) {
		if (strcmp(ml->mods[i].group, group) != 0)
			continue;
		name = ml->mods[i].group;
		int r = load_one(ml->mods[i].path);
		if (r < 0 && !first_err)
			first_err = lc_err_set(e, -r, "load module %s", ml->mods[i].path);
		else if (r == 0)
			loaded++;
	}
	/* Remember the group even on error: retrying would fail the same way
	 * and cost emulated time on every request. */
	pthread_mutex_lock(&ml->lock);
	if (name && !group_loaded_locked(ml, name) && ml->n_loaded < AGENT_MODGROUP_MAX_GROUPS)
		ml->loaded[ml->n_loaded++] = name;
	pthread_mutex_unlock(&ml->lock);
	return first_err ? first_err : loaded;
}

static void *modload_main(void *arg)
{
	struct agent_modload *job = arg;
	job->result = agent_modlist_load_group(job->ml, job->group, &job->err);
	return NULL;
}

int agent_modload_start(struct agent_modload *job, struct agent_modlist *ml, const char *group)
{
	*job = (struct agent_modload){ .ml = ml, .group = group };
	int r = pthread_create(&job->thread, NULL, modload_main, job);
	if (r != 0)
		return -r;
	job->running = true;
	return 0;
}

int agent_modload_join(struct agent_modload *job, struct lc_err *e)
{
	if (!job->running)
		return 0;
	pthread_join(job->thread, NULL);
	job->running = false;
	if (job->result < 0)
		*e = job->err;
	return job->result;
}
