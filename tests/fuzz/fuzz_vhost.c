/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_vhost.c - libFuzzer target for what a vhost-user backend sends
 * us: replies (fsb_vhost_reply_parse) and the used ring (fsb_vq_get_used).
 *
 * Input: byte 0 picks the parser (even: reply, odd: used ring).
 *   reply: byte 1 = the request we "sent", the rest = the bytes received.
 *   used:  byte 1 = log2(ring size) - 1 (mod 6: 2..64; bit 7: IN_ORDER,
 *          bit 6: a TX queue, lengths not read), byte 2 = buffers
 *          in flight, then rounds of [max][used idx lo][hi][count]
 *          [count x (id u32, len u32)]: the device writes count entries
 *          and sets used->idx, the driver takes up to max, then refills.
 *
 * Invariants (abort on violation, which the fuzzer reports and the
 * replay driver turns into a failed test):
 *   - an accepted reply echoes the request, has flags 0x5, the expected
 *     size and exactly that many bytes;
 *   - a rejected one has a terminated error line;
 *   - the used ring never hands out a buffer that is not in flight, twice,
 *     or with a length above the one given; after a fault, nothing more;
 *   - in flight + free = ring size at every step.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhost_user.h"
#include "virtqueue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s " \
	"(%s:%d)\n", #c, __FILE__, __LINE__); abort(); } } while (0)

static void fuzz_reply(const uint8_t *d, size_t n)
{
	if (n < 1)
		return;
	uint32_t req = d[0] % 24;
	struct fsb_vhost_reply rep;
	char err[160];
	memset(err, 'x', sizeof(err));
	int rc = fsb_vhost_reply_parse(d + 1, n - 1, req, &rep, err, sizeof(err));
	if (rc == 0) {
		uint32_t want = fsb_vhost_reply_size(req) ? fsb_vhost_reply_size(req) : 8;
		CHECK(rep.request == req);
		CHECK(rep.flags == 0x5);
		CHECK(rep.size == want);
		CHECK(n - 1 == 12 + (size_t)want);
	} else {
		CHECK(rc == -EPROTO);
		CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	}
}

#define MAXQ 64
static char ring_mem[65536] __attribute__((aligned(4096)));

struct cookie {
	uint32_t len;
	int state;              /* 0 free, 1 in flight */
};

static void fuzz_used(const uint8_t *d, size_t n)
{
	if (n < 2)
		return;
	uint16_t qsize = (uint16_t)(2u << (d[0] % 6));
	struct fsb_vq vq;
	/* byte 0 bit 7: IN_ORDER; bit 6: a device-readable (TX) queue */
	bool in_order = d[0] & 0x80, tx = d[0] & 0x40;
	if (fsb_vq_init(&vq, ring_mem, qsize, !tx, false, in_order, "fuzz") < 0)
		abort();
	static struct cookie ck[MAXQ];
	memset(ck, 0, sizeof(ck));
	unsigned k = d[1] % (qsize + 1u);
	for (unsigned i = 0; i < k; i++) {
		ck[i].len = 64 + i;
		ck[i].state = 1;
		fsb_vq_add(&vq, &ck[i], (uintptr_t)&ck[i], ck[i].len);
	}
	fsb_vq_publish(&vq);
	d += 2;
	n -= 2;
	uint16_t dev = 0;       /* where the device writes next */
	while (n >= 4) {
		unsigned max = d[0];
		uint16_t idx = (uint16_t)(d[1] | d[2] << 8);
		unsigned cnt = d[3] % 9;
		d += 4;
		n -= 4;
		for (unsigned j = 0; j < cnt && n >= 8; j++) {
			struct fsb_vring_used_elem *e = &vq.used->ring[dev++ & vq.mask];
			memcpy(&e->id, d, 4);
			memcpy(&e->len, d + 4, 4);
			d += 8;
			n -= 8;
		}
		vq.used->idx = idx;
		bool was_broken = vq.broken;
		void *out[MAXQ];
		uint32_t lens[MAXQ];
		unsigned got = fsb_vq_get_used(&vq, out, tx ? NULL : lens,
					       max < MAXQ ? max : MAXQ);
		CHECK(got <= max);
		if (was_broken)
			CHECK(got == 0);
		for (unsigned i = 0; i < got; i++) {
			struct cookie *c = out[i];
			CHECK(c >= ck && c < ck + MAXQ);
			CHECK(c->state == 1);
			CHECK(tx || lens[i] <= c->len);
			c->state = 0;
		}
		unsigned inflight = 0;
		for (unsigned i = 0; i < MAXQ; i++)
			inflight += ck[i].state == 1;
		CHECK(inflight == fsb_vq_in_flight(&vq));
		CHECK(vq.nfree + inflight == qsize);
		/* the driver refills with what came back */
		for (unsigned i = 0; i < MAXQ && vq.nfree && !vq.broken; i++) {
			if (ck[i].state == 0 && i < qsize) {
				ck[i].len = 64 + i;
				ck[i].state = 1;
				fsb_vq_add(&vq, &ck[i], (uintptr_t)&ck[i], ck[i].len);
			}
		}
		fsb_vq_publish(&vq);
	}
	unsigned left = fsb_vq_reclaim(&vq, NULL, NULL);
	unsigned inflight = 0;
	for (unsigned i = 0; i < MAXQ; i++)
		inflight += ck[i].state == 1;
	CHECK(left == inflight);
	fsb_vq_fini(&vq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_used(data + 1, size - 1);
	else
		fuzz_reply(data + 1, size - 1);
	return 0;
}
