/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl.c - the control thread: one libev loop per process.
 *
 * The library does not own the application's main loop, so it runs its
 * own thread with a private libev loop (ev_loop_new, never the default
 * loop, which belongs to the application and to SIGCHLD).  Every other
 * thread, and signal handlers, reach it only through ev_async_send(),
 * which is async-signal-safe and coalesces: it is a wake-up, never a
 * carrier of data.  What to do is read from the ports' own atomics
 * (sync_pending, hold_deadline_ns) once awake.
 *
 * One timer serves every port: after each pass it is set to the
 * earliest hold-down deadline, so a returning sub-device gets TX back
 * within a millisecond or so of its hold-down, with no polling.
 *
 * The loop also reads the rtnetlink and uevent monitors' sockets
 * (netlink.c, uevent.c), and after each turn logs BAR faults the SIGBUS
 * handler recorded (sigbus.c), since a signal handler may not log.
 *
 * The loop holds ctx->lock while it syncs ports, so fsb_port_close(),
 * which unpublishes the port under the same lock, knows the loop is
 * done with it when it gets the lock.
 *
 * Other threads add and remove watchers (a vhost-user session socket, a
 * VFIO request eventfd, a reconnect timer) while the loop runs, so the
 * loop has a lock of its own, the libev way: ev_set_loop_release_cb()
 * drops it while the loop sleeps in epoll, and a thread that holds it
 * may start or stop watchers, then ev_async_send() so the loop picks
 * the change up.  Lock order: ctx->lock, then port->lock, then the loop
 * lock, never the other way.  That is why libev callbacks run with the
 * loop lock held and must not take ctx->lock or a port lock: they only
 * read their fd and set marks (fsb_port_mark is lock-free), or defer
 * work that needs the port locks with fsb_ctl_defer().  Deferred work
 * and the sync pass run after each loop iteration with the loop lock
 * released.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "netlink.h"
#include "sigbus.h"
#include "port.h"
#include "uevent.h"

#define CTL_DEFER_MAX 8

static struct {
	struct ev_loop *loop;
	pthread_mutex_t mx;             /* the loop lock (recursive) */
	ev_async wake;
	ev_timer timer;
	pthread_t thread;
	_Atomic bool running;
	_Atomic bool stopping;
	bool pass_wanted;               /* loop thread only */
	unsigned ndefer;                /* loop thread only */
	void (*defer[CTL_DEFER_MAX])(struct fsb_ctx *);
	struct fsb_ctx *ctx;
} ctl;

struct ev_loop *fsb_ctl_loop(void)
{
	return ctl.loop;
}

void fsb_ctl_lock(void)
{
	pthread_mutex_lock(&ctl.mx);
}

void fsb_ctl_unlock(void)
{
	pthread_mutex_unlock(&ctl.mx);
}

void fsb_ctl_defer(void (*fn)(struct fsb_ctx *ctx))
{
	for (unsigned i = 0; i < ctl.ndefer; i++)
		if (ctl.defer[i] == fn)
			return;
	/* A fixed few OS sources defer work; more is a programming error. */
	if (ctl.ndefer < CTL_DEFER_MAX)
		ctl.defer[ctl.ndefer++] = fn;
}

static void loop_release(struct ev_loop *loop)
{
	(void)loop;
	pthread_mutex_unlock(&ctl.mx);
}

static void loop_acquire(struct ev_loop *loop)
{
	(void)loop;
	pthread_mutex_lock(&ctl.mx);
}

void fsb_ctl_wake(void)
{
	if (atomic_load_explicit(&ctl.running, memory_order_acquire))
		ev_async_send(ctl.loop, &ctl.wake);
}

/* Run sync on every port that asked for it or whose deadline passed;
 * then re-arm the timer for the earliest deadline left.  Loop lock not
 * held. */
static void ctl_pass(struct ev_loop *loop)
{
	struct fsb_ctx *ctx = ctl.ctx;
	uint64_t next = UINT64_MAX;

	pthread_mutex_lock(&ctx->lock);
	for (unsigned i = 0; i < FSB_MAX_PORTS; i++) {
		struct fsb_port *port = ctx->ports[i];
		if (!port)
			continue;
		uint64_t dl = atomic_load(&port->hold_deadline_ns);
		bool due = dl && fsb_now_ns() >= dl;
		if (atomic_exchange(&port->sync_pending, false) || due)
			fsb_port_sync(port);
		dl = atomic_load(&port->hold_deadline_ns);
		if (dl && dl < next)
			next = dl;
	}
	pthread_mutex_unlock(&ctx->lock);

	pthread_mutex_lock(&ctl.mx);
	ev_timer_stop(loop, &ctl.timer);
	if (next != UINT64_MAX) {
		uint64_t now = fsb_now_ns();
		double after = next > now ? (double)(next - now) / 1e9 : 0.0;
		ev_timer_set(&ctl.timer, after + 0.0002, 0.0);
		ev_timer_start(loop, &ctl.timer);
	}
	pthread_mutex_unlock(&ctl.mx);
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	(void)loop;
	ctl.pass_wanted = true;
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	ctl.pass_wanted = true;
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
	pthread_mutex_lock(&ctl.mx);
	while (!atomic_load(&ctl.stopping)) {
		ev_run(ctl.loop, EVRUN_ONCE);
		unsigned n = ctl.ndefer;
		void (*defer[CTL_DEFER_MAX])(struct fsb_ctx *);
		memcpy(defer, ctl.defer, sizeof(defer));
		ctl.ndefer = 0;
		bool pass = ctl.pass_wanted;
		ctl.pass_wanted = false;
		pthread_mutex_unlock(&ctl.mx);
		/* before the pass, which may close (and unregister) the BAR */
		fsb_sigbus_log_pending();
		for (unsigned i = 0; i < n; i++)
			defer[i](ctl.ctx);
		/* Deferred work may have set marks: sync in the same turn. */
		if (pass || n)
			ctl_pass(ctl.loop);
		pthread_mutex_lock(&ctl.mx);
	}
	pthread_mutex_unlock(&ctl.mx);
	return NULL;
}

int fsb_ctl_start(struct fsb_ctx *ctx)
{
	memset(&ctl, 0, sizeof(ctl));
	ctl.ctx = ctx;
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&ctl.mx, &ma);
	pthread_mutexattr_destroy(&ma);
	/* EVFLAG_NOSIGMASK: libev must not touch the app's signal mask. */
	ctl.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!ctl.loop)
		return -ENOMEM;
	ev_async_init(&ctl.wake, on_wake);
	ev_async_start(ctl.loop, &ctl.wake);
	ev_init(&ctl.timer, on_timer);
	ev_set_loop_release_cb(ctl.loop, loop_release, loop_acquire);
	atomic_store(&ctl.stopping, false);
	/* Kernel netdev events (af_packet VFs).  Without the socket the
	 * library still works, but only admin and sub-device-raised signals
	 * move traffic: say so. */
	int nrc = fsb_netlink_start(ctx, ctl.loop);
	if (nrc < 0)
		fsb_log(FSB_LOG_WARNING, "rtnetlink monitor unavailable: %s",
			strerror(-nrc));
	/* Device add/remove (PCI functions, netdevs): the same kind of
	 * signal, the same degraded mode without it. */
	int urc = fsb_uevent_start(ctx, ctl.loop);
	if (urc < 0)
		fsb_log(FSB_LOG_WARNING, "uevent monitor unavailable: %s",
			strerror(-urc));
	int rc = pthread_create(&ctl.thread, NULL, ctl_main, NULL);
	if (rc) {
		fsb_netlink_stop(ctl.loop);
		fsb_uevent_stop(ctl.loop);
		ev_loop_destroy(ctl.loop);
		ctl.loop = NULL;
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
	ev_async_send(ctl.loop, &ctl.wake);
	pthread_join(ctl.thread, NULL);
	atomic_store(&ctl.running, false);
	fsb_netlink_stop(ctl.loop);
	fsb_uevent_stop(ctl.loop);
	ev_loop_destroy(ctl.loop);
	ctl.loop = NULL;
	pthread_mutex_destroy(&ctl.mx);
}
