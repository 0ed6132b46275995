/* lcvm.modules parser: the format guest/build.sh writes, and hostile text. */
#include <errno.h>
#include <string.h>

#include "agent/modlist.h"
#include "test.h"
#include "util/err.h"

static void t_parse_groups_in_order(void)
{
	const char *text = "# comment\n"
			   "boot /lib/modules/a.ko\n"
			   "\n"
			   "  9p\t/lib/modules/netfs.ko   # trailing comment\n"
			   "boot /lib/modules/b.ko\r\n"
			   "extra /lib/modules/c.ko"; /* any group name: the list decides */
	struct agent_modlist ml;
	struct lc_err e = { { 0 } };
	if (!T_CHECK_EQ_INT(agent_modlist_parse(&ml, text, strlen(text), &e), 0))
		return;
	T_CHECK_EQ_INT(ml.n, 4);
	T_CHECK_EQ_STR(ml.mods[0].group, "boot");
	T_CHECK_EQ_STR(ml.mods[0].path, "/lib/modules/a.ko");
	T_CHECK_EQ_STR(ml.mods[1].group, "9p");
	T_CHECK_EQ_STR(ml.mods[1].path, "/lib/modules/netfs.ko");
	T_CHECK_EQ_STR(ml.mods[2].path, "/lib/modules/b.ko");
	T_CHECK_EQ_STR(ml.mods[3].group, "extra");
	agent_modlist_free(&ml);
}

static void t_malformed_lines(void)
{
	static const char *const bad[] = {
		"boot\n",			  /* no path */
		"boot relative.ko\n",		  /* relative path */
		"boot /a.ko extra\n",		  /* trailing word */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa /a.ko\n", /* group name too long */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct agent_modlist ml;
		struct lc_err e = { { 0 } };
		T_CHECK_EQ_INT(agent_modlist_parse(&ml, bad[i], strlen(bad[i]), &e), -EINVAL);
		T_CHECK(strstr(e.msg, "line 1") != NULL);
		T_CHECK(ml.mods == NULL && ml.text == NULL);
	}
	const char nul[] = "boot /a.ko\0boot /b.ko\n";
	struct agent_modlist ml;
	struct lc_err e = { { 0 } };
	T_CHECK_EQ_INT(agent_modlist_parse(&ml, nul, sizeof(nul) - 1, &e), -EINVAL);
	const char line3[] = "boot /a.ko\n#\nboot\n";
	T_CHECK_EQ_INT(agent_modlist_parse(&ml, line3, sizeof(line3) - 1, &e), -EINVAL);
	T_CHECK(strstr(e.msg, "line 3") != NULL);
}

static void t_limits(void)
{
	static char big[AGENT_MODLIST_MAX_BYTES + 1];
	memset(big, '#', sizeof(big));
	struct agent_modlist ml;
	struct lc_err e = { { 0 } };
	T_CHECK_EQ_INT(agent_modlist_parse(&ml, big, sizeof(big), &e), -E2BIG);
	/* More entries than allowed, in a text within the byte limit. */
	size_t off = 0;
	for (unsigned i = 0; i <= AGENT_MODLIST_MAX_MODULES; i++)
		off += (size_t)snprintf(big + off, sizeof(big) - off, "g /m%u.ko\n", i);
	T_CHECK_EQ_INT(agent_modlist_parse(&ml, big, off, &e), -E2BIG);
	T_CHECK_EQ_INT(agent_modlist_parse(&ml, "", 0, &e), 0);
	T_CHECK_EQ_INT(ml.n, 0);
	agent_modlist_free(&ml);
}

static void t_load_missing_group_and_file(void)
{
	const char *text = "nosuch /nonexistent/x.ko\n";
	struct agent_modlist ml;
	struct lc_err e = { { 0 } };
	if (!T_CHECK_EQ_INT(agent_modlist_parse(&ml, text, strlen(text), &e), 0))
		return;
	/* A group with no entries loads nothing and is not an error. */
	T_CHECK_EQ_INT(agent_modlist_load_group(&ml, "boot", &e), 0);
	/* A module file that is missing is reported with its path, once. */
	T_CHECK_EQ_INT(agent_modlist_load_group(&ml, "nosuch", &e), -ENOENT);
	T_CHECK(strstr(e.msg, "/nonexistent/x.ko") != NULL);
	T_CHECK(agent_modlist_group_loaded(&ml, "nosuch"));
	T_CHECK_EQ_INT(agent_modlist_load_group(&ml, "nosuch", &e), 0);
	agent_modlist_free(&ml);
	T_CHECK_EQ_INT(agent_modlist_load_file(&ml, "/nonexistent/lcvm.modules", &e), -ENOENT);
}

/* A group loaded on its own thread reports like a synchronous load, once,
 * and joining when nothing runs is a no-op. */
static void t_load_in_background(void)
{
	const char *text = "boot /nonexistent/a.ko\nstorage /nonexistent/b.ko\n";
	struct agent_modlist ml;
	struct lc_err e = { { 0 } };
	if (!T_CHECK_EQ_INT(agent_modlist_parse(&ml, text, strlen(text), &e), 0))
		return;
	struct agent_modload job = { 0 };
	T_CHECK_EQ_INT(agent_modload_join(&job, &e), 0);
	if (!T_CHECK_EQ_INT(agent_modload_start(&job, &ml, "storage"), 0))
		return;
	T_CHECK_EQ_INT(agent_modload_join(&job, &e), -ENOENT);
	T_CHECK(strstr(e.msg, "/nonexistent/b.ko") != NULL);
	T_CHECK(agent_modlist_group_loaded(&ml, "storage"));
	T_CHECK(!agent_modlist_group_loaded(&ml, "boot"));
	T_CHECK_EQ_INT(agent_modload_join(&job, &e), 0);
	agent_modlist_free(&ml);
}

int main(void)
{
	T_RUN(t_parse_groups_in_order);
	T_RUN(t_malformed_lines);
	T_RUN(t_limits);
	T_RUN(t_load_missing_group_and_file);
	T_RUN(t_load_in_background);
	return t_done();
}
