/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * announce.h - announcing the port's MAC on its new path (internal).
 *
 * After every change of the active path (announce= not off) the port
 * sends its announcements (announce_frame.h) on the new path: the first
 * round with the switch, the next ones on QEMU's schedule
 * (announce_rounds, _initial, _max, _step).  A device that asks for an
 * announcement (virtio's GUEST_ANNOUNCE, after a migration) gets one
 * round on the active path and then its acknowledgement.
 *
 * The frames must not race the application: each tx queue has one
 * producer, the application's thread.  So the control side never sends
 * them itself while that thread may: it puts them on the queue's inject
 * ring (fsb_private.h), and the queue's next burst sends them, on
 * whatever path that burst found published:
 *   - fsb_tx_burst, before the application's frames;
 *   - fsb_rx_burst on the same queue number, when the tx queue is
 *     offline (an RX-only application never calls fsb_tx_burst): it
 *     claims the queue (qsbr.h) for the send;
 *   - the control thread, when no burst took them within 10 ms: it
 *     claims the offline queue itself.  A queue that stays online
 *     without bursting cannot be claimed; its frames wait (and grace
 *     periods time out on it anyway: qsbr.h).
 * Each frame is tagged with the path and the publication (tx_gen) it
 * was made for.  The first round is queued just before the new path is
 * published, so the burst that first sends on it sends the
 * announcements first; a frame for a path that is no longer published
 * is dropped and counted (announce_failed), a frame for one not yet
 * published waits, and so does one the path refused (its ring full):
 * until it is taken, that queue's TX bursts send nothing of their own
 * (they return 0: the application's frames are handed back, not
 * dropped).
 *
 * learn: the TX burst looks at the frames the application sends from
 * the port's MAC for ARP (the sender address) and Neighbour Discovery
 * (an NA's target, an NS's source) and hands new addresses to the
 * control thread through the queue's learn box; the next round
 * announces them (at most FSB_ANNOUNCE_ADDR_MAX; older ones stay).
 */
#ifndef FSB_ANNOUNCE_H
#define FSB_ANNOUNCE_H

#include "port.h"

/* How long inject frames may wait for a burst before the control
 * thread sends them itself. */
#define FSB_INJECT_FALLBACK_NS 10000000ull

/* fsb_announce_open and fsb_announce_close: port.h (port.c calls
 * them, and this header includes port.h). */

/*
 * The sync routine, just before it publishes @to as the path of every
 * tx queue (port->lock held): queues the first round for @to and
 * restarts the schedule.  @to < 0 (no path) ends the schedule.
 */
void fsb_announce_switch(struct fsb_port *port, int to);

/*
 * The control thread, each pass (takes port->lock): due rounds, the
 * devices' announce requests and their acks, the 10 ms fallback, the
 * learned addresses.  Returns the next time it needs a pass (ns), or 0.
 */
uint64_t fsb_announce_poll(struct fsb_port *port, uint64_t now);

/* announce_sent, announce_failed (xstats). */
uint64_t fsb_announce_sent(const struct fsb_port *port);
uint64_t fsb_announce_failed(const struct fsb_port *port);

/* ---- the datapath's half (burst.c) ---- */

static inline bool fsb_inject_pending(struct fsb_txq *q)
{
	return atomic_load_explicit(&q->inj.head, memory_order_relaxed) !=
	       atomic_load_explicit(&q->inj.tail, memory_order_relaxed);
}

/* Send tx queue @qid's inject frames; the caller holds the queue (its
 * TX thread inside a burst, or a claim).  Returns the path it found
 * published (NULL: none), which a TX burst then uses for its own
 * frames: those never go out on a path before its announcements.  A
 * frame the path refused stays queued for the next burst, and sets
 * *@held (if not NULL): the TX burst then sends none of its own. */
struct fsb_subdev *fsb_inject_drain(struct fsb_port *port, unsigned qid,
				    bool *held)
	__attribute__((cold, noinline));

/* An RX burst on queue @qid: claim tx queue @qid if it is offline, and
 * drain it. */
void fsb_inject_drain_claim(struct fsb_port *port, unsigned qid)
	__attribute__((cold, noinline));

/* A TX burst with learn on: look at @n frames for our addresses. */
void fsb_announce_learn(struct fsb_port *port, struct fsb_txq *q,
			struct fsb_buf *const *bufs, uint16_t n);

#endif /* FSB_ANNOUNCE_H */
