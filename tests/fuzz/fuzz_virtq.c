/* libFuzzer harness for the split-ring chain walker: the input owns guest
 * memory (descriptor table, avail ring, indirect tables, buffers) and the
 * ring indices. Every pop must stay inside guest memory and terminate.
 *
 * clang -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *       tests/fuzz/fuzz_virtq.c src/vsock/virtq.c -o build/fuzz_virtq */
#include "vsock/virtq.h"

#include <stdlib.h>
#include <string.h>

#define RAM (64u * 1024u)
#define GPA 0x10000ULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	/* header: log2(num), feature bits, last_avail, split point of RAM */
	uint16_t num = (uint16_t)(1u << (data[0] % 9)); /* 1 .. 256 */
	uint64_t features = (data[1] & 1 ? 1ULL << VQ_F_INDIRECT_DESC : 0) |
			    (data[1] & 2 ? 1ULL << VQ_F_EVENT_IDX : 0);
	uint16_t last = (uint16_t)(data[2] | data[3] << 8);
	unsigned split = (data[4] % 2) ? RAM / 2 : RAM; /* one or two regions */
	data += 8;
	size -= 8;

	/* aligned_alloc: the rings must be naturally aligned */
	uint8_t *ram = aligned_alloc(4096, RAM);
	if (!ram)
		return 0;
	memset(ram, 0, RAM);
	memcpy(ram, data, size < RAM ? size : RAM);

	struct vq_mem mem = { .nregions = split == RAM ? 1 : 2 };
	mem.r[0] = (struct vq_region){ GPA, split, 0x7f0000000000ULL, ram };
	if (split != RAM)
		mem.r[1] = (struct vq_region){ GPA + split, RAM - split, 0x7f1000000000ULL,
					       ram + split };
	struct virtq q;
	/* desc at 0, avail at 16 KiB, used at 20 KiB (all fit for num <= 256) */
	if (vq_setup(&q, &mem, num, ram, ram + 16384, ram + 20480, last, features) != 0)
		abort(); /* a valid setup must be accepted */
	struct vq_elem e;
	uint8_t scratch[512];
	for (int i = 0; i < 300; i++) {
		int r = vq_pop(&q, &e);
		if (r <= 0) {
			if (r == 0 || r == -5 /* -EIO */)
				break;
			continue;
		}
		if (e.n_out + e.n_in > VQ_MAX_SEGS)
			abort();
		for (unsigned s = 0; s < (unsigned)e.n_out + e.n_in; s++) /* inside guest RAM */
			if (e.iov[s].base < ram || e.iov[s].base + e.iov[s].len > ram + RAM)
				abort();
		vq_read_out(&e, i, scratch, sizeof(scratch));
		size_t w = vq_write_in(&e, 0, scratch, sizeof(scratch));
		vq_push(&q, &e, (uint32_t)w);
		vq_should_notify(&q);
		if (i % 3 == 0)
			vq_enable_notify(&q);
	}
	vq_avail_count(&q);
	free(ram);
	return 0;
}
