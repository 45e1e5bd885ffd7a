/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * qsbr.h - quiescent-state-based reclamation for the port's queues.
 *
 * The datapath never takes a lock.  Instead each queue, at the end of
 * every burst, stores the port's current epoch into its own qs slot:
 * "I hold no pointer I loaded before this epoch".  The control side,
 * after publishing a new TX sub-device (or clearing an RX bit), bumps
 * the epoch to E and waits until every online queue reports qs >= E.
 * Only then may it stop or free what the queues could still be using.
 *
 * Memory orders (TSan cannot see bare fences, so every edge is an
 * atomic operation with an explicit order):
 *   datapath: load active (acquire) ... burst ... load epoch (acquire),
 *             store qs (release).  Reading the bumped epoch therefore
 *             also makes the new pointer visible to the next burst.
 *   control:  store active (seq_cst), fetch_add epoch (seq_cst), then
 *             load every qs (seq_cst/acquire) until >= E.
 *   online:   store qs (seq_cst) then load active/rx_mask (seq_cst): if
 *             the control side saw the queue offline, the queue's next
 *             load comes later in the single total order and sees the
 *             new pointer.
 *
 * Offline queues hold FSB_QSBR_OFFLINE (> any epoch) and never delay a
 * grace period: an idle queue must never block a detach.  Every queue
 * starts offline and its first burst brings it online (fsb_qsbr_enter),
 * so a queue the application never polls (RX in a TX-only app) never
 * delays anything.  A queue that was polled and then idles must be
 * parked with fsb_queue_offline(), or grace periods time out on it.
 */
#ifndef FSB_QSBR_H
#define FSB_QSBR_H

#include "port.h"

/*
 * Claims.  A tx queue has one producer, its TX thread, and an RX-only
 * application never calls fsb_tx_burst, yet the control side has
 * frames for the queue (migration/announce.c).  Someone else may send
 * them through the queue's sub-device only while the queue is offline,
 * and must keep its TX thread out meanwhile: it moves qs from
 * FSB_QSBR_OFFLINE to FSB_QSBR_CLAIMED (compare-and-swap), sends, and
 * puts FSB_QSBR_OFFLINE back.  A TX thread that comes online meanwhile
 * waits for that (fsb_qsbr_online): a claim is held for one short send.
 * CLAIMED counts as quiescent for grace periods, like OFFLINE: the
 * claimer is covered by its own queue's epoch (an RX burst) or holds
 * port->lock, which the sync routine needs (the control thread).
 */
static inline bool fsb_qsbr_claim(_Atomic uint64_t *qs)
{
	uint64_t off = FSB_QSBR_OFFLINE;
	if (atomic_load_explicit(qs, memory_order_relaxed) != off)
		return false;
	return atomic_compare_exchange_strong_explicit(
		qs, &off, FSB_QSBR_CLAIMED, memory_order_acquire,
		memory_order_relaxed);
}

static inline void fsb_qsbr_unclaim(_Atomic uint64_t *qs)
{
	/* a compare-and-swap, not a store: it never writes over what a
	 * misbehaving owner stored meanwhile (fsb.h: the thread that
	 * polls both directions of a queue number parks it) */
	uint64_t claimed = FSB_QSBR_CLAIMED;
	atomic_compare_exchange_strong_explicit(qs, &claimed, FSB_QSBR_OFFLINE,
						memory_order_release,
						memory_order_relaxed);
}

/* fsb_qsbr_online (port.h) brings a queue online from its own thread:
 * it waits out a claim, then takes the epoch, and orders the burst's
 * loads after (see above). */

/*
 * At the start of a burst: a queue that is offline (never polled yet,
 * or parked by fsb_queue_offline) comes online before it loads any
 * pointer.  The check is one load of the queue's own line; the rest
 * happens only on that first burst.
 */
static inline void fsb_qsbr_enter(struct fsb_port *port, _Atomic uint64_t *qs,
				  const void *published)
{
	if (FSB_UNLIKELY(atomic_load_explicit(qs, memory_order_relaxed) >=
			 FSB_QSBR_CLAIMED))
		fsb_qsbr_online(port, qs, published);
}

/* Report a quiescent point for one queue: a load and a store. */
static inline void fsb_qsbr_quiescent(struct fsb_port *port,
				      _Atomic uint64_t *qs)
{
	uint64_t e = atomic_load_explicit(&port->qsbr_epoch,
					  memory_order_acquire);
	atomic_store_explicit(qs, e, memory_order_release);
}

/*
 * Wait for every online queue of @port to pass a quiescent point after
 * now.  Bounded by fsb_grace_timeout_ns with backoff (spin, yield, then
 * sleeps growing to 1 ms): the datapath is pinned to the other CPU on
 * small machines and must not be starved.  Returns 0, or -ETIMEDOUT
 * (logged and counted in grace_timeouts by the caller).
 */
int fsb_qsbr_wait(struct fsb_port *port);

#endif /* FSB_QSBR_H */
