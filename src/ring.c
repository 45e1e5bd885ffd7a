/* SPDX-License-Identifier: BSD-3-Clause */
/* ring.c - allocation of the lock-free rings in ring.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

struct fsb_spsc *fsb_spsc_new(uint32_t count)
{
	if (count == 0 || count > (1u << 24)) {
		errno = EINVAL;
		return NULL;
	}
	uint32_t size = fsb_pow2_ceil(count);
	struct fsb_spsc *r = aligned_alloc(FSB_CACHE_LINE,
		(sizeof(*r) + size * sizeof(void *) + FSB_CACHE_LINE - 1) &
		~(size_t)(FSB_CACHE_LINE - 1));
	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->size = size;
	r->mask = size - 1;
	return r;
}

void fsb_spsc_free(struct fsb_spsc *r)
{
	free(r);
}

struct fsb_mpmc *fsb_mpmc_new(uint32_t count)
{
	if (count == 0 || count > (1u << 26)) {
		errno = EINVAL;
		return NULL;
	}
	uint32_t size = fsb_pow2_ceil(count);
	struct fsb_mpmc *r = aligned_alloc(FSB_CACHE_LINE,
		(sizeof(*r) + size * sizeof(struct fsb_mpmc_cell) +
		 FSB_CACHE_LINE - 1) & ~(size_t)(FSB_CACHE_LINE - 1));
	if (!r)
		return NULL;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	r->mask = size - 1;
	for (uint32_t i = 0; i < size; i++) {
		atomic_init(&r->cells[i].seq, i);
		r->cells[i].obj = NULL;
	}
	return r;
}

void fsb_mpmc_free(struct fsb_mpmc *r)
{
	free(r);
}
