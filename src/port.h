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
 *     slot->marks / slot->mark_reason and wake the control loop;
 *   - the sync routine (fsb_port_sync, under port->lock, on the control
 *     thread or inside an admin call) reads the marks and does all the
 *     work: probe, configure, start, stop, close, TX choice, publish;
 *   - the datapath reads txq[].active and rx_mask (acquire) and writes
 *     only its queue's qs and counters.
 */
#ifndef FSB_PORT_H
#define FSB_PORT_H


#include "fsb_private.h"
#include "subdev.h"

/* Mark bits (slot->marks). */
#define FSB_MARKBIT(m) (1u << (m))

struct fsb_slot {
	struct fsb_subdev sd;

	/* Written by sync only; read by getters under port->lock, and
	 * atomically by anyone. */
	_Atomic int state;              /* enum fsb_subdev_state */
	bool admin_up;                  /* not detached by the admin */
	bool link_up;                   /* operational link, as last known */
	bool gone;                      /* device vanished; wait to re-appear */
	bool bounce;                    /* gone and back in one batch of marks */
	bool released;                  /* gone because we let it go on a
					 * RELEASE mark (planned; the device
					 * was alive) */
	bool close_pending;             /* stopped; close awaits a grace */
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
	_Atomic int mark_reason;
	_Atomic uint64_t mark_ns;       /* receipt of the first signal */
	_Atomic uint64_t up_mark_ns;    /* receipt of the last LINK_UP or
					 * APPEARED mark (0 = none pending) */

	/* Stats fold (stats.c), under port->lock. */
	struct fsb_subdev_stats base;   /* folded from earlier lives */
	struct fsb_subdev_stats last;   /* last reading of this life */
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
	_Atomic uint64_t qsbr_epoch FSB_ALIGNED;
	struct fsb_txq txq[FSB_MAX_QUEUES];
	struct fsb_rxq rxq[FSB_MAX_QUEUES];

	/* Config shadow, replayed onto every (re)started sub-device. */
	uint8_t mac[FSB_ETHER_ADDR_LEN];
	bool mac_set;                   /* given by spec or admin */
	uint16_t mtu;                   /* 0 = leave the sub-device's */
	bool promisc, allmulti;
	uint8_t mc_list[FSB_MC_ADDR_MAX][FSB_ETHER_ADDR_LEN];
	unsigned mc_count;

	/* Events. */
	fsb_event_fn ev_fn;
	void *ev_arg;
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
	 * device fd, last time (vfio.c writes it). */
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

/* Run the sync routine: consume marks, bring slots to target, choose
 * and publish TX, tear down what must go.  Takes port->lock. */
void fsb_port_sync(struct fsb_port *port);

/*
 * Signal entry point: set mark @m with @reason on slot @slot of port
 * @port_id and wake the control loop.  Async-signal-safe (atomics and
 * ev_async_send only).  First mark wins the reason; a later mark
 * before sync consumed the first counts as dup_signals.
 */
void fsb_port_mark(uint16_t port_id, int slot, enum fsb_mark m,
		   enum fsb_reason reason);

/* The port with id @id, or NULL (no lock: ports are published once). */
struct fsb_port *fsb_port_by_id(uint16_t id);

/* The sub-device of slot @slot (tests). */
struct fsb_subdev *fsb_port_subdev(struct fsb_port *port, unsigned slot);

/*
 * Call @fn for every slot of every open port, with that port's lock
 * held: how OS monitors (netlink.c, uevent.c) route an event to the
 * slots it concerns.  The caller holds ctx->lock; control thread (or a
 * test), never a libev callback (see fsb_ctl_defer).
 */
typedef void (*fsb_slot_fn)(struct fsb_port *port, unsigned k, void *arg);
void fsb_port_slots_each(struct fsb_ctx *ctx, fsb_slot_fn fn, void *arg);

/* ---- ctl.c: the control thread ---- */
int fsb_ctl_start(struct fsb_ctx *ctx);
void fsb_ctl_stop(struct fsb_ctx *ctx);
/* Wake the control loop to run sync on every port with pending marks.
 * Async-signal-safe. */
void fsb_ctl_wake(void);
/*
 * The control loop, for sources that watch fds or run timers in it.
 * Start and stop watchers only while holding the loop lock (recursive;
 * taken after any ctx/port lock, never before), then fsb_ctl_wake() so
 * the loop sees the change.  Watcher callbacks run with the loop lock
 * held: they may set marks, never take ctx->lock or a port lock; work
 * that needs those is passed to fsb_ctl_defer(), which only the loop's
 * callbacks call.  Deferred functions run once per loop turn, loop lock
 * released, and a sync pass follows them.
 */
struct ev_loop;
struct ev_loop *fsb_ctl_loop(void);
void fsb_ctl_lock(void);
void fsb_ctl_unlock(void);
void fsb_ctl_defer(void (*fn)(struct fsb_ctx *ctx));

/* ---- stats.c ---- */
/* Fold a fresh reading of slot @s into its totals (port->lock held). */
void fsb_stats_fold(struct fsb_port *port, struct fsb_slot *s);
/* Fold the final reading before a slot closes. */
void fsb_stats_fold_close(struct fsb_port *port, struct fsb_slot *s);
/* Totals for slot @s (base + last), after a fold. */
void fsb_stats_slot_total(const struct fsb_slot *s,
			  struct fsb_subdev_stats *out);
unsigned fsb_xstats_count(const struct fsb_port *port);

/* ---- test knobs (port.c) ---- */
/* Skip QSBR grace waits (to prove the stress test catches it). */
extern _Atomic bool fsb_test_skip_grace;
/* Bound of one grace wait, ns (default 1 s). */
extern _Atomic uint64_t fsb_grace_timeout_ns;

#endif /* FSB_PORT_H */
