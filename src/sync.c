/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sync.c - marks, the sync routine, TX choice and publication.
 *
 * Events never do work.  A signal (an admin call, a link change, the
 * router's netlink and uevent signals, a VFIO request, a SIGBUS, a
 * vhost-user session) only sets a mark on a slot with a reason and
 * wakes the control loop.  One idempotent routine,
 * fsb_port_sync_locked(), then:
 *
 *   1. consumes the marks (the first mark's reason wins);
 *   2. computes each slot's target state from the port's state, the
 *      admin's wish and whether the device is there;
 *   3. chooses TX among the slots that stay usable and publishes it, so
 *      that TX leaves a slot *before* that slot is touched;
 *   4. waits out a QSBR grace period, stops, drains RX, waits again and
 *      closes whatever must go down;
 *   5. brings the rest up (probe, configure, start, config replay);
 *   6. chooses and publishes TX again (a returning slot, after its
 *      hold-down), and reports the port's link.
 *
 * Running it twice in a row does nothing the second time.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "announce.h"
#include "loop.h"
#include "port.h"
#include "qsbr.h"

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

void fsb_port_event_emit(struct fsb_port *port, struct fsb_event *ev)
{
	ev->port_id = port->id;
	ev->time_ns = fsb_now_ns();
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	struct fsb_event_rec *r = &port->evlog[port->evlog_seq % FSB_EVENT_LOG];
	r->ev = *ev;
	r->seq = port->evlog_seq++;
	r->wall_ns = (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec;
	char line[160];
	fsb_event_format(ev, line, sizeof(line));
	fsb_log(FSB_LOG_INFO, "%s: %s", port->spec.name, line);
	if (port->ev_fn)
		port->ev_fn(port->ev_arg, ev);
}

static void slot_set_state(struct fsb_port *port, struct fsb_slot *s,
			   enum fsb_subdev_state ns, enum fsb_reason why)
{
	int old = fsb_slot_state(s);
	if (old == (int)ns)
		return;
	atomic_store_explicit(&s->state, ns, memory_order_relaxed);
	struct fsb_event ev = {
		.type = FSB_EVENT_SUBDEV_STATE, .reason = why,
		.slot = s->sd.slot, .old_state = old, .new_state = ns,
		.from_slot = -1, .to_slot = -1,
	};
	fsb_port_event_emit(port, &ev);
}

/*
 * @since: when the device was known usable: the receipt of the signal
 * that said so (a carrier-up), or, for a slot found up when it starts,
 * that start.  Hold-down may come out a little long (our bring-up), but
 * never short.  A flap meanwhile arrives as its own link-down mark and
 * resets this.
 */
static void slot_set_link(struct fsb_port *port, struct fsb_slot *s, bool up,
			  enum fsb_reason why, uint64_t since)
{
	if (up && !s->link_up)
		s->usable_since_ns = since ? since : fsb_now_ns();
	if (s->link_up == up)
		return;
	s->link_up = up;
	struct fsb_event ev = {
		.type = FSB_EVENT_SUBDEV_LINK, .reason = why,
		.slot = s->sd.slot, .link_up = up,
		.from_slot = -1, .to_slot = -1,
	};
	fsb_port_event_emit(port, &ev);
}

/*
 * When a slot whose link reads up became usable, for hold-down: the
 * last signal that said it may be (a link-up, an appearance), but never
 * before the first signal of the last batch (a link-down after that
 * link-up, say).  The batch's first signal alone is too early when an
 * appearance and the carrier-up that follows it are consumed together.
 */
static uint64_t slot_up_since(const struct fsb_slot *s)
{
	return s->up_signal_ns > s->signal_ns ? s->up_signal_ns : s->signal_ns;
}

/* ------------------------------------------------------------------ */
/* Signals                                                             */
/* ------------------------------------------------------------------ */

void fsb_port_mark(struct fsb_port *port, unsigned slot,
		   enum fsb_devsig_what m, enum fsb_reason reason)
{
	if (!port || slot >= port->nslots || (unsigned)m >= FSB_DEVSIG_MARKS)
		return;
	struct fsb_slot *s = &port->slot[slot];
	int none = -1;
	uint64_t now = fsb_now_ns();
	if (m == FSB_DEVSIG_TX_FAILED || m == FSB_DEVSIG_STEP) {
		/* The datapath's "look at the link", a kind's "my step
		 * is done": not a source's word.
		 * It carries no reason (the link check finds one or not),
		 * and a repeat is the streak going on, not a duplicate. */
		atomic_fetch_or(&s->marks, FSB_MARKBIT(m));
		atomic_store(&port->sync_pending, true);
		fsb_loop_wake();
		return;
	}
	if (atomic_compare_exchange_strong(&s->mark_reason, &none, (int)reason))
		atomic_store(&s->mark_ns, now);
	/* The last "usable" signal, not the batch's first: an appearance
	 * and the carrier-up that follows it can land in one batch, and
	 * hold-down must count from the carrier-up. */
	if (m == FSB_DEVSIG_LINK_UP || m == FSB_DEVSIG_APPEARED)
		atomic_store(&s->up_mark_ns, now);
	unsigned old = atomic_fetch_or(&s->marks, FSB_MARKBIT(m));
	if (old & FSB_MARKBIT(m))
		atomic_fetch_add(&port->dup_signals, 1);
	atomic_store(&port->sync_pending, true);
	fsb_loop_wake();
}

void fsb_slot_notify(void *arg, enum fsb_devsig_what what, enum fsb_reason why)
{
	struct fsb_slot *s = arg;
	fsb_port_mark(s->port, fsb_slot_index(s->port, s), what, why);
}

/* ------------------------------------------------------------------ */
/* Sub-device steps                                                    */
/* ------------------------------------------------------------------ */
/*
 * One step up.  Returns 0, or the sub-device's -errno.  A failure is a
 * device failure, not a port error: the slot waits for the device to
 * (re)appear, except -EINVAL from configure (a queue limit), which the
 * caller of fsb_port_configure must hear about.
 */
static int slot_step_up(struct fsb_port *port, struct fsb_slot *s,
			enum fsb_reason why)
{
	struct fsb_subdev *sd = &s->sd;
	int st = fsb_slot_state(s), rc = 0;

	switch (st) {
	case FSB_SUBDEV_ABSENT:
		slot_set_state(port, s, FSB_SUBDEV_PARSED, why);
		return 0;
	case FSB_SUBDEV_PARSED:
		rc = sd->ops->probe(sd);
		if (rc == 0) {
			slot_set_state(port, s, FSB_SUBDEV_PROBED, why);
			fsb_port_mac_adopt(port);
		}
		break;
	case FSB_SUBDEV_PROBED:
		sd->conf.nb_rxq = port->conf.nb_rxq;
		sd->conf.nb_txq = port->conf.nb_txq;
		sd->conf.nb_rxd = port->conf.nb_rxd;
		sd->conf.nb_txd = port->conf.nb_txd;
		rc = sd->ops->configure(sd);
		if (rc == 0) {
			memset(&s->last, 0, sizeof(s->last));
			slot_set_state(port, s, FSB_SUBDEV_CONFIGURED, why);
		}
		break;
	case FSB_SUBDEV_CONFIGURED:
		for (unsigned q = 0; q < port->conf.nb_rxq; q++)
			sd->rx_pool[q] = port->rxq[q].pool;
		rc = sd->ops->start(sd);
		if (rc == 0) {
			fsb_port_config_replay(port, s);
			slot_set_state(port, s, FSB_SUBDEV_STARTED, why);
			/* the kind just bound: its own answer is fresh */
			struct fsb_link l = { 0 };
			bool up = sd->ops->link_get(sd, &l) == 0 && l.up;
			s->link_up = false;
			/* Found up by asking, not told: it is usable from now
			 * on as far as we know.  The appearance that made us
			 * probe said nothing of its link (a netdev comes back
			 * admin down; its carrier-up can still be queued
			 * behind this pass), so it cannot start hold-down. */
			uint64_t since = fsb_now_ns();
			if (slot_up_since(s) > since)
				since = slot_up_since(s);
			slot_set_link(port, s, up, up ? FSB_REASON_LINK_UP :
				      FSB_REASON_LINK_DOWN, since);
			atomic_fetch_or_explicit(&port->rx_mask, 1u << sd->slot,
						 memory_order_seq_cst);
		}
		break;
	default:
		return 0;
	}
	if (rc == -EINPROGRESS)
		return rc;      /* under way: the kind marks STEP when done */
	if (rc < 0) {
		fsb_log(FSB_LOG_WARNING, "%s: %s failed: %s", sd->name,
			st == FSB_SUBDEV_PARSED ? "probe" :
			st == FSB_SUBDEV_PROBED ? "configure" : "start",
			strerror(-rc));
		/* -EPROTO: the device broke its protocol (a hostile
		 * virtio-pci device, as a bad vhost-user backend) */
		s->last_reason = rc == -EPROTO ? FSB_REASON_BROKEN :
			FSB_REASON_PROBE_FAILED;
		struct fsb_event ev = {
			.type = FSB_EVENT_SUBDEV_STATE,
			.reason = s->last_reason, .slot = sd->slot,
			.old_state = st, .new_state = st,
			.from_slot = -1, .to_slot = -1,
		};
		fsb_port_event_emit(port, &ev);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* TX choice                                                           */
/* ------------------------------------------------------------------ */

static bool slot_usable(const struct fsb_slot *s)
{
	return fsb_slot_state(s) == FSB_SUBDEV_STARTED && s->link_up &&
	       !s->gone && s->admin_up && !s->close_pending && !s->leaving;
}

uint64_t fsb_slot_hold_left_ns(struct fsb_port *port, struct fsb_slot *s,
			       uint64_t now)
{
	uint64_t hold = (uint64_t)port->spec.hold_down_ms * 1000000ull;
	if (!slot_usable(s) || hold == 0 || s->usable_since_ns == 0)
		return 0;
	uint64_t age = now > s->usable_since_ns ? now - s->usable_since_ns : 0;
	return age >= hold ? 0 : hold - age;
}

/*
 * The highest-priority usable slot, with hold-down on fail-back:
 *   - while the current slot is usable, a higher-priority one must have
 *     been usable for hold_down ms (so a flapping primary does not
 *     ping-pong);
 *   - when the current one is not usable, fail over at once: to the best
 *     slot past its hold-down, else to the best usable one at all.
 * *wait_ns gets the time until a held-down slot becomes eligible
 * (UINT64_MAX = none).
 */
static int tx_choose(struct fsb_port *port, uint64_t now, uint64_t *wait_ns)
{
	int cur = atomic_load(&port->active_slot);
	uint64_t hold = (uint64_t)port->spec.hold_down_ms * 1000000ull;
	bool cur_ok = cur >= 0 && slot_usable(&port->slot[cur]);
	int first_usable = -1;

	*wait_ns = UINT64_MAX;
	FSB_FOREACH_SLOT(port, s) {
		int i = (int)fsb_slot_index(port, s);
		if (cur_ok && i == cur)
			return cur;
		if (!slot_usable(s))
			continue;
		if (first_usable < 0)
			first_usable = i;
		uint64_t age = now > s->usable_since_ns ?
			now - s->usable_since_ns : 0;
		if (hold == 0 || s->usable_since_ns == 0 || age >= hold)
			return i;
		if (hold - age < *wait_ns)
			*wait_ns = hold - age;
	}
	return cur_ok ? cur : first_usable;
}

void fsb_port_tx_publish(struct fsb_port *port, int to)
{
	struct fsb_subdev *sd = to >= 0 ? &port->slot[to].sd : NULL;
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++)
		atomic_store_explicit(&port->txq[q].active, sd,
				      memory_order_seq_cst);
	atomic_store(&port->active_slot, to);
	atomic_fetch_add(&port->tx_gen, 1);
}

static void port_link_report(struct fsb_port *port, enum fsb_reason why)
{
	bool up = atomic_load(&port->active_slot) >= 0;
	if (port->link_reported_valid && port->link_reported == up)
		return;
	port->link_reported = up;
	port->link_reported_valid = true;
	struct fsb_event ev = {
		.type = FSB_EVENT_PORT_LINK, .reason = why, .slot = -1,
		.link_up = up, .from_slot = -1, .to_slot = -1,
	};
	fsb_port_event_emit(port, &ev);
}

/* Choose and publish TX; returns the reason used, for the link event. */
static enum fsb_reason tx_update(struct fsb_port *port, uint64_t now,
				 uint64_t *wait_ns)
{
	int cur = atomic_load(&port->active_slot);
	int to = port->started ? tx_choose(port, now, wait_ns) : -1;
	if (!port->started)
		*wait_ns = UINT64_MAX;
	if (to == cur)
		return FSB_REASON_ADMIN;

	/* Failover: the reason is why the old path went; fail-back (or
	 * coming back from no path): why the new one came. */
	bool failover = cur >= 0 && (to < 0 || to > cur);
	struct fsb_slot *why_slot = failover ? &port->slot[cur] :
		&port->slot[to];
	enum fsb_reason why = why_slot->last_reason;
	uint64_t since = failover ? why_slot->usable_since_ns : now;
	if (failover && why_slot->signal_ns)
		since = why_slot->signal_ns;

	/* the new path's first announcements, queued just before it is
	 * published, so they go out first on it (announce.h) */
	fsb_announce_switch(port, to);
	fsb_port_tx_publish(port, to);
	uint64_t down_us = now >= since ? (fsb_now_ns() - since) / 1000 : 0;
	if (!failover)
		down_us = 0;    /* make-before-break: nothing was down */

	if (port->had_path) {
		atomic_fetch_add(&port->switchovers, 1);
		atomic_fetch_add(&port->switch_reason[why], 1);
		atomic_store(&port->last_switch_downtime_us, down_us);
	}
	if (to >= 0)
		port->had_path = true;
	struct fsb_event ev = {
		.type = FSB_EVENT_ACTIVE_CHANGE, .reason = why, .slot = to,
		.from_slot = cur, .to_slot = to, .downtime_us = down_us,
	};
	fsb_port_event_emit(port, &ev);
	return why;
}

/* ------------------------------------------------------------------ */
/* Sync                                                                */
/* ------------------------------------------------------------------ */

static enum fsb_subdev_state slot_target(const struct fsb_port *port,
					 const struct fsb_slot *s)
{
	if (!s->admin_up)
		return FSB_SUBDEV_ABSENT;
	if (s->gone || !port->configured)
		return FSB_SUBDEV_PARSED;
	return port->started ? FSB_SUBDEV_STARTED : FSB_SUBDEV_CONFIGURED;
}

/* Consume @s's marks into its sync-side fields. */
static void marks_consume(struct fsb_port *port, struct fsb_slot *s,
			  uint64_t now)
{
	unsigned m = atomic_exchange(&s->marks, 0);
	if (!m)
		return;
	/* "step again": the bring-up below does it; nothing to record */
	m &= ~FSB_MARKBIT(FSB_DEVSIG_STEP);
	if (!m)
		return;
	uint64_t tx_fail = atomic_exchange(&s->sd.tx_fail_ns, 0);
	const unsigned txf = FSB_MARKBIT(FSB_DEVSIG_TX_FAILED);
	if (m == txf) {
		/* Only the datapath's word: sends fail.  Ask the device
		 * now; a link that reads down is a link-down signal
		 * received when the sends began to fail.  One that reads
		 * up was back-pressure: nothing happened. */
		struct fsb_link l = { 0 };
		if (fsb_slot_state(s) != FSB_SUBDEV_STARTED || s->gone ||
		    !s->link_up ||
		    (fsb_subdev_link_get(&s->sd, &l) == 0 && l.up))
			return;
		s->last_reason = FSB_REASON_LINK_DOWN;
		s->signal_ns = tx_fail && tx_fail < now ? tx_fail : now;
		fsb_log(FSB_LOG_INFO, "%s: sends fail and the link reads down: "
			"failing over now", s->sd.name);
		slot_set_link(port, s, false, FSB_REASON_LINK_DOWN, now);
		return;
	}
	int reason = atomic_exchange(&s->mark_reason, -1);
	uint64_t t = atomic_exchange(&s->mark_ns, 0);
	/* The downtime of what these marks cause counts from the first
	 * failed send when that came before the first signal. */
	if ((m & txf) && tx_fail && (!t || tx_fail < t))
		t = tx_fail;
	const unsigned removal = FSB_MARKBIT(FSB_DEVSIG_GONE) |
				 FSB_MARKBIT(FSB_DEVSIG_RELEASE);
	if (s->gone && s->released && !(m & ~removal)) {
		/* We already let the device go on the kernel's request: its
		 * re-asks and the uevent "remove" that follows the release
		 * report that same removal.  Count, keep the first reason,
		 * and do nothing: the close is done, or pending a grace
		 * period and retried on its own. */
		atomic_fetch_add(&port->dup_signals,
				 (uint64_t)__builtin_popcount(m));
		return;
	}
	if (reason >= 0 && reason < FSB_REASON_COUNT)
		s->last_reason = (enum fsb_reason)reason;
	s->signal_ns = t ? t : now;
	uint64_t up_t = atomic_exchange(&s->up_mark_ns, 0);
	if (up_t)
		s->up_signal_ns = up_t;

	/* a new life of the device: a pending re-probe is moot */
	if (m & (removal | FSB_MARKBIT(FSB_DEVSIG_APPEARED))) {
		s->retry_ns = 0;
		s->retries = 0;
	}
	if (m & FSB_MARKBIT(FSB_DEVSIG_GONE)) {
		s->gone = true;
		s->released = false;
		slot_set_link(port, s, false, s->last_reason, now);
	}
	if ((m & FSB_MARKBIT(FSB_DEVSIG_RELEASE)) &&
	    !(m & FSB_MARKBIT(FSB_DEVSIG_GONE))) {
		/* Planned: the device is alive and must be let go (a VFIO
		 * device request).  Leave like an admin detach - TX first,
		 * grace, stop, drain RX, grace, close - then wait for it to
		 * come back.  A GONE in the same batch (SIGBUS, the netdev
		 * vanished) makes it a surprise removal: no drain. */
		if (fsb_slot_state(s) >= FSB_SUBDEV_PROBED)
			fsb_log(FSB_LOG_INFO, "%s: the kernel asks for the "
				"device back (%s): releasing it", s->sd.name,
				fsb_reason_name(s->last_reason));
		s->gone = true;
		s->released = true;
	}
	if ((m & FSB_MARKBIT(FSB_DEVSIG_APPEARED)) && (m & removal)) {
		/* It went and came back between two passes (or came and
		 * went: the bits do not say in which order).  What we hold
		 * is bound to the old device (an ifindex, a session, a BAR):
		 * take the slot down in this pass and probe afresh after,
		 * see fsb_port_sync_locked().  If it is really gone, that probe
		 * fails and the slot waits for the next appearance. */
		s->bounce = true;
	} else if (m & FSB_MARKBIT(FSB_DEVSIG_APPEARED)) {
		s->gone = false;
		s->released = false;
	}
	if (m & (FSB_MARKBIT(FSB_DEVSIG_LINK_DOWN) | FSB_MARKBIT(FSB_DEVSIG_LINK_UP) |
		 txf)) {
		/* Marks say "look again"; the sub-device says what is. */
		bool up = false;
		if (fsb_slot_state(s) == FSB_SUBDEV_STARTED && !s->gone) {
			struct fsb_link l = { 0 };
			up = fsb_subdev_link_get(&s->sd, &l) == 0 && l.up;
		}
		/* a kind that says why its link is down (the stall
		 * watchdog) gives the event its reason */
		slot_set_link(port, s, up,
			      up ? FSB_REASON_LINK_UP :
			      s->last_reason == FSB_REASON_STALLED ?
			      FSB_REASON_STALLED : FSB_REASON_LINK_DOWN,
			      slot_up_since(s));
	}
}

void fsb_slot_step_down(struct fsb_port *port, struct fsb_slot *s,
			   enum fsb_subdev_state target, enum fsb_reason why)
{
	struct fsb_subdev *sd = &s->sd;
	if (fsb_slot_state(s) == FSB_SUBDEV_STARTED && target < FSB_SUBDEV_STARTED) {
		sd->ops->stop(sd);
		slot_set_link(port, s, false, why, fsb_now_ns());
		slot_set_state(port, s, FSB_SUBDEV_CONFIGURED, why);
	}
	if (fsb_slot_state(s) >= FSB_SUBDEV_PROBED && target < FSB_SUBDEV_CONFIGURED) {
		if (fsb_slot_state(s) == FSB_SUBDEV_CONFIGURED)
			fsb_stats_fold_close(port, s);
		sd->ops->close(sd);
		if (sd->release_us) {
			atomic_store(&port->last_release_us, sd->release_us);
			sd->release_us = 0;
		}
		memset(sd->rxq, 0, sizeof(sd->rxq));
		memset(sd->txq, 0, sizeof(sd->txq));
		s->close_pending = false;
		slot_set_state(port, s, FSB_SUBDEV_PARSED, why);
	}
	if (target == FSB_SUBDEV_ABSENT) {
		if (sd->ops->release)
			sd->ops->release(sd);
		slot_set_state(port, s, FSB_SUBDEV_ABSENT, why);
	}
}

/* Bounded wait for a leaving sub-device's device to take what TX gave
 * it before the switch (planned removal only, before the stop: a
 * virtqueue's published descriptors would otherwise be dropped at the
 * stop, counted, but lost). */
static void tx_drain(struct fsb_slot *s)
{
	if (!s->sd.ops->tx_pending)
		return;
	uint64_t deadline = fsb_now_ns() + 50000000ull;
	while (s->sd.ops->tx_pending(&s->sd) > 0 && fsb_now_ns() < deadline) {
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, NULL);
	}
}

/* Bounded wait for a stopped sub-device's rx queues to be drained by
 * the datapath (planned removal only). */
static void rx_drain(struct fsb_port *port, struct fsb_slot *s)
{
	if (!s->sd.ops->rx_pending || !atomic_load(&port->running))
		return;
	uint64_t deadline = fsb_now_ns() + 50000000ull;
	while (s->sd.ops->rx_pending(&s->sd) > 0 && fsb_now_ns() < deadline) {
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, NULL);
	}
}

void fsb_port_sync_locked(struct fsb_port *port, int *cfg_err)
{
	uint64_t now = fsb_now_ns();
	bool any_leaving = false, any_close = false;
	uint64_t wait_ns;

	FSB_FOREACH_SLOT(port, s)
		marks_consume(port, s, now);

	FSB_FOREACH_SLOT(port, s) {
		int t = slot_target(port, s);
		s->leaving = (fsb_slot_state(s) == FSB_SUBDEV_STARTED &&
			      t < FSB_SUBDEV_STARTED) ||
			     (s->close_pending && t < FSB_SUBDEV_CONFIGURED);
		any_leaving |= s->leaving;
		if (fsb_slot_state(s) > t && fsb_slot_state(s) < FSB_SUBDEV_STARTED)
			any_close = true;
	}

	/* TX first: nothing is sent to a slot we are about to stop. */
	enum fsb_reason why = tx_update(port, now, &wait_ns);

	if (any_leaving) {
		bool grace_ok = fsb_qsbr_wait(port) == 0;
		FSB_FOREACH_SLOT(port, s) {
			if (!s->leaving || fsb_slot_state(s) != FSB_SUBDEV_STARTED)
				continue;
			/* planned: what the device was given goes out first */
			if (!s->gone || s->released)
				tx_drain(s);
			s->sd.ops->stop(&s->sd);
			slot_set_link(port, s, false, s->last_reason, now);
			slot_set_state(port, s, FSB_SUBDEV_CONFIGURED,
				       s->last_reason);
			/* planned (admin, VFIO request): the device is
			 * alive, what it received is delivered */
			if (!s->gone || s->released)
				rx_drain(port, s);
			atomic_fetch_and_explicit(&port->rx_mask,
						  ~(1u << fsb_slot_index(port, s)),
						  memory_order_seq_cst);
		}
		if (grace_ok)
			grace_ok = fsb_qsbr_wait(port) == 0;
		FSB_FOREACH_SLOT(port, s) {
			if (!s->leaving)
				continue;
			int t = slot_target(port, s);
			if (!grace_ok && t < FSB_SUBDEV_CONFIGURED) {
				/* Someone may still hold its queues: keep
				 * them mapped and retry the close later. */
				s->close_pending = true;
				if (s->gone && s->released)
					FSB_LOG_RL(FSB_LOG_WARNING,
						   "%s: VFIO release delayed: a "
						   "queue is online but not polling; "
						   "the kernel waits for the device "
						   "(and re-asks every 10 s) until "
						   "the close is retried", s->sd.name);
				continue;
			}
			fsb_slot_step_down(port, s, t, s->last_reason);
		}
	}
	if (any_close) {
		FSB_FOREACH_SLOT(port, s) {
			int t = slot_target(port, s);
			if (!s->leaving && fsb_slot_state(s) > t)
				fsb_slot_step_down(port, s, t, s->last_reason);
		}
	}

	/* A slot that went and came back is down now: let it come up. */
	FSB_FOREACH_SLOT(port, s) {
		if (s->bounce && !s->close_pending &&
		    fsb_slot_state(s) <= FSB_SUBDEV_PARSED) {
			s->bounce = false;
			s->gone = false;
			s->released = false;
			s->leaving = false;     /* a new device: usable below */
		}
	}

	/* A probe that said "not ready yet" is due again. */
	FSB_FOREACH_SLOT(port, s) {
		if (s->retry_ns && now >= s->retry_ns && s->gone && !s->released) {
			s->retry_ns = 0;
			s->gone = false;
		}
	}

	/* Bring up what should be up. */
	FSB_FOREACH_SLOT(port, s) {
		if (s->close_pending)
			continue;
		while (fsb_slot_state(s) < (int)slot_target(port, s)) {
			int st = fsb_slot_state(s);
			int rc = slot_step_up(port, s, s->last_reason);
			if (rc == -EINPROGRESS) {
				/* the kind's STEP mark brings us back */
				s->last_err = rc;
				break;
			}
			if (rc < 0) {
				s->last_err = rc;
				if (rc == -EINVAL && st == FSB_SUBDEV_PROBED &&
				    cfg_err)
					*cfg_err = rc;
				/* Wait for the device to (re)appear; one that
				 * is there but not ready is probed again,
				 * 100 ms later, then 200, ... at most 2 s
				 * apart, FSB_PROBE_RETRIES times */
				if (rc == -EAGAIN && st == FSB_SUBDEV_PARSED &&
				    s->retries < FSB_PROBE_RETRIES) {
					unsigned sh = s->retries < 5 ? s->retries : 5;
					uint64_t back = 100000000ull << sh;
					if (back > 2000000000ull)
						back = 2000000000ull;
					s->retries++;
					s->retry_ns = fsb_now_ns() + back;
					fsb_log(FSB_LOG_NOTICE, "%s: not ready yet: "
						"probing again in %llu ms (%u of %u)",
						s->sd.name,
						(unsigned long long)(back / 1000000),
						s->retries, FSB_PROBE_RETRIES);
				}
				s->gone = true;
				fsb_slot_step_down(port, s, FSB_SUBDEV_PARSED,
						   rc == -EPROTO ? FSB_REASON_BROKEN :
						   FSB_REASON_PROBE_FAILED);
				break;
			}
		}
	}

	/* a fresh clock: the bring-up above may have taken a while */
	now = fsb_now_ns();
	enum fsb_reason why2 = tx_update(port, now, &wait_ns);
	if (why2 != FSB_REASON_ADMIN || why == FSB_REASON_ADMIN)
		why = why2;
	if (port->started)
		port_link_report(port, atomic_load(&port->active_slot) >= 0 ?
				 port->slot[atomic_load(&port->active_slot)].last_reason :
				 why);

	bool retry_close = false;
	FSB_FOREACH_SLOT(port, s) {
		retry_close |= s->close_pending;
		s->leaving = false;
		/* up for good: the next failure starts the back-off anew */
		if (fsb_slot_state(s) == FSB_SUBDEV_STARTED)
			s->retries = 0;
		if (s->retry_ns) {
			uint64_t d = s->retry_ns > now ? s->retry_ns - now : 0;
			if (d < wait_ns)
				wait_ns = d;
		}
	}
	if (retry_close && wait_ns > 100000000ull)
		wait_ns = 100000000ull;
	atomic_store(&port->hold_deadline_ns,
		     wait_ns == UINT64_MAX ? 0 : now + wait_ns);
	if (wait_ns != UINT64_MAX)
		fsb_loop_wake();
}

uint64_t fsb_port_watch(struct fsb_port *port, uint64_t now)
{
	uint64_t next = 0;
	pthread_mutex_lock(&port->lock);
	for (unsigned i = 0; i < port->nslots; i++) {
		struct fsb_slot *s = &port->slot[i];
		if (!s->sd.ops || !s->sd.ops->watch ||
		    atomic_load_explicit(&s->state, memory_order_relaxed) !=
		    FSB_SUBDEV_STARTED) {
			s->watch_due = 0;
			continue;
		}
		if (!s->watch_due || now >= s->watch_due)
			s->watch_due = s->sd.ops->watch(&s->sd, now);
		if (s->watch_due && (!next || s->watch_due < next))
			next = s->watch_due;
	}
	pthread_mutex_unlock(&port->lock);
	return next;
}

void fsb_port_sync(struct fsb_port *port)
{
	pthread_mutex_lock(&port->lock);
	fsb_port_sync_locked(port, NULL);
	pthread_mutex_unlock(&port->lock);
}

