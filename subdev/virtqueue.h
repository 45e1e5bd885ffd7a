/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtqueue.h - the driver side of a split virtqueue (virtio 1.x, 2.6).
 *
 * Shared by every kind that drives virtio rings: virtio_user (the
 * device is a vhost-user backend in another process) and, later,
 * virtio_pci (the device is hardware or a hypervisor).  Nothing here
 * knows how the device is reached: the caller places the ring memory
 * (somewhere the device can see it), says how to kick (a callback), and
 * hears about a misbehaving device through another callback.
 *
 * Only single-descriptor buffers are used: a packet and its virtio-net
 * header sit in one buffer (the header in the headroom), so no chains,
 * no indirect tables.
 *
 * The device is not trusted.  Everything it writes (used->idx, used
 * entries, used->flags, the avail event) is read once and checked:
 *   - used->idx may not advance past what we have in flight;
 *   - a used id must be < size and name a buffer in flight (not already
 *     returned: that catches duplicates too);
 *   - a used len may not exceed the length we gave.
 * A violation makes the queue broken: the entries before it in the same
 * batch are returned (they were valid), nothing after it ever is, the
 * on_broken callback runs once (to mark the sub-device), one
 * rate-limited line says what was wrong, and every later call returns 0.
 * Buffers a broken queue still holds are given back by fsb_vq_reclaim()
 * when the owner closes it.
 *
 * Notifications.  We poll, so we ask the device never to interrupt us
 * (VRING_AVAIL_F_NO_INTERRUPT; with EVENT_IDX, a used_event kept far
 * ahead).  We kick only when the device asks for it: not when it set
 * VRING_USED_F_NO_NOTIFY, or per the avail event with EVENT_IDX.  The
 * check needs a store-load barrier between publishing avail->idx and
 * reading the device's flags: the avail->idx store is seq_cst (one
 * locked instruction per burst, not per packet).
 *
 * Cost: one acquire load of used->idx per get, one release/seq_cst store
 * of avail->idx per publish, no division (sizes are powers of two).
 * Shared-memory accesses use the __atomic builtins on plain fields, so
 * TSan sees them in the tests where the "device" is another thread.
 *
 * Threading: one queue is driven by one thread at a time (the datapath
 * queue's owner); fsb_vq_init/reclaim only while nobody drives it.
 */
#ifndef FSB_VIRTQUEUE_H
#define FSB_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsb_private.h"

#define FSB_VRING_DESC_F_NEXT 1
#define FSB_VRING_DESC_F_WRITE 2
#define FSB_VRING_AVAIL_F_NO_INTERRUPT 1
#define FSB_VRING_USED_F_NO_NOTIFY 1

#define FSB_VQ_SIZE_MIN 2
#define FSB_VQ_SIZE_MAX 32768

struct fsb_vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct fsb_vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];        /* size entries, then used_event */
};

struct fsb_vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct fsb_vring_used {
	uint16_t flags;
	uint16_t idx;
	struct fsb_vring_used_elem ring[]; /* size entries, then avail_event */
};

/* Why a queue broke (for tests and counters). */
enum fsb_vq_fault {
	FSB_VQ_OK = 0,
	FSB_VQ_BAD_IDX,         /* used->idx jumped past what is in flight */
	FSB_VQ_BAD_ID,          /* used id >= size */
	FSB_VQ_NOT_IN_FLIGHT,   /* used id not handed to the device */
	FSB_VQ_BAD_LEN,         /* used len > buffer length */
};

struct fsb_vq;
typedef void (*fsb_vq_kick_fn)(void *arg);
/* Called once, from the thread driving the queue, when it breaks.
 * Must be cheap and lock-free (a slot notifier is). */
typedef void (*fsb_vq_broken_fn)(void *arg, enum fsb_vq_fault f);

struct fsb_vq_slot {
	void *cookie;           /* the buffer in flight; NULL = free */
	uint32_t len;           /* the length handed to the device */
	uint32_t pad;
};

struct fsb_vq {
	/* Datapath: first cache line. */
	struct fsb_vring_desc *desc;
	struct fsb_vring_avail *avail;
	struct fsb_vring_used *used;
	struct fsb_vq_slot *slot;       /* per descriptor id */
	uint16_t *free_ids;             /* FIFO of free ids (not in order) */
	uint16_t free_head;             /* next to take; nfree follow it */
	uint16_t nfree;
	uint16_t size, mask;
	uint16_t avail_idx;             /* shadow of avail->idx, next to use */
	uint16_t used_idx;              /* next used entry to read */
	uint16_t published;             /* avail->idx as last published */
	bool event_idx;
	bool in_order;                  /* VIRTIO_F_IN_ORDER negotiated */
	bool broken;
	uint16_t desc_flags;            /* WRITE for device-writable queues */

	fsb_vq_kick_fn kick;
	void *kick_arg;
	fsb_vq_broken_fn on_broken;
	void *broken_arg;
	const char *name;               /* for logs */

	/* Counters: written by the driving thread, read by anyone. */
	_Atomic uint64_t kicks;
	_Atomic uint64_t faults;
	_Atomic int fault;              /* enum fsb_vq_fault, first one */
};

/* Bytes of ring memory for @size entries (desc, avail, used, each part
 * aligned as virtio 1.x wants, the whole rounded to 4 KiB). */
size_t fsb_vq_mem_size(uint16_t size);

/*
 * Lay a queue of @size entries (power of two, 2..32768) out in @mem
 * (fsb_vq_mem_size(size) zeroed-or-not bytes, 16-byte aligned; the
 * caller keeps it alive and shared with the device).  @device_writes:
 * buffers are for the device to fill (RX).  @event_idx, @in_order: the
 * features negotiated.  Returns 0, -EINVAL (bad size), -ENOMEM (the
 * bookkeeping arrays).
 *
 * IN_ORDER: the device uses buffers in the order they were made
 * available, so descriptor i always sits in avail slot i: the avail
 * ring is written once here and never again (the device's cached copy
 * of it stays valid), ids need no free list, and a device-readable
 * queue's completions are known from used->idx alone (the id of the
 * last used entry of a batch is still checked).  A device-writable
 * queue reads every entry for its length, and each id must be the one
 * expected.
 */
int fsb_vq_init(struct fsb_vq *vq, void *mem, uint16_t size,
		bool device_writes, bool event_idx, bool in_order,
		const char *name);

/* Free the bookkeeping arrays (not the ring memory). */
void fsb_vq_fini(struct fsb_vq *vq);

/* Ring addresses, for the device's configuration. */
static inline void *fsb_vq_desc_addr(const struct fsb_vq *vq) { return vq->desc; }
static inline void *fsb_vq_avail_addr(const struct fsb_vq *vq) { return vq->avail; }
static inline void *fsb_vq_used_addr(const struct fsb_vq *vq) { return vq->used; }

/*
 * Call @fn on every buffer still in flight and forget it; reset the
 * ring to its initial state (indexes 0, everything free, not broken).
 * Only while neither the driver thread nor the device uses the ring.
 * Returns how many buffers were given back.
 */
unsigned fsb_vq_reclaim(struct fsb_vq *vq, void (*fn)(void *cookie, void *arg),
			void *arg);

/*
 * One request on a control queue (virtio-net's, 5.1.6.5), synchronous,
 * from the control path: a chain of two descriptors, @out_len bytes at
 * device address @out for the device to read (class, command, data),
 * then @in_len bytes at @in for it to write (the ack).  Descriptors are
 * taken in ring order, two per request, which is what IN_ORDER asks of
 * a driver and is valid without it; the queue's other helpers are not
 * used on it (fsb_vq_init lays it out; fsb_vq_reclaim resets it).
 * Waits at most @timeout_ms for the device, polling with a backoff, and
 * calls @kick through the queue's kick callback as the device asks.
 * Returns 0 once the device used the chain; -ETIMEDOUT; -EPROTO when
 * it returned something else (another id, or more than @in_len bytes;
 * the queue is then broken, as for the datapath).
 */
int fsb_vq_ctrl_call(struct fsb_vq *vq, uint64_t out, uint32_t out_len,
		     uint64_t in, uint32_t in_len, unsigned timeout_ms);

/* Report a fault (slow path; keeps the hot functions small). */
void fsb_vq_fault(struct fsb_vq *vq, enum fsb_vq_fault f, uint32_t a,
		  uint32_t b);

/* Buffers the device holds. */
static inline unsigned fsb_vq_in_flight(const struct fsb_vq *vq)
{
	return (unsigned)vq->size - vq->nfree;
}

/*
 * Queue one buffer (not yet visible to the device: fsb_vq_publish).
 * The caller checked vq->nfree > 0.
 */
static inline void fsb_vq_add(struct fsb_vq *vq, void *cookie, uint64_t addr,
			      uint32_t len)
{
	uint16_t slot = vq->avail_idx & vq->mask, id;
	if (vq->in_order) {
		id = slot;
	} else {
		id = vq->free_ids[vq->free_head++ & vq->mask];
		/* skip the store when the entry already says so (ids come
		 * back in order from most devices): the device's copy of
		 * the line stays valid */
		if (vq->avail->ring[slot] != id)
			vq->avail->ring[slot] = id;
	}
	vq->nfree--;
	struct fsb_vring_desc *d = &vq->desc[id];
	d->addr = addr;
	d->len = len;
	d->flags = vq->desc_flags;
	vq->slot[id].cookie = cookie;
	vq->slot[id].len = len;
	vq->avail_idx++;
}

/*
 * Queue @n buffers (cookie, address, length each); the caller checked
 * n <= vq->nfree.  The burst paths use this: the ring state stays in
 * registers for the whole batch.  The arrays are only read; they are not
 * const because callers fill n <= their size entries, and GCC 12 at -O0
 * (coverage builds) takes a const array argument as a promise that all
 * of it is initialised and warns.
 */
static inline void fsb_vq_add_bulk(struct fsb_vq *vq, void **cookies,
				   uint64_t *addrs, uint32_t *lens,
				   unsigned n)
{
	uint16_t ai = vq->avail_idx, nf = vq->nfree, mask = vq->mask;
	uint16_t flags = vq->desc_flags;
	struct fsb_vring_desc *desc = vq->desc;
	struct fsb_vq_slot *slot = vq->slot;
	if (vq->in_order) {
		for (unsigned i = 0; i < n; i++) {
			uint16_t id = (uint16_t)(ai + i) & mask;
			desc[id].addr = addrs[i];
			desc[id].len = lens[i];
			desc[id].flags = flags;
			slot[id].cookie = cookies[i];
			slot[id].len = lens[i];
		}
	} else {
		uint16_t *ring = vq->avail->ring, *free_ids = vq->free_ids;
		uint16_t fh = vq->free_head;
		vq->free_head = (uint16_t)(fh + n);
		for (unsigned i = 0; i < n; i++) {
			uint16_t s = (uint16_t)(ai + i) & mask;
			uint16_t id = free_ids[(uint16_t)(fh + i) & mask];
			if (ring[s] != id)
				ring[s] = id;
			desc[id].addr = addrs[i];
			desc[id].len = lens[i];
			desc[id].flags = flags;
			slot[id].cookie = cookies[i];
			slot[id].len = lens[i];
		}
	}
	vq->avail_idx = (uint16_t)(ai + n);
	vq->nfree = (uint16_t)(nf - n);
}

/* Does the device want a kick for avail going from @old to @new? */
static inline bool fsb_vq_need_event(uint16_t event, uint16_t new_idx,
				     uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/*
 * Make everything added since the last publish visible to the device,
 * and kick it if it asked to be.  One seq_cst store per call.
 */
static inline void fsb_vq_publish(struct fsb_vq *vq)
{
	uint16_t old = vq->published, new_idx = vq->avail_idx;
	if (old == new_idx)
		return;
	/* seq_cst: the flags/event load below must not pass this store */
	__atomic_store_n(&vq->avail->idx, new_idx, __ATOMIC_SEQ_CST);
	vq->published = new_idx;
	bool kick;
	if (vq->event_idx) {
		uint16_t ev = __atomic_load_n(
			(uint16_t *)&vq->used->ring[vq->size], __ATOMIC_SEQ_CST);
		kick = fsb_vq_need_event(ev, new_idx, old);
	} else {
		kick = !(__atomic_load_n(&vq->used->flags, __ATOMIC_SEQ_CST) &
			 FSB_VRING_USED_F_NO_NOTIFY);
	}
	if (kick && vq->kick) {
		vq->kick(vq->kick_arg);
		fsb_counter_add(&vq->kicks, 1);
	}
}

/* Used entries waiting (for rx_pending); 0 when broken. */
static inline unsigned fsb_vq_used_count(const struct fsb_vq *vq)
{
	if (vq->broken)
		return 0;
	uint16_t n = (uint16_t)(__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) -
				vq->used_idx);
	return n <= fsb_vq_in_flight(vq) ? n : 0;
}

/*
 * Take up to @max buffers the device returned: cookies[i] and, when
 * @lens is not NULL, the bytes it wrote, lens[i].  Every entry is
 * checked before it is handed out (see the essay).  Returns the count
 * of valid entries; after a violation, 0 for ever.
 */
static inline unsigned fsb_vq_get_used(struct fsb_vq *vq, void **cookies,
				       uint32_t *lens, unsigned max)
{
	if (FSB_UNLIKELY(vq->broken))
		return 0;
	uint16_t uidx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(uidx - vq->used_idx);
	if (n == 0)
		return 0;
	if (FSB_UNLIKELY(n > fsb_vq_in_flight(vq))) {
		fsb_vq_fault(vq, FSB_VQ_BAD_IDX, n, fsb_vq_in_flight(vq));
		return 0;
	}
	if (n > max)
		n = (uint16_t)max;
	uint16_t u = vq->used_idx, mask = vq->mask, size = vq->size;
	const struct fsb_vring_used_elem *ring = vq->used->ring;
	unsigned i;
	if (vq->in_order) {
		if (!lens) {
			/* completions are known from the index; the last
			 * entry must still name the last buffer */
			uint16_t last = (uint16_t)(u + n - 1) & mask;
			uint32_t id = __atomic_load_n(&ring[last].id,
						      __ATOMIC_RELAXED);
			if (FSB_UNLIKELY(id != last)) {
				fsb_vq_fault(vq, id >= size ? FSB_VQ_BAD_ID :
					     FSB_VQ_NOT_IN_FLIGHT, id, size);
				return 0;
			}
			for (i = 0; i < n; i++) {
				struct fsb_vq_slot *s = &vq->slot[(uint16_t)(u + i) & mask];
				cookies[i] = s->cookie;
				s->cookie = NULL;
			}
			vq->used_idx = (uint16_t)(u + n);
			vq->nfree = (uint16_t)(vq->nfree + n);
			return n;
		}
		for (i = 0; i < n; i++) {
			uint16_t want = (uint16_t)(u + i) & mask;
			const struct fsb_vring_used_elem *e = &ring[want];
			uint32_t id = __atomic_load_n(&e->id, __ATOMIC_RELAXED);
			uint32_t len = __atomic_load_n(&e->len, __ATOMIC_RELAXED);
			if (FSB_UNLIKELY(id != want)) {
				fsb_vq_fault(vq, id >= size ? FSB_VQ_BAD_ID :
					     FSB_VQ_NOT_IN_FLIGHT, id, size);
				break;
			}
			struct fsb_vq_slot *s = &vq->slot[want];
			if (FSB_UNLIKELY(len > s->len)) {
				fsb_vq_fault(vq, FSB_VQ_BAD_LEN, len, s->len);
				break;
			}
			cookies[i] = s->cookie;
			lens[i] = len;
			s->cookie = NULL;
		}
		vq->used_idx = (uint16_t)(u + i);
		vq->nfree = (uint16_t)(vq->nfree + i);
		return i;
	}
	for (i = 0; i < n; i++) {
		/* one read of each field: the device may rewrite them */
		const struct fsb_vring_used_elem *e = &ring[(uint16_t)(u + i) & mask];
		uint32_t id = __atomic_load_n(&e->id, __ATOMIC_RELAXED);
		uint32_t len = __atomic_load_n(&e->len, __ATOMIC_RELAXED);
		if (FSB_UNLIKELY(id >= size)) {
			fsb_vq_fault(vq, FSB_VQ_BAD_ID, id, size);
			break;
		}
		struct fsb_vq_slot *s = &vq->slot[id];
		if (FSB_UNLIKELY(s->cookie == NULL)) {
			fsb_vq_fault(vq, FSB_VQ_NOT_IN_FLIGHT, id, 0);
			break;
		}
		if (FSB_UNLIKELY(len > s->len)) {
			fsb_vq_fault(vq, FSB_VQ_BAD_LEN, len, s->len);
			break;
		}
		cookies[i] = s->cookie;
		if (lens)
			lens[i] = len;
		s->cookie = NULL;
		/* FIFO: ids returned in order are handed out in order again,
		 * so the avail ring entries stay as they are */
		vq->free_ids[(uint16_t)(vq->free_head + vq->nfree++) & mask] =
			(uint16_t)id;
	}
	vq->used_idx = (uint16_t)(u + i);
	return i;
}

/* With EVENT_IDX, keep the used event far ahead of what we consumed so
 * the device never signals us (we poll).  Cheap: a store every 16 K
 * entries. */
static inline void fsb_vq_suppress_interrupts(struct fsb_vq *vq)
{
	if (!vq->event_idx)
		return;
	uint16_t *ue = &vq->avail->ring[vq->size];
	uint16_t cur = __atomic_load_n(ue, __ATOMIC_RELAXED);
	if ((uint16_t)(cur - vq->used_idx) < 0x4000)
		__atomic_store_n(ue, (uint16_t)(vq->used_idx + 0x8000),
				 __ATOMIC_RELAXED);
}

#endif /* FSB_VIRTQUEUE_H */
