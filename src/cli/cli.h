/* CLI verbs: one function per verb (or verb group), each in its own file,
 * dispatched from main.c. A verb parses its arguments, does its work through
 * the library modules and returns the process exit status. Errors are
 * printed once, here, with cli_error(): "lcvm: <what failed>: <why>".
 * Exit statuses follow docker: 125 lcvm's own error, 126 command cannot be
 * run, 127 command not found, otherwise the container's status. */
#ifndef LCVM_CLI_CLI_H
#define LCVM_CLI_CLI_H

#include "util/err.h"

#define CLI_EXIT_ERROR 125
#define CLI_EXIT_CANNOT_RUN 126
#define CLI_EXIT_NOT_FOUND 127

/* Global options parsed by main before the verb (lcvm [--root DIR] [--debug] VERB ...). */
struct cli_globals {
	const char *root;   /* --root, or NULL */
	int debug;          /* --debug */
};

/* Prints "lcvm: <fmt...>" to stderr. Returns CLI_EXIT_ERROR. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "lcvm: <e->msg>". Returns CLI_EXIT_ERROR. */
int cli_fail(const struct lc_err *e);

/* For foreground servers: takes SIGINT and SIGTERM (resetting them to their
 * default first: a shell starts background jobs with SIGINT ignored, and an
 * ignored signal is discarded, never queued), blocks them, ignores SIGPIPE
 * and returns a non-blocking signalfd for them, or -errno. */
int cli_stop_signalfd(void);

/* Each returns an exit status. argv[0] is the verb. */
int cmd_run(const struct cli_globals *g, int argc, char **argv);
int cmd_monitor(const struct cli_globals *g, int argc, char **argv);   /* internal */
int cmd_guest(const struct cli_globals *g, int argc, char **argv);     /* guest info */
int cmd_vsock_backend(const struct cli_globals *g, int argc, char **argv);
int cmd_9p(const struct cli_globals *g, int argc, char **argv);        /* 9p serve */
/* Image verbs (src/cli/image.c). */
int cmd_pull(const struct cli_globals *g, int argc, char **argv);
int cmd_load(const struct cli_globals *g, int argc, char **argv);
int cmd_save(const struct cli_globals *g, int argc, char **argv);
int cmd_images(const struct cli_globals *g, int argc, char **argv);
int cmd_rmi(const struct cli_globals *g, int argc, char **argv);
int cmd_tag(const struct cli_globals *g, int argc, char **argv);
int cmd_image(const struct cli_globals *g, int argc, char **argv);     /* image inspect|ls|rm */
int cmd_login(const struct cli_globals *g, int argc, char **argv);

#endif
