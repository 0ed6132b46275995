/* Image verbs: pull, load, save, images, rmi, tag, image {inspect,ls,rm}, login.
 * Thin: parse arguments, call src/image/, print. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "image/archive.h"
#include "image/inspect.h"
#include "image/ref.h"
#include "image/registry.h"
#include "image/store.h"
#include "monitor/monitor.h"
#include "monitor/state.h"
#include "util/cleanup.h"
#include "util/paths.h"

static int open_store(const struct cli_globals *g, struct img_store *s)
{
	char data[PATH_MAX];
	struct lc_err e = { { 0 } };
	int r = lc_data_dir(g->root, data, sizeof(data));
	if (r < 0)
		return cli_error("cannot find the data directory (set --root or HOME)");
	if (img_store_open(data, s, &e) < 0)
		return cli_fail(&e);
	return 0;
}

static void print_loaded(const char *name, const char *id, void *arg)
{
	if (name[0])
		printf("Loaded image: %s\n", name);
	else
		printf("Loaded image ID: %s\n", id);
}

int cmd_load(const struct cli_globals *g, int argc, char **argv)
{
	const char *in = NULL;
	bool quiet = false;
	static const struct option opts[] = { { "input", required_argument, 0, 'i' }, { "quiet", no_argument, 0, 'q' },
					      { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+i:qh", opts, NULL)) != -1) {
		if (c == 'i')
			in = optarg;
		else if (c == 'q')
			quiet = true;
		else {
			fprintf(c == 'h' ? stdout : stderr, "Usage: lcvm load [-q] [-i FILE|-]\n");
			return c == 'h' ? 0 : CLI_EXIT_ERROR;
		}
	}
	struct img_store s;
	int r = open_store(g, &s);
	if (r)
		return r;
	cleanup_close int fd = -1;
	if (!in || !strcmp(in, "-")) {
		if (isatty(0))
			return cli_error("load: give -i FILE or pipe an archive to stdin");
		fd = dup(0);
	} else {
		fd = open(in, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return cli_error("load: %s: %s", in, strerror(errno));
	struct lc_err e = { { 0 } };
	if (img_load(&s, fd, quiet ? NULL : print_loaded, NULL, &e) < 0)
		return cli_error("load: %s", e.msg);
	return 0;
}

int cmd_save(const struct cli_globals *g, int argc, char **argv)
{
	const char *out = NULL;
	static const struct option opts[] = { { "output", required_argument, 0, 'o' }, { "help", no_argument, 0, 'h' },
					      { 0, 0, 0, 0 } };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
		if (c == 'o')
			out = optarg;
		else {
			fprintf(c == 'h' ? stdout : stderr, "Usage: lcvm save [-o FILE] IMAGE...\n");
			return c == 'h' ? 0 : CLI_EXIT_ERROR;
		}
	}
	if (optind >= argc)
		return cli_error("save: give at least one image");
	struct img_store s;
	int r = open_store(g, &s);
	if (r)
		return r;
	char tmp[PATH_MAX] = "";
	cleanup_close int fd = -1;
	if (!out || !strcmp(out, "-")) {
		if (isatty(1))
			return cli_error("save: refusing to write an archive to a terminal; use -o FILE");
		fd = dup(1);
	} else {
		snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", out);
		fd = mkostemp(tmp, O_CLOEXEC);
	}
	if (fd < 0)
		return cli_error("save: %s: %s", out, strerror(errno));
	struct lc_err e = { { 0 } };
	if (img_save(&s, (const char *const *)argv + optind, (size_t)(argc - optind), fd, &e) < 0) {
		if (tmp[0])
			unlink(tmp);
		return cli_error("save: %s", e.msg);
	}
	if (tmp[0] && (fsync(fd) < 0 || fchmod(fd, 0644) < 0 || rename(tmp, out) < 0)) {
		unlink(tmp);
		return cli_error("save: %s: %s", out, strerror(errno));
	}
	return 0;
}

static void human_size(uint64_t b, char *out, size_t n)
{
	static const char *u[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)b;
	size_t i = 0;
	while (v >= 1000 && i + 1 < ARRAY_SIZE(u)) {
		v /= 1000;
		i++;
	}
	snprintf(out, n, i ? "%.3g%s" : "%.0f%s", v, u[i]);
}

static void human_age(const char *created, char *out, size_t n)
{
	struct tm tm = { 0 };
	if (!created[0] || !strptime(created, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(out, n, "N/A");
		return;
	}
	long d = (long)difftime(time(NULL), timegm(&tm));
	if (d < 120)
		snprintf(out, n, "%ld seconds ago", d < 0 ? 0 : d);
	else if (d < 7200)
		snprintf(out, n, "%ld minutes ago", d / 60);
	else if (d < 172800)
		snprintf(out, n, "%ld hours ago", d / 3600);
	else if (d < 86400L * 60)
		snprintf(out, n, "%ld days ago", d / 86400);
	else if (d < 86400L * 730)
		snprintf(out, n, "%ld months ago", d / (86400L * 30));
	else
		snprintf(out, n, "%ld years ago", d / (86400L * 365));
}

static int list_images(const struct cli_globals *g, int argc, char **argv)
{
	bool quiet = false, digests = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
			quiet = true;
		else if (!strcmp(argv[i], "--digests"))
			digests = true;
		else
			return cli_error("images: unknown option %s (usage: lcvm images [-q] [--digests])", argv[i]);
	}
	struct img_store s;
	int r = open_store(g, &s);
	if (r)
		return r;
	struct lc_err e = { { 0 } };
	struct img_list l;
	if (img_store_list(&s, &l, &e) < 0)
		return cli_fail(&e);
	if (!quiet)
		printf(digests ? "%-40s %-16s %-72s %-14s %-16s %s\n" : "%-40s %-16s%.0s %-14s %-16s %s\n", "REPOSITORY",
		       "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE");
	for (size_t i = 0; i < l.n; i++) {
		const struct img_entry *en = &l.v[i];
		if (quiet) {
			printf("%.12s\n", img_digest_hex(en->id));
			continue;
		}
		char repo[IMG_REF_MAX] = "<none>", tag[IMG_REF_TAG_MAX + 1] = "<none>", age[32], size[16];
		struct img_ref ref;
		if (en->name[0] && img_ref_parse(en->name, &ref, NULL) == 0) {
			img_ref_familiar_repo(&ref, repo, sizeof(repo));
			if (ref.tag[0])
				snprintf(tag, sizeof(tag), "%s", ref.tag);
		}
		struct img_summary sum;
		if (img_summarize(&s, en, &sum, &e) < 0)
			memset(&sum, 0, sizeof(sum));
		human_age(sum.created, age, sizeof(age));
		human_size(sum.size, size, sizeof(size));
		printf(digests ? "%-40s %-16s %-72s %-14.12s %-16s %s\n" : "%-40s %-16s%.0s %-14.12s %-16s %s\n", repo,
		       tag, en->digest, img_digest_hex(en->id), age, size);
	}
	img_list_free(&l);
	return 0;
}

int cmd_images(const struct cli_globals *g, int argc, char **argv)
{
	return list_images(g, argc, argv);
}

/* A running container (state dir without an exit status) made from image
 * id? Fills who with its name. Like docker, rmi refuses such an image
 * unless forced: its layer disks are attached to that VM. */
static bool image_in_use(const struct cli_globals *g, const char *id, char *who, size_t wholen)
{
	char run[PATH_MAX];
	if (lc_runtime_dir(g->root, run, sizeof(run)) < 0)
		return false;
	cleanup_closedir DIR *d = opendir(run);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strlen(de->d_name) != 64)
			continue;
		char dir[PATH_MAX + 80], status[PATH_MAX + 100];
		snprintf(dir, sizeof(dir), "%s/%s", run, de->d_name);
		snprintf(status, sizeof(status), "%s/" MON_STATUS_FILE, dir);
		if (access(status, F_OK) == 0)
			continue;
		struct mon_spec sp;
		struct lc_err ignored = { { 0 } };
		if (mon_state_read_spec(dir, &sp, &ignored) < 0)
			continue;
		bool used = sp.image_id && !strcmp(sp.image_id, id);
		if (used)
			snprintf(who, wholen, "%s (%.12s)", sp.name, sp.id);
		mon_spec_free(&sp);
		if (used)
			return true;
	}
	return false;
}

/* The image id `what` names, or "" when it names nothing (img_store_remove
 * then reports that). */
static void image_id_of(const struct img_store *s, const char *what, char *id, size_t idlen)
{
	struct img_list l;
	struct lc_err ignored = { { 0 } };
	id[0] = '\0';
	if (img_store_list(s, &l, &ignored) < 0)
		return;
	int i = img_list_find(&l, what, &ignored);
	if (i >= 0)
		snprintf(id, idlen, "%s", l.v[i].id);
	img_list_free(&l);
}

static int remove_images(const struct cli_globals *g, int argc, char **argv)
{
	bool force = false;
	int first = 1;
	for (; first < argc && argv[first][0] == '-'; first++) {
		if (!strcmp(argv[first], "-f") || !strcmp(argv[first], "--force"))
			force = true;
		else
			return cli_error("rmi: unknown option %s (usage: lcvm rmi [-f] IMAGE...)", argv[first]);
	}
	if (first >= argc)
		return cli_error("rmi: give at least one image");
	struct img_store s;
	int r = open_store(g, &s);
	if (r)
		return r;
	int status = 0;
	for (int i = first; i < argc; i++) {
		struct lc_err e = { { 0 } };
		char id[IMG_DIGEST_LEN + 1], who[160];
		image_id_of(&s, argv[i], id, sizeof(id));
		if (!force && id[0] && image_in_use(g, id, who, sizeof(who))) {
			status = cli_error("rmi: image %s is used by running container %s (stop it, or use -f)",
					   argv[i], who);
			continue;
		}
		if (img_store_remove(&s, argv[i], force, &e) < 0)
			status = cli_error("rmi: %s", e.msg);
		else
			printf("Untagged: %s\n", argv[i]);
	}
	return status;
}

int cmd_rmi(const struct cli_globals *g, int argc, char **argv)
{
	return remove_images(g, argc, argv);
}

int cmd_tag(const struct cli_globals *g, int argc, char **argv)
{
	if (argc != 3)
		return cli_error("tag: usage: lcvm tag SOURCE_IMAGE TARGET_IMAGE[:TAG]");
	struct img_store s;
	int r = open_store(g, &s);
	if (r)
		return r;
	struct lc_err e = { { 0 } };
	if (img_store_tag(&s, argv[1], argv[2], &e) < 0)
		return cli_error("tag: %s", e.msg);
	return 0;
}

static int inspect(const struct cli_globals *g, int argc, char **argv)
{
	if (argc < 2)
		return cli_error("image inspect: give at least one image");
	struct img_store s;
	int r = open_store(g, &s);
	if (r)
		return r;
	int status = 0;
	printf("[");
	for (int i = 1, first = 1; i < argc; i++) {
		struct lc_err e = { { 0 } };
		cleanup_free char *j = NULL;
		if (img_inspect_json(&s, argv[i], &j, &e) < 0) {
			status = cli_error("image inspect: %s", e.msg);
			continue;
		}
		printf("%s\n%s", first ? "" : ",", j);
		first = 0;
	}
	printf("\n]\n");
	return status;
}

int cmd_image(const struct cli_globals *g, int argc, char **argv)
{
	if (argc < 2)
		return cli_error("image: usage: lcvm image inspect|ls|rm|pull|load|save|tag ...");
	const char *sub = argv[1];
	if (!strcmp(sub, "inspect"))
		return inspect(g, argc - 1, argv + 1);
	if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
		return list_images(g, argc - 1, argv + 1);
	if (!strcmp(sub, "rm"))
		return remove_images(g, argc - 1, argv + 1);
	if (!strcmp(sub, "pull"))
		return cmd_pull(g, argc - 1, argv + 1);
	if (!strcmp(sub, "load"))
		return cmd_load(g, argc - 1, argv + 1);
	if (!strcmp(sub, "save"))
		return cmd_save(g, argc - 1, argv + 1);
	if (!strcmp(sub, "tag"))
		return cmd_tag(g, argc - 1, argv + 1);
	return cli_error("image: unknown command %s (inspect, ls, rm, pull, load, save, tag)", sub);
}

/* Options shared by pull and login; returns the index of the first operand or -1. */
static int registry_opts(int argc, char **argv, struct img_pull_opts *o, bool *quiet, const char *usage)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--insecure"))
			o->insecure = true;
		else if (!strcmp(argv[i], "--ca-cert") && i + 1 < argc)
			o->ca_cert = argv[++i];
		else if (!strncmp(argv[i], "--ca-cert=", 10))
			o->ca_cert = argv[i] + 10;
		else if (quiet && (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")))
			*quiet = true;
		else if (quiet && !strcmp(argv[i], "--no-convert"))
			o->no_convert = true;
		else
			break;
	}
	return i;
}

int cmd_pull(const struct cli_globals *g, int argc, char **argv)
{
	struct img_pull_opts o = { 0 };
	bool quiet = false;
	int i = registry_opts(argc, argv, &o, &quiet, NULL);
	if (i != argc - 1)
		return cli_error("pull: usage: lcvm pull [-q] [--insecure] [--ca-cert FILE] [--no-convert] IMAGE");
	struct img_store s;
	int r = open_store(g, &s);
	if (r)
		return r;
	if (!quiet) {
		o.progress = stderr;
		o.tty = isatty(2);
	}
	char id[IMG_DIGEST_LEN + 1];
	struct lc_err e = { { 0 } };
	if (img_pull(&s, argv[i], &o, id, &e) < 0)
		return cli_fail(&e);
	printf("%s\n", quiet ? id : argv[i]);
	return 0;
}

static int read_line(FILE *f, char *out, size_t n)
{
	if (!fgets(out, (int)n, f))
		return -1;
	out[strcspn(out, "\r\n")] = 0;
	return 0;
}

int cmd_login(const struct cli_globals *g, int argc, char **argv)
{
	struct img_pull_opts o = { 0 };
	struct img_cred c = { { 0 }, { 0 } };
	bool pass_stdin = false, have_pass = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if ((!strcmp(argv[i], "-u") || !strcmp(argv[i], "--username")) && i + 1 < argc)
			snprintf(c.user, sizeof(c.user), "%s", argv[++i]);
		else if ((!strcmp(argv[i], "-p") || !strcmp(argv[i], "--password")) && i + 1 < argc)
			snprintf(c.pass, sizeof(c.pass), "%s", argv[++i]), have_pass = true;
		else if (!strcmp(argv[i], "--password-stdin"))
			pass_stdin = true;
		else if (!strcmp(argv[i], "--insecure"))
			o.insecure = true;
		else if (!strcmp(argv[i], "--ca-cert") && i + 1 < argc)
			o.ca_cert = argv[++i];
		else
			break;
	}
	if (i != argc - 1)
		return cli_error("login: usage: lcvm login [-u USER] [-p PASS | --password-stdin] [--insecure] [--ca-cert FILE] SERVER");
	struct img_ref ref;
	char probe[IMG_REF_MAX];
	snprintf(probe, sizeof(probe), "%s/x", argv[i]);
	struct lc_err e = { { 0 } };
	if (img_ref_parse(probe, &ref, &e) < 0 || strcmp(ref.path, "x"))
		return cli_error("login: %s is not a registry host", argv[i]);
	if (!c.user[0]) {
		fprintf(stderr, "Username: ");
		if (read_line(stdin, c.user, sizeof(c.user)) < 0)
			return cli_error("login: no username");
	}
	if (pass_stdin || !have_pass) {
		if (!pass_stdin)
			fprintf(stderr, "Password: ");
		if (read_line(stdin, c.pass, sizeof(c.pass)) < 0)
			return cli_error("login: no password");
	}
	char data[PATH_MAX];
	if (lc_data_dir(g->root, data, sizeof(data)) < 0 || lc_mkdir_p(data, 0700) < 0)
		return cli_error("login: cannot find or create the data directory");
	int r = img_login_check(ref.domain, &c, &o, &e);
	if (r == 0)
		r = img_auth_put(data, ref.domain, &c, &e);
	explicit_bzero(&c, sizeof(c));
	if (r < 0)
		return cli_error("login: %s", e.msg);
	printf("Login Succeeded\n");
	return 0;
}
