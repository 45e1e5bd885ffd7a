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
 * At the start of a burst: a queue that is offline (never polled yet,
 * or parked by fsb_queue_offline) comes online before it loads any
 * pointer.  The check is one load of the queue's own line; the seq_cst
 * store and load happen only on that first burst.
 */
static inline void fsb_qsbr_enter(struct fsb_port *port, _Atomic uint64_t *qs,
				  const void *published)
{
	if (FSB_UNLIKELY(atomic_load_explicit(qs, memory_order_relaxed) ==
			 FSB_QSBR_OFFLINE)) {
		uint64_t e = atomic_load_explicit(&port->qsbr_epoch,
						  memory_order_seq_cst);
		atomic_store_explicit(qs, e, memory_order_seq_cst);
		/* order the burst's loads after our store (see above) */
		(void)atomic_load_explicit((_Atomic uintptr_t *)published,
					   memory_order_seq_cst);
	}
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
