/* ttrpc client and server in one process and one loop over socketpairs.
 * A "raw" peer (a socketpair end driven by hand) plays a hostile or slow
 * client/server to check framing and error handling on the wire. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "rpc/ttrpc.h"
#include "test.h"
#include "ttrpc.pb-c.h"
#include "util/cleanup.h"
#include "util/evloop.h"

#define SVC "lcvm.agent.v1.Agent"
#define MAX_DEFERRED 160
#define MAX_FRAMES 80

/* --- the test agent service --------------------------------------------------*/

struct deferred {
	struct ttrpc_call *call;
	char id[64];
};

struct agent_state {
	uint8_t *create_packed; /* the CreateContainerRequest as received, re-packed */
	size_t create_len;
	uint32_t last_signal;
	int shutdowns;
	int bigs;
	struct deferred waits[MAX_DEFERRED];
	int nwaits;
};

static void h_ping(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	Lcvm__Agent__V1__PingResponse r = LCVM__AGENT__V1__PING_RESPONSE__INIT;
	r.protocol_version = 7;
	r.kernel_release = "6.1.0-test";
	r.agent_version = "agent-1";
	ttrpc_reply(call, &r.base);
}

static void h_create(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	struct agent_state *st = opaque;
	free(st->create_packed);
	st->create_len = protobuf_c_message_get_packed_size(req);
	st->create_packed = malloc(st->create_len + 1);
	protobuf_c_message_pack(req, st->create_packed);
	Lcvm__Agent__V1__CreateContainerResponse r = LCVM__AGENT__V1__CREATE_CONTAINER_RESPONSE__INIT;
	ttrpc_reply(call, &r.base);
}

static void h_start(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	const Lcvm__Agent__V1__StartContainerRequest *rq = (const void *)req;
	if (strcmp(rq->id, "c1") != 0) {
		ttrpc_reply_error(call, TTRPC_NOT_FOUND, "no container %s", rq->id);
		return;
	}
	Lcvm__Agent__V1__StartContainerResponse r = LCVM__AGENT__V1__START_CONTAINER_RESPONSE__INIT;
	r.pid = 4242;
	ttrpc_reply(call, &r.base);
}

/* Answered later by wait_answer(), like the agent does when the container exits. */
static void h_wait(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	struct agent_state *st = opaque;
	const Lcvm__Agent__V1__WaitContainerRequest *rq = (const void *)req;
	if (st->nwaits >= MAX_DEFERRED) {
		ttrpc_reply_error(call, TTRPC_RESOURCE_EXHAUSTED, "test table full");
		return;
	}
	struct deferred *d = &st->waits[st->nwaits++];
	d->call = call;
	snprintf(d->id, sizeof(d->id), "%s", rq->id);
}

static void h_signal(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	struct agent_state *st = opaque;
	const Lcvm__Agent__V1__SignalContainerRequest *rq = (const void *)req;
	if (rq->signal == 0 || rq->signal > 64) {
		ttrpc_reply_error(call, TTRPC_INVALID_ARGUMENT, "bad signal %u", rq->signal);
		return;
	}
	st->last_signal = rq->signal;
	Lcvm__Agent__V1__Empty r = LCVM__AGENT__V1__EMPTY__INIT;
	ttrpc_reply(call, &r.base);
}

static void h_shutdown(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	struct agent_state *st = opaque;
	st->shutdowns++;
	ttrpc_reply(call, NULL); /* Empty */
}

/* Not an agent method: a 1 MiB answer, to fill the server's write queue. */
static void h_big(struct ttrpc_call *call, const ProtobufCMessage *req, void *opaque)
{
	struct agent_state *st = opaque;
	static char big[1u << 20];
	memset(big, 'b', sizeof(big) - 1);
	Lcvm__Agent__V1__PingResponse r = LCVM__AGENT__V1__PING_RESPONSE__INIT;
	r.agent_version = big;
	st->bigs++;
	ttrpc_reply(call, &r.base);
}

static const struct ttrpc_method methods[] = {
	{ SVC, "Big", &lcvm__agent__v1__ping_request__descriptor, h_big },
	{ SVC, "Ping", &lcvm__agent__v1__ping_request__descriptor, h_ping },
	{ SVC, "CreateContainer", &lcvm__agent__v1__create_container_request__descriptor, h_create },
	{ SVC, "StartContainer", &lcvm__agent__v1__start_container_request__descriptor, h_start },
	{ SVC, "WaitContainer", &lcvm__agent__v1__wait_container_request__descriptor, h_wait },
	{ SVC, "SignalContainer", &lcvm__agent__v1__signal_container_request__descriptor, h_signal },
	{ SVC, "Shutdown", &lcvm__agent__v1__shutdown_request__descriptor, h_shutdown },
};

/* Answers the deferred WaitContainer for id (the first one found). */
static bool wait_answer(struct agent_state *st, const char *id, int exit_status)
{
	for (int i = 0; i < st->nwaits; i++) {
		if (st->waits[i].call && strcmp(st->waits[i].id, id) == 0) {
			Lcvm__Agent__V1__WaitContainerResponse r =
				LCVM__AGENT__V1__WAIT_CONTAINER_RESPONSE__INIT;
			r.exit_status = exit_status;
			ttrpc_reply(st->waits[i].call, &r.base);
			st->waits[i].call = NULL;
			return true;
		}
	}
	return false;
}

static void wait_answer_all(struct agent_state *st)
{
	for (int i = 0; i < st->nwaits; i++) {
		if (st->waits[i].call)
			ttrpc_reply_error(st->waits[i].call, TTRPC_CANCELLED, "test over");
		st->waits[i].call = NULL;
	}
	st->nwaits = 0;
}

/* --- client side results ------------------------------------------------------*/

struct result {
	int calls;  /* how many times the callback ran (must end at 1) */
	int status;
	int order;  /* completion rank */
	ProtobufCMessage *resp;
	char msg[TTRPC_MAX_ERRMSG + 1];
	int *counter;
	struct ttrpc_client *free_me; /* frees the client from inside the callback */
};

static void on_reply(void *opaque, int status, ProtobufCMessage *resp, const char *msg)
{
	struct result *r = opaque;
	r->calls++;
	r->status = status;
	if (r->resp)
		protobuf_c_message_free_unpacked(r->resp, NULL);
	r->resp = resp;
	snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : "(null)");
	if (r->counter)
		r->order = ++*r->counter;
	if (r->free_me)
		ttrpc_client_free(r->free_me);
}

static void result_clear(struct result *r)
{
	if (r->resp)
		protobuf_c_message_free_unpacked(r->resp, NULL);
	memset(r, 0, sizeof(*r));
}

/* --- environment ----------------------------------------------------------------*/

struct env {
	struct ev_loop *loop;
	struct ttrpc_server *srv;
	struct ttrpc_client *cli;
	struct agent_state st;
	int close_calls;
	int close_err;
};

static void on_close(void *opaque, int err)
{
	struct env *e = opaque;
	e->close_calls++;
	e->close_err = err;
}

static bool env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	int sv[2];
	e->loop = ev_loop_new();
	if (!e->loop || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	e->srv = ttrpc_server_new(e->loop, methods, ARRAY_SIZE(methods), &e->st);
	if (!e->srv || ttrpc_server_add_conn(e->srv, sv[0]) < 0)
		return false;
	e->cli = ttrpc_client_new(e->loop, sv[1]);
	if (!e->cli)
		return false;
	ttrpc_client_set_close_cb(e->cli, on_close, e);
	return true;
}

static void env_fini(struct env *e)
{
	ttrpc_client_free(e->cli);
	ttrpc_server_free(e->srv);
	wait_answer_all(&e->st); /* calls outlive the server; answering frees them */
	free(e->st.create_packed);
	ev_loop_free(e->loop);
}

/* Runs the loop until *flag becomes non-zero; false after 5 s (never hangs). */
static bool run_until(struct ev_loop *loop, const int *flag)
{
	long long end = ev_now_ms() + 5000;
	while (!*flag && ev_now_ms() < end)
		ev_run_once(loop, 100);
	return *flag != 0;
}

/* Runs the loop until nothing is left to do right now. */
static void run_idle(struct ev_loop *loop)
{
	for (int i = 0; i < 1000 && ev_run_once(loop, 0) > 0; i++)
		;
}

static int call(struct env *e, const char *method, const ProtobufCMessage *req,
		const ProtobufCMessageDescriptor *rd, int timeout, struct result *r)
{
	return ttrpc_call(e->cli, SVC, method, req, rd, timeout, on_reply, r);
}

/* --- raw peer ------------------------------------------------------------------*/

struct frame {
	struct ttrpc_hdr h;
	uint8_t *p;
};

struct raw {
	int fd;
	int eof;
	int nframes;
	struct frame frames[MAX_FRAMES];
	struct ttrpc_reader rd;
};

static void raw_io(struct ev_loop *loop, int fd, unsigned events, void *data)
{
	struct raw *r = data;
	uint8_t buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			r->eof = 1;
			ev_del(loop, fd);
		}
		return;
	}
	size_t off = 0;
	while (off < (size_t)n) {
		size_t used;
		int k = ttrpc_reader_feed(&r->rd, buf + off, (size_t)n - off, &used);
		off += used;
		if (k < 0 || (k == 0 && used == 0)) { /* no progress would spin */
			r->eof = -1;
			ev_del(loop, fd);
			return;
		}
		if (k == 1) {
			if (r->nframes < MAX_FRAMES) {
				struct frame *f = &r->frames[r->nframes++];
				f->h = r->rd.hdr;
				f->p = malloc(f->h.length + 1);
				memcpy(f->p, r->rd.payload, f->h.length);
			}
			ttrpc_reader_next(&r->rd);
		}
	}
}

static void raw_fini(struct ev_loop *loop, struct raw *r)
{
	ev_del(loop, r->fd);
	close(r->fd);
	for (int i = 0; i < r->nframes; i++)
		free(r->frames[i].p);
	ttrpc_reader_release(&r->rd);
}

/* A raw client of e->srv. */
static bool raw_connect_server(struct env *e, struct raw *r)
{
	int sv[2];
	memset(r, 0, sizeof(*r));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	r->fd = sv[1];
	return ttrpc_server_add_conn(e->srv, sv[0]) == 0 &&
	       ev_add(e->loop, r->fd, EV_READ, raw_io, r) == 0;
}

static void raw_write(struct raw *r, const void *p, size_t n)
{
	if (write(r->fd, p, n) != (ssize_t)n)
		t_check(false, "raw write", __FILE__, __LINE__);
}

static void raw_frame(struct raw *r, uint32_t sid, uint8_t type, const void *p, size_t n)
{
	uint8_t hdr[TTRPC_HDR_LEN];
	struct ttrpc_hdr h = { .length = (uint32_t)n, .stream_id = sid, .type = type };
	ttrpc_hdr_encode(&h, hdr);
	raw_write(r, hdr, sizeof(hdr));
	if (n)
		raw_write(r, p, n);
}

/* Packs a Request envelope; returns its length in buf (caller frees). */
static size_t pack_request(const char *method, const ProtobufCMessage *m, uint8_t **out)
{
	uint8_t payload[4096];
	size_t plen = m ? protobuf_c_message_pack(m, payload) : 0;
	Ttrpc__Request rq = TTRPC__REQUEST__INIT;
	rq.service = SVC;
	rq.method = (char *)method;
	rq.payload.data = payload;
	rq.payload.len = plen;
	size_t len = protobuf_c_message_get_packed_size(&rq.base);
	*out = malloc(len + 1);
	protobuf_c_message_pack(&rq.base, *out);
	return len;
}

static int frames_at_least(struct raw *r, int n)
{
	return r->nframes >= n || r->eof;
}

static bool raw_wait_frames(struct env *e, struct raw *r, int n)
{
	long long end = ev_now_ms() + 5000;
	while (!frames_at_least(r, n) && ev_now_ms() < end)
		ev_run_once(e->loop, 100);
	return r->nframes >= n;
}

/* Status code of the Response in frame i, or -1000 if undecodable. */
static int raw_status(struct raw *r, int i, char *msg, size_t msglen)
{
	Ttrpc__Response *resp = ttrpc__response__unpack(NULL, r->frames[i].h.length, r->frames[i].p);
	if (!resp)
		return -1000;
	int code = resp->status ? resp->status->code : 0;
	if (msg)
		snprintf(msg, msglen, "%s", resp->status ? resp->status->message : "");
	ttrpc__response__free_unpacked(resp, NULL);
	return code;
}

/* --- codec ----------------------------------------------------------------------*/

static void t_header_codec(void)
{
	struct ttrpc_hdr h = { .length = 0x01020304, .stream_id = 0x0a0b0c0d, .type = 2, .flags = 5 };
	uint8_t b[TTRPC_HDR_LEN];
	ttrpc_hdr_encode(&h, b);
	static const uint8_t want[] = { 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 2, 5 };
	T_CHECK(memcmp(b, want, sizeof(want)) == 0);
	struct ttrpc_hdr d;
	T_CHECK_EQ_INT(ttrpc_hdr_decode(b, &d), -EMSGSIZE); /* 16 MiB > 4 MiB */

	h.length = TTRPC_MAX_MSG;
	ttrpc_hdr_encode(&h, b);
	T_CHECK_EQ_INT(ttrpc_hdr_decode(b, &d), 0);
	T_CHECK_EQ_INT(d.length, TTRPC_MAX_MSG);
	T_CHECK_EQ_INT(d.stream_id, 0x0a0b0c0d);
	T_CHECK_EQ_INT(d.type, 2);
	T_CHECK_EQ_INT(d.flags, 5);

	h.length = TTRPC_MAX_MSG + 1;
	ttrpc_hdr_encode(&h, b);
	T_CHECK_EQ_INT(ttrpc_hdr_decode(b, &d), -EMSGSIZE);
	h.length = 1;
	h.type = 0;
	ttrpc_hdr_encode(&h, b);
	T_CHECK_EQ_INT(ttrpc_hdr_decode(b, &d), -EINVAL);
	h.type = 4;
	ttrpc_hdr_encode(&h, b);
	T_CHECK_EQ_INT(ttrpc_hdr_decode(b, &d), -EINVAL);
}

/* Three frames (one empty) fed whole, then one byte at a time. */
static void t_reader_chunking(void)
{
	uint8_t stream[64];
	size_t n = 0;
	const char *payloads[] = { "hello", "", "abcdefghijklmnop" };
	for (int i = 0; i < 3; i++) {
		struct ttrpc_hdr h = { .length = (uint32_t)strlen(payloads[i]),
				       .stream_id = (uint32_t)(2 * i + 1), .type = 1 };
		ttrpc_hdr_encode(&h, stream + n);
		n += TTRPC_HDR_LEN;
		memcpy(stream + n, payloads[i], h.length);
		n += h.length;
	}
	for (int step = 0; step < 2; step++) {
		size_t chunk = step == 0 ? n : 1;
		struct ttrpc_reader r;
		ttrpc_reader_init(&r);
		int got = 0;
		size_t off = 0;
		while (off < n) {
			size_t used, len = MIN(chunk, n - off);
			size_t inner = 0;
			while (inner < len) {
				int k = ttrpc_reader_feed(&r, stream + off + inner, len - inner, &used);
				inner += used;
				if (!T_CHECK(k >= 0) || !T_CHECK(k == 1 || used > 0)) {
					ttrpc_reader_release(&r);
					return;
				}
				if (k == 1) {
					T_CHECK(got < 3);
					T_CHECK_EQ_INT(r.hdr.stream_id, 2 * got + 1);
					T_CHECK_EQ_INT(r.hdr.length, strlen(payloads[got]));
					T_CHECK(memcmp(r.payload, payloads[got], r.hdr.length) == 0);
					got++;
					ttrpc_reader_next(&r);
				}
			}
			off += len;
		}
		T_CHECK_EQ_INT(got, 3);
		T_CHECK_EQ_INT(r.hgot, 0);
		ttrpc_reader_release(&r);
	}
}

/* A header alone does not make the reader allocate the whole 4 MiB. */
static void t_reader_grows_with_data(void)
{
	struct ttrpc_reader r;
	ttrpc_reader_init(&r);
	uint8_t hdr[TTRPC_HDR_LEN] = { 0x00, 0x40, 0x00, 0x00, 0, 0, 0, 1, 1, 0 }; /* 4 MiB */
	uint8_t chunk[1000];
	memset(chunk, 'x', sizeof(chunk));
	size_t used;
	T_CHECK_EQ_INT(ttrpc_reader_feed(&r, hdr, sizeof(hdr), &used), 0);
	T_CHECK_EQ_INT(ttrpc_reader_feed(&r, chunk, sizeof(chunk), &used), 0);
	T_CHECK_EQ_INT(used, sizeof(chunk));
	T_CHECK(r.pcap < 64 * 1024);
	/* ...and still assembles the whole frame. */
	int k = 0;
	for (size_t got = sizeof(chunk); got < TTRPC_MAX_MSG && k == 0; got += used)
		k = ttrpc_reader_feed(&r, chunk, MIN(sizeof(chunk), TTRPC_MAX_MSG - got), &used);
	T_CHECK_EQ_INT(k, 1);
	T_CHECK_EQ_INT(r.pgot, TTRPC_MAX_MSG);
	T_CHECK(r.payload[TTRPC_MAX_MSG - 1] == 'x');
	ttrpc_reader_release(&r);
}

static void t_reader_rejects(void)
{
	struct ttrpc_reader r;
	ttrpc_reader_init(&r);
	uint8_t big[TTRPC_HDR_LEN] = { 0x00, 0x40, 0x00, 0x01, 0, 0, 0, 1, 1, 0 }; /* 4 MiB + 1 */
	size_t used;
	T_CHECK_EQ_INT(ttrpc_reader_feed(&r, big, sizeof(big), &used), -EMSGSIZE);
	ttrpc_reader_release(&r);
	uint8_t type9[TTRPC_HDR_LEN] = { 0, 0, 0, 1, 0, 0, 0, 1, 9, 0 };
	T_CHECK_EQ_INT(ttrpc_reader_feed(&r, type9, sizeof(type9), &used), -EINVAL);
	ttrpc_reader_release(&r);
}

/* --- client + server --------------------------------------------------------------*/

static void t_roundtrip_all_methods(void)
{
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	struct result r[6] = { 0 };

	Lcvm__Agent__V1__PingRequest ping = LCVM__AGENT__V1__PING_REQUEST__INIT;
	T_CHECK_EQ_INT(call(&e, "Ping", &ping.base, &lcvm__agent__v1__ping_response__descriptor, 0, &r[0]), 0);

	char *args[] = { "/bin/sh", "-c", "echo hi" }, *envv[] = { "PATH=/bin", "A=b c" };
	uint32_t gids[] = { 10, 20 };
	Lcvm__Agent__V1__Process proc = LCVM__AGENT__V1__PROCESS__INIT;
	proc.n_args = 3, proc.args = args, proc.n_env = 2, proc.env = envv;
	proc.cwd = "/work", proc.uid = 1000, proc.gid = 1001;
	proc.n_additional_gids = 2, proc.additional_gids = gids, proc.terminal = 1;
	proc.stdin_port = 0, proc.stdout_port = 5001, proc.stderr_port = 5002;
	Lcvm__Agent__V1__Layer l1 = LCVM__AGENT__V1__LAYER__INIT, l2 = LCVM__AGENT__V1__LAYER__INIT;
	Lcvm__Agent__V1__Layer scratch = LCVM__AGENT__V1__LAYER__INIT;
	l1.serial = "layer-top", l1.fstype = "squashfs", l2.serial = "layer-base", l2.fstype = "squashfs";
	scratch.serial = "scratch", scratch.fstype = "swap";
	Lcvm__Agent__V1__Layer *layers[] = { &l1, &l2 };
	Lcvm__Agent__V1__Mount9p m = LCVM__AGENT__V1__MOUNT9P__INIT;
	m.port = 6000, m.target = "/data", m.read_only = 1, m.msize = 512 * 1024, m.cache = "loose";
	Lcvm__Agent__V1__Mount9p *mounts[] = { &m };
	Lcvm__Agent__V1__CreateContainerRequest cr = LCVM__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	cr.id = "c1", cr.hostname = "box", cr.process = &proc;
	cr.n_layers = 2, cr.layers = layers, cr.scratch = &scratch;
	cr.n_mounts = 1, cr.mounts = mounts;
	T_CHECK_EQ_INT(call(&e, "CreateContainer", &cr.base,
			    &lcvm__agent__v1__create_container_response__descriptor, 0, &r[1]), 0);

	Lcvm__Agent__V1__StartContainerRequest sr = LCVM__AGENT__V1__START_CONTAINER_REQUEST__INIT;
	sr.id = "c1";
	T_CHECK_EQ_INT(call(&e, "StartContainer", &sr.base,
			    &lcvm__agent__v1__start_container_response__descriptor, 0, &r[2]), 0);
	Lcvm__Agent__V1__WaitContainerRequest wr = LCVM__AGENT__V1__WAIT_CONTAINER_REQUEST__INIT;
	wr.id = "c1";
	T_CHECK_EQ_INT(call(&e, "WaitContainer", &wr.base,
			    &lcvm__agent__v1__wait_container_response__descriptor, 0, &r[3]), 0);
	Lcvm__Agent__V1__SignalContainerRequest sg = LCVM__AGENT__V1__SIGNAL_CONTAINER_REQUEST__INIT;
	sg.id = "c1", sg.signal = 15;
	T_CHECK_EQ_INT(call(&e, "SignalContainer", &sg.base, &lcvm__agent__v1__empty__descriptor, 0, &r[4]), 0);
	Lcvm__Agent__V1__ShutdownRequest sd = LCVM__AGENT__V1__SHUTDOWN_REQUEST__INIT;
	T_CHECK_EQ_INT(call(&e, "Shutdown", &sd.base, &lcvm__agent__v1__empty__descriptor, 0, &r[5]), 0);

	/* No callback runs from inside ttrpc_call, even though the server replies at once. */
	T_CHECK_EQ_INT(r[0].calls + r[1].calls + r[2].calls + r[5].calls, 0);
	T_CHECK(run_until(e.loop, &r[5].calls));
	T_CHECK(run_until(e.loop, &e.st.nwaits));
	T_CHECK(wait_answer(&e.st, "c1", 137));
	T_CHECK(run_until(e.loop, &r[3].calls));

	for (int i = 0; i < 6; i++) {
		T_CHECK_EQ_INT(r[i].calls, 1);
		T_CHECK_EQ_INT(r[i].status, TTRPC_OK);
		T_CHECK(r[i].resp != NULL);
	}
	const Lcvm__Agent__V1__PingResponse *pr = (const void *)r[0].resp;
	if (pr) {
		T_CHECK_EQ_INT(pr->protocol_version, 7);
		T_CHECK_EQ_STR(pr->kernel_release, "6.1.0-test");
		T_CHECK_EQ_STR(pr->agent_version, "agent-1");
	}
	/* The server saw exactly the request we sent, every field included. */
	size_t clen = protobuf_c_message_get_packed_size(&cr.base);
	uint8_t *cpk = malloc(clen + 1);
	protobuf_c_message_pack(&cr.base, cpk);
	T_CHECK_EQ_INT(e.st.create_len, clen);
	T_CHECK(e.st.create_packed && memcmp(e.st.create_packed, cpk, clen) == 0);
	free(cpk);
	Lcvm__Agent__V1__CreateContainerRequest *back = e.st.create_packed
		? lcvm__agent__v1__create_container_request__unpack(NULL, e.st.create_len, e.st.create_packed)
		: NULL;
	if (T_CHECK(back && back->process && back->n_layers == 2 && back->n_mounts == 1)) {
		T_CHECK_EQ_STR(back->process->args[2], "echo hi");
		T_CHECK_EQ_STR(back->process->env[1], "A=b c");
		T_CHECK_EQ_INT(back->process->additional_gids[1], 20);
		T_CHECK_EQ_STR(back->layers[1]->serial, "layer-base");
		T_CHECK_EQ_STR(back->layers[1]->fstype, "squashfs");
		T_CHECK_EQ_STR(back->scratch->serial, "scratch");
		T_CHECK_EQ_STR(back->scratch->fstype, "swap");
		T_CHECK_EQ_INT(back->mounts[0]->msize, 512 * 1024);
		T_CHECK_EQ_STR(back->mounts[0]->cache, "loose");
	}
	if (back)
		lcvm__agent__v1__create_container_request__free_unpacked(back, NULL);
	const Lcvm__Agent__V1__StartContainerResponse *st = (const void *)r[2].resp;
	T_CHECK(st && st->pid == 4242);
	const Lcvm__Agent__V1__WaitContainerResponse *wt = (const void *)r[3].resp;
	T_CHECK(wt && wt->exit_status == 137);
	T_CHECK_EQ_INT(e.st.last_signal, 15);
	T_CHECK_EQ_INT(e.st.shutdowns, 1);
	for (int i = 0; i < 6; i++)
		result_clear(&r[i]);
	env_fini(&e);
}

/* Many calls in flight on one connection, answered in another order. */
static void t_deferred_out_of_order(void)
{
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	int counter = 0;
	struct result w[3] = { 0 }, p = { 0 };
	const char *ids[] = { "a", "b", "c" };
	for (int i = 0; i < 3; i++) {
		Lcvm__Agent__V1__WaitContainerRequest wr = LCVM__AGENT__V1__WAIT_CONTAINER_REQUEST__INIT;
		wr.id = (char *)ids[i];
		w[i].counter = &counter;
		T_CHECK_EQ_INT(call(&e, "WaitContainer", &wr.base,
				    &lcvm__agent__v1__wait_container_response__descriptor, 0, &w[i]), 0);
	}
	Lcvm__Agent__V1__PingRequest ping = LCVM__AGENT__V1__PING_REQUEST__INIT;
	p.counter = &counter;
	T_CHECK_EQ_INT(call(&e, "Ping", &ping.base, &lcvm__agent__v1__ping_response__descriptor, 0, &p), 0);
	T_CHECK(run_until(e.loop, &p.calls)); /* a quick call passes the waiting ones */
	T_CHECK_EQ_INT(e.st.nwaits, 3);
	T_CHECK_EQ_INT(w[0].calls + w[1].calls + w[2].calls, 0);

	T_CHECK(wait_answer(&e.st, "c", 3));
	T_CHECK(wait_answer(&e.st, "a", 1));
	T_CHECK(run_until(e.loop, &w[0].calls));
	T_CHECK(wait_answer(&e.st, "b", 2));
	T_CHECK(run_until(e.loop, &w[1].calls));
	T_CHECK_EQ_INT(p.order, 1);
	T_CHECK_EQ_INT(w[2].order, 2);
	T_CHECK_EQ_INT(w[0].order, 3);
	T_CHECK_EQ_INT(w[1].order, 4);
	for (int i = 0; i < 3; i++) {
		const Lcvm__Agent__V1__WaitContainerResponse *wt = (const void *)w[i].resp;
		T_CHECK_EQ_INT(w[i].calls, 1);
		T_CHECK(wt && wt->exit_status == i + 1);
		result_clear(&w[i]);
	}
	result_clear(&p);
	env_fini(&e);
}

static void t_error_statuses(void)
{
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	struct result r[4] = { 0 };
	Lcvm__Agent__V1__StartContainerRequest sr = LCVM__AGENT__V1__START_CONTAINER_REQUEST__INIT;
	sr.id = "nope";
	call(&e, "StartContainer", &sr.base, &lcvm__agent__v1__start_container_response__descriptor, 0, &r[0]);
	Lcvm__Agent__V1__PingRequest ping = LCVM__AGENT__V1__PING_REQUEST__INIT;
	call(&e, "Reboot", &ping.base, &lcvm__agent__v1__empty__descriptor, 0, &r[1]);
	ttrpc_call(e.cli, "other.Service", "Ping", &ping.base, &lcvm__agent__v1__empty__descriptor, 0,
		   on_reply, &r[2]);
	Lcvm__Agent__V1__SignalContainerRequest sg = LCVM__AGENT__V1__SIGNAL_CONTAINER_REQUEST__INIT;
	sg.id = "c1", sg.signal = 99;
	call(&e, "SignalContainer", &sg.base, &lcvm__agent__v1__empty__descriptor, 0, &r[3]);
	T_CHECK(run_until(e.loop, &r[3].calls));
	T_CHECK_EQ_INT(r[0].status, TTRPC_NOT_FOUND);
	T_CHECK_EQ_STR(r[0].msg, "no container nope");
	T_CHECK_EQ_INT(r[1].status, TTRPC_UNIMPLEMENTED);
	T_CHECK(strstr(r[1].msg, "Reboot") != NULL);
	T_CHECK_EQ_INT(r[2].status, TTRPC_UNIMPLEMENTED);
	T_CHECK_EQ_INT(r[3].status, TTRPC_INVALID_ARGUMENT);
	T_CHECK_EQ_STR(r[3].msg, "bad signal 99");
	for (int i = 0; i < 4; i++) {
		T_CHECK_EQ_INT(r[i].calls, 1);
		T_CHECK(r[i].resp == NULL);
		result_clear(&r[i]);
	}
	env_fini(&e);
}

/* A payload that is not the method's request type: INVALID_ARGUMENT, and the
 * connection keeps serving. */
static void t_bad_payload(void)
{
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	struct result r = { 0 }, p = { 0 };
	/* Field 1 as a varint where StartContainerRequest.id is a string. */
	Lcvm__Agent__V1__WaitContainerResponse wrong = LCVM__AGENT__V1__WAIT_CONTAINER_RESPONSE__INIT;
	wrong.exit_status = 5;
	call(&e, "StartContainer", &wrong.base, &lcvm__agent__v1__start_container_response__descriptor, 0, &r);
	Lcvm__Agent__V1__PingRequest ping = LCVM__AGENT__V1__PING_REQUEST__INIT;
	call(&e, "Ping", &ping.base, &lcvm__agent__v1__ping_response__descriptor, 0, &p);
	T_CHECK(run_until(e.loop, &p.calls));
	T_CHECK_EQ_INT(r.status, TTRPC_INVALID_ARGUMENT);
	T_CHECK_EQ_INT(p.status, TTRPC_OK);
	result_clear(&r);
	result_clear(&p);
	env_fini(&e);
}

static void t_deadline(void)
{
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	struct result w = { 0 }, p = { 0 };
	Lcvm__Agent__V1__WaitContainerRequest wr = LCVM__AGENT__V1__WAIT_CONTAINER_REQUEST__INIT;
	wr.id = "slow";
	long long t0 = ev_now_ms();
	T_CHECK_EQ_INT(call(&e, "WaitContainer", &wr.base,
			    &lcvm__agent__v1__wait_container_response__descriptor, 30, &w), 0);
	T_CHECK(run_until(e.loop, &w.calls));
	T_CHECK_EQ_INT(w.status, -ETIMEDOUT);
	T_CHECK(ev_now_ms() - t0 >= 30);
	/* The late answer is dropped: the callback does not run twice. */
	T_CHECK(wait_answer(&e.st, "slow", 0));
	Lcvm__Agent__V1__PingRequest ping = LCVM__AGENT__V1__PING_REQUEST__INIT;
	call(&e, "Ping", &ping.base, &lcvm__agent__v1__ping_response__descriptor, 1000, &p);
	T_CHECK(run_until(e.loop, &p.calls));
	T_CHECK_EQ_INT(p.status, TTRPC_OK);
	T_CHECK_EQ_INT(w.calls, 1);
	T_CHECK_EQ_INT(ttrpc_call(e.cli, SVC, "Ping", &ping.base, &lcvm__agent__v1__ping_response__descriptor,
				  -1, on_reply, &p), -EINVAL);
	result_clear(&w);
	result_clear(&p);
	env_fini(&e);
}

static void t_peer_close_inflight(void)
{
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	struct result w[2] = { 0 };
	for (int i = 0; i < 2; i++) {
		Lcvm__Agent__V1__WaitContainerRequest wr = LCVM__AGENT__V1__WAIT_CONTAINER_REQUEST__INIT;
		wr.id = i ? "y" : "x";
		call(&e, "WaitContainer", &wr.base, &lcvm__agent__v1__wait_container_response__descriptor,
		     0, &w[i]);
	}
	int two = 0;
	long long end = ev_now_ms() + 5000;
	while ((two = e.st.nwaits == 2) == 0 && ev_now_ms() < end)
		ev_run_once(e.loop, 100);
	T_CHECK(two);
	T_CHECK(ttrpc_call_connected(e.st.waits[0].call));
	ttrpc_server_free(e.srv); /* the agent goes away */
	e.srv = NULL;
	T_CHECK(!ttrpc_call_connected(e.st.waits[0].call));
	T_CHECK(run_until(e.loop, &w[1].calls));
	T_CHECK_EQ_INT(w[0].status, -ECONNRESET);
	T_CHECK_EQ_INT(w[1].status, -ECONNRESET);
	T_CHECK_EQ_INT(e.close_calls, 1);
	T_CHECK_EQ_INT(e.close_err, -ECONNRESET);
	/* Answers to calls of a dead connection are dropped (and freed). */
	T_CHECK(wait_answer(&e.st, "x", 0));
	struct result p = { 0 };
	Lcvm__Agent__V1__PingRequest ping = LCVM__AGENT__V1__PING_REQUEST__INIT;
	T_CHECK_EQ_INT(call(&e, "Ping", &ping.base, &lcvm__agent__v1__ping_response__descriptor, 0, &p),
		       -ECONNRESET);
	run_idle(e.loop);
	T_CHECK_EQ_INT(p.calls, 0);
	T_CHECK_EQ_INT(w[0].calls + w[1].calls, 2);
	result_clear(&w[0]);
	result_clear(&w[1]);
	env_fini(&e);
}

static void t_client_free_cancels(void)
{
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	struct result w = { 0 };
	Lcvm__Agent__V1__WaitContainerRequest wr = LCVM__AGENT__V1__WAIT_CONTAINER_REQUEST__INIT;
	wr.id = "z";
	call(&e, "WaitContainer", &wr.base, &lcvm__agent__v1__wait_container_response__descriptor, 5000, &w);
	T_CHECK(run_until(e.loop, &e.st.nwaits));
	ttrpc_client_free(e.cli);
	e.cli = NULL;
	T_CHECK_EQ_INT(w.calls, 1);
	T_CHECK_EQ_INT(w.status, -ECANCELED);
	T_CHECK_EQ_INT(e.close_calls, 0);
	/* The server notices the client is gone. */
	long long end = ev_now_ms() + 5000;
	while (ttrpc_call_connected(e.st.waits[0].call) && ev_now_ms() < end)
		ev_run_once(e.loop, 100);
	T_CHECK(!ttrpc_call_connected(e.st.waits[0].call));
	result_clear(&w);
	env_fini(&e);
}

/* Freeing the client from a reply callback while more replies sit in the same read. */
static void t_free_from_callback(void)
{
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	struct result r[3] = { 0 };
	Lcvm__Agent__V1__PingRequest ping = LCVM__AGENT__V1__PING_REQUEST__INIT;
	for (int i = 0; i < 3; i++)
		call(&e, "Ping", &ping.base, &lcvm__agent__v1__ping_response__descriptor, 0, &r[i]);
	r[0].free_me = e.cli;
	T_CHECK(run_until(e.loop, &r[2].calls));
	e.cli = NULL;
	T_CHECK_EQ_INT(r[0].status, TTRPC_OK);
	T_CHECK_EQ_INT(r[1].status, -ECANCELED);
	T_CHECK_EQ_INT(r[2].status, -ECANCELED);
	for (int i = 0; i < 3; i++) {
		T_CHECK_EQ_INT(r[i].calls, 1);
		result_clear(&r[i]);
	}
	run_idle(e.loop);
	env_fini(&e);
}

static void free_client_on_close(void *opaque, int err)
{
	struct env *e = opaque;
	e->close_calls++;
	e->close_err = err;
	ttrpc_client_free(e->cli);
	e->cli = NULL;
}

/* The monitor frees its client when the agent's connection dies, and may
 * give up from a deadline callback: both from inside the library's callbacks. */
static void t_free_from_close_and_deadline(void)
{
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	ttrpc_client_set_close_cb(e.cli, free_client_on_close, &e);
	struct result w = { 0 };
	Lcvm__Agent__V1__WaitContainerRequest wr = LCVM__AGENT__V1__WAIT_CONTAINER_REQUEST__INIT;
	wr.id = "q";
	call(&e, "WaitContainer", &wr.base, &lcvm__agent__v1__wait_container_response__descriptor, 0, &w);
	T_CHECK(run_until(e.loop, &e.st.nwaits));
	ttrpc_server_free(e.srv);
	e.srv = NULL;
	T_CHECK(run_until(e.loop, &e.close_calls));
	T_CHECK_EQ_INT(w.status, -ECONNRESET);
	T_CHECK(e.cli == NULL);
	result_clear(&w);
	run_idle(e.loop);
	env_fini(&e);

	if (!T_CHECK(env_init(&e)))
		return;
	struct result a = { 0 }, b = { 0 };
	a.free_me = e.cli;
	call(&e, "WaitContainer", &wr.base, &lcvm__agent__v1__wait_container_response__descriptor, 20, &a);
	call(&e, "WaitContainer", &wr.base, &lcvm__agent__v1__wait_container_response__descriptor, 0, &b);
	T_CHECK(run_until(e.loop, &a.calls));
	e.cli = NULL;
	T_CHECK_EQ_INT(a.status, -ETIMEDOUT);
	T_CHECK_EQ_INT(b.calls, 1);
	T_CHECK_EQ_INT(b.status, -ECANCELED);
	result_clear(&a);
	result_clear(&b);
	run_idle(e.loop);
	env_fini(&e);
}

static void t_max_conns(void)
{
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	static struct raw raws[TTRPC_MAX_CONNS];
	unsigned n = 0;
	for (; n + 1 < TTRPC_MAX_CONNS; n++) /* the client holds one already */
		if (!T_CHECK(raw_connect_server(&e, &raws[n])))
			break;
	int sv[2];
	T_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	T_CHECK_EQ_INT(ttrpc_server_add_conn(e.srv, sv[0]), -EMFILE);
	T_CHECK(fcntl(sv[0], F_GETFD) >= 0); /* still ours */
	close(sv[0]);
	close(sv[1]);
	raw_fini(e.loop, &raws[0]);
	long long end = ev_now_ms() + 5000;
	int added = -1;
	/* Room again once the server has seen that connection close. */
	while (added != 0 && ev_now_ms() < end) {
		ev_run_once(e.loop, 100);
		T_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
		added = ttrpc_server_add_conn(e.srv, sv[0]);
		if (added)
			close(sv[0]);
		close(sv[1]);
	}
	T_CHECK_EQ_INT(added, 0);
	for (unsigned i = 1; i < n; i++)
		raw_fini(e.loop, &raws[i]);
	env_fini(&e);
}

/* A client that sends but never reads: the server stops reading once
 * TTRPC_MAX_OUTQ bytes of replies wait, and resumes when they drain. */
static void t_backpressure(void)
{
	struct env e;
	struct raw raw;
	if (!T_CHECK(env_init(&e)) || !T_CHECK(raw_connect_server(&e, &raw)))
		return;
	ev_del(e.loop, raw.fd); /* not reading yet */
	uint8_t *rq;
	size_t n = pack_request("Big", NULL, &rq);
	const int total = 20; /* 20 MiB of answers, well over TTRPC_MAX_OUTQ */
	for (int i = 0; i < total; i++)
		raw_frame(&raw, 2 * (uint32_t)i + 1, TTRPC_TYPE_REQUEST, rq, n);
	free(rq);
	run_idle(e.loop);
	T_CHECK(e.st.bigs >= (int)(TTRPC_MAX_OUTQ >> 20));
	T_CHECK(e.st.bigs < total);
	ev_add(e.loop, raw.fd, EV_READ, raw_io, &raw);
	T_CHECK(raw_wait_frames(&e, &raw, total));
	T_CHECK_EQ_INT(e.st.bigs, total);
	T_CHECK_EQ_INT(raw.nframes, total);
	T_CHECK_EQ_INT(raw.frames[total - 1].h.stream_id, 2 * total - 1);
	T_CHECK_EQ_INT(raw_status(&raw, total - 1, NULL, 0), TTRPC_OK);
	raw_fini(e.loop, &raw);
	env_fini(&e);
}

static void t_inflight_limit(void)
{
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	static struct result w[TTRPC_MAX_INFLIGHT + 1];
	memset(w, 0, sizeof(w));
	Lcvm__Agent__V1__WaitContainerRequest wr = LCVM__AGENT__V1__WAIT_CONTAINER_REQUEST__INIT;
	wr.id = "w";
	for (unsigned i = 0; i < TTRPC_MAX_INFLIGHT; i++)
		T_CHECK_EQ_INT(call(&e, "WaitContainer", &wr.base,
				    &lcvm__agent__v1__wait_container_response__descriptor, 0, &w[i]), 0);
	T_CHECK_EQ_INT(call(&e, "WaitContainer", &wr.base,
			    &lcvm__agent__v1__wait_container_response__descriptor, 0, &w[TTRPC_MAX_INFLIGHT]),
		       -EAGAIN);
	int all = 0;
	long long end = ev_now_ms() + 5000;
	while (!(all = e.st.nwaits == (int)TTRPC_MAX_INFLIGHT) && ev_now_ms() < end)
		ev_run_once(e.loop, 100);
	T_CHECK(all);

	/* A raw client ignoring the limit gets RESOURCE_EXHAUSTED for the extra call. */
	struct raw raw;
	if (T_CHECK(raw_connect_server(&e, &raw))) {
		uint8_t *rq;
		size_t n = pack_request("WaitContainer", &wr.base, &rq);
		for (unsigned i = 0; i <= TTRPC_MAX_INFLIGHT; i++)
			raw_frame(&raw, 2 * i + 1, TTRPC_TYPE_REQUEST, rq, n);
		free(rq);
		T_CHECK(raw_wait_frames(&e, &raw, 1));
		T_CHECK_EQ_INT(raw_status(&raw, 0, NULL, 0), TTRPC_RESOURCE_EXHAUSTED);
		T_CHECK_EQ_INT(raw.frames[0].h.stream_id, 2 * TTRPC_MAX_INFLIGHT + 1);
		raw_fini(e.loop, &raw);
	}
	wait_answer_all(&e.st);
	T_CHECK(run_until(e.loop, &w[TTRPC_MAX_INFLIGHT - 1].calls));
	T_CHECK_EQ_INT(w[0].status, TTRPC_CANCELLED);
	for (unsigned i = 0; i <= TTRPC_MAX_INFLIGHT; i++)
		result_clear(&w[i]);
	env_fini(&e);
}

/* Larger than any socket buffer: exercises partial writes and EV_WRITE. */
static void t_large_message(void)
{
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	size_t big = 3u << 20;
	char *host = malloc(big + 1);
	memset(host, 'h', big);
	host[big] = '\0';
	Lcvm__Agent__V1__CreateContainerRequest cr = LCVM__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	cr.id = "big", cr.hostname = host;
	struct result r = { 0 }, too = { 0 };
	T_CHECK_EQ_INT(call(&e, "CreateContainer", &cr.base,
			    &lcvm__agent__v1__create_container_response__descriptor, 0, &r), 0);
	T_CHECK(run_until(e.loop, &r.calls));
	T_CHECK_EQ_INT(r.status, TTRPC_OK);
	Lcvm__Agent__V1__CreateContainerRequest *back = e.st.create_packed
		? lcvm__agent__v1__create_container_request__unpack(NULL, e.st.create_len, e.st.create_packed)
		: NULL;
	T_CHECK(back && strlen(back->hostname) == big);
	if (back)
		lcvm__agent__v1__create_container_request__free_unpacked(back, NULL);
	free(host);

	host = malloc(TTRPC_MAX_MSG + 2);
	memset(host, 'h', TTRPC_MAX_MSG + 1);
	host[TTRPC_MAX_MSG + 1] = '\0';
	cr.hostname = host;
	T_CHECK_EQ_INT(call(&e, "CreateContainer", &cr.base,
			    &lcvm__agent__v1__create_container_response__descriptor, 0, &too), -EMSGSIZE);
	free(host);
	run_idle(e.loop);
	T_CHECK_EQ_INT(too.calls, 0);
	result_clear(&r);
	env_fini(&e);
}

static void t_listen(void)
{
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "lcvm-test-ttrpc-%d", (int)getpid());
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sa.sun_path + 1));
	T_CHECK(bind(lfd, (struct sockaddr *)&sa, sl) == 0 && listen(lfd, 4) == 0);
	T_CHECK_EQ_INT(ttrpc_server_listen(e.srv, lfd), 0);
	T_CHECK_EQ_INT(ttrpc_server_listen(e.srv, lfd), -EBUSY);
	int cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	T_CHECK(connect(cfd, (struct sockaddr *)&sa, sl) == 0);
	struct ttrpc_client *c2 = ttrpc_client_new(e.loop, cfd);
	struct result p = { 0 };
	Lcvm__Agent__V1__PingRequest ping = LCVM__AGENT__V1__PING_REQUEST__INIT;
	if (T_CHECK(c2 != NULL)) {
		ttrpc_call(c2, SVC, "Ping", &ping.base, &lcvm__agent__v1__ping_response__descriptor, 0,
			   on_reply, &p);
		T_CHECK(run_until(e.loop, &p.calls));
		T_CHECK_EQ_INT(p.status, TTRPC_OK);
	}
	ttrpc_client_free(c2);
	result_clear(&p);
	env_fini(&e);
	close(lfd);
}

/* --- hostile bytes at the server ----------------------------------------------------*/

static void t_raw_one_byte_at_a_time(void)
{
	struct env e;
	struct raw raw;
	if (!T_CHECK(env_init(&e)) || !T_CHECK(raw_connect_server(&e, &raw)))
		return;
	Lcvm__Agent__V1__StartContainerRequest sr = LCVM__AGENT__V1__START_CONTAINER_REQUEST__INIT;
	sr.id = "c1";
	uint8_t *rq;
	size_t n = pack_request("StartContainer", &sr.base, &rq);
	uint8_t hdr[TTRPC_HDR_LEN];
	struct ttrpc_hdr h = { .length = (uint32_t)n, .stream_id = 1, .type = TTRPC_TYPE_REQUEST };
	ttrpc_hdr_encode(&h, hdr);
	for (size_t i = 0; i < TTRPC_HDR_LEN + n; i++) {
		raw_write(&raw, i < TTRPC_HDR_LEN ? &hdr[i] : &rq[i - TTRPC_HDR_LEN], 1);
		run_idle(e.loop);
		if (i + 1 < TTRPC_HDR_LEN + n)
			T_CHECK_EQ_INT(raw.nframes, 0);
	}
	free(rq);
	T_CHECK(raw_wait_frames(&e, &raw, 1));
	T_CHECK_EQ_INT(raw.frames[0].h.stream_id, 1);
	T_CHECK_EQ_INT(raw.frames[0].h.type, TTRPC_TYPE_RESPONSE);
	Ttrpc__Response *resp = ttrpc__response__unpack(NULL, raw.frames[0].h.length, raw.frames[0].p);
	if (T_CHECK(resp)) {
		T_CHECK(resp->status == NULL || resp->status->code == 0);
		Lcvm__Agent__V1__StartContainerResponse *s = lcvm__agent__v1__start_container_response__unpack(
			NULL, resp->payload.len, resp->payload.data);
		T_CHECK(s && s->pid == 4242);
		if (s)
			lcvm__agent__v1__start_container_response__free_unpacked(s, NULL);
		ttrpc__response__free_unpacked(resp, NULL);
	}
	raw_fini(e.loop, &raw);
	env_fini(&e);
}

/* Several frames in one write, then protocol slips that get error statuses
 * while the connection stays up. */
static void t_raw_several_frames_and_statuses(void)
{
	struct env e;
	struct raw raw;
	if (!T_CHECK(env_init(&e)) || !T_CHECK(raw_connect_server(&e, &raw)))
		return;
	Lcvm__Agent__V1__PingRequest ping = LCVM__AGENT__V1__PING_REQUEST__INIT;
	uint8_t *rq;
	size_t n = pack_request("Ping", &ping.base, &rq);
	uint8_t buf[512];
	size_t len = 0;
	for (uint32_t sid = 1; sid <= 5; sid += 2) {
		struct ttrpc_hdr h = { .length = (uint32_t)n, .stream_id = sid, .type = TTRPC_TYPE_REQUEST };
		ttrpc_hdr_encode(&h, buf + len);
		memcpy(buf + len + TTRPC_HDR_LEN, rq, n);
		len += TTRPC_HDR_LEN + n;
	}
	raw_write(&raw, buf, len);
	T_CHECK(raw_wait_frames(&e, &raw, 3));
	for (int i = 0; i < 3; i++) {
		T_CHECK_EQ_INT(raw.frames[i].h.stream_id, 2 * i + 1);
		T_CHECK_EQ_INT(raw_status(&raw, i, NULL, 0), TTRPC_OK);
	}
	raw_frame(&raw, 8, TTRPC_TYPE_REQUEST, rq, n);       /* even id */
	raw_frame(&raw, 3, TTRPC_TYPE_REQUEST, rq, n);       /* re-used id */
	static const uint8_t trunc_env[] = { 0x0a, 0x40, 'l', 'c' }; /* service: 64 bytes claimed, 2 given */
	raw_frame(&raw, 7, TTRPC_TYPE_REQUEST, trunc_env, sizeof(trunc_env));
	/* A valid envelope whose StartContainer payload is truncated. */
	Lcvm__Agent__V1__StartContainerRequest sr = LCVM__AGENT__V1__START_CONTAINER_REQUEST__INIT;
	sr.id = "a-long-container-id";
	uint8_t inner[64];
	size_t ilen = protobuf_c_message_pack(&sr.base, inner);
	Ttrpc__Request env = TTRPC__REQUEST__INIT;
	env.service = SVC, env.method = "StartContainer";
	env.payload.data = inner, env.payload.len = ilen - 5;
	uint8_t outer[128];
	size_t olen = protobuf_c_message_pack(&env.base, outer);
	raw_frame(&raw, 9, TTRPC_TYPE_REQUEST, outer, olen);
	raw_frame(&raw, 11, TTRPC_TYPE_REQUEST, NULL, 0);  /* empty Request: no such method */
	raw_frame(&raw, 13, TTRPC_TYPE_DATA, "xyz", 3);    /* ignored */
	raw_frame(&raw, 13, TTRPC_TYPE_RESPONSE, NULL, 0); /* ignored */
	raw_frame(&raw, 15, TTRPC_TYPE_REQUEST, rq, n);    /* still served */
	free(rq);
	T_CHECK(raw_wait_frames(&e, &raw, 9));
	T_CHECK_EQ_INT(raw.nframes, 9);
	static const struct { uint32_t sid; int code; } want[] = {
		{ 8, TTRPC_INVALID_ARGUMENT }, { 3, TTRPC_INVALID_ARGUMENT }, { 7, TTRPC_INVALID_ARGUMENT },
		{ 9, TTRPC_INVALID_ARGUMENT }, { 11, TTRPC_UNIMPLEMENTED },   { 15, TTRPC_OK },
	};
	for (int i = 0; i < 6 && i + 3 < raw.nframes; i++) {
		T_CHECK_EQ_INT(raw.frames[i + 3].h.stream_id, want[i].sid);
		T_CHECK_EQ_INT(raw_status(&raw, i + 3, NULL, 0), want[i].code);
	}
	T_CHECK(!raw.eof);
	raw_fini(e.loop, &raw);
	env_fini(&e);
}

/* Frames that lose framing close that connection only. */
static void t_raw_fatal_frames(void)
{
	static const uint8_t oversized[] = { 0x00, 0x40, 0x00, 0x01, 0, 0, 0, 1, 1, 0 };
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 1, 0 };
	static const uint8_t unknown_type[] = { 0, 0, 0, 0, 0, 0, 0, 1, 7, 0 };
	static const uint8_t type_zero[] = { 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 'h', 'i' };
	const struct { const uint8_t *p; size_t n; } cases[] = {
		{ oversized, sizeof(oversized) },
		{ huge, sizeof(huge) },
		{ unknown_type, sizeof(unknown_type) },
		{ type_zero, sizeof(type_zero) },
	};
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		struct raw raw;
		if (!T_CHECK(raw_connect_server(&e, &raw)))
			break;
		raw_write(&raw, cases[c].p, cases[c].n);
		T_CHECK(run_until(e.loop, &raw.eof));
		T_CHECK_EQ_INT(raw.eof, 1);
		T_CHECK_EQ_INT(raw.nframes, 0);
		raw_fini(e.loop, &raw);
	}
	/* The server and its other connection carry on. */
	struct result p = { 0 };
	Lcvm__Agent__V1__PingRequest ping = LCVM__AGENT__V1__PING_REQUEST__INIT;
	call(&e, "Ping", &ping.base, &lcvm__agent__v1__ping_response__descriptor, 0, &p);
	T_CHECK(run_until(e.loop, &p.calls));
	T_CHECK_EQ_INT(p.status, TTRPC_OK);
	result_clear(&p);
	env_fini(&e);
}

/* Pseudo-random garbage: the server may answer errors or close, never crash. */
static void t_raw_garbage(void)
{
	struct env e;
	if (!T_CHECK(env_init(&e)))
		return;
	uint32_t seed = 12345;
	for (int round = 0; round < 50; round++) {
		struct raw raw;
		if (!T_CHECK(raw_connect_server(&e, &raw)))
			break;
		uint8_t buf[300];
		for (size_t i = 0; i < sizeof(buf); i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (uint8_t)(seed >> 16);
		}
		/* Half the rounds start with a plausible header so payload decoding is reached. */
		if (round & 1) {
			struct ttrpc_hdr h = { .length = 200, .stream_id = 1, .type = 1 };
			ttrpc_hdr_encode(&h, buf);
		}
		raw_write(&raw, buf, sizeof(buf));
		shutdown(raw.fd, SHUT_WR);
		T_CHECK(run_until(e.loop, &raw.eof));
		raw_fini(e.loop, &raw);
	}
	wait_answer_all(&e.st);
	struct result p = { 0 };
	Lcvm__Agent__V1__PingRequest ping = LCVM__AGENT__V1__PING_REQUEST__INIT;
	call(&e, "Ping", &ping.base, &lcvm__agent__v1__ping_response__descriptor, 0, &p);
	T_CHECK(run_until(e.loop, &p.calls));
	T_CHECK_EQ_INT(p.status, TTRPC_OK);
	result_clear(&p);
	env_fini(&e);
}

/* --- hostile bytes at the client (the guest is not trusted) ---------------------------*/

static void t_client_hostile_server(void)
{
	struct ev_loop *loop = ev_loop_new();
	int sv[2];
	if (!T_CHECK(loop && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0))
		return;
	struct ttrpc_client *c = ttrpc_client_new(loop, sv[0]);
	struct env closes = { 0 };
	ttrpc_client_set_close_cb(c, on_close, &closes);
	struct raw raw = { .fd = sv[1] };
	ev_add(loop, raw.fd, EV_READ, raw_io, &raw);
	struct result r[5] = { 0 };
	Lcvm__Agent__V1__PingRequest ping = LCVM__AGENT__V1__PING_REQUEST__INIT;
	for (int i = 0; i < 5; i++)
		ttrpc_call(c, SVC, "Ping", &ping.base, &lcvm__agent__v1__ping_response__descriptor, 0,
			   on_reply, &r[i]);
	int five = 0;
	long long end = ev_now_ms() + 5000;
	while (!(five = raw.nframes == 5) && ev_now_ms() < end)
		ev_run_once(loop, 100);
	T_CHECK(five);
	for (int i = 0; i < 5 && i < raw.nframes; i++)
		T_CHECK_EQ_INT(raw.frames[i].h.stream_id, 2 * i + 1); /* odd, increasing */

	Ttrpc__Status st = TTRPC__STATUS__INIT;
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	uint8_t buf[64];
	st.code = -5, st.message = "evil";
	resp.status = &st;
	raw_frame(&raw, 1, TTRPC_TYPE_RESPONSE, buf, protobuf_c_message_pack(&resp.base, buf));
	static const uint8_t junk[] = { 0x12, 0x30, 1 }; /* payload: 48 bytes claimed */
	raw_frame(&raw, 3, TTRPC_TYPE_RESPONSE, junk, sizeof(junk));
	raw_frame(&raw, 5, TTRPC_TYPE_DATA, NULL, 0);
	raw_frame(&raw, 99, TTRPC_TYPE_RESPONSE, NULL, 0); /* no such call: ignored */
	static const uint8_t bad_payload[] = { 0x12, 0x02, 0x08, 0x80 }; /* truncated varint */
	raw_frame(&raw, 7, TTRPC_TYPE_RESPONSE, bad_payload, sizeof(bad_payload));
	T_CHECK(run_until(loop, &r[3].calls));
	T_CHECK_EQ_INT(r[0].status, TTRPC_UNKNOWN);
	T_CHECK_EQ_STR(r[0].msg, "evil");
	T_CHECK_EQ_INT(r[1].status, -EPROTO);
	T_CHECK_EQ_INT(r[2].status, -EPROTO);
	T_CHECK_EQ_INT(r[3].status, -EPROTO);
	T_CHECK_EQ_INT(r[4].calls, 0);
	/* A header that loses framing fails what is left and the connection. */
	static const uint8_t huge[] = { 0xff, 0, 0, 0, 0, 0, 0, 9, 2, 0 };
	raw_write(&raw, huge, sizeof(huge));
	T_CHECK(run_until(loop, &r[4].calls));
	T_CHECK_EQ_INT(r[4].status, -EPROTO);
	T_CHECK_EQ_INT(closes.close_calls, 1);
	T_CHECK_EQ_INT(closes.close_err, -EPROTO);
	T_CHECK_EQ_INT(ttrpc_call(c, SVC, "Ping", &ping.base, &lcvm__agent__v1__ping_response__descriptor,
				  0, on_reply, &r[0]), -EPROTO);
	for (int i = 0; i < 5; i++) {
		T_CHECK_EQ_INT(r[i].calls, 1);
		result_clear(&r[i]);
	}
	ttrpc_client_free(c);
	raw_fini(loop, &raw);
	ev_loop_free(loop);
}

int main(void)
{
	T_RUN(t_header_codec);
	T_RUN(t_reader_chunking);
	T_RUN(t_reader_grows_with_data);
	T_RUN(t_reader_rejects);
	T_RUN(t_roundtrip_all_methods);
	T_RUN(t_deferred_out_of_order);
	T_RUN(t_error_statuses);
	T_RUN(t_bad_payload);
	T_RUN(t_deadline);
	T_RUN(t_peer_close_inflight);
	T_RUN(t_client_free_cancels);
	T_RUN(t_free_from_callback);
	T_RUN(t_free_from_close_and_deadline);
	T_RUN(t_max_conns);
	T_RUN(t_backpressure);
	T_RUN(t_inflight_limit);
	T_RUN(t_large_message);
	T_RUN(t_listen);
	T_RUN(t_raw_one_byte_at_a_time);
	T_RUN(t_raw_several_frames_and_statuses);
	T_RUN(t_raw_fatal_frames);
	T_RUN(t_raw_garbage);
	T_RUN(t_client_hostile_server);
	return t_done();
}
