/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl.c - the control thread: it turns the loop and syncs the ports.
 *
 * One thread per process runs the loop (loop.c).  At start it opens the
 * system-wide sources, rtnetlink (netlink.c) and kobject uevents
 * (uevent.c), with the router (route.c) as their sink.  Each turn then:
 *
 *   1. runs the loop once: watchers read their fds and only set marks
 *      or queue work (the sources' drains);
 *   2. logs the BAR faults the SIGBUS handler recorded (a signal
 *      handler may not log), before the pass that may unmap the BAR,
 *      and the datapath's notes (a burst does not log either);
 *   3. runs the queued work: the drains hand their signals to the
 *      router, which marks slots;
 *   4. syncs every port with marks pending or a deadline passed, all
 *      under ctx->lock, so fsb_port_close(), which unpublishes the port
 *      under the same lock, knows the thread is done with it;
 *   5. sets the loop's timer for the earliest deadline left (hold-down
 *      expiry, a close to retry, a kind's next look at its device, the
 *      announcer's next round or fallback):
 *      a returning sub-device gets TX back within a millisecond or so
 *      of its hold-down, with no polling.  The one kind that polls is
 *      virtio_pci (its device_status every 10 ms: a UIO device's
 *      removal is told by nobody in time), through the ops' watch,
 *      called just before the port's sync.
 *
 * So one removal runs one way: the source's socket (loop) -> its drain
 * (netlink.c) -> the router (route.c: which slot; mark) -> the sync
 * routine (sync.c: TX moves, publish), each called by the one before
 * or by this loop, none calling back.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "announce.h"
#include "loop.h"
#include "netlink.h"
#include "port.h"
#include "route.h"
#include "sigbus.h"
#include "uevent.h"

static struct {
	pthread_t thread;
	_Atomic bool running;
	_Atomic bool stopping;
	_Atomic uint64_t next_due;      /* the ports' earliest deadline */
	struct fsb_ctx *ctx;
} ctl;

/* Sync every port that asked for it or whose deadline passed; returns
 * the earliest deadline left (0 = none). */
static uint64_t ctl_pass(struct fsb_ctx *ctx)
{
	uint64_t next = UINT64_MAX;

	pthread_mutex_lock(&ctx->lock);
	for (unsigned i = 0; i < FSB_MAX_PORTS; i++) {
		struct fsb_port *port = ctx->ports[i];
		if (!port)
			continue;
		/* the kinds' looks at their devices first: what they mark
		 * is synced in this same pass */
		fsb_port_watch(port, fsb_now_ns());
		uint64_t dl = atomic_load(&port->hold_deadline_ns);
		bool due = dl && fsb_now_ns() >= dl;
		if (atomic_exchange(&port->sync_pending, false) || due)
			fsb_port_sync(port);
		/* and after: a sub-device this sync (or the app) just
		 * started gets its first look and its next one now */
		uint64_t wd = fsb_port_watch(port, fsb_now_ns());
		if (wd && wd < next)
			next = wd;
		/* the announcer: its rounds, its 10 ms fallback, the
		 * devices' requests (migration/announce.h) */
		uint64_t ad = fsb_announce_poll(port, fsb_now_ns());
		if (ad && ad < next)
			next = ad;
		dl = atomic_load(&port->hold_deadline_ns);
		if (dl && dl < next)
			next = dl;
	}
	pthread_mutex_unlock(&ctx->lock);
	return next == UINT64_MAX ? 0 : next;
}

static void *ctl_main(void *arg)
{
	(void)arg;
	/* Signals are for the application's threads, not ours. */
	sigset_t all;
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGSEGV);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load(&ctl.stopping)) {
		/* the loop, then its deferred work (the sources' drains) */
		bool pass = fsb_loop_turn();
		fsb_sigbus_log_pending();
		/* the datapath's notes, formatted here (fsb_private.h) */
		uint64_t note_due = fsb_dp_notes_report();
		if (pass || note_due) {
			uint64_t due = pass ? ctl_pass(ctl.ctx) :
				atomic_load(&ctl.next_due);
			atomic_store(&ctl.next_due, due);
			if (note_due && (!due || note_due < due))
				due = note_due;
			fsb_loop_timer_set(due);
		}
	}
	return NULL;
}

int fsb_ctl_start(struct fsb_ctx *ctx)
{
	ctl.ctx = ctx;
	atomic_store(&ctl.stopping, false);
	int rc = fsb_loop_open();
	if (rc < 0)
		return rc;
	fsb_dp_notes_set_wake(fsb_loop_wake);
	/* Kernel netdev events (af_packet VFs).  Without the socket the
	 * library still works, but only admin and sub-device-raised signals
	 * move traffic: say so. */
	int nrc = fsb_netlink_start(fsb_route_signal, ctx);
	if (nrc < 0)
		fsb_log(FSB_LOG_WARNING, "rtnetlink monitor unavailable: %s",
			strerror(-nrc));
	/* Device add/remove (PCI functions, netdevs): the same kind of
	 * signal, the same degraded mode without it. */
	int urc = fsb_uevent_start(fsb_route_signal, ctx);
	if (urc < 0)
		fsb_log(FSB_LOG_WARNING, "uevent monitor unavailable: %s",
			strerror(-urc));
	rc = pthread_create(&ctl.thread, NULL, ctl_main, NULL);
	if (rc) {
		fsb_netlink_stop();
		fsb_uevent_stop();
		fsb_loop_close();
		return -rc;
	}
	atomic_store_explicit(&ctl.running, true, memory_order_release);
	return 0;
}

void fsb_ctl_stop(struct fsb_ctx *ctx)
{
	(void)ctx;
	if (!atomic_load(&ctl.running))
		return;
	atomic_store(&ctl.stopping, true);
	fsb_loop_wake();
	pthread_join(ctl.thread, NULL);
	atomic_store(&ctl.running, false);
	fsb_dp_notes_set_wake(NULL);
	fsb_dp_notes_report();          /* what the datapath said last */
	fsb_netlink_stop();
	fsb_uevent_stop();
	fsb_loop_close();
}
