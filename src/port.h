/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * port.h - the port and its slots (internal).
 *
 * A port owns up to FSB_MAX_SUBDEVS slots, one per dev() group, in
 * priority order.  Each slot embeds its sub-device for the port's whole
 * lifetime; the sub-device's own resources come and go with its state.
 *
 * Who writes what:
 *   - signal sources (any thread, signal handlers included) only set
 *     slot->marks / slot->mark_reason and wake the control loop, through
 *     fsb_port_mark(): the router (route.c) for system-wide sources, the
 *     slot's notifier for the sub-device's own;
 *   - the sync routine (sync.c, under port->lock, on the control thread
 *     or inside an admin call) reads the marks and does all the work:
 *     probe, configure, start, stop, close, TX choice, publish;
 *   - the datapath (burst.c) reads txq[].active and rx_mask (acquire)
 *     and writes only its queue's qs and counters.
 *
 * The port, file by file (one banner each below):
 *   port.c     lifecycle and admin calls: open, configure, start, stop,
 *              close, attach, detach, queue online/offline, getters
 *   sync.c     marks, the sync routine, TX choice and publication, events
 *   qsbr.c     grace periods (qsbr.h has the datapath's half)
 *   burst.c    fsb_rx_burst, fsb_tx_burst
 *   replay.c   the config shadow: admin setters, replay on (re)start
 *   stats.c    stats fold and xstats
 *   route.c    device signals to slots (route.h)
 *
 * Locks, outermost first: ctx->lock (the ports table; the control
 * thread holds it for a whole pass), port->lock, the loop lock
 * (loop.h).  port->lock is recursive for one reason only: event
 * callbacks run under it and may call the getters, which take it.
 */
#ifndef FSB_PORT_H
#define FSB_PORT_H


#include "devsignal.h"
#include "fsb_private.h"
#include "subdev.h"

/* Mark bits (slot->marks): one per enum fsb_devsig_what below
 * FSB_DEVSIG_MARKS. */
#define FSB_MARKBIT(m) (1u << (m))

struct fsb_port;

struct fsb_slot {
	struct fsb_subdev sd;
	struct fsb_port *port;          /* owner, for the notifier */

	/* Written by sync only; read by getters under port->lock, and
	 * atomically by anyone. */
	_Atomic int state;              /* enum fsb_subdev_state */
	bool admin_up;                  /* not detached by the admin */
	bool link_up;                   /* operational link, as last known */
	bool gone;                      /* device vanished; wait to re-appear */
	bool bounce;                    /* gone and back in one batch of marks */
	/* A probe that said -EAGAIN (there, not ready): probed again at
	 * retry_ns (0 = none), backing off; at most FSB_PROBE_RETRIES. */
	uint64_t retry_ns;
	unsigned retries;
	bool released;                  /* gone because we let it go on a
					 * RELEASE mark (planned; the device
					 * was alive) */
	bool close_pending;             /* stopped; close awaits a grace */
	bool leaving;                   /* during a sync pass: stops in it */
	uint64_t usable_since_ns;       /* link up since (0 = at start) */
	uint64_t signal_ns;             /* receipt of the first signal of the
					 * last consumed batch (downtime) */
	uint64_t up_signal_ns;          /* receipt of the last signal that the
					 * device may be usable (link-up,
					 * appearance): hold-down starts here */
	enum fsb_reason last_reason;
	int last_err;                   /* last failed step's -errno */

	/* Signals: pending marks (bit set) and the reason of the first
	 * mark since sync last consumed them.  -1 = none. */
	_Atomic unsigned marks;
	uint64_t watch_due;             /* ops->watch's next, port lock */
	_Atomic int mark_reason;
	_Atomic uint64_t mark_ns;       /* receipt of the first signal */
	_Atomic uint64_t up_mark_ns;    /* receipt of the last LINK_UP or
					 * APPEARED mark (0 = none pending) */

	/* Stats fold (stats.c), under port->lock. */
	struct fsb_subdev_stats base;   /* folded from earlier lives */
	struct fsb_subdev_stats last;   /* last reading of this life */
};

/* Probes again of a device that said -EAGAIN (subdev.h), before the
 * slot waits for the device to appear anew: 0.1, 0.2, 0.4, 0.8, 1.6,
 * then 2 s apart, some 13 s in all. */
#define FSB_PROBE_RETRIES 10

/* One entry of a port's event log. */
#define FSB_EVENT_LOG 256
struct fsb_event_rec {
	struct fsb_event ev;
	uint64_t seq;                   /* 0, 1, ... in emission order */
	uint64_t wall_ns;               /* CLOCK_REALTIME at emission */
};

struct fsb_port {
	struct fsb_ctx *ctx;
	uint16_t id;
	struct fsb_spec spec;
	pthread_mutex_t lock;           /* control side; never the datapath */

	bool configured, started;
	struct fsb_port_conf conf;
	unsigned nslots;
	struct fsb_slot slot[FSB_MAX_SUBDEVS];

	/* Datapath-visible state. */
	_Atomic uint32_t rx_mask FSB_ALIGNED; /* slots polled by RX */
	_Atomic int active_slot;        /* -1 = no path */
	_Atomic bool running;           /* bursts move packets */
	/* Bumped after each publication of txq[].active: inject frames
	 * made for an older one are stale (migration/announce.c). */
	_Atomic uint64_t tx_gen;
	_Atomic bool learn;             /* TX looks for our addresses */
	_Atomic uint64_t qsbr_epoch FSB_ALIGNED;
	struct fsb_txq txq[FSB_MAX_QUEUES];
	struct fsb_rxq rxq[FSB_MAX_QUEUES];

	/* Config shadow (replay.c), replayed onto every (re)started
	 * sub-device. */
	uint8_t mac[FSB_ETHER_ADDR_LEN];
	bool mac_set;                   /* given by spec or admin */
	uint16_t mtu;                   /* 0 = leave the sub-device's */
	bool promisc, allmulti;
	uint8_t mc_list[FSB_MC_ADDR_MAX][FSB_ETHER_ADDR_LEN];
	unsigned mc_count;

	/* The announcer's state (migration/announce.c), port->lock;
	 * NULL with announce=off. */
	struct fsb_announce *ann;

	/* Events, and the last FSB_EVENT_LOG of them with their wall
	 * times for the control socket's /fsb/events (port->lock). */
	fsb_event_fn ev_fn;
	void *ev_arg;
	struct fsb_event_rec evlog[FSB_EVENT_LOG];
	uint64_t evlog_seq;             /* events emitted so far */
	/* Holders that call into the port without ctx->lock (the control
	 * socket's thread); fsb_port_close() waits for them (ctx->lock,
	 * ctx->ref_cond). */
	unsigned ext_refs;
	bool link_reported;             /* last port link event said up */
	bool link_reported_valid;
	bool had_path;                  /* a TX path was chosen since start */

	/* Failover counters (xstats), under lock; read atomically. */
	_Atomic uint64_t switchovers;
	_Atomic uint64_t switch_reason[FSB_REASON_COUNT];
	_Atomic uint64_t dup_signals;
	_Atomic uint64_t last_switch_downtime_us;
	_Atomic uint64_t grace_timeouts;
	_Atomic uint64_t replay_enotsup;
	/* µs from a VFIO device request's receipt to the close of the
	 * device fd, last time (from the sub-device's release_us). */
	_Atomic uint64_t last_release_us;
	uint64_t max_grace_wait_ns;

	/* stats_reset baselines (stats.c). */
	struct fsb_stats stats_zero;
	uint64_t *xstats_zero;

	/* Control loop: when to run sync again (hold-down expiry, close
	 * retry), CLOCK_MONOTONIC ns, 0 = never; and "marks are waiting". */
	_Atomic uint64_t hold_deadline_ns;
	_Atomic bool sync_pending;
};

/* Every slot of @port, in priority order: struct fsb_slot *@s. */
#define FSB_FOREACH_SLOT(port, s)                                        \
	for (struct fsb_slot *s = (port)->slot;                          \
	     s < (port)->slot + (port)->nslots; s++)

/* The slot's index (its priority; 0 is the primary). */
static inline unsigned fsb_slot_index(const struct fsb_port *port,
				      const struct fsb_slot *s)
{
	return (unsigned)(s - port->slot);
}

/* The slot's state; written by sync only, readable by anyone. */
static inline int fsb_slot_state(const struct fsb_slot *s)
{
	return atomic_load_explicit(&((struct fsb_slot *)s)->state,
				    memory_order_relaxed);
}

/* ================================================================== */
/* port.c                                                              */
/* ================================================================== */

/* The sub-device of slot @slot, or NULL (tests). */
struct fsb_subdev *fsb_port_subdev(struct fsb_port *port, unsigned slot);

/* ================================================================== */
/* sync.c                                                              */
/* ================================================================== */

/* Run the sync routine: consume marks, bring slots to target, choose
 * and publish TX, tear down what must go.  Takes port->lock. */
void fsb_port_sync(struct fsb_port *port);

/* Control thread: call the started sub-devices' watch ops that are due
 * (subdev.h); returns the earliest next one (0: none). */
uint64_t fsb_port_watch(struct fsb_port *port, uint64_t now);

/* The same with port->lock held.  @cfg_err (may be NULL) gets -EINVAL
 * when a sub-device refused the configured queues. */
void fsb_port_sync_locked(struct fsb_port *port, int *cfg_err);

/*
 * Signal entry point: set mark @m (below FSB_DEVSIG_MARKS) with @reason
 * on slot @slot and wake the control loop.  Async-signal-safe (atomics
 * and the loop's wake only).  The first mark wins the reason; a later
 * mark before sync consumed the first counts as dup_signals.  An
 * out-of-range slot or mark is ignored.
 */
void fsb_port_mark(struct fsb_port *port, unsigned slot,
		   enum fsb_devsig_what m, enum fsb_reason reason);

/* The slot notifier the port installs in each sub-device (@arg is the
 * struct fsb_slot): fsb_port_mark() for that slot. */
void fsb_slot_notify(void *arg, enum fsb_devsig_what what,
		     enum fsb_reason why);

/* Publish @to (-1: none) as the TX sub-device of every queue. */
void fsb_port_tx_publish(struct fsb_port *port, int to);

/* Step @s down to @target (TX already moved off it, grace passed). */
void fsb_slot_step_down(struct fsb_port *port, struct fsb_slot *s,
			enum fsb_subdev_state target, enum fsb_reason why);

/* Stamp @ev with the port and the time, log it, keep it in the event
 * log, call the app's callback (port->lock held). */
void fsb_port_event_emit(struct fsb_port *port, struct fsb_event *ev);

/* How long slot @s, usable now, must still wait before it may take TX
 * back (hold-down), in ns at @now; 0 when it may, or is not usable
 * (port->lock held). */
uint64_t fsb_slot_hold_left_ns(struct fsb_port *port, struct fsb_slot *s,
			       uint64_t now);

/* A reference for a caller outside ctx->lock (the control socket):
 * the port of id @id, or NULL; fsb_port_close() waits until it is put
 * back. */
struct fsb_port *fsb_port_ref_get(struct fsb_ctx *ctx, unsigned id);
void fsb_port_ref_put(struct fsb_port *port);

/* ================================================================== */
/* replay.c                                                            */
/* ================================================================== */

/* Replay the config shadow onto @s, which just started (lock held). */
void fsb_port_config_replay(struct fsb_port *port, struct fsb_slot *s);

/* Adopt a MAC for the port when the spec gave none: the first probed
 * slot's that can tell (lock held). */
void fsb_port_mac_adopt(struct fsb_port *port);

/* ================================================================== */
/* stats.c                                                             */
/* ================================================================== */

/* Fold a fresh reading of slot @s into its totals (port->lock held). */
void fsb_stats_fold(struct fsb_port *port, struct fsb_slot *s);
/* Fold the final reading before a slot closes. */
void fsb_stats_fold_close(struct fsb_port *port, struct fsb_slot *s);
/* Totals for slot @s (base + last), after a fold. */
void fsb_stats_slot_total(const struct fsb_slot *s,
			  struct fsb_subdev_stats *out);
unsigned fsb_xstats_count(const struct fsb_port *port);

/* ================================================================== */
/* qsbr.c: test knobs (the wait itself is in qsbr.h)                   */
/* ================================================================== */

/* Skip QSBR grace waits (to prove the stress test catches it). */
extern _Atomic bool fsb_test_skip_grace;
/* Bound of one grace wait, ns (default 1 s). */
extern _Atomic uint64_t fsb_grace_timeout_ns;

/* Bring a queue online (its own thread only): wait out a claim, then
 * take the epoch, and order the burst's loads after (qsbr.h). */
void fsb_qsbr_online(struct fsb_port *port, _Atomic uint64_t *qs,
		     const void *published) __attribute__((cold, noinline));

/* ================================================================== */
/* migration/announce.c: the announcer's life (the rest: announce.h)   */
/* ================================================================== */

/* fsb_port_open: the announcer's state from the spec (none with
 * announce=off).  0 or -ENOMEM. */
int fsb_announce_open(struct fsb_port *port);

/* fsb_port_configure, with no burst running (port->lock held): frees
 * what the inject rings still hold (made for the last configuration's
 * queues and pool). */
void fsb_announce_flush(struct fsb_port *port);

/* fsb_port_close, with no burst running (port->lock held): the same,
 * and frees the state. */
void fsb_announce_close(struct fsb_port *port);

/* ================================================================== */
/* ctl.c: the control thread                                           */
/* ================================================================== */

/* Start the loop, the sources and the thread; 0 or -errno. */
int fsb_ctl_start(struct fsb_ctx *ctx);
void fsb_ctl_stop(struct fsb_ctx *ctx);

#endif /* FSB_PORT_H */
