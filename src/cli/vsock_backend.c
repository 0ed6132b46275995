/* lcvm vsock-backend: the vhost-user-vsock device alone, in the foreground,
 * with the hybrid-vsock unix socket convention on the host side (the role of
 * rust-vmm's vhost-device-vsock). SIGTERM/SIGINT end it cleanly; both of its
 * sockets are unlinked on exit. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/evloop.h"
#include "vsock/hybrid.h"
#include "vsock/vsock_dev.h"

static void usage(FILE *out)
{
	fprintf(out, "Usage: lcvm vsock-backend --socket-path PATH --uds-path PATH --guest-cid N\n"
		     "       lcvm vsock-backend --print-capabilities\n\n"
		     "Serve a vhost-user-vsock device (QEMU: -chardev socket,path=PATH\n"
		     "-device vhost-user-vsock-pci,chardev=...). Host clients connect to the\n"
		     "--uds-path socket and write \"CONNECT <port>\\n\"; guest connections to host\n"
		     "port P go to <uds-path>_P.\n");
}

static void on_signal(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct signalfd_siginfo si;
	(void)events;
	(void)data;
	if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		ev_stop(loop);
}

static int parse_cid(const char *s, uint32_t *cid)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v <= 2 || v >= UINT32_MAX)
		return -EINVAL;
	*cid = (uint32_t)v;
	return 0;
}

struct backend {
	struct ev_loop *loop;
	struct hybrid *hyb;
	struct vsock_dev *dev;
	int sfd;
	const char *socket_path;
	bool listening;
};

static void backend_close(struct backend *b)
{
	vsock_dev_free(b->dev); /* before the hybrid: it calls back into it */
	hybrid_free(b->hyb);
	if (b->sfd >= 0) {
		ev_del(b->loop, b->sfd);
		close(b->sfd);
	}
	if (b->listening)
		unlink(b->socket_path);
	ev_loop_free(b->loop);
}

static int serve(struct backend *b, uint32_t cid, const char *uds_path)
{
	struct lc_err e = { { 0 } };
	b->sfd = cli_stop_signalfd();
	if (b->sfd < 0)
		return cli_error("vsock-backend: signals: %s", strerror(-b->sfd));
	b->loop = ev_loop_new();
	if (!b->loop)
		return cli_error("vsock-backend: event loop: %s", strerror(errno));
	if (ev_add(b->loop, b->sfd, EV_READ, on_signal, NULL) < 0)
		return cli_error("vsock-backend: signalfd: %s", strerror(errno));
	b->hyb = hybrid_new(b->loop, uds_path, &e);
	if (!b->hyb)
		return cli_fail(&e);
	b->dev = vsock_dev_new(b->loop, cid, &hybrid_host_ops, b->hyb);
	if (!b->dev)
		return cli_error("vsock-backend: device: %s", strerror(errno));
	unlink(b->socket_path); /* stale socket of an earlier run */
	if (vsock_dev_listen(b->dev, b->socket_path, &e) < 0)
		return cli_fail(&e);
	b->listening = true;
	if (hybrid_listen(b->hyb, b->dev, &e) < 0)
		return cli_fail(&e);
	int r = ev_run(b->loop);
	if (r < 0)
		return cli_error("vsock-backend: event loop: %s", strerror(-r));
	return 0;
}

int cmd_vsock_backend(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket-path", required_argument, NULL, 's' },
		{ "uds-path", required_argument, NULL, 'u' },
		{ "guest-cid", required_argument, NULL, 'c' },
		{ "print-capabilities", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *socket_path = NULL, *uds_path = NULL, *cid_arg = NULL;
	int opt;
	(void)g;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': socket_path = optarg; break;
		case 'u': uds_path = optarg; break;
		case 'c': cid_arg = optarg; break;
		case 'p':
			/* vhost-user.rst "Backend program conventions" */
			printf("{\n  \"type\": \"vsock\"\n}\n");
			return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return CLI_EXIT_ERROR;
		}
	}
	if (optind < argc)
		return cli_error("vsock-backend: unexpected argument %s", argv[optind]);
	if (!socket_path || !uds_path || !cid_arg)
		return cli_error("vsock-backend: --socket-path, --uds-path and --guest-cid are required");
	uint32_t cid;
	if (parse_cid(cid_arg, &cid) < 0)
		return cli_error("vsock-backend: --guest-cid %s: must be a number from 3 to 4294967294",
				 cid_arg);
	struct backend b = { .sfd = -1, .socket_path = socket_path };
	int rc = serve(&b, cid, uds_path);
	backend_close(&b);
	return rc;
}
