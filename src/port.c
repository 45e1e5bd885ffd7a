/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * port.c - the failsafe port: lifecycle, the sync routine, TX choice,
 * and the burst functions.
 *
 * Events never do work.  A signal (admin call, link change, and later
 * netlink, uevent, VFIO request, SIGBUS, vhost-user session) only sets
 * a mark on a slot with a reason and wakes the control loop.  One
 * idempotent routine, fsb_port_sync(), then:
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

#include "port.h"
#include "qsbr.h"

_Atomic bool fsb_test_skip_grace;
_Atomic uint64_t fsb_grace_timeout_ns = 1000000000ull;

/* Ports by id, readable without a lock (signal handlers look up here). */
static _Atomic(struct fsb_port *) port_table[FSB_MAX_PORTS];

struct fsb_port *fsb_port_by_id(uint16_t id)
{
	if (id >= FSB_MAX_PORTS)
		return NULL;
	return atomic_load_explicit(&port_table[id], memory_order_acquire);
}

struct fsb_subdev *fsb_port_subdev(struct fsb_port *port, unsigned slot)
{
	return slot < port->nslots ? &port->slot[slot].sd : NULL;
}

void fsb_port_slots_each(struct fsb_ctx *ctx, fsb_slot_fn fn, void *arg)
{
	for (unsigned i = 0; i < FSB_MAX_PORTS; i++) {
		struct fsb_port *port = ctx->ports[i];
		if (!port)
			continue;
		pthread_mutex_lock(&port->lock);
		for (unsigned k = 0; k < port->nslots; k++)
			fn(port, k, arg);
		pthread_mutex_unlock(&port->lock);
	}
}

static inline int slot_state(const struct fsb_slot *s)
{
	return atomic_load_explicit(&((struct fsb_slot *)s)->state,
				    memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

static void event_emit(struct fsb_port *port, struct fsb_event *ev)
{
	ev->port_id = port->id;
	ev->time_ns = fsb_now_ns();
	char line[160];
	fsb_event_format(ev, line, sizeof(line));
	fsb_log(FSB_LOG_INFO, "%s: %s", port->spec.name, line);
	if (port->ev_fn)
		port->ev_fn(port->ev_arg, ev);
}

static void slot_set_state(struct fsb_port *port, struct fsb_slot *s,
			   enum fsb_subdev_state ns, enum fsb_reason why)
{
	int old = slot_state(s);
	if (old == (int)ns)
		return;
	atomic_store_explicit(&s->state, ns, memory_order_relaxed);
	struct fsb_event ev = {
		.type = FSB_EVENT_SUBDEV_STATE, .reason = why,
		.slot = s->sd.slot, .old_state = old, .new_state = ns,
		.from_slot = -1, .to_slot = -1,
	};
	event_emit(port, &ev);
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
	event_emit(port, &ev);
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

void fsb_port_mark(uint16_t port_id, int slot, enum fsb_mark m,
		   enum fsb_reason reason)
{
	struct fsb_port *port = fsb_port_by_id(port_id);
	if (!port || slot < 0 || (unsigned)slot >= port->nslots)
		return;
	struct fsb_slot *s = &port->slot[slot];
	int none = -1;
	uint64_t now = fsb_now_ns();
	if (atomic_compare_exchange_strong(&s->mark_reason, &none, (int)reason))
		atomic_store(&s->mark_ns, now);
	/* The last "usable" signal, not the batch's first: an appearance
	 * and the carrier-up that follows it can land in one batch, and
	 * hold-down must count from the carrier-up. */
	if (m == FSB_MARK_LINK_UP || m == FSB_MARK_APPEARED)
		atomic_store(&s->up_mark_ns, now);
	unsigned old = atomic_fetch_or(&s->marks, FSB_MARKBIT(m));
	if (old & FSB_MARKBIT(m))
		atomic_fetch_add(&port->dup_signals, 1);
	atomic_store(&port->sync_pending, true);
	fsb_ctl_wake();
}

/* ------------------------------------------------------------------ */
/* Sub-device steps                                                    */
/* ------------------------------------------------------------------ */

static void replay_item(struct fsb_port *port, struct fsb_slot *s,
			const char *what, int rc)
{
	if (rc == -ENOTSUP) {
		atomic_fetch_add(&port->replay_enotsup, 1);
		fsb_log(FSB_LOG_INFO, "%s: %s not supported; skipped",
			s->sd.name, what);
	} else if (rc < 0) {
		fsb_log(FSB_LOG_WARNING, "%s: replaying %s failed: %s",
			s->sd.name, what, strerror(-rc));
	}
}

/*
 * Replay the config shadow onto a sub-device that just started.  Each
 * item stands alone: -ENOTSUP on one never stops the others (DPDK's
 * failsafe aborts its whole re-sync there).  The admin link state is
 * deliberately not replayed: it is not operational state.
 */
static int apply_mc_list(struct fsb_port *p, struct fsb_slot *s);

static void config_replay(struct fsb_port *port, struct fsb_slot *s)
{
	const struct fsb_subdev_ops *o = s->sd.ops;
	if (port->mac_set)
		replay_item(port, s, "mac", o->mac_set ?
			    o->mac_set(&s->sd, port->mac) : -ENOTSUP);
	if (port->mtu)
		replay_item(port, s, "mtu", o->mtu_set ?
			    o->mtu_set(&s->sd, port->mtu) : -ENOTSUP);
	if (port->promisc)
		replay_item(port, s, "promisc", o->promisc_set ?
			    o->promisc_set(&s->sd, true) : -ENOTSUP);
	if (port->allmulti)
		replay_item(port, s, "allmulti", o->allmulti_set ?
			    o->allmulti_set(&s->sd, true) : -ENOTSUP);
	if (port->mc_count)
		replay_item(port, s, "mc list", apply_mc_list(port, s));
}

/* Adopt a MAC for the port when the spec gave none: the primary's,
 * else the first sub-device's that can tell. */
static void port_mac_adopt(struct fsb_port *port)
{
	if (port->mac_set)
		return;
	for (unsigned i = 0; i < port->nslots; i++) {
		struct fsb_slot *s = &port->slot[i];
		if (slot_state(s) < FSB_SUBDEV_PROBED || !s->sd.ops->mac_get)
			continue;
		if (s->sd.ops->mac_get(&s->sd, port->mac) == 0) {
			port->mac_set = true;
			return;
		}
	}
}

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
	int st = slot_state(s), rc = 0;

	switch (st) {
	case FSB_SUBDEV_ABSENT:
		slot_set_state(port, s, FSB_SUBDEV_PARSED, why);
		return 0;
	case FSB_SUBDEV_PARSED:
		rc = sd->ops->probe(sd);
		if (rc == 0) {
			slot_set_state(port, s, FSB_SUBDEV_PROBED, why);
			port_mac_adopt(port);
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
			config_replay(port, s);
			slot_set_state(port, s, FSB_SUBDEV_STARTED, why);
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
	if (rc < 0) {
		fsb_log(FSB_LOG_WARNING, "%s: %s failed: %s", sd->name,
			st == FSB_SUBDEV_PARSED ? "probe" :
			st == FSB_SUBDEV_PROBED ? "configure" : "start",
			strerror(-rc));
		s->last_reason = FSB_REASON_PROBE_FAILED;
		struct fsb_event ev = {
			.type = FSB_EVENT_SUBDEV_STATE,
			.reason = FSB_REASON_PROBE_FAILED, .slot = sd->slot,
			.old_state = st, .new_state = st,
			.from_slot = -1, .to_slot = -1,
		};
		event_emit(port, &ev);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* QSBR                                                                */
/* ------------------------------------------------------------------ */

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

int fsb_qsbr_wait(struct fsb_port *port)
{
	if (atomic_load(&fsb_test_skip_grace))
		return 0;
	uint64_t start = fsb_now_ns();
	uint64_t deadline = start + atomic_load(&fsb_grace_timeout_ns);
	uint64_t e = atomic_fetch_add_explicit(&port->qsbr_epoch, 1,
					       memory_order_seq_cst) + 1;
	unsigned nq = port->conf.nb_txq + port->conf.nb_rxq;
	int rc = 0;

	for (unsigned i = 0; i < nq; i++) {
		_Atomic uint64_t *qs = i < port->conf.nb_txq ?
			&port->txq[i].qs : &port->rxq[i - port->conf.nb_txq].qs;
		unsigned spins = 0;
		while (atomic_load_explicit(qs, memory_order_seq_cst) < e) {
			if (spins < 64) {
				cpu_relax();
			} else if (spins < 96) {
				sched_yield();
			} else {
				unsigned shift = spins - 96 < 10 ? spins - 96 : 10;
				struct timespec ts = { 0, 1000l << shift };
				nanosleep(&ts, NULL);
			}
			spins++;
			if ((spins & 7) == 0 && fsb_now_ns() > deadline) {
				rc = -ETIMEDOUT;
				break;
			}
		}
		if (rc)
			break;
	}
	uint64_t waited = fsb_now_ns() - start;
	if (waited > port->max_grace_wait_ns)
		port->max_grace_wait_ns = waited;
	if (rc) {
		atomic_fetch_add(&port->grace_timeouts, 1);
		fsb_log(FSB_LOG_WARNING,
			"%s: grace period timed out after %llu ms: a queue is "
			"online but not polling (use fsb_queue_offline)",
			port->spec.name, (unsigned long long)(waited / 1000000));
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* TX choice                                                           */
/* ------------------------------------------------------------------ */

static bool slot_usable(const struct fsb_slot *s, const bool *leaving,
			unsigned i)
{
	return slot_state(s) == FSB_SUBDEV_STARTED && s->link_up &&
	       !s->gone && s->admin_up && !s->close_pending && !leaving[i];
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
static int tx_choose(struct fsb_port *port, const bool *leaving,
		     uint64_t now, uint64_t *wait_ns)
{
	int cur = atomic_load(&port->active_slot);
	uint64_t hold = (uint64_t)port->spec.hold_down_ms * 1000000ull;
	bool cur_ok = cur >= 0 && slot_usable(&port->slot[cur], leaving, cur);
	int first_usable = -1;

	*wait_ns = UINT64_MAX;
	for (unsigned i = 0; i < port->nslots; i++) {
		const struct fsb_slot *s = &port->slot[i];
		if (cur_ok && (int)i == cur)
			return cur;
		if (!slot_usable(s, leaving, i))
			continue;
		if (first_usable < 0)
			first_usable = (int)i;
		uint64_t age = now > s->usable_since_ns ?
			now - s->usable_since_ns : 0;
		if (hold == 0 || s->usable_since_ns == 0 || age >= hold)
			return (int)i;
		if (hold - age < *wait_ns)
			*wait_ns = hold - age;
	}
	return cur_ok ? cur : first_usable;
}

/* Publish @to as the TX sub-device of every queue. */
static void tx_publish(struct fsb_port *port, int to)
{
	struct fsb_subdev *sd = to >= 0 ? &port->slot[to].sd : NULL;
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++)
		atomic_store_explicit(&port->txq[q].active, sd,
				      memory_order_seq_cst);
	atomic_store(&port->active_slot, to);
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
	event_emit(port, &ev);
}

/* Choose and publish TX; returns the reason used, for the link event. */
static enum fsb_reason tx_update(struct fsb_port *port, const bool *leaving,
				 uint64_t now, uint64_t *wait_ns)
{
	int cur = atomic_load(&port->active_slot);
	int to = port->started ? tx_choose(port, leaving, now, wait_ns) : -1;
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

	tx_publish(port, to);
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
	event_emit(port, &ev);
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
	int reason = atomic_exchange(&s->mark_reason, -1);
	uint64_t t = atomic_exchange(&s->mark_ns, 0);
	const unsigned removal = FSB_MARKBIT(FSB_MARK_GONE) |
				 FSB_MARKBIT(FSB_MARK_RELEASE);
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

	if (m & FSB_MARKBIT(FSB_MARK_GONE)) {
		s->gone = true;
		s->released = false;
		slot_set_link(port, s, false, s->last_reason, now);
	}
	if ((m & FSB_MARKBIT(FSB_MARK_RELEASE)) &&
	    !(m & FSB_MARKBIT(FSB_MARK_GONE))) {
		/* Planned: the device is alive and must be let go (a VFIO
		 * device request).  Leave like an admin detach - TX first,
		 * grace, stop, drain RX, grace, close - then wait for it to
		 * come back.  A GONE in the same batch (SIGBUS, the netdev
		 * vanished) makes it a surprise removal: no drain. */
		if (slot_state(s) >= FSB_SUBDEV_PROBED)
			fsb_log(FSB_LOG_INFO, "%s: the kernel asks for the "
				"device back (%s): releasing it", s->sd.name,
				fsb_reason_name(s->last_reason));
		s->gone = true;
		s->released = true;
	}
	if ((m & FSB_MARKBIT(FSB_MARK_APPEARED)) && (m & removal)) {
		/* It went and came back between two passes (or came and
		 * went: the bits do not say in which order).  What we hold
		 * is bound to the old device (an ifindex, a session, a BAR):
		 * take the slot down in this pass and probe afresh after,
		 * see port_sync_locked().  If it is really gone, that probe
		 * fails and the slot waits for the next appearance. */
		s->bounce = true;
	} else if (m & FSB_MARKBIT(FSB_MARK_APPEARED)) {
		s->gone = false;
		s->released = false;
	}
	if (m & (FSB_MARKBIT(FSB_MARK_LINK_DOWN) | FSB_MARKBIT(FSB_MARK_LINK_UP))) {
		/* Marks say "look again"; the sub-device says what is. */
		bool up = false;
		if (slot_state(s) == FSB_SUBDEV_STARTED && !s->gone) {
			struct fsb_link l = { 0 };
			up = s->sd.ops->link_get(&s->sd, &l) == 0 && l.up;
			/* for a netdev, what rtnetlink last said counts too */
			if (s->sd.nd.used && !s->sd.nd.running)
				up = false;
		}
		slot_set_link(port, s, up,
			      up ? FSB_REASON_LINK_UP : FSB_REASON_LINK_DOWN,
			      slot_up_since(s));
	}
}

/* Step @s down to @target (TX already moved off it, grace passed). */
static void slot_step_down(struct fsb_port *port, struct fsb_slot *s,
			   enum fsb_subdev_state target, enum fsb_reason why)
{
	struct fsb_subdev *sd = &s->sd;
	if (slot_state(s) == FSB_SUBDEV_STARTED && target < FSB_SUBDEV_STARTED) {
		sd->ops->stop(sd);
		slot_set_link(port, s, false, why, fsb_now_ns());
		slot_set_state(port, s, FSB_SUBDEV_CONFIGURED, why);
	}
	if (slot_state(s) >= FSB_SUBDEV_PROBED && target < FSB_SUBDEV_CONFIGURED) {
		if (slot_state(s) == FSB_SUBDEV_CONFIGURED)
			fsb_stats_fold_close(port, s);
		sd->ops->close(sd);
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

static void port_sync_locked(struct fsb_port *port, int *cfg_err)
{
	uint64_t now = fsb_now_ns();
	bool leaving[FSB_MAX_SUBDEVS] = { false };
	bool any_leaving = false, any_close = false;
	uint64_t wait_ns;

	for (unsigned i = 0; i < port->nslots; i++)
		marks_consume(port, &port->slot[i], now);

	for (unsigned i = 0; i < port->nslots; i++) {
		struct fsb_slot *s = &port->slot[i];
		int t = slot_target(port, s);
		if ((slot_state(s) == FSB_SUBDEV_STARTED && t < FSB_SUBDEV_STARTED) ||
		    (s->close_pending && t < FSB_SUBDEV_CONFIGURED)) {
			leaving[i] = true;
			any_leaving = true;
		}
		if (slot_state(s) > t && slot_state(s) < FSB_SUBDEV_STARTED)
			any_close = true;
	}

	/* TX first: nothing is sent to a slot we are about to stop. */
	enum fsb_reason why = tx_update(port, leaving, now, &wait_ns);

	if (any_leaving) {
		bool grace_ok = fsb_qsbr_wait(port) == 0;
		for (unsigned i = 0; i < port->nslots; i++) {
			struct fsb_slot *s = &port->slot[i];
			if (!leaving[i] || slot_state(s) != FSB_SUBDEV_STARTED)
				continue;
			s->sd.ops->stop(&s->sd);
			slot_set_link(port, s, false, s->last_reason, now);
			slot_set_state(port, s, FSB_SUBDEV_CONFIGURED,
				       s->last_reason);
			/* planned (admin, VFIO request): the device is
			 * alive, what it received is delivered */
			if (!s->gone || s->released)
				rx_drain(port, s);
			atomic_fetch_and_explicit(&port->rx_mask,
						  ~(1u << i),
						  memory_order_seq_cst);
		}
		if (grace_ok)
			grace_ok = fsb_qsbr_wait(port) == 0;
		for (unsigned i = 0; i < port->nslots; i++) {
			struct fsb_slot *s = &port->slot[i];
			if (!leaving[i])
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
			slot_step_down(port, s, t, s->last_reason);
		}
	}
	if (any_close) {
		for (unsigned i = 0; i < port->nslots; i++) {
			struct fsb_slot *s = &port->slot[i];
			int t = slot_target(port, s);
			if (!leaving[i] && slot_state(s) > t)
				slot_step_down(port, s, t, s->last_reason);
		}
	}

	/* A slot that went and came back is down now: let it come up. */
	for (unsigned i = 0; i < port->nslots; i++) {
		struct fsb_slot *s = &port->slot[i];
		if (s->bounce && !s->close_pending &&
		    slot_state(s) <= FSB_SUBDEV_PARSED) {
			s->bounce = false;
			s->gone = false;
			s->released = false;
			leaving[i] = false;     /* a new device: usable below */
		}
	}

	/* Bring up what should be up. */
	for (unsigned i = 0; i < port->nslots; i++) {
		struct fsb_slot *s = &port->slot[i];
		if (s->close_pending)
			continue;
		while (slot_state(s) < (int)slot_target(port, s)) {
			int st = slot_state(s);
			int rc = slot_step_up(port, s, s->last_reason);
			if (rc < 0) {
				s->last_err = rc;
				if (rc == -EINVAL && st == FSB_SUBDEV_PROBED &&
				    cfg_err)
					*cfg_err = rc;
				/* Wait for the device to (re)appear. */
				s->gone = true;
				slot_step_down(port, s, FSB_SUBDEV_PARSED,
					       FSB_REASON_PROBE_FAILED);
				break;
			}
		}
	}

	/* a fresh clock: the bring-up above may have taken a while */
	now = fsb_now_ns();
	enum fsb_reason why2 = tx_update(port, leaving, now, &wait_ns);
	if (why2 != FSB_REASON_ADMIN || why == FSB_REASON_ADMIN)
		why = why2;
	if (port->started)
		port_link_report(port, atomic_load(&port->active_slot) >= 0 ?
				 port->slot[atomic_load(&port->active_slot)].last_reason :
				 why);

	bool retry_close = false;
	for (unsigned i = 0; i < port->nslots; i++)
		retry_close |= port->slot[i].close_pending;
	if (retry_close && wait_ns > 100000000ull)
		wait_ns = 100000000ull;
	atomic_store(&port->hold_deadline_ns,
		     wait_ns == UINT64_MAX ? 0 : now + wait_ns);
	if (wait_ns != UINT64_MAX)
		fsb_ctl_wake();
}

void fsb_port_sync(struct fsb_port *port)
{
	pthread_mutex_lock(&port->lock);
	port_sync_locked(port, NULL);
	pthread_mutex_unlock(&port->lock);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

struct fsb_port *fsb_port_open(struct fsb_ctx *ctx, const char *spec,
			       char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!ctx || !spec) {
		errno = EINVAL;
		return NULL;
	}
	struct fsb_port *port = aligned_alloc(FSB_CACHE_LINE,
		(sizeof(*port) + FSB_CACHE_LINE - 1) & ~(size_t)(FSB_CACHE_LINE - 1));
	if (!port)
		return NULL;
	memset(port, 0, sizeof(*port));
	int rc = fsb_spec_parse(spec, &port->spec, err, errlen);
	if (rc < 0) {
		free(port);
		errno = -rc;
		return NULL;
	}

	pthread_mutex_lock(&ctx->lock);
	int id = -1;
	for (unsigned i = 0; i < FSB_MAX_PORTS; i++) {
		if (ctx->ports[i] &&
		    strcmp(ctx->ports[i]->spec.name, port->spec.name) == 0) {
			pthread_mutex_unlock(&ctx->lock);
			if (err && errlen)
				snprintf(err, errlen, "port name '%s' is in use",
					 port->spec.name);
			free(port);
			errno = EEXIST;
			return NULL;
		}
		if (id < 0 && !ctx->ports[i])
			id = (int)i;
	}
	if (id < 0) {
		pthread_mutex_unlock(&ctx->lock);
		if (err && errlen)
			snprintf(err, errlen, "too many ports (max %d)",
				 FSB_MAX_PORTS);
		free(port);
		errno = ENOSPC;
		return NULL;
	}

	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	/* Recursive: event callbacks run under the lock and may call the
	 * getters, which take it too. */
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&port->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	port->ctx = ctx;
	port->id = (uint16_t)id;
	port->nslots = port->spec.ndev;
	atomic_init(&port->active_slot, -1);
	if (port->spec.has_mac) {
		memcpy(port->mac, port->spec.mac, sizeof(port->mac));
		port->mac_set = true;
	}
	for (unsigned i = 0; i < port->nslots; i++) {
		struct fsb_slot *s = &port->slot[i];
		fsb_subdev_init(&s->sd, &port->spec.dev[i], port->id, (int)i,
				port->spec.name);
		atomic_init(&s->state, FSB_SUBDEV_PARSED);
		atomic_init(&s->mark_reason, -1);
		s->admin_up = true;
		s->last_reason = FSB_REASON_ADMIN;
	}
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		atomic_init(&port->txq[q].qs, FSB_QSBR_OFFLINE);
		atomic_init(&port->rxq[q].qs, FSB_QSBR_OFFLINE);
	}
	ctx->ports[id] = port;
	atomic_store_explicit(&port_table[id], port, memory_order_release);
	pthread_mutex_unlock(&ctx->lock);
	return port;
}

void fsb_port_close(struct fsb_port *port)
{
	if (!port)
		return;
	struct fsb_ctx *ctx = port->ctx;
	/* Unpublish first; the control thread holds ctx->lock while it
	 * syncs, so once this returns it is done with the port. */
	pthread_mutex_lock(&ctx->lock);
	ctx->ports[port->id] = NULL;
	atomic_store(&port_table[port->id], NULL);
	pthread_mutex_unlock(&ctx->lock);

	pthread_mutex_lock(&port->lock);
	port->started = false;
	port->configured = false;
	atomic_store(&port->running, false);
	for (unsigned i = 0; i < port->nslots; i++)
		port->slot[i].admin_up = false;
	/* The datapath must have stopped polling (DPDK's rule for close):
	 * no grace period is needed, and none could complete. */
	atomic_store(&port->rx_mask, 0);
	tx_publish(port, -1);
	for (unsigned i = 0; i < port->nslots; i++)
		slot_step_down(port, &port->slot[i], FSB_SUBDEV_ABSENT,
			       FSB_REASON_ADMIN);
	pthread_mutex_unlock(&port->lock);
	pthread_mutex_destroy(&port->lock);
	free(port->xstats_zero);
	free(port);
}

uint16_t fsb_port_id(const struct fsb_port *port)
{
	return port->id;
}

const char *fsb_port_name(const struct fsb_port *port)
{
	return port->spec.name;
}

void fsb_port_set_event_cb(struct fsb_port *port, fsb_event_fn fn, void *arg)
{
	FSB_ASSERT(port != NULL);
	pthread_mutex_lock(&port->lock);
	port->ev_fn = fn;
	port->ev_arg = arg;
	pthread_mutex_unlock(&port->lock);
}

int fsb_port_configure(struct fsb_port *port, const struct fsb_port_conf *conf)
{
	FSB_ASSERT(port != NULL);
	if (!conf || conf->nb_rxq < 1 || conf->nb_rxq > FSB_MAX_QUEUES ||
	    conf->nb_txq < 1 || conf->nb_txq > FSB_MAX_QUEUES) {
		fsb_log(FSB_LOG_ERR, "%s: queue counts must be 1..%d",
			port->spec.name, FSB_MAX_QUEUES);
		return -EINVAL;
	}
	pthread_mutex_lock(&port->lock);
	if (port->started) {
		pthread_mutex_unlock(&port->lock);
		return -EBUSY;
	}
	if (port->configured) {
		/* Reconfigure: close every sub-device, then start over. */
		port->configured = false;
		port_sync_locked(port, NULL);
	}
	port->conf = *conf;
	if (!port->conf.nb_rxd)
		port->conf.nb_rxd = 1024;
	if (!port->conf.nb_txd)
		port->conf.nb_txd = 1024;
	for (unsigned i = 0; i < port->nslots; i++) {
		/* probe everything again, except a device we let go on the
		 * kernel's request: it is on its way out, and re-opening it
		 * would make the kernel wait for us again.  It comes back
		 * with an APPEARED mark (or an admin attach). */
		struct fsb_slot *s = &port->slot[i];
		s->gone = s->gone && s->released;
	}
	port->configured = true;
	int cfg_err = 0;
	port_sync_locked(port, &cfg_err);
	if (cfg_err) {
		port->configured = false;
		port_sync_locked(port, NULL);
	}
	pthread_mutex_unlock(&port->lock);
	return cfg_err;
}

int fsb_rx_queue_setup(struct fsb_port *port, uint16_t qid,
		       struct fsb_mempool *mp)
{
	FSB_ASSERT(port != NULL);
	if (!mp)
		return -EINVAL;
	pthread_mutex_lock(&port->lock);
	int rc = 0;
	if (!port->configured || qid >= port->conf.nb_rxq)
		rc = -EINVAL;
	else if (port->started)
		rc = -EBUSY;
	else
		port->rxq[qid].pool = mp;
	pthread_mutex_unlock(&port->lock);
	return rc;
}

int fsb_port_start(struct fsb_port *port)
{
	FSB_ASSERT(port != NULL);
	pthread_mutex_lock(&port->lock);
	int rc = 0;
	if (port->started) {
		rc = -EALREADY;
		goto out;
	}
	if (!port->configured) {
		fsb_log(FSB_LOG_ERR, "%s: start before configure",
			port->spec.name);
		rc = -EINVAL;
		goto out;
	}
	for (unsigned q = 0; q < port->conf.nb_rxq; q++) {
		if (!port->rxq[q].pool) {
			fsb_log(FSB_LOG_ERR, "%s: rx queue %u has no mempool",
				port->spec.name, q);
			rc = -EINVAL;
			goto out;
		}
	}
	/* Queues start offline; each one's first burst brings it online
	 * (qsbr.h), so queues the application never polls block nothing. */
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		atomic_store(&port->txq[q].qs, FSB_QSBR_OFFLINE);
		atomic_store(&port->rxq[q].qs, FSB_QSBR_OFFLINE);
	}
	/* At start the best usable slot is used at once: no hold-down. */
	for (unsigned i = 0; i < port->nslots; i++) {
		struct fsb_slot *s = &port->slot[i];
		s->gone = s->gone && s->released;   /* as in configure */
		s->usable_since_ns = 0;
	}
	port->started = true;
	port->link_reported_valid = false;
	port_sync_locked(port, NULL);
	/* Slots that came up during this sync were stamped "now"; at start
	 * they are all eligible at once. */
	for (unsigned i = 0; i < port->nslots; i++)
		if (port->slot[i].link_up)
			port->slot[i].usable_since_ns = 0;
	port_sync_locked(port, NULL);
	atomic_store(&port->running, true);
out:
	pthread_mutex_unlock(&port->lock);
	return rc;
}

int fsb_port_stop(struct fsb_port *port)
{
	FSB_ASSERT(port != NULL);
	pthread_mutex_lock(&port->lock);
	if (!port->started) {
		pthread_mutex_unlock(&port->lock);
		return 0;
	}
	atomic_store(&port->running, false);
	port->started = false;
	tx_publish(port, -1);
	atomic_store(&port->rx_mask, 0);
	for (unsigned i = 0; i < port->nslots; i++) {
		struct fsb_slot *s = &port->slot[i];
		if (slot_state(s) == FSB_SUBDEV_STARTED)
			slot_step_down(port, s, FSB_SUBDEV_CONFIGURED,
				       FSB_REASON_ADMIN);
	}
	port_sync_locked(port, NULL);
	struct fsb_event ev = {
		.type = FSB_EVENT_PORT_LINK, .reason = FSB_REASON_ADMIN,
		.slot = -1, .link_up = false, .from_slot = -1, .to_slot = -1,
	};
	if (port->link_reported_valid && port->link_reported) {
		port->link_reported = false;
		event_emit(port, &ev);
	}
	pthread_mutex_unlock(&port->lock);
	return 0;
}

int fsb_queue_offline(struct fsb_port *port, uint16_t qid)
{
	FSB_ASSERT(port != NULL);
	if (qid >= FSB_MAX_QUEUES)
		return -EINVAL;
	atomic_store_explicit(&port->txq[qid].qs, FSB_QSBR_OFFLINE,
			      memory_order_release);
	atomic_store_explicit(&port->rxq[qid].qs, FSB_QSBR_OFFLINE,
			      memory_order_release);
	return 0;
}

int fsb_queue_online(struct fsb_port *port, uint16_t qid)
{
	FSB_ASSERT(port != NULL);
	if (qid >= FSB_MAX_QUEUES)
		return -EINVAL;
	uint64_t e = atomic_load_explicit(&port->qsbr_epoch,
					  memory_order_seq_cst);
	atomic_store_explicit(&port->txq[qid].qs, e, memory_order_seq_cst);
	atomic_store_explicit(&port->rxq[qid].qs, e, memory_order_seq_cst);
	/* See qsbr.h: these seq_cst loads order our next burst after any
	 * publication the control side made while we were offline. */
	(void)atomic_load_explicit(&port->txq[qid].active, memory_order_seq_cst);
	(void)atomic_load_explicit(&port->rx_mask, memory_order_seq_cst);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Admin calls                                                         */
/* ------------------------------------------------------------------ */

int fsb_port_detach(struct fsb_port *port, unsigned slot)
{
	FSB_ASSERT(port != NULL);
	if (slot >= port->nslots)
		return -ENOENT;
	pthread_mutex_lock(&port->lock);
	struct fsb_slot *s = &port->slot[slot];
	int rc = 0;
	if (!s->admin_up) {
		rc = -EALREADY;
	} else {
		s->admin_up = false;
		s->last_reason = FSB_REASON_ADMIN;
		s->signal_ns = fsb_now_ns();
		port_sync_locked(port, NULL);
	}
	pthread_mutex_unlock(&port->lock);
	return rc;
}

int fsb_port_attach(struct fsb_port *port, unsigned slot)
{
	FSB_ASSERT(port != NULL);
	if (slot >= port->nslots)
		return -ENOENT;
	pthread_mutex_lock(&port->lock);
	struct fsb_slot *s = &port->slot[slot];
	int rc = 0;
	if (s->admin_up) {
		rc = -EALREADY;
	} else {
		s->admin_up = true;
		s->gone = false;
		s->released = false;
		s->last_reason = FSB_REASON_ADMIN;
		s->signal_ns = fsb_now_ns();
		s->last_err = 0;
		port_sync_locked(port, NULL);
		if (port->configured && slot_state(s) < FSB_SUBDEV_CONFIGURED) {
			/* not up: the admin's attach did not happen */
			rc = s->last_err ? s->last_err : -EIO;
			s->admin_up = false;
			port_sync_locked(port, NULL);
		}
	}
	pthread_mutex_unlock(&port->lock);
	return rc;
}

/* Apply @fn to every started slot; -ENOTSUP from a slot is tolerated. */
static int config_apply(struct fsb_port *port,
			int (*apply)(struct fsb_port *, struct fsb_slot *))
{
	int err = 0;
	for (unsigned i = 0; i < port->nslots; i++) {
		struct fsb_slot *s = &port->slot[i];
		if (slot_state(s) < FSB_SUBDEV_STARTED)
			continue;
		int rc = apply(port, s);
		if (rc == -ENOTSUP)
			atomic_fetch_add(&port->replay_enotsup, 1);
		else if (rc < 0 && !err)
			err = rc;
	}
	return err;
}

static int apply_mac(struct fsb_port *p, struct fsb_slot *s)
{
	return s->sd.ops->mac_set ? s->sd.ops->mac_set(&s->sd, p->mac) : -ENOTSUP;
}

static int apply_mtu(struct fsb_port *p, struct fsb_slot *s)
{
	return s->sd.ops->mtu_set ? s->sd.ops->mtu_set(&s->sd, p->mtu) : -ENOTSUP;
}

static int apply_promisc(struct fsb_port *p, struct fsb_slot *s)
{
	return s->sd.ops->promisc_set ?
		s->sd.ops->promisc_set(&s->sd, p->promisc) : -ENOTSUP;
}

static int apply_allmulti(struct fsb_port *p, struct fsb_slot *s)
{
	return s->sd.ops->allmulti_set ?
		s->sd.ops->allmulti_set(&s->sd, p->allmulti) : -ENOTSUP;
}

static int apply_mc_list(struct fsb_port *p, struct fsb_slot *s)
{
	return s->sd.ops->mc_list_set ?
		s->sd.ops->mc_list_set(&s->sd,
				       (const uint8_t (*)[FSB_ETHER_ADDR_LEN])p->mc_list,
				       p->mc_count) : -ENOTSUP;
}

/* The shadow is updated first: it is what every returning sub-device
 * gets, whatever the started ones answer now. */
int fsb_port_mac_set(struct fsb_port *port, const uint8_t mac[6])
{
	FSB_ASSERT(port != NULL);
	if (!mac || (mac[0] & 1))
		return -EINVAL;     /* multicast/NULL is not a port address */
	pthread_mutex_lock(&port->lock);
	memcpy(port->mac, mac, 6);
	port->mac_set = true;
	int rc = config_apply(port, apply_mac);
	pthread_mutex_unlock(&port->lock);
	return rc;
}

int fsb_port_mtu_set(struct fsb_port *port, uint16_t mtu)
{
	FSB_ASSERT(port != NULL);
	if (mtu < 68)
		return -EINVAL;
	pthread_mutex_lock(&port->lock);
	port->mtu = mtu;
	int rc = config_apply(port, apply_mtu);
	pthread_mutex_unlock(&port->lock);
	return rc;
}

int fsb_port_promisc_set(struct fsb_port *port, bool on)
{
	FSB_ASSERT(port != NULL);
	pthread_mutex_lock(&port->lock);
	port->promisc = on;
	int rc = config_apply(port, apply_promisc);
	pthread_mutex_unlock(&port->lock);
	return rc;
}

int fsb_port_allmulti_set(struct fsb_port *port, bool on)
{
	FSB_ASSERT(port != NULL);
	pthread_mutex_lock(&port->lock);
	port->allmulti = on;
	int rc = config_apply(port, apply_allmulti);
	pthread_mutex_unlock(&port->lock);
	return rc;
}

int fsb_port_mc_addr_list_set(struct fsb_port *port,
			      const uint8_t (*macs)[FSB_ETHER_ADDR_LEN],
			      unsigned n)
{
	FSB_ASSERT(port != NULL);
	if (n > FSB_MC_ADDR_MAX || (n && !macs))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (!(macs[i][0] & 1))
			return -EINVAL;     /* a unicast address */
	pthread_mutex_lock(&port->lock);
	if (n)
		memcpy(port->mc_list, macs, (size_t)n * FSB_ETHER_ADDR_LEN);
	port->mc_count = n;
	int rc = config_apply(port, apply_mc_list);
	pthread_mutex_unlock(&port->lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Info                                                                */
/* ------------------------------------------------------------------ */

int fsb_port_link_get(struct fsb_port *port, struct fsb_link *l)
{
	FSB_ASSERT(port != NULL);
	memset(l, 0, sizeof(*l));
	int a = atomic_load(&port->active_slot);
	l->up = a >= 0;
	if (a >= 0) {
		pthread_mutex_lock(&port->lock);
		struct fsb_slot *s = &port->slot[a];
		struct fsb_link sl = { 0 };
		if (slot_state(s) == FSB_SUBDEV_STARTED &&
		    s->sd.ops->link_get(&s->sd, &sl) == 0) {
			l->speed_mbps = sl.speed_mbps;
			l->full_duplex = sl.full_duplex;
		}
		pthread_mutex_unlock(&port->lock);
	}
	return 0;
}

int fsb_port_info_get(struct fsb_port *port, struct fsb_port_info *info)
{
	FSB_ASSERT(port != NULL);
	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&port->lock);
	snprintf(info->name, sizeof(info->name), "%s", port->spec.name);
	info->port_id = port->id;
	info->nb_rxq = port->conf.nb_rxq;
	info->nb_txq = port->conf.nb_txq;
	info->nb_slots = port->nslots;
	info->active_slot = atomic_load(&port->active_slot);
	info->hold_down_ms = port->spec.hold_down_ms;
	memcpy(info->mac, port->mac, 6);
	info->mtu = port->mtu ? port->mtu : 1500;
	info->promisc = port->promisc;
	info->allmulti = port->allmulti;
	info->started = port->started;
	pthread_mutex_unlock(&port->lock);
	return 0;
}

int fsb_port_slot_info(struct fsb_port *port, unsigned slot,
		       struct fsb_slot_info *info)
{
	FSB_ASSERT(port != NULL);
	if (slot >= port->nslots)
		return -ENOENT;
	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&port->lock);
	struct fsb_slot *s = &port->slot[slot];
	snprintf(info->kind, sizeof(info->kind), "%s", s->sd.spec.kind);
	snprintf(info->spec, sizeof(info->spec), "%s", s->sd.spec.text);
	info->state = slot_state(s);
	info->link_up = s->link_up;
	info->active = atomic_load(&port->active_slot) == (int)slot;
	info->last_reason = s->last_reason;
	pthread_mutex_unlock(&port->lock);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Datapath                                                            */
/* ------------------------------------------------------------------ */

uint16_t fsb_tx_burst(struct fsb_port *port, uint16_t qid,
		      struct fsb_buf **bufs, uint16_t n)
{
	FSB_ASSERT(port != NULL && qid < port->conf.nb_txq);
	if (FSB_UNLIKELY(qid >= FSB_MAX_QUEUES))
		return 0;
	struct fsb_txq *q = &port->txq[qid];
	fsb_qsbr_enter(port, &q->qs, &q->active);
	struct fsb_subdev *sd = atomic_load_explicit(&q->active,
						     memory_order_acquire);
	uint16_t sent = 0;
	if (FSB_LIKELY(sd != NULL))
		sent = sd->ops->tx_burst(sd->txq[qid], bufs, n);
	else if (atomic_load_explicit(&port->running, memory_order_relaxed))
		fsb_counter_add(&q->no_path, n);
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
