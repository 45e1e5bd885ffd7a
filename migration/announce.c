/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * announce.c - the announcer: rounds, the inject rings, the fallback,
 * the devices' announce requests, learn mode (announce.h says how).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "announce.h"
#include "loop.h"
#include "qsbr.h"

struct fsb_announce {
	/* mode and schedule from the spec; the addresses given, or those
	 * learned so far */
	struct fsb_announce_cfg cfg;
	unsigned round;                 /* rounds sent in this schedule */
	uint64_t next_ns;               /* the next round's time, 0 = none */
	/* since when a queue's ring holds frames (0 = empty), for the
	 * fallback */
	uint64_t since_ns[FSB_MAX_QUEUES];
	/* the devices' requests being answered (a bit per slot): ack
	 * once tx queue ack_q has consumed up to ack_head */
	uint32_t ack_mask;
	unsigned ack_q;
	uint32_t ack_head;
	uint64_t ack_since_ns;          /* when the round was queued */
	bool learn_full_logged;
	/* frames that could not be made or queued: no MAC yet, no
	 * buffer, ring full (the consumers count theirs in inj.failed) */
	_Atomic uint64_t failed;
	_Atomic uint64_t acks;          /* ANNOUNCE_ACKs the devices took */
};

int fsb_announce_open(struct fsb_port *port)
{
	if (port->spec.announce.mode == FSB_ANNOUNCE_OFF)
		return 0;
	struct fsb_announce *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->cfg = port->spec.announce;
	port->ann = a;
	atomic_store(&port->learn, a->cfg.mode == FSB_ANNOUNCE_LEARN);
	return 0;
}

void fsb_announce_flush(struct fsb_port *port)
{
	/* No burst runs (fsb_port_configure's and fsb_port_close's rule):
	 * the rings are ours to empty. */
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		struct fsb_inject *inj = &port->txq[q].inj;
		uint32_t t = atomic_load(&inj->tail), h = atomic_load(&inj->head);
		for (; t != h; t++) {
			struct fsb_inject_ent *e = &inj->ent[t % FSB_INJECT_SLOTS];
			if (!e->b)
				continue;       /* sent, behind a refused one */
			fsb_buf_free(e->b);
			e->b = NULL;
			fsb_counter_add(&inj->failed, 1);
		}
		atomic_store(&inj->tail, t);
	}
	if (port->ann)
		memset(port->ann->since_ns, 0, sizeof(port->ann->since_ns));
}

void fsb_announce_close(struct fsb_port *port)
{
	fsb_announce_flush(port);
	free(port->ann);
	port->ann = NULL;
	atomic_store(&port->learn, false);
}

/* ------------------------------------------------------------------ */
/* The datapath's half                                                 */
/* ------------------------------------------------------------------ */

struct fsb_subdev *fsb_inject_drain(struct fsb_port *port, unsigned qid,
				    bool *held)
{
	struct fsb_txq *q = &port->txq[qid];
	struct fsb_inject *inj = &q->inj;
	/*
	 * tx_gen before the path (the control side stores the path, then
	 * bumps tx_gen): when we see a publication's tx_gen we also see its
	 * path.  The converse does not hold: we may see the new path with
	 * the old tx_gen, the publication still under way.  A round made
	 * for the path we see is then sent all the same (e->gen > gen): no
	 * round is ever queued for a path that is published already
	 * (a switch changes the path; the schedule's rounds carry the
	 * current tx_gen), so it can only be the one being published.
	 * seq_cst for a claimer that just came online (qsbr.h's rule for
	 * the first load after coming online); a cold path.
	 */
	uint64_t gen = atomic_load_explicit(&port->tx_gen, memory_order_seq_cst);
	struct fsb_subdev *sd = atomic_load_explicit(&q->active,
						     memory_order_seq_cst);
	uint32_t t = atomic_load_explicit(&inj->tail, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&inj->head, memory_order_acquire);
	struct fsb_buf *send[FSB_INJECT_SLOTS];
	uint32_t at[FSB_INJECT_SLOTS];  /* each one's ring position */
	unsigned k = 0;
	uint64_t failed = 0;

	for (; t != h; t++) {
		struct fsb_inject_ent *e = &inj->ent[t % FSB_INJECT_SLOTS];
		if (!e->b)
			continue;       /* dropped by an earlier drain */
		if (sd && e->sd == sd && e->gen >= gen) {
			at[k] = t;
			send[k++] = e->b;
			continue;
		}
		if (e->gen > gen)
			break;          /* for a publication still to come */
		/* for a publication since replaced (a later switch, a stop):
		 * even to the same sub-device, it is an old round.  NULL,
		 * as it may lie behind a refused one that stays. */
		fsb_buf_free(e->b);
		e->b = NULL;
		failed++;
	}
	uint16_t n = k ? sd->ops->tx_burst(sd->txq[qid], send, (uint16_t)k) : 0;
	/*
	 * What the sub-device refused (its ring full: at 200 kpps an
	 * announcement often meets a full ring) stays, in order, for the
	 * next burst: it is the path's first frame after the switch, and
	 * a round that is silently one short leaves a switch unannounced
	 * (the peer's MAC table then still points at the old path).  The
	 * tail stops at the first one refused (a burst takes a prefix);
	 * the stale ones dropped after it are NULL.  *@held tells a TX burst to send none of its own
	 * frames now (announce.h: never before the path's announcements);
	 * they are refused, handed back to the application, which tries
	 * again, by when the ring has room.
	 */
	if (n < k) {
		t = at[n];
		if (held)
			*held = true;
	}
	/* the slots up to the tail are free once their frames are out (or
	 * dropped): the control thread acknowledges a device's request on
	 * this */
	atomic_store_explicit(&inj->tail, t, memory_order_release);
	fsb_counter_add(&inj->sent, n);
	if (failed)
		fsb_counter_add(&inj->failed, failed);
	return sd;
}

void fsb_inject_drain_claim(struct fsb_port *port, unsigned qid)
{
	struct fsb_txq *q = &port->txq[qid];
	if (qid >= port->conf.nb_txq || !fsb_qsbr_claim(&q->qs))
		return;                 /* no such tx queue; or its TX thread
					 * is online: it sends */
	fsb_inject_drain(port, qid, NULL);
	fsb_qsbr_unclaim(&q->qs);
}

void fsb_announce_learn(struct fsb_port *port, struct fsb_txq *q,
			struct fsb_buf *const *bufs, uint16_t n)
{
	(void)port;
	struct fsb_learn_box *lb = &q->learn;
	for (uint16_t i = 0; i < n; i++) {
		struct fsb_learn_ent le;
		if (!fsb_announce_learn_frame(fsb_buf_data(bufs[i]),
					      bufs[i]->data_len, &le.addr,
					      le.src))
			continue;
		if (lb->has_last && fsb_announce_addr_eq(&lb->last, &le.addr))
			continue;
		uint32_t h = atomic_load_explicit(&lb->head, memory_order_relaxed);
		if (h - atomic_load_explicit(&lb->tail, memory_order_acquire) >=
		    FSB_LEARN_SLOTS)
			return;         /* the control thread is behind: later */
		lb->a[h % FSB_LEARN_SLOTS] = le;
		atomic_store_explicit(&lb->head, h + 1, memory_order_release);
		lb->last = le.addr;
		lb->has_last = true;
	}
}

/* ------------------------------------------------------------------ */
/* The control side (port->lock held)                                  */
/* ------------------------------------------------------------------ */

static void addr_format(const struct fsb_announce_addr *a, char *out,
			size_t len)
{
	inet_ntop(a->v6 ? AF_INET6 : AF_INET, &a->a, out, (socklen_t)len);
}

/* announce=learn: take what the TX bursts saw. */
static void learn_collect(struct fsb_port *port, struct fsb_announce *a)
{
	for (unsigned q = 0; q < port->conf.nb_txq; q++) {
		struct fsb_learn_box *lb = &port->txq[q].learn;
		uint32_t t = atomic_load_explicit(&lb->tail, memory_order_relaxed);
		uint32_t h = atomic_load_explicit(&lb->head, memory_order_acquire);
		for (; t != h; t++) {
			const struct fsb_learn_ent *le = &lb->a[t % FSB_LEARN_SLOTS];
			if (!port->mac_set || memcmp(le->src, port->mac, 6))
				continue;       /* not from the port's MAC */
			unsigned i;
			for (i = 0; i < a->cfg.naddr; i++)
				if (fsb_announce_addr_eq(&a->cfg.addr[i], &le->addr))
					break;
			if (i < a->cfg.naddr)
				continue;
			char txt[INET6_ADDRSTRLEN];
			addr_format(&le->addr, txt, sizeof(txt));
			if (a->cfg.naddr == FSB_ANNOUNCE_ADDR_MAX) {
				if (!a->learn_full_logged)
					fsb_log(FSB_LOG_WARNING, "%s: announce=learn: "
						"%s not kept: %u addresses "
						"already", port->spec.name, txt,
						FSB_ANNOUNCE_ADDR_MAX);
				a->learn_full_logged = true;
				continue;
			}
			a->cfg.addr[a->cfg.naddr++] = le->addr;
			fsb_log(FSB_LOG_INFO, "%s: announce: learned %s",
				port->spec.name, txt);
		}
		atomic_store_explicit(&lb->tail, t, memory_order_release);
	}
}

/* The queue a round goes to: the first one whose TX thread is online
 * (it sends them with its next burst), else queue 0 (its RX burst, or
 * the fallback). */
static unsigned round_queue(struct fsb_port *port)
{
	for (unsigned q = 0; q < port->conf.nb_txq; q++)
		if (atomic_load_explicit(&port->txq[q].qs,
					 memory_order_relaxed) < FSB_QSBR_CLAIMED)
			return q;
	return 0;
}

/* The frames of one round: RARP first (it needs no address, and it is
 * what QEMU sends), then per IPv4 address a gratuitous ARP request and
 * reply, then per IPv6 address an unsolicited NA. */
static size_t round_frame(const struct fsb_announce *a, const uint8_t mac[6],
			  unsigned i, uint8_t *out)
{
	if (i == 0)
		return fsb_announce_rarp(out, mac, 0);
	i--;
	for (unsigned k = 0; k < a->cfg.naddr; k++) {
		const struct fsb_announce_addr *ad = &a->cfg.addr[k];
		if (ad->v6) {
			if (i == 0)
				return fsb_announce_na(out, mac, &ad->a.v6, 0);
			i--;
		} else {
			if (i < 2)
				return fsb_announce_garp(out, mac, ad->a.v4,
							 i ? FSB_GARP_REPLY :
							 FSB_GARP_REQUEST, 0);
			i -= 2;
		}
	}
	return 0;
}

static unsigned round_frames(const struct fsb_announce *a)
{
	unsigned n = 1;
	for (unsigned k = 0; k < a->cfg.naddr; k++)
		n += a->cfg.addr[k].v6 ? 1 : 2;
	return n;
}

/* Make one round for path @sd (publication @gen) and queue it; *@qout
 * gets the queue.  Frames that cannot be made are counted. */
static void round_queue_up(struct fsb_port *port, struct fsb_announce *a,
			   const struct fsb_subdev *sd, uint64_t gen,
			   uint64_t now, unsigned *qout)
{
	unsigned nf = round_frames(a), q = round_queue(port);
	struct fsb_mempool *pool = port->rxq[0].pool;
	struct fsb_inject *inj = &port->txq[q].inj;
	uint32_t h = atomic_load_explicit(&inj->head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&inj->tail, memory_order_acquire);
	unsigned failed = 0;

	if (qout)
		*qout = q;
	if (!port->mac_set || !pool) {
		FSB_LOG_RL(FSB_LOG_WARNING, "%s: announce: %s", port->spec.name,
			   pool ? "the port has no MAC address yet" :
			   "rx queue 0 has no mempool for the frames");
		atomic_fetch_add(&a->failed, nf);
		return;
	}
	for (unsigned i = 0; i < nf; i++) {
		if (h - t >= FSB_INJECT_SLOTS) {
			failed++;
			continue;
		}
		struct fsb_buf *b = fsb_buf_alloc(pool);
		if (!b) {
			failed++;
			continue;
		}
		uint8_t *p = fsb_buf_data(b);
		size_t len = fsb_buf_tailroom(b) >= FSB_ANNOUNCE_FRAME_MAX ?
			round_frame(a, port->mac, i, p) : 0;
		if (!len) {
			fsb_buf_free(b);
			failed++;
			continue;
		}
		b->data_len = (uint16_t)len;
		b->pkt_len = (uint32_t)len;
		b->port = port->id;
		struct fsb_inject_ent *e = &inj->ent[h % FSB_INJECT_SLOTS];
		e->b = b;
		e->sd = sd;
		e->gen = gen;
		h++;
	}
	atomic_store_explicit(&inj->head, h, memory_order_release);
	if (!a->since_ns[q])
		a->since_ns[q] = now;
	if (failed) {
		atomic_fetch_add(&a->failed, failed);
		FSB_LOG_RL(FSB_LOG_WARNING, "%s: announce: %u of %u frames not "
			   "queued (%s)", port->spec.name, failed, nf,
			   h - t >= FSB_INJECT_SLOTS ? "tx queue's inject ring "
			   "full" : "no buffer in rx queue 0's mempool");
	}
}

void fsb_announce_switch(struct fsb_port *port, int to)
{
	struct fsb_announce *a = port->ann;
	if (!a)
		return;
	a->round = 0;
	a->next_ns = 0;
	if (to < 0)
		return;
	uint64_t now = fsb_now_ns();
	learn_collect(port, a);
	/* for the publication that follows this call (sync.c) */
	uint64_t gen = atomic_load(&port->tx_gen) + 1;
	round_queue_up(port, a, &port->slot[to].sd, gen, now, NULL);
	a->round = 1;
	if (a->round < a->cfg.rounds)
		a->next_ns = now + fsb_announce_gap_ms(&a->cfg, 0) * 1000000ull;
	/* the control thread's deadlines: the next round, the fallback */
	fsb_loop_wake();
}

/*
 * Answer the devices' announce requests: one round on the active path,
 * and each device that asked is acknowledged (ack_check) once the queue
 * sent it.  One round for all of them: the hypervisor asks every NIC of
 * the guest in the same round (QEMU's announce-self, or its timer after
 * a migration), and each round must be answered once, on the path that
 * carries the port's traffic, whichever device asked.
 */
static void request_check(struct fsb_port *port, struct fsb_announce *a,
			  uint64_t now)
{
	if (a->ack_mask)
		return;
	uint32_t mask = 0;
	FSB_FOREACH_SLOT(port, s)
		if (fsb_slot_state(s) == FSB_SUBDEV_STARTED &&
		    s->sd.ops->announce_pending &&
		    s->sd.ops->announce_pending(&s->sd))
			mask |= 1u << fsb_slot_index(port, s);
	if (!mask)
		return;
	int act = atomic_load(&port->active_slot);
	a->ack_mask = mask;
	a->ack_since_ns = now;
	if (act >= 0) {
		round_queue_up(port, a, &port->slot[act].sd,
			       atomic_load(&port->tx_gen), now, &a->ack_q);
		a->ack_head = atomic_load(&port->txq[a->ack_q].inj.head);
	} else {
		/* nowhere to announce: acknowledge at once, so that the
		 * device's next round is not held up by us */
		a->ack_q = 0;
		a->ack_head = atomic_load(&port->txq[0].inj.tail);
	}
	fsb_log(FSB_LOG_NOTICE, "%s: announce requested by slots 0x%x: a round "
		"on slot %d", port->spec.name, (unsigned)mask, act);
}

/* The ack waits for the round to go out, at most this long: a queue
 * that is online but not polled never sends it, and the device must not
 * wait for us forever (QEMU starts no next round without the ack). */
#define ACK_WAIT_MAX_NS 1000000000ull

static void ack_check(struct fsb_port *port, struct fsb_announce *a,
		      uint64_t now)
{
	if (!a->ack_mask)
		return;
	uint32_t t = atomic_load_explicit(&port->txq[a->ack_q].inj.tail,
					  memory_order_acquire);
	if ((int32_t)(t - a->ack_head) < 0) {
		if (now - a->ack_since_ns < ACK_WAIT_MAX_NS)
			return;         /* not sent yet */
		fsb_log(FSB_LOG_WARNING, "%s: announce: tx queue %u did not "
			"send the requested round within 1 s (online, but not "
			"polled?): acknowledging anyway", port->spec.name,
			a->ack_q);
	}
	uint32_t mask = a->ack_mask;
	a->ack_mask = 0;
	FSB_FOREACH_SLOT(port, s) {
		if (!(mask & 1u << fsb_slot_index(port, s)) ||
		    fsb_slot_state(s) != FSB_SUBDEV_STARTED ||
		    !s->sd.ops->announce_ack)
			continue;
		int rc = s->sd.ops->announce_ack(&s->sd);
		if (rc < 0)
			fsb_log(FSB_LOG_WARNING, "%s: announce ack to slot %u "
				"failed: %s", port->spec.name,
				fsb_slot_index(port, s), strerror(-rc));
		else
			fsb_log(FSB_LOG_NOTICE, "%s: announce acknowledged to "
				"slot %u (%llu so far)", port->spec.name,
				fsb_slot_index(port, s), (unsigned long long)
				atomic_fetch_add(&a->acks, 1) + 1);
	}
}

uint64_t fsb_announce_poll(struct fsb_port *port, uint64_t now)
{
	uint64_t next = 0;
	pthread_mutex_lock(&port->lock);
	struct fsb_announce *a = port->ann;
	if (!a || !port->configured)
		goto out;
	learn_collect(port, a);
	request_check(port, a, now);

	int act = atomic_load(&port->active_slot);
	if (a->next_ns && now >= a->next_ns) {
		if (act >= 0)
			round_queue_up(port, a, &port->slot[act].sd,
				       atomic_load(&port->tx_gen), now, NULL);
		a->round++;
		a->next_ns = a->round < a->cfg.rounds ?
			now + fsb_announce_gap_ms(&a->cfg, a->round - 1) *
			1000000ull : 0;
	}

	/* The fallback: frames no burst took within 10 ms, sent here
	 * through the claimed queue (announce.h). */
	for (unsigned q = 0; q < port->conf.nb_txq; q++) {
		struct fsb_txq *tq = &port->txq[q];
		if (!fsb_inject_pending(tq)) {
			a->since_ns[q] = 0;
			continue;
		}
		if (!a->since_ns[q])
			a->since_ns[q] = now;
		if (now - a->since_ns[q] >= FSB_INJECT_FALLBACK_NS) {
			if (fsb_qsbr_claim(&tq->qs)) {
				fsb_inject_drain(port, q, NULL);
				fsb_qsbr_unclaim(&tq->qs);
			}
			/* still there (online and idle, or a path not
			 * published yet): look again in 10 ms */
			a->since_ns[q] = fsb_inject_pending(tq) ? now : 0;
		}
		if (a->since_ns[q]) {
			uint64_t due = a->since_ns[q] + FSB_INJECT_FALLBACK_NS;
			if (!next || due < next)
				next = due;
		}
	}
	ack_check(port, a, now);
	if (a->ack_mask && (!next || now + 1000000 < next))
		next = now + 1000000;   /* the ack waits for a burst */
	if (a->next_ns && (!next || a->next_ns < next))
		next = a->next_ns;
out:
	pthread_mutex_unlock(&port->lock);
	return next;
}

uint64_t fsb_announce_sent(const struct fsb_port *port)
{
	uint64_t n = 0;
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++)
		n += fsb_counter_read((_Atomic uint64_t *)&port->txq[q].inj.sent);
	return n;
}

uint64_t fsb_announce_failed(const struct fsb_port *port)
{
	uint64_t n = port->ann ? atomic_load(&port->ann->failed) : 0;
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++)
		n += fsb_counter_read((_Atomic uint64_t *)&port->txq[q].inj.failed);
	return n;
}
