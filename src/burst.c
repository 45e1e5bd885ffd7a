/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * burst.c - the datapath: fsb_rx_burst() and fsb_tx_burst().
 *
 * No lock, no system call of our own, no log line.  TX is one load of
 * the queue's published sub-device (acquire) and one indirect call; RX
 * polls every slot in rx_mask, round-robin.  Each burst ends with a
 * quiescent point (qsbr.h), which is what lets the sync routine stop
 * and close a sub-device the datapath might still hold.  Between
 * switches, a burst also sends the announcements the control side
 * queued for its queue (migration/announce.h): one load to see there
 * are none.
 */
#include "config.h"

#include "announce.h"
#include "port.h"
#include "qsbr.h"

uint16_t fsb_tx_burst(struct fsb_port *port, uint16_t qid,
		      struct fsb_buf **bufs, uint16_t n)
{
	FSB_ASSERT(port != NULL && qid < port->conf.nb_txq);
	if (FSB_UNLIKELY(qid >= FSB_MAX_QUEUES))
		return 0;
	struct fsb_txq *q = &port->txq[qid];
	fsb_qsbr_enter(port, &q->qs, &q->active);
	struct fsb_subdev *sd;
	uint16_t sent = 0;
	/* announcements first (announce.h), on the path the drain found
	 * published; the check is two loads of a line nobody writes
	 * between rounds */
	if (FSB_UNLIKELY(fsb_inject_pending(q))) {
		bool held = false;
		sd = fsb_inject_drain(port, qid, &held);
		if (held)
			goto out;       /* refused: the caller tries again */
	} else {
		sd = atomic_load_explicit(&q->active, memory_order_acquire);
	}
	if (FSB_UNLIKELY(atomic_load_explicit(&port->learn,
					      memory_order_relaxed)))
		fsb_announce_learn(port, q, bufs, n);
	if (FSB_LIKELY(sd != NULL))
		sent = sd->ops->tx_burst(sd->txq[qid], bufs, n);
	else if (atomic_load_explicit(&port->running, memory_order_relaxed))
		fsb_counter_add(&q->no_path, n);
out:
	fsb_qsbr_quiescent(port, &q->qs);
	return sent;
}

uint16_t fsb_rx_burst(struct fsb_port *port, uint16_t qid,
		      struct fsb_buf **bufs, uint16_t n)
{
	FSB_ASSERT(port != NULL && qid < port->conf.nb_rxq);
	if (FSB_UNLIKELY(qid >= FSB_MAX_QUEUES))
		return 0;
	struct fsb_rxq *q = &port->rxq[qid];
	fsb_qsbr_enter(port, &q->qs, &port->rx_mask);
	/* an RX-only application's announcements (announce.h) */
	if (FSB_UNLIKELY(fsb_inject_pending(&port->txq[qid])))
		fsb_inject_drain_claim(port, qid);
	uint32_t mask = atomic_load_explicit(&port->rx_mask,
					     memory_order_acquire);
	uint16_t got = 0;
	if (FSB_LIKELY(mask)) {
		/* Round-robin start so that no slot is starved when an
		 * earlier one always fills the burst. */
		unsigned first = q->rr;
		uint32_t hi = mask & (~0u << first);
		uint32_t lo = mask & ~(~0u << first);
		for (uint32_t m = hi; m && got < n; m &= m - 1) {
			struct fsb_subdev *sd = &port->slot[__builtin_ctz(m)].sd;
			got += sd->ops->rx_burst(sd->rxq[qid], bufs + got,
						 n - got);
		}
		for (uint32_t m = lo; m && got < n; m &= m - 1) {
			struct fsb_subdev *sd = &port->slot[__builtin_ctz(m)].sd;
			got += sd->ops->rx_burst(sd->rxq[qid], bufs + got,
						 n - got);
		}
		if (mask & (mask - 1))
			q->rr = first + 1 < port->nslots ? first + 1 : 0;
		/* port and queue were stamped by the sub-devices (subdev.h) */
	}
	fsb_qsbr_quiescent(port, &q->qs);
	return got;
}

