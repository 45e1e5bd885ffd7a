/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtqueue.c - split virtqueue, driver side: layout, reset, faults.
 * The per-burst functions are inline in virtqueue.h; see its essay.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "virtqueue.h"

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Layout: desc (16-byte aligned) | avail (2) | used (4), each part on
 * its own cache line so the device's writes to used do not share a line
 * with our writes to avail. */
static size_t avail_off(uint16_t size)
{
	return align_up((size_t)size * sizeof(struct fsb_vring_desc), 64);
}

static size_t used_off(uint16_t size)
{
	return align_up(avail_off(size) + 4 + 2 * (size_t)size + 2, 64);
}

size_t fsb_vq_mem_size(uint16_t size)
{
	return align_up(used_off(size) + 4 +
			sizeof(struct fsb_vring_used_elem) * (size_t)size + 2,
			4096);
}

static void vq_reset(struct fsb_vq *vq)
{
	memset(vq->desc, 0, fsb_vq_mem_size(vq->size));
	/* poll mode: never interrupt us (with EVENT_IDX the flags must be
	 * 0, virtio 1.x 2.7.7: used_event, far ahead, says it) */
	vq->avail->flags = vq->event_idx ? 0 : FSB_VRING_AVAIL_F_NO_INTERRUPT;
	vq->avail->ring[vq->size] = 0x8000;     /* used_event, far ahead */
	for (unsigned i = 0; i < vq->size; i++) {
		vq->slot[i].cookie = NULL;
		vq->slot[i].len = 0;
		vq->free_ids[i] = (uint16_t)i;
		/* in order, descriptor i lives in avail slot i for good;
		 * otherwise the same guess, kept while ids come back in
		 * order */
		vq->avail->ring[i] = (uint16_t)i;
	}
	vq->nfree = vq->size;
	vq->free_head = 0;
	vq->avail_idx = 0;
	vq->used_idx = 0;
	vq->published = 0;
	vq->broken = false;
	atomic_store(&vq->fault, FSB_VQ_OK);
}

int fsb_vq_init(struct fsb_vq *vq, void *mem, uint16_t size,
		bool device_writes, bool event_idx, bool in_order,
		const char *name)
{
	if (size < FSB_VQ_SIZE_MIN || size > FSB_VQ_SIZE_MAX ||
	    (size & (size - 1)) || !mem || ((uintptr_t)mem & 15))
		return -EINVAL;
	memset(vq, 0, sizeof(*vq));
	vq->slot = calloc(size, sizeof(*vq->slot));
	vq->free_ids = calloc(size, sizeof(*vq->free_ids));
	if (!vq->slot || !vq->free_ids) {
		fsb_vq_fini(vq);
		return -ENOMEM;
	}
	vq->size = size;
	vq->mask = (uint16_t)(size - 1);
	vq->desc = mem;
	vq->avail = (struct fsb_vring_avail *)((char *)mem + avail_off(size));
	vq->used = (struct fsb_vring_used *)((char *)mem + used_off(size));
	vq->event_idx = event_idx;
	vq->in_order = in_order;
	vq->desc_flags = device_writes ? FSB_VRING_DESC_F_WRITE : 0;
	vq->name = name ? name : "virtqueue";
	atomic_init(&vq->kicks, 0);
	atomic_init(&vq->faults, 0);
	atomic_init(&vq->fault, FSB_VQ_OK);
	vq_reset(vq);
	return 0;
}

void fsb_vq_fini(struct fsb_vq *vq)
{
	free(vq->slot);
	free(vq->free_ids);
	vq->slot = NULL;
	vq->free_ids = NULL;
}

unsigned fsb_vq_reclaim(struct fsb_vq *vq, void (*fn)(void *cookie, void *arg),
			void *arg)
{
	unsigned n = 0;
	if (!vq->slot)
		return 0;
	for (unsigned i = 0; i < vq->size; i++) {
		if (vq->slot[i].cookie) {
			if (fn)
				fn(vq->slot[i].cookie, arg);
			n++;
		}
	}
	vq_reset(vq);
	return n;
}

void fsb_vq_fault(struct fsb_vq *vq, enum fsb_vq_fault f, uint32_t a,
		  uint32_t b)
{
	vq->broken = true;
	fsb_counter_add(&vq->faults, 1);
	int none = FSB_VQ_OK;
	atomic_compare_exchange_strong(&vq->fault, &none, (int)f);
	unsigned long long x = a, y = b;
	switch (f) {
	case FSB_VQ_BAD_IDX:
		FSB_DP_NOTE(FSB_LOG_ERR, vq->name, 0, "%s: device broke the "
			    "ring: used index jumped past the buffers in flight "
			    "(%llu new entries, %llu in flight); queue stopped",
			    x, y);
		break;
	case FSB_VQ_BAD_ID:
		FSB_DP_NOTE(FSB_LOG_ERR, vq->name, 0, "%s: device broke the "
			    "ring: used id out of range (id %llu, size %llu); "
			    "queue stopped", x, y);
		break;
	case FSB_VQ_NOT_IN_FLIGHT:
		FSB_DP_NOTE(FSB_LOG_ERR, vq->name, 0, "%s: device broke the "
			    "ring: used id not in flight (id %llu); queue "
			    "stopped", x);
		break;
	default:
		FSB_DP_NOTE(FSB_LOG_ERR, vq->name, 0, "%s: device broke the "
			    "ring: used length beyond the buffer (%llu > %llu); "
			    "queue stopped", x, y);
		break;
	}
	if (vq->on_broken)
		vq->on_broken(vq->broken_arg, f);
}

int fsb_vq_ctrl_call(struct fsb_vq *vq, uint64_t out, uint32_t out_len,
		     uint64_t in, uint32_t in_len, unsigned timeout_ms)
{
	if (vq->broken)
		return -EPROTO;
	uint16_t ai = vq->avail_idx, mask = vq->mask;
	uint16_t head = (uint16_t)(ai * 2u) & mask, tail = (uint16_t)(head + 1) & mask;
	vq->desc[head] = (struct fsb_vring_desc){ out, out_len,
						  FSB_VRING_DESC_F_NEXT, tail };
	vq->desc[tail] = (struct fsb_vring_desc){ in, in_len,
						  FSB_VRING_DESC_F_WRITE, 0 };
	vq->avail->ring[ai & mask] = head;
	vq->avail_idx = (uint16_t)(ai + 1);
	/* the chain holds two descriptors: in flight, as far as the index
	 * checks of fsb_vq_publish and the used ring go, it is one entry */
	fsb_vq_publish(vq);
	uint64_t deadline = fsb_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (unsigned spin = 0;; spin++) {
		uint16_t u = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
		if (u != vq->used_idx) {
			const struct fsb_vring_used_elem *e =
				&vq->used->ring[vq->used_idx & mask];
			uint32_t id = __atomic_load_n(&e->id, __ATOMIC_RELAXED);
			uint32_t len = __atomic_load_n(&e->len, __ATOMIC_RELAXED);
			if ((uint16_t)(u - vq->used_idx) != 1 || id != head) {
				fsb_vq_fault(vq, id >= vq->size ? FSB_VQ_BAD_ID :
					     FSB_VQ_NOT_IN_FLIGHT, id, vq->size);
				return -EPROTO;
			}
			if (len > in_len) {
				fsb_vq_fault(vq, FSB_VQ_BAD_LEN, len, in_len);
				return -EPROTO;
			}
			vq->used_idx = u;
			return 0;
		}
		if (fsb_now_ns() >= deadline) {
			/* its late answer would not match the next request:
			 * the queue is done for */
			vq->broken = true;
			return -ETIMEDOUT;
		}
		struct timespec ts = { 0, spin < 100 ? 1000 : 1000000 };
		nanosleep(&ts, NULL);
	}
}
