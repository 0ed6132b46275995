/* lcvm: dispatch only. Global options, then a verb from the table. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>

#include "cli/cli.h"

#define LCVM_VERSION "0.1.0"

struct verb {
	const char *name;
	int (*fn)(const struct cli_globals *g, int argc, char **argv);
	const char *summary; /* NULL = internal, not listed */
};

static int cmd_version(const struct cli_globals *g, int argc, char **argv);
static int cmd_help(const struct cli_globals *g, int argc, char **argv);

static const struct verb verbs[] = {
	{ "run", cmd_run, "Run a command in a new container, in its own VM" },
	{ "pull", cmd_pull, "Pull an image from a registry" },
	{ "load", cmd_load, "Load an image from a docker-save or OCI archive" },
	{ "save", cmd_save, "Save images to an archive" },
	{ "images", cmd_images, "List images" },
	{ "rmi", cmd_rmi, "Remove images" },
	{ "tag", cmd_tag, "Create a tag that refers to an image" },
	{ "image", cmd_image, "Manage images (inspect, ls, rm)" },
	{ "login", cmd_login, "Store registry credentials" },
	{ "9p", cmd_9p, "9P2000.L file server (9p serve)" },
	{ "guest", cmd_guest, "Show the guest kernel and initramfs (guest info)" },
	{ "vsock-backend", cmd_vsock_backend, "Run the vhost-user-vsock backend alone" },
	{ "version", cmd_version, "Show the lcvm version" },
	{ "help", cmd_help, "Show this help" },
	{ "monitor", cmd_monitor, NULL },
};

int cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("lcvm: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return CLI_EXIT_ERROR;
}

int cli_fail(const struct lc_err *e)
{
	return cli_error("%s", e->msg[0] ? e->msg : "unknown error");
}

int cli_stop_signalfd(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN); /* peers vanish; every write checks EPIPE */
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int usage(FILE *out)
{
	fprintf(out, "Usage: lcvm [--root DIR] [--debug] COMMAND [ARG...]\n\n"
		     "Run Linux containers, each in its own lightweight virtual machine.\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].summary)
			fprintf(out, "  %-14s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(out, "\nGlobal options:\n"
		     "  --root DIR     keep images and state under DIR\n"
		     "  --debug        mirror monitor logs and the guest console to stderr\n"
		     "\nRun 'lcvm COMMAND --help' for more on a command.\n");
	return 0;
}

static int cmd_version(const struct cli_globals *g, int argc, char **argv)
{
	printf("lcvm version %s\n", LCVM_VERSION);
	return 0;
}

static int cmd_help(const struct cli_globals *g, int argc, char **argv)
{
	return usage(stdout);
}

int main(int argc, char **argv)
{
	struct cli_globals g = { 0 };
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--root") && i + 1 < argc)
			g.root = argv[++i];
		else if (!strncmp(argv[i], "--root=", 7))
			g.root = argv[i] + 7;
		else if (!strcmp(argv[i], "--debug") || !strcmp(argv[i], "-D"))
			g.debug = 1;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return usage(stdout);
		else if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-v"))
			return cmd_version(&g, 0, NULL);
		else
			return cli_error("unknown option %s (see 'lcvm --help')", argv[i]);
	}
	if (i >= argc) {
		usage(stderr);
		return CLI_EXIT_ERROR;
	}
	for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
		if (!strcmp(argv[i], verbs[v].name))
			return verbs[v].fn(&g, argc - i, argv + i);
	return cli_error("'%s' is not an lcvm command (see 'lcvm --help')", argv[i]);
}
