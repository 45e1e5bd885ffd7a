/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * loop.c - the process's libev loop, its lock, its wake-up and its
 * deferred work.
 *
 * The library does not own the application's main loop, so it runs a
 * private libev loop (ev_loop_new, never the default loop, which
 * belongs to the application and to SIGCHLD) on its control thread.
 * Every other thread, and signal handlers, reach it only through
 * ev_async_send(), which is async-signal-safe and coalesces: it is a
 * wake-up, never a carrier of data.  What to do is read from atomics
 * (a port's sync_pending, a BAR's fault record) once awake.
 *
 * The lock is libev's documented pattern for a loop shared by threads:
 * ev_set_loop_release_cb() drops it while the loop waits in epoll and
 * takes it back before callbacks run.  EVFLAG_NOSIGMASK keeps libev
 * away from the application's signal mask.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <pthread.h>

#include "fsb_private.h"
#include "loop.h"

static struct {
	struct ev_loop *loop;
	pthread_mutex_t mx;
	ev_async wake;
	ev_timer timer;
	bool woken;                     /* loop lock */
	struct fsb_work *work;          /* loop lock: queued, LIFO */
	_Atomic bool open;
} lp = { .mx = PTHREAD_MUTEX_INITIALIZER };

static void loop_release(struct ev_loop *loop)
{
	(void)loop;
	pthread_mutex_unlock(&lp.mx);
}

static void loop_acquire(struct ev_loop *loop)
{
	(void)loop;
	pthread_mutex_lock(&lp.mx);
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	lp.woken = true;
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	lp.woken = true;
}

int fsb_loop_open(void)
{
	lp.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!lp.loop)
		return -ENOMEM;
	lp.woken = false;
	lp.work = NULL;
	ev_async_init(&lp.wake, on_wake);
	ev_async_start(lp.loop, &lp.wake);
	ev_init(&lp.timer, on_timer);
	ev_set_loop_release_cb(lp.loop, loop_release, loop_acquire);
	atomic_store_explicit(&lp.open, true, memory_order_release);
	return 0;
}

void fsb_loop_close(void)
{
	if (!atomic_exchange(&lp.open, false))
		return;
	ev_loop_destroy(lp.loop);
	lp.loop = NULL;
}

struct ev_loop *fsb_loop(void)
{
	return atomic_load_explicit(&lp.open, memory_order_acquire) ?
		lp.loop : NULL;
}

void fsb_loop_lock(void)
{
	pthread_mutex_lock(&lp.mx);
}

void fsb_loop_unlock(void)
{
	pthread_mutex_unlock(&lp.mx);
}

void fsb_loop_wake(void)
{
	if (atomic_load_explicit(&lp.open, memory_order_acquire))
		ev_async_send(lp.loop, &lp.wake);
}

void fsb_loop_defer(struct fsb_work *w)
{
	if (w->queued)
		return;
	w->queued = true;
	w->next = lp.work;
	lp.work = w;
}

bool fsb_loop_turn(void)
{
	pthread_mutex_lock(&lp.mx);
	ev_run(lp.loop, EVRUN_ONCE);
	struct fsb_work *w = lp.work;
	lp.work = NULL;
	bool woken = lp.woken;
	lp.woken = false;
	/* Unqueue before running, so a callback in the next turn may queue
	 * the same work again while this turn's run is going on. */
	struct fsb_work *run = NULL;
	while (w) {
		struct fsb_work *next = w->next;
		w->queued = false;
		w->next = run;          /* reverse: run in queuing order */
		run = w;
		w = next;
	}
	pthread_mutex_unlock(&lp.mx);
	bool any = run != NULL;
	while (run) {
		struct fsb_work *next = run->next;
		run->fn(run->arg);
		run = next;
	}
	return woken || any;
}

void fsb_loop_timer_set(uint64_t deadline_ns)
{
	pthread_mutex_lock(&lp.mx);
	ev_timer_stop(lp.loop, &lp.timer);
	if (deadline_ns) {
		uint64_t now = fsb_now_ns();
		double after = deadline_ns > now ?
			(double)(deadline_ns - now) / 1e9 : 0.0;
		/* a little late rather than early: the pass that follows
		 * must find the deadline passed */
		ev_timer_set(&lp.timer, after + 0.0002, 0.0);
		ev_timer_start(lp.loop, &lp.timer);
	}
	pthread_mutex_unlock(&lp.mx);
}
