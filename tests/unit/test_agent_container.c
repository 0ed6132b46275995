/* Container creation failure paths on the host: a bad request or a missing
 * disk is refused with a message naming the cause, and leaves no container
 * and no mount behind. (Success paths need a guest: see lcvm.selftest=1.) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/container.h"
#include "test.h"

static char *args[] = { "true" };

static void req_init(Lcvm__Agent__V1__CreateContainerRequest *r, Lcvm__Agent__V1__Process *p,
		     Lcvm__Agent__V1__Layer *l, Lcvm__Agent__V1__Layer **layers)
{
	Lcvm__Agent__V1__Process pi = LCVM__AGENT__V1__PROCESS__INIT;
	Lcvm__Agent__V1__Layer li = LCVM__AGENT__V1__LAYER__INIT;
	Lcvm__Agent__V1__CreateContainerRequest ri = LCVM__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	*p = pi;
	p->n_args = 1;
	p->args = args;
	*l = li;
	l->serial = "lcvm-no-such-disk";
	l->fstype = "squashfs";
	layers[0] = l;
	*r = ri;
	r->id = "c1";
	r->process = p;
	r->n_layers = 1;
	r->layers = layers;
}

static int count_mounts_under(const char *dir)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	int n = 0;
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, dir) != NULL;
	if (f)
		fclose(f);
	return n;
}

static void t_bad_request_refused(void)
{
	char dir[] = "/tmp/lcvm-agent-run.XXXXXX";
	if (!T_CHECK(mkdtemp(dir) != NULL))
		return;
	struct agent a = { .run_dir = dir };
	Lcvm__Agent__V1__CreateContainerRequest r;
	Lcvm__Agent__V1__Process p;
	Lcvm__Agent__V1__Layer l, *layers[1];
	req_init(&r, &p, &l, layers);
	r.id = "../escape";
	struct lc_err e = { { 0 } };
	struct agent_container *c = NULL;
	T_CHECK_EQ_INT(agent_container_create(&a, &r, &c, &e), -EINVAL);
	T_CHECK(a.containers == NULL);
	T_CHECK_EQ_INT(a.next_idx, 0); /* refused before any side effect */
	rmdir(dir);
}

static void t_missing_disk_leaves_nothing(void)
{
	char dir[] = "/tmp/lcvm-agent-run.XXXXXX";
	if (!T_CHECK(mkdtemp(dir) != NULL))
		return;
	struct agent a = { .run_dir = dir };
	Lcvm__Agent__V1__CreateContainerRequest r;
	Lcvm__Agent__V1__Process p;
	Lcvm__Agent__V1__Layer l, *layers[1];
	req_init(&r, &p, &l, layers);
	struct lc_err e = { { 0 } };
	struct agent_container *c = NULL;
	T_CHECK_EQ_INT(agent_container_create(&a, &r, &c, &e), -ENOENT);
	T_CHECK(strstr(e.msg, "layer 0") != NULL);
	T_CHECK(strstr(e.msg, "lcvm-no-such-disk") != NULL);
	T_CHECK(a.containers == NULL);
	T_CHECK(agent_container_find(&a, "c1") == NULL);
	T_CHECK_EQ_INT(count_mounts_under(dir), 0);
	/* Its directory is gone too: only the (empty) run dir remains. */
	T_CHECK_EQ_INT(rmdir(dir), 0);
}

int main(void)
{
	T_RUN(t_bad_request_refused);
	T_RUN(t_missing_disk_leaves_nothing);
	return t_done();
}
