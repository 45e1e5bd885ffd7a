/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio_net.h - the virtio-net datapath on split virtqueues, shared by
 * the kinds whose device is a virtio-net device: virtio_user (a
 * vhost-user backend) and virtio_pci (a PCI device).  How the device is
 * reached, how it is kicked and where the rings live is the kind's
 * business (virtqueue.h callbacks); what a packet looks like on the
 * rings is this file's.
 *
 * Buffer addresses given to the device are process virtual addresses
 * (a vhost-user backend maps our memory at the addresses we announce;
 * VFIO with IOVA = VA), VA plus a per-pool offset (VFIO where the
 * IOMMU's aperture does not cover our addresses), or physical addresses
 * (no IOMMU: one table lookup per buffer).
 */
#ifndef FSB_VIRTIO_NET_H
#define FSB_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "subdev.h"
#include "virtqueue.h"

#define FSB_VNET_BURST_MAX 64

/*
 * Where a device with no IOMMU in front of it (virtio_pci driver=uio)
 * sees one pool's memory: the physical address of each of its huge
 * pages, in VA order from @lo, 1 << @shift bytes each.  No buffer
 * straddles a page (mempool.c), so one lookup translates a buffer.
 */
struct fsb_vnet_phys {
	uintptr_t lo;
	unsigned shift;
	const uint64_t *pa;
};

static inline uint64_t fsb_vnet_phys_addr(const struct fsb_vnet_phys *ph,
					  uintptr_t va)
{
	uintptr_t o = va - ph->lo;
	return ph->pa[o >> ph->shift] + (o & (((uintptr_t)1 << ph->shift) - 1));
}

struct fsb_vnet_rxq {
	struct fsb_vq vq;
	struct fsb_mempool *pool;
	uint16_t port_id, qid;
	uint16_t hdr_len;
	bool mrg;
	uint16_t skip;                  /* buffers left of a dropped frame */
	uint32_t cap;                   /* bytes one posted buffer holds */
	int64_t iova_off;               /* device address - VA, for pool */
	const struct fsb_vnet_phys *phys; /* or physical addresses */
	_Atomic uint64_t pkts, bytes, missed, nombuf;
} FSB_ALIGNED;

struct fsb_vnet_txq {
	struct fsb_vq vq;
	/* The pools the device was given (a vhost-user memory table, the
	 * VFIO DMA mappings): per pool id, the gen it had; and the pool
	 * epoch as of then (fsb_mempool_epoch()).  Owned by the kind. */
	const uint64_t *known_gen;
	const uint64_t *table_epoch;
	/* Device address - VA per pool id, or NULL where the device sees
	 * our memory at its process addresses (vhost-user; VFIO with
	 * IOVA = VA).  Published by the kind (release) before a pool that
	 * needs it is known; loaded once per burst, read per packet only
	 * when not NULL. */
	const int64_t *iova_off;
	/* Or, for a device with no IOMMU, physical addresses: per pool id,
	 * set before the pool is known (the kind's known_gen); NULL
	 * otherwise.  Fixed while the queue runs. */
	const struct fsb_vnet_phys *phys;
	uint16_t hdr_len;
	_Atomic uint64_t pkts, bytes, errors;
} FSB_ALIGNED;

/*
 * The TX stall watchdog (issue: a backend that stops polling before it
 * closes).  A device has work while avail->idx, what we published, is
 * ahead of used->idx, what it finished.  Both live in the ring memory,
 * stored atomically (the datapath's seq_cst publish, the device's
 * release), so the control thread reads them on its own: the datapath
 * does nothing for the watchdog, not even a compare.
 *
 * A queue whose device leaves published descriptors unused for
 * sd->stall_ms is stalled: the kind's link reads down and the slot is
 * marked link-down with reason stalled; the port fails over as for any
 * link-down.  The link reads up again once the used index moves (or a
 * new session or reset starts the queues afresh), then hold-down
 * applies.  Idle queues (nothing published) never stall.  Until the
 * device has used a first descriptor after its start, the limit is at
 * least a second: a backend may start polling a moment after the setup.
 *
 * A look that comes late (the control thread did not run: a guest
 * paused for a migration, a starved host) restarts the count instead of
 * judging: a pause of ours is not the device's.
 */
struct fsb_vnet_stall_q {
	uint16_t used;                  /* used->idx at the last look */
	uint64_t since_ns;              /* unchanged with work pending since */
};

struct fsb_vnet_watchdog {
	struct fsb_vnet_stall_q q[FSB_MAX_QUEUES];
	uint64_t look_ns;               /* the last look, 0 = none yet */
	uint64_t stalled_ns;            /* when it was declared */
	bool progressed;                /* used anything since the reset */
	_Atomic bool stalled;           /* read by link_get */
	_Atomic uint64_t stalls;        /* declared, over the device's life */
};

/* Forget what was seen (a start: fresh rings, or a new session). */
void fsb_vnet_watchdog_reset(struct fsb_vnet_watchdog *wd);

/*
 * The kind's watch op calls this (control thread, port lock held) while
 * started, with its @n tx queues: looks at each, marks the slot on a
 * change (link-down/stalled, link-up), logs it once.  Returns when to
 * look next (ns), 0 when the watchdog is off (sd->stall_ms == 0).
 */
uint64_t fsb_vnet_watchdog_run(struct fsb_vnet_watchdog *wd,
			       struct fsb_subdev *sd,
			       struct fsb_vnet_txq *const *txq, unsigned n,
			       uint64_t now);

/* Is the device stalled (for link_get)? */
static inline bool fsb_vnet_watchdog_stalled(const struct fsb_vnet_watchdog *wd)
{
	return atomic_load_explicit(&((struct fsb_vnet_watchdog *)wd)->stalled,
				    memory_order_relaxed);
}

/*
 * Take back every buffer a tx queue still holds, once neither the
 * datapath nor the device uses it (the device stopped or reset, the
 * session gone): those the device never used are frames that were
 * counted as sent and never left; they are added to the queue's
 * tx_errors, once (a reclaimed ring holds nothing more).  Returns
 * that count.
 */
unsigned fsb_vnet_tx_reclaim_unsent(struct fsb_vnet_txq *tq);

/* Descriptors published to the device and not used by it yet (any
 * thread: the indexes in the ring memory). */
static inline unsigned fsb_vnet_tx_pending(const struct fsb_vnet_txq *tq)
{
	if (!tq || !tq->vq.used)
		return 0;
	uint16_t u = __atomic_load_n(&tq->vq.used->idx, __ATOMIC_ACQUIRE);
	uint16_t a = __atomic_load_n(&tq->vq.avail->idx, __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(a - u);
	return n <= tq->vq.size ? n : 0;
}

/* Post as many RX buffers as the ring has room for, from rq->pool. */
void fsb_vnet_rx_refill(struct fsb_vnet_rxq *rq);

/* The ops' rx_burst and tx_burst on these queues. */
uint16_t fsb_vnet_rx_burst(void *q, struct fsb_buf **bufs, uint16_t n);
uint16_t fsb_vnet_tx_burst(void *q, struct fsb_buf **bufs, uint16_t n);

/* For fsb_vq_reclaim(): give a buffer the device held back to its pool. */
void fsb_vnet_buf_free(void *cookie, void *arg);

/* Add the queues' counters to @st; zero them. */
void fsb_vnet_stats_add(const struct fsb_vnet_rxq *rq,
			const struct fsb_vnet_txq *tq,
			struct fsb_subdev_stats *st);
void fsb_vnet_stats_reset(struct fsb_vnet_rxq *rq, struct fsb_vnet_txq *tq);

#endif /* FSB_VIRTIO_NET_H */
