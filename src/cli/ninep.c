/* lcvm 9p serve: one host directory as a 9P2000.L export on a unix socket,
 * TCP or an inherited fd, in the foreground (for other VMMs and as a diod
 * replacement). SIGINT/SIGTERM end it cleanly through a signalfd. Once bound
 * it prints one line "listening <spec>" on stdout, so scripts can wait for
 * it without sleeping. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "p9/codec.h"
#include "p9/fs_local.h"
#include "p9/serve.h"
#include "p9/server.h"
#include "util/evloop.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: lcvm 9p serve --export DIR --listen SPEC [--ro] [--model passthrough|mapped]\n"
		"                     [--allow ADDR[/PREFIX]]... [--msize BYTES] [--workers N]\n\n"
		"Serve DIR over 9P2000.L until SIGINT/SIGTERM.\n"
		"  --listen unix:PATH       unix stream socket (mode 0600)\n"
		"           tcp:PORT        127.0.0.1:PORT\n"
		"           tcp:HOST:PORT   numeric HOST (IPv6 in brackets); a non-loopback\n"
		"                           HOST exposes DIR to the network: use --allow\n"
		"           fd:N            inherited listening socket or connected stream\n"
		"  --allow ADDR[/PREFIX]    serve only these TCP clients (repeatable)\n"
		"  --ro                     refuse every change (EROFS)\n"
		"  --model MODEL            passthrough (default as root) or mapped (default\n"
		"                           otherwise: ownership and modes kept in user.virtfs.*)\n"
		"  --msize BYTES            largest message (4096..1048576, default 1048576)\n"
		"  --workers N              worker threads (default %d)\n",
		P9_DEFAULT_WORKERS);
}

struct serve_ctx {
	struct ev_loop *loop;
	struct p9_listener *ln;
};

static void on_signal(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct signalfd_siginfo si;
	(void)events;
	(void)data;
	if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		ev_stop(loop);
}

static void on_conn_closed(void *arg)
{
	struct serve_ctx *sc = arg;
	if (sc->ln && p9_listener_done(sc->ln))
		ev_stop(sc->loop);
}

static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || s[0] == '-' || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static void print_listening(const struct p9_listen *l, const struct p9_listener *ln)
{
	if (l->kind == P9_LISTEN_UNIX) {
		printf("listening unix:%s\n", l->path);
	} else if (l->kind == P9_LISTEN_FD) {
		printf("listening fd:%d\n", l->fd);
	} else {
		struct sockaddr_storage ss;
		socklen_t len;
		char host[INET6_ADDRSTRLEN] = "?";
		unsigned port = 0;
		if (p9_listener_addr(ln, &ss, &len) == 0) {
			if (ss.ss_family == AF_INET) {
				struct sockaddr_in *a = (struct sockaddr_in *)&ss;
				inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
				port = ntohs(a->sin_port);
				printf("listening tcp:%s:%u\n", host, port);
			} else {
				struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
				inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
				port = ntohs(a->sin6_port);
				printf("listening tcp:[%s]:%u\n", host, port);
			}
		}
	}
	fflush(stdout);
}

struct serve_opts {
	struct p9_local_opts lo;
	struct p9_listen listen;
	struct p9_allow allow[P9_SERVE_MAX_ALLOW];
	size_t nallow;
	struct p9_server_opts so;
};

static int run_server(struct serve_opts *o)
{
	struct lc_err e = { { 0 } };
	int sfd = cli_stop_signalfd();
	if (sfd < 0)
		return cli_error("9p serve: signals: %s", strerror(-sfd));

	struct p9_localfs *fs = NULL;
	if (p9_localfs_new(&o->lo, &fs, &e) < 0) {
		close(sfd);
		return cli_error("9p serve: export %s: %s", o->lo.root, e.msg);
	}
	int rc = CLI_EXIT_ERROR;
	struct serve_ctx sc = { 0 };
	struct p9_server *srv = NULL;
	sc.loop = ev_loop_new();
	if (!sc.loop) {
		cli_error("9p serve: event loop: %s", strerror(errno));
		goto out;
	}
	if (ev_add(sc.loop, sfd, EV_READ, on_signal, NULL) < 0) {
		cli_error("9p serve: signalfd: %s", strerror(errno));
		goto out;
	}
	struct p9_export exp = { .ops = &p9_localfs_ops, .fs = fs,
				 .flags = o->lo.readonly ? P9_EXPORT_RDONLY : 0 };
	o->so.on_conn_closed = on_conn_closed;
	o->so.arg = &sc;
	int r = p9_server_new(sc.loop, &exp, &o->so, &srv);
	if (r < 0) {
		cli_error("9p serve: server: %s", strerror(-r));
		goto out;
	}
	if (p9_listener_new(sc.loop, srv, &o->listen, o->allow, o->nallow, &sc.ln, &e) < 0) {
		cli_error("9p serve: %s", e.msg);
		goto out;
	}
	if (o->listen.kind == P9_LISTEN_TCP && !o->listen.loopback && !o->nallow)
		fprintf(stderr, "lcvm: warning: 9p serve: %s is reachable from the network by any "
				"client (no --allow)\n", o->lo.root);
	print_listening(&o->listen, sc.ln);
	r = ev_run(sc.loop);
	if (r < 0)
		cli_error("9p serve: event loop: %s", strerror(-r));
	else
		rc = 0;
out:
	/* Server first: it owns the connections the listener handed over. */
	p9_server_free(srv);
	p9_listener_free(sc.ln);
	if (sc.loop) {
		ev_del(sc.loop, sfd);
		ev_loop_free(sc.loop);
	}
	close(sfd);
	p9_localfs_free(fs);
	return rc;
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "export", required_argument, NULL, 'e' },
		{ "listen", required_argument, NULL, 'l' },
		{ "allow", required_argument, NULL, 'a' },
		{ "ro", no_argument, NULL, 'r' },
		{ "model", required_argument, NULL, 'm' },
		{ "msize", required_argument, NULL, 's' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct serve_opts o;
	memset(&o, 0, sizeof(o));
	o.lo.model = geteuid() == 0 ? P9_LOCAL_PASSTHROUGH : P9_LOCAL_MAPPED;
	const char *listen = NULL;
	struct lc_err e = { { 0 } };
	unsigned long v;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'e': o.lo.root = optarg; break;
		case 'l': listen = optarg; break;
		case 'r': o.lo.readonly = true; break;
		case 'a':
			if (o.nallow >= P9_SERVE_MAX_ALLOW)
				return cli_error("9p serve: more than %d --allow entries", P9_SERVE_MAX_ALLOW);
			if (p9_allow_parse(optarg, &o.allow[o.nallow], &e) < 0)
				return cli_error("9p serve: --allow: %s", e.msg);
			o.nallow++;
			break;
		case 'm':
			if (p9_local_model_parse(optarg, &o.lo.model) < 0)
				return cli_error("9p serve: --model %s: expected passthrough or mapped", optarg);
			break;
		case 's':
			if (parse_uint(optarg, P9_MSIZE_MIN, P9_MSIZE_MAX, &v) < 0)
				return cli_error("9p serve: --msize %s: must be %u..%u", optarg, P9_MSIZE_MIN,
						 P9_MSIZE_MAX);
			o.so.max_msize = (uint32_t)v;
			break;
		case 'w':
			if (parse_uint(optarg, 1, P9_MAX_WORKERS, &v) < 0)
				return cli_error("9p serve: --workers %s: must be 1..%d", optarg, P9_MAX_WORKERS);
			o.so.nworkers = (unsigned)v;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return CLI_EXIT_ERROR;
		}
	}
	if (optind < argc)
		return cli_error("9p serve: unexpected argument %s", argv[optind]);
	if (!o.lo.root || !listen)
		return cli_error("9p serve: --export and --listen are required (see 'lcvm 9p serve --help')");
	if (p9_listen_parse(listen, &o.listen, &e) < 0)
		return cli_error("9p serve: --listen: %s", e.msg);
	if (o.nallow && o.listen.kind == P9_LISTEN_UNIX)
		return cli_error("9p serve: --allow applies to TCP listeners only");
	return run_server(&o);
}

int cmd_9p(const struct cli_globals *g, int argc, char **argv)
{
	(void)g;
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_ERROR : 0;
	}
	if (strcmp(argv[1], "serve"))
		return cli_error("9p: unknown subcommand '%s' (expected serve)", argv[1]);
	return cmd_serve(argc - 1, argv + 1);
}
