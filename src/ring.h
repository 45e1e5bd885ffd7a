/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ring.h - bounded lock-free pointer rings.
 *
 * fsb_spsc: one producer thread, one consumer thread.  Used by the ring
 * sub-device, where a queue is driven by exactly one thread per side.
 * Head and tail live on their own cache lines and each side keeps a
 * cached copy of the other's index, so a burst costs one acquire load
 * and one release store in the common case.
 *
 * fsb_mpmc: any number of producers and consumers (mempool free lists).
 * Each cell carries a sequence number (the well-known bounded MPMC
 * design): a cell is free for position p when seq == p and full when
 * seq == p + 1.  One CAS per element; the per-thread caches above it
 * keep it off the fast path.
 *
 * Both take sizes that are powers of two.  All cross-thread values pass
 * through C11 atomics with explicit orders (TSan cannot see bare
 * fences).
 */
#ifndef FSB_RING_H
#define FSB_RING_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "fsb_private.h"

static inline uint32_t fsb_pow2_ceil(uint32_t v)
{
	v--;
	v |= v >> 1; v |= v >> 2; v |= v >> 4; v |= v >> 8; v |= v >> 16;
	return v + 1;
}

/* ------------------------------------------------------------------ */

struct fsb_spsc {
	struct {
		_Atomic uint32_t head;  /* producer writes */
		uint32_t tail_cache;
	} prod FSB_ALIGNED;
	struct {
		_Atomic uint32_t tail;  /* consumer writes */
		uint32_t head_cache;
	} cons FSB_ALIGNED;
	uint32_t size, mask;
	void *slots[] FSB_ALIGNED;
};

/* Allocate a ring of at least @count slots (rounded up to a power of
 * two); NULL with errno on failure. */
struct fsb_spsc *fsb_spsc_new(uint32_t count);
void fsb_spsc_free(struct fsb_spsc *r);

/* Enqueue up to @n pointers; returns how many went in. Producer only. */
static inline unsigned fsb_spsc_enqueue(struct fsb_spsc *r, void *const *objs,
					unsigned n)
{
	uint32_t head = atomic_load_explicit(&r->prod.head, memory_order_relaxed);
	uint32_t free_slots = r->size - (head - r->prod.tail_cache);
	if (free_slots < n) {
		r->prod.tail_cache = atomic_load_explicit(&r->cons.tail,
							  memory_order_acquire);
		free_slots = r->size - (head - r->prod.tail_cache);
		if (n > free_slots)
			n = free_slots;
	}
	for (unsigned i = 0; i < n; i++)
		r->slots[(head + i) & r->mask] = objs[i];
	atomic_store_explicit(&r->prod.head, head + n, memory_order_release);
	return n;
}

/* Dequeue up to @n pointers; returns how many came out. Consumer only. */
static inline unsigned fsb_spsc_dequeue(struct fsb_spsc *r, void **objs,
					unsigned n)
{
	uint32_t tail = atomic_load_explicit(&r->cons.tail, memory_order_relaxed);
	uint32_t avail = r->cons.head_cache - tail;
	if (avail < n) {
		r->cons.head_cache = atomic_load_explicit(&r->prod.head,
							  memory_order_acquire);
		avail = r->cons.head_cache - tail;
		if (n > avail)
			n = avail;
	}
	for (unsigned i = 0; i < n; i++)
		objs[i] = r->slots[(tail + i) & r->mask];
	atomic_store_explicit(&r->cons.tail, tail + n, memory_order_release);
	return n;
}

/* Entries in the ring; exact only when both sides are quiet. */
static inline unsigned fsb_spsc_count(struct fsb_spsc *r)
{
	return atomic_load_explicit(&r->prod.head, memory_order_acquire) -
	       atomic_load_explicit(&r->cons.tail, memory_order_acquire);
}

/* ------------------------------------------------------------------ */

struct fsb_mpmc_cell {
	_Atomic uint64_t seq;
	void *obj;
};

struct fsb_mpmc {
	_Atomic uint64_t head FSB_ALIGNED;   /* next position to enqueue */
	_Atomic uint64_t tail FSB_ALIGNED;   /* next position to dequeue */
	uint64_t mask FSB_ALIGNED;
	struct fsb_mpmc_cell cells[];
};

struct fsb_mpmc *fsb_mpmc_new(uint32_t count);
void fsb_mpmc_free(struct fsb_mpmc *r);

/* Enqueue one pointer; false when full. */
static inline bool fsb_mpmc_push(struct fsb_mpmc *r, void *obj)
{
	uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
	for (;;) {
		struct fsb_mpmc_cell *c = &r->cells[pos & r->mask];
		uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t dif = (int64_t)(seq - pos);
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(
				    &r->head, &pos, pos + 1,
				    memory_order_relaxed, memory_order_relaxed)) {
				c->obj = obj;
				atomic_store_explicit(&c->seq, pos + 1,
						      memory_order_release);
				return true;
			}
		} else if (dif < 0) {
			return false;
		} else {
			pos = atomic_load_explicit(&r->head, memory_order_relaxed);
		}
	}
}

/* Dequeue one pointer; NULL when empty. */
static inline void *fsb_mpmc_pop(struct fsb_mpmc *r)
{
	uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
	for (;;) {
		struct fsb_mpmc_cell *c = &r->cells[pos & r->mask];
		uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t dif = (int64_t)(seq - (pos + 1));
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(
				    &r->tail, &pos, pos + 1,
				    memory_order_relaxed, memory_order_relaxed)) {
				void *obj = c->obj;
				atomic_store_explicit(&c->seq, pos + r->mask + 1,
						      memory_order_release);
				return obj;
			}
		} else if (dif < 0) {
			return NULL;
		} else {
			pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
		}
	}
}

/* Approximate count (exact when quiet). */
static inline uint64_t fsb_mpmc_count(struct fsb_mpmc *r)
{
	uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
	return h >= t ? h - t : 0;
}

#endif /* FSB_RING_H */
