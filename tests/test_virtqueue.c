/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_virtqueue.c - the driver side of a split virtqueue against a
 * device simulated here: it reads the avail ring and writes the used
 * ring exactly as a backend would (or, for the validation cases, as a
 * broken or hostile one would).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "virtqueue.h"

/* A queue and its ring memory. */
struct tq {
	struct fsb_vq vq;
	void *mem;
	unsigned kicks;
	unsigned broken_calls;
	enum fsb_vq_fault fault;
	uint16_t dev_avail;             /* device: next avail entry to read */
	uint16_t dev_used;              /* device: next used entry to write */
	char bufs[4096][16];            /* cookies point here */
};

static void on_kick(void *arg)
{
	struct tq *t = arg;
	t->kicks++;
}

static void on_broken(void *arg, enum fsb_vq_fault f)
{
	struct tq *t = arg;
	t->broken_calls++;
	t->fault = f;
}

static struct tq *tq_new_ex(uint16_t size, bool event_idx, bool in_order,
			   bool device_writes);

static struct tq *tq_new(uint16_t size, bool event_idx)
{
	return tq_new_ex(size, event_idx, false, true);
}

static struct tq *tq_new_ex(uint16_t size, bool event_idx, bool in_order,
			   bool device_writes)
{
	struct tq *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->mem = aligned_alloc(4096, fsb_vq_mem_size(size));
	assert_non_null(t->mem);
	assert_int_equal(fsb_vq_init(&t->vq, t->mem, size, device_writes,
				     event_idx, in_order, "tq"), 0);
	t->vq.kick = on_kick;
	t->vq.kick_arg = t;
	t->vq.on_broken = on_broken;
	t->vq.broken_arg = t;
	return t;
}

static void tq_free(struct tq *t)
{
	fsb_vq_fini(&t->vq);
	free(t->mem);
	free(t);
}

/* Driver: add buffer @i (cookie &bufs[i], len @len). */
static void drv_add(struct tq *t, unsigned i, uint32_t len)
{
	assert_true(t->vq.nfree > 0);
	fsb_vq_add(&t->vq, t->bufs[i], (uintptr_t)t->bufs[i], len);
}

/* Device: take the next avail entry; returns its descriptor id. */
static uint16_t dev_pop(struct tq *t)
{
	struct fsb_vq *vq = &t->vq;
	uint16_t aidx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	assert_true(aidx != t->dev_avail);
	uint16_t id = vq->avail->ring[t->dev_avail & vq->mask];
	t->dev_avail++;
	return id;
}

/* Device: put a used entry (not yet published). */
static void dev_put(struct tq *t, uint32_t id, uint32_t len)
{
	struct fsb_vq *vq = &t->vq;
	vq->used->ring[t->dev_used & vq->mask].id = id;
	vq->used->ring[t->dev_used & vq->mask].len = len;
	t->dev_used++;
}

static void dev_publish(struct tq *t)
{
	__atomic_store_n(&t->vq.used->idx, t->dev_used, __ATOMIC_RELEASE);
}

static void test_normal_flow(void **state)
{
	(void)state;
	struct tq *t = tq_new(8, false);
	/* poll mode: the driver asks not to be interrupted */
	assert_int_equal(t->vq.avail->flags, FSB_VRING_AVAIL_F_NO_INTERRUPT);
	for (unsigned i = 0; i < 3; i++)
		drv_add(t, i, 100 + i);
	assert_int_equal(t->vq.avail->idx, 0);      /* not yet visible */
	fsb_vq_publish(&t->vq);
	assert_int_equal(t->vq.avail->idx, 3);
	assert_int_equal(fsb_vq_in_flight(&t->vq), 3);
	for (unsigned i = 0; i < 3; i++) {
		uint16_t id = dev_pop(t);
		struct fsb_vring_desc *d = &t->vq.desc[id];
		assert_int_equal(d->addr, (uintptr_t)t->bufs[i]);
		assert_int_equal(d->len, 100 + i);
		assert_int_equal(d->flags, FSB_VRING_DESC_F_WRITE);
		dev_put(t, id, 50 + i);
	}
	void *c[8];
	uint32_t lens[8];
	assert_int_equal(fsb_vq_get_used(&t->vq, c, lens, 8), 0); /* unpublished */
	dev_publish(t);
	assert_int_equal(fsb_vq_used_count(&t->vq), 3);
	assert_int_equal(fsb_vq_get_used(&t->vq, c, lens, 2), 2); /* max */
	assert_ptr_equal(c[0], t->bufs[0]);
	assert_ptr_equal(c[1], t->bufs[1]);
	assert_int_equal(lens[0], 50);
	assert_int_equal(lens[1], 51);
	assert_int_equal(fsb_vq_get_used(&t->vq, c, lens, 8), 1);
	assert_ptr_equal(c[0], t->bufs[2]);
	assert_int_equal(fsb_vq_in_flight(&t->vq), 0);
	assert_false(t->vq.broken);
	/* no NO_NOTIFY from the device: every publish kicked */
	assert_int_equal(t->kicks, 1);
	tq_free(t);
}

/* 16-bit indexes wrap many times over; the device completes out of
 * order; nothing is lost or duplicated. */
static void test_wraparound(void **state)
{
	(void)state;
	struct tq *t = tq_new(16, false);
	t->vq.used->flags = FSB_VRING_USED_F_NO_NOTIFY;
	unsigned next = 0;
	uint64_t added = 0, got_total = 0;
	unsigned char owned[4096] = { 0 };
	while (added < 300000) {
		unsigned k = t->vq.nfree;
		for (unsigned i = 0; i < k; i++) {
			unsigned b = next++ % 4096;
			assert_false(owned[b]);
			owned[b] = 1;
			drv_add(t, b, 64);
			added++;
		}
		fsb_vq_publish(&t->vq);
		/* device: take all, complete in reverse order */
		uint16_t ids[16];
		unsigned n = 0;
		while (__atomic_load_n(&t->vq.avail->idx, __ATOMIC_ACQUIRE) !=
		       t->dev_avail)
			ids[n++] = dev_pop(t);
		for (unsigned i = n; i-- > 0;)
			dev_put(t, ids[i], 60);
		dev_publish(t);
		void *c[16];
		uint32_t lens[16];
		unsigned g = fsb_vq_get_used(&t->vq, c, lens, 16);
		assert_int_equal(g, n);
		for (unsigned i = 0; i < g; i++) {
			unsigned b = (unsigned)(((char (*)[16])c[i]) - t->bufs);
			assert_true(owned[b]);
			owned[b] = 0;
			assert_int_equal(lens[i], 60);
		}
		got_total += g;
	}
	assert_int_equal(got_total, added);
	assert_true(t->vq.used_idx != 0 || added % 65536 == 0);
	assert_false(t->vq.broken);
	assert_int_equal(t->kicks, 0);
	tq_free(t);
}

static void test_notify_suppression(void **state)
{
	(void)state;
	struct tq *t = tq_new(8, false);
	t->vq.used->flags = FSB_VRING_USED_F_NO_NOTIFY;
	drv_add(t, 0, 10);
	fsb_vq_publish(&t->vq);
	assert_int_equal(t->kicks, 0);
	fsb_vq_publish(&t->vq);              /* nothing new: no kick */
	t->vq.used->flags = 0;
	fsb_vq_publish(&t->vq);
	assert_int_equal(t->kicks, 0);
	drv_add(t, 1, 10);
	fsb_vq_publish(&t->vq);
	assert_int_equal(t->kicks, 1);
	assert_int_equal(t->vq.kicks, 1);
	tq_free(t);

	/* EVENT_IDX: kick only when avail crosses the device's event */
	t = tq_new(8, true);
	uint16_t *avail_event = (uint16_t *)&t->vq.used->ring[8];
	*avail_event = 5;                    /* wake me after entry 5 */
	for (unsigned i = 0; i < 4; i++)
		drv_add(t, i, 10);
	fsb_vq_publish(&t->vq);              /* 0 -> 4: not past 5 */
	assert_int_equal(t->kicks, 0);
	drv_add(t, 4, 10);
	drv_add(t, 5, 10);
	fsb_vq_publish(&t->vq);              /* 4 -> 6: crosses 5 */
	assert_int_equal(t->kicks, 1);
	drv_add(t, 6, 10);
	fsb_vq_publish(&t->vq);              /* 6 -> 7: already past */
	assert_int_equal(t->kicks, 1);
	/* and the used event is kept far ahead of what we consumed */
	fsb_vq_suppress_interrupts(&t->vq);
	uint16_t ue = t->vq.avail->ring[8];
	assert_true((uint16_t)(ue - t->vq.used_idx) >= 0x4000);
	tq_free(t);
}

/* Fill @n buffers and let the device take them all. */
static void fill(struct tq *t, unsigned n, uint32_t len, uint16_t *ids)
{
	for (unsigned i = 0; i < n; i++)
		drv_add(t, i, len);
	fsb_vq_publish(&t->vq);
	for (unsigned i = 0; i < n; i++)
		ids[i] = dev_pop(t);
}

static void expect_broken(struct tq *t, enum fsb_vq_fault f, unsigned valid)
{
	void *c[16];
	uint32_t lens[16];
	unsigned got = fsb_vq_get_used(&t->vq, c, lens, 16);
	assert_int_equal(got, valid);
	for (unsigned i = 0; i < got; i++)
		assert_ptr_equal(c[i], t->bufs[i]);
	assert_true(t->vq.broken);
	assert_int_equal(t->broken_calls, 1);
	assert_int_equal(t->fault, f);
	assert_int_equal(atomic_load(&t->vq.fault), f);
	assert_int_equal(t->vq.faults, 1);
	/* broken for good: nothing more comes out, no second report */
	dev_put(t, 0, 0);
	dev_publish(t);
	assert_int_equal(fsb_vq_get_used(&t->vq, c, lens, 16), 0);
	assert_int_equal(fsb_vq_used_count(&t->vq), 0);
	assert_int_equal(t->broken_calls, 1);
}

static void test_bad_id(void **state)
{
	(void)state;
	struct tq *t = tq_new(8, false);
	uint16_t ids[8];
	fill(t, 4, 100, ids);
	dev_put(t, ids[0], 10);
	dev_put(t, 8, 10);                   /* out of range */
	dev_put(t, ids[1], 10);
	dev_publish(t);
	expect_broken(t, FSB_VQ_BAD_ID, 1);
	tq_free(t);

	t = tq_new(8, false);
	fill(t, 4, 100, ids);
	dev_put(t, 0xffffffffu, 10);
	dev_publish(t);
	expect_broken(t, FSB_VQ_BAD_ID, 0);
	tq_free(t);
}

static void test_not_in_flight(void **state)
{
	(void)state;
	/* an id the driver never handed out */
	struct tq *t = tq_new(8, false);
	uint16_t ids[8];
	fill(t, 2, 100, ids);
	dev_put(t, ids[0], 10);
	dev_put(t, 7, 10);
	dev_publish(t);
	expect_broken(t, FSB_VQ_NOT_IN_FLIGHT, 1);
	tq_free(t);

	/* the same id twice in one batch */
	t = tq_new(8, false);
	fill(t, 3, 100, ids);
	dev_put(t, ids[0], 10);
	dev_put(t, ids[0], 10);
	dev_publish(t);
	expect_broken(t, FSB_VQ_NOT_IN_FLIGHT, 1);
	tq_free(t);

	/* an id returned in an earlier batch */
	t = tq_new(8, false);
	fill(t, 3, 100, ids);
	dev_put(t, ids[0], 10);
	dev_publish(t);
	void *c[4];
	assert_int_equal(fsb_vq_get_used(&t->vq, c, NULL, 4), 1);
	dev_put(t, ids[0], 10);
	dev_publish(t);
	unsigned got = fsb_vq_get_used(&t->vq, c, NULL, 4);
	assert_int_equal(got, 0);
	assert_true(t->vq.broken);
	assert_int_equal(t->fault, FSB_VQ_NOT_IN_FLIGHT);
	tq_free(t);
}

static void test_bad_len(void **state)
{
	(void)state;
	struct tq *t = tq_new(8, false);
	uint16_t ids[8];
	fill(t, 2, 100, ids);
	dev_put(t, ids[0], 100);             /* exactly the buffer: fine */
	dev_put(t, ids[1], 101);
	dev_publish(t);
	expect_broken(t, FSB_VQ_BAD_LEN, 1);
	tq_free(t);
}

static void test_idx_jump(void **state)
{
	(void)state;
	struct tq *t = tq_new(8, false);
	uint16_t ids[8];
	fill(t, 3, 100, ids);
	/* 4 entries claimed with 3 in flight */
	for (unsigned i = 0; i < 3; i++)
		dev_put(t, ids[i], 10);
	t->dev_used++;
	dev_publish(t);
	expect_broken(t, FSB_VQ_BAD_IDX, 0);
	tq_free(t);

	/* a jump of more than the ring size (and a backwards one) */
	t = tq_new(8, false);
	fill(t, 8, 100, ids);
	__atomic_store_n(&t->vq.used->idx, (uint16_t)0xfff0, __ATOMIC_RELEASE);
	void *c[16];
	assert_int_equal(fsb_vq_get_used(&t->vq, c, NULL, 16), 0);
	assert_true(t->vq.broken);
	assert_int_equal(t->fault, FSB_VQ_BAD_IDX);
	tq_free(t);
}

static unsigned reclaimed;
static void count_reclaim(void *cookie, void *arg)
{
	(void)cookie;
	(void)arg;
	reclaimed++;
}

static void test_reclaim(void **state)
{
	(void)state;
	struct tq *t = tq_new(8, false);
	uint16_t ids[8];
	fill(t, 5, 100, ids);
	dev_put(t, 99, 0);
	dev_publish(t);
	void *c[8];
	assert_int_equal(fsb_vq_get_used(&t->vq, c, NULL, 8), 0);
	assert_true(t->vq.broken);
	reclaimed = 0;
	assert_int_equal(fsb_vq_reclaim(&t->vq, count_reclaim, NULL), 5);
	assert_int_equal(reclaimed, 5);
	/* reset: usable again from index 0 */
	assert_false(t->vq.broken);
	assert_int_equal(t->vq.nfree, 8);
	assert_int_equal(t->vq.avail->idx, 0);
	assert_int_equal(t->vq.used->idx, 0);
	tq_free(t);
}

/* A control-queue device that answers inside the kick, as QEMU does on
 * the doorbell's exit: it checks the chain, acks with @ctrl_ack, and
 * uses it with id + @ctrl_id_skew; @ctrl_silent: no answer at all. */
static uint8_t ctrl_ack;
static uint32_t ctrl_id_skew;
static bool ctrl_silent;
static unsigned ctrl_calls;
static uint8_t ctrl_seen[16];

static void ctrl_device(void *arg)
{
	struct tq *t = arg;
	struct fsb_vq *vq = &t->vq;
	t->kicks++;
	if (ctrl_silent)
		return;
	uint16_t head = dev_pop(t);
	struct fsb_vring_desc *a = &vq->desc[head];
	assert_int_equal(a->flags, FSB_VRING_DESC_F_NEXT);
	struct fsb_vring_desc *b = &vq->desc[a->next];
	assert_int_equal(b->flags, FSB_VRING_DESC_F_WRITE);
	assert_int_equal(b->len, 1);
	memcpy(ctrl_seen, (void *)(uintptr_t)a->addr, a->len < 16 ? a->len : 16);
	*(uint8_t *)(uintptr_t)b->addr = ctrl_ack;
	dev_put(t, head + ctrl_id_skew, 1);
	dev_publish(t);
	ctrl_calls++;
}

static void test_ctrl_call(void **state)
{
	(void)state;
	for (int ino = 0; ino < 2; ino++) {
		struct tq *t = tq_new_ex(8, false, ino, false);
		t->vq.kick = ctrl_device;
		uint8_t req[4] = { 4, 0, 3, 0 }, ack = 0xff;
		ctrl_ack = 0;
		ctrl_id_skew = 0;
		ctrl_silent = false;
		ctrl_calls = 0;
		/* more requests than the ring has descriptors: two each, in
		 * ring order, wrapping */
		for (unsigned i = 0; i < 10; i++) {
			req[2] = (uint8_t)i;
			ack = 0xff;
			assert_int_equal(fsb_vq_ctrl_call(&t->vq, (uintptr_t)req, 4,
							  (uintptr_t)&ack, 1, 100), 0);
			assert_int_equal(ack, 0);
			assert_int_equal(ctrl_seen[2], i);
		}
		assert_int_equal(ctrl_calls, 10);
		/* the device says ERR: the call succeeded, the ack says so */
		ctrl_ack = 1;
		assert_int_equal(fsb_vq_ctrl_call(&t->vq, (uintptr_t)req, 4,
						  (uintptr_t)&ack, 1, 100), 0);
		assert_int_equal(ack, 1);
		/* another id comes back: the queue is broken */
		ctrl_id_skew = 1;
		assert_int_equal(fsb_vq_ctrl_call(&t->vq, (uintptr_t)req, 4,
						  (uintptr_t)&ack, 1, 100), -EPROTO);
		assert_true(t->vq.broken);
		assert_int_equal(t->broken_calls, 1);
		assert_int_equal(fsb_vq_ctrl_call(&t->vq, (uintptr_t)req, 4,
						  (uintptr_t)&ack, 1, 100), -EPROTO);
		tq_free(t);
	}
	/* no answer: bounded, and the queue is done for */
	struct tq *t = tq_new_ex(8, false, false, false);
	t->vq.kick = ctrl_device;
	ctrl_silent = true;
	uint8_t req[2] = { 0, 0 }, ack = 0xff;
	assert_int_equal(fsb_vq_ctrl_call(&t->vq, (uintptr_t)req, 2,
					  (uintptr_t)&ack, 1, 20), -ETIMEDOUT);
	assert_true(t->vq.broken);
	assert_int_equal(fsb_vq_ctrl_call(&t->vq, (uintptr_t)req, 2,
					  (uintptr_t)&ack, 1, 20), -EPROTO);
	tq_free(t);
}

static void test_bad_init(void **state)
{
	(void)state;
	struct fsb_vq vq;
	static char mem[1 << 16] __attribute__((aligned(4096)));
	assert_int_equal(fsb_vq_init(&vq, mem, 3, false, false, false, "x"), -EINVAL);
	assert_int_equal(fsb_vq_init(&vq, mem, 1, false, false, false, "x"), -EINVAL);
	assert_int_equal(fsb_vq_init(&vq, mem + 1, 8, false, false, false, "x"), -EINVAL);
	assert_int_equal(fsb_vq_init(&vq, mem, 8, false, false, false, "x"), 0);
	assert_true(fsb_vq_mem_size(8) <= sizeof(mem));
	fsb_vq_fini(&vq);
}

/* IN_ORDER: descriptor i sits in avail slot i for good; completions
 * come in order; a TX queue needs only used->idx (and a sane last id),
 * an RX queue reads every entry and each id must be the expected one. */
static void test_in_order(void **state)
{
	(void)state;
	for (int rx = 0; rx < 2; rx++) {
		struct tq *t = tq_new_ex(8, false, true, rx);
		t->vq.used->flags = FSB_VRING_USED_F_NO_NOTIFY;
		uint64_t added = 0, back = 0;
		unsigned next = 0;
		while (added < 100000) {
			void *ck[8];
			uint64_t addr[8];
			uint32_t len[8];
			unsigned k = t->vq.nfree;
			for (unsigned i = 0; i < k; i++) {
				unsigned b = next++ % 4096;
				ck[i] = t->bufs[b];
				addr[i] = (uintptr_t)t->bufs[b];
				len[i] = 100;
			}
			fsb_vq_add_bulk(&t->vq, ck, addr, len, k);
			added += k;
			fsb_vq_publish(&t->vq);
			unsigned n = 0;
			while (__atomic_load_n(&t->vq.avail->idx, __ATOMIC_ACQUIRE) !=
			       t->dev_avail) {
				uint16_t id = dev_pop(t);
				/* the avail ring was never rewritten */
				assert_int_equal(id, (uint16_t)(t->dev_avail - 1) & 7);
				n++;
				if (rx || n % 3 == 0 || t->vq.avail->idx == t->dev_avail)
					dev_put(t, id, 60);
				else
					t->dev_used++;  /* batched: entry skipped */
			}
			dev_publish(t);
			void *c[8];
			uint32_t lens[8];
			unsigned g = fsb_vq_get_used(&t->vq, c, rx ? lens : NULL, 8);
			assert_int_equal(g, n);
			for (unsigned i = 0; i < g; i++) {
				assert_ptr_equal(c[i], t->bufs[(back + i) % 4096]);
				if (rx)
					assert_int_equal(lens[i], 60);
			}
			back += g;
		}
		assert_int_equal(back, added);
		assert_false(t->vq.broken);

		/* a used id other than the expected one breaks the queue */
		void *ck[2] = { t->bufs[0], t->bufs[1] };
		uint64_t addr[2] = { 1, 2 };
		uint32_t len[2] = { 100, 100 };
		fsb_vq_add_bulk(&t->vq, ck, addr, len, 2);
		fsb_vq_publish(&t->vq);
		dev_pop(t);
		dev_pop(t);
		uint16_t u = t->dev_used;
		dev_put(t, (u + 1) & 7, 10);    /* swapped */
		dev_put(t, u & 7, 10);
		dev_publish(t);
		void *c[8];
		uint32_t lens[8];
		assert_int_equal(fsb_vq_get_used(&t->vq, c, rx ? lens : NULL, 8), 0);
		assert_true(t->vq.broken);
		assert_int_equal(t->fault, FSB_VQ_NOT_IN_FLIGHT);
		tq_free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normal_flow),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_notify_suppression),
		cmocka_unit_test(test_bad_id),
		cmocka_unit_test(test_not_in_flight),
		cmocka_unit_test(test_bad_len),
		cmocka_unit_test(test_idx_jump),
		cmocka_unit_test(test_reclaim),
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_bad_init),
		cmocka_unit_test(test_ctrl_call),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
