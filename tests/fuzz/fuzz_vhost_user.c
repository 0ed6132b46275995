/* libFuzzer harness for the vhost-user message handler: arbitrary request
 * numbers, flags, sizes, payloads and fd counts (eventfds or a small memfd
 * standing in for guest RAM, whose first bytes the input also controls), fed
 * to vu_handle_msg as a session. The device must never crash, leak fds or
 * touch memory outside the mapped table; a queue that becomes runnable is
 * drained like vsock_dev would.
 *
 * clang -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *       tests/fuzz/fuzz_vhost_user.c src/vsock/vhost_user.c src/vsock/virtq.c \
 *       src/util/evloop.c src/util/err.c -o build/fuzz_vhost_user */
#include "util/evloop.h"
#include "vsock/vhost_user.h"

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM_SIZE (256u * 1024u)

struct harness {
	struct ev_loop *loop;
	int memfd;
	struct vu_dev *d;
};

static void drain(void *opaque, unsigned idx)
{
	struct harness *h = opaque;
	struct virtq *q = vu_dev_queue(h->d, idx);
	if (!q)
		return;
	struct vq_elem e;
	uint8_t buf[256];
	for (int i = 0; i < 64; i++) {
		int r = vq_pop(q, &e);
		if (r == 0 || r == -5 /* EIO: ring broken */)
			break;
		if (r < 0)
			continue;
		vq_read_out(&e, 0, buf, sizeof(buf));
		vq_push(q, &e, (uint32_t)vq_write_in(&e, 0, buf, sizeof(buf)));
	}
	vu_dev_notify(h->d, idx);
}

static void on_reset(void *opaque)
{
	(void)opaque;
}

static struct harness *setup(void)
{
	static struct harness h; /* one per fuzzing process */
	if (h.loop)
		return &h;
	h.loop = ev_loop_new();
	h.memfd = memfd_create("fuzz-ram", MFD_CLOEXEC);
	if (!h.loop || h.memfd < 0 || ftruncate(h.memfd, RAM_SIZE) < 0)
		abort(); /* the harness itself cannot run */
	return &h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct harness *h = setup();
	static const uint8_t cid[8] = { 3 };
	struct vu_dev_config cfg = { (1ULL << 32) | (1ULL << 28) | (1ULL << 29),
				     (1ULL << 0) | (1ULL << 3) | (1ULL << 9), cid, 8, 2 };
	struct vu_dev_ops ops = { drain, on_reset };
	h->d = vu_dev_new(h->loop, &cfg, &ops, h);
	if (!h->d)
		abort();
	/* first 4 KiB of guest RAM come from the input */
	size_t ram_in = size > 4096 ? 4096 : size;
	uint8_t zero[4096] = { 0 };
	if (pwrite(h->memfd, zero, sizeof(zero), 0) < 0 || pwrite(h->memfd, data, ram_in, 0) < 0)
		abort();

	while (size >= 8) {
		/* record: request, flags, len lo/hi, nfds, fd kinds, size mode, spare */
		struct vu_hdr hdr = { data[0] % 40u, data[1] < 0xf0 ? (1u | (data[1] & 8u)) : data[1], 0 };
		size_t len = (size_t)(data[2] | data[3] << 8) % (VU_MAX_PAYLOAD + 64);
		unsigned nfds = data[4] % 10u;
		uint8_t kinds = data[5];
		hdr.size = (uint32_t)len ^ (data[6] & 0x80 ? data[7] : 0); /* sometimes lie */
		data += 8;
		size -= 8;
		if (len > size)
			len = size;
		if (!(data[-2] & 0x80))
			hdr.size = (uint32_t)len;
		int fds[10];
		for (unsigned i = 0; i < nfds; i++)
			fds[i] = (kinds >> (i % 8)) & 1 ? dup(h->memfd)
						       : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct vu_msg reply;
		int r = vu_handle_msg(h->d, &hdr, data, len, fds, nfds, &reply);
		if (r == 1 && (reply.hdr.flags != 5 || reply.hdr.size > VU_MAX_PAYLOAD))
			abort(); /* replies are always well formed */
		data += len;
		size -= len;
		for (unsigned q = 0; q < 2; q++)
			drain(h, q);
	}
	vu_dev_free(h->d);
	h->d = NULL;
	return 0;
}
