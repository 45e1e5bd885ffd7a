/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * loop.h - the process's event loop (loop.c), internal.
 *
 * One private libev loop, run by the control thread (ctl.c).  Sources
 * and kinds watch their fds and run their timers in it; nothing here
 * knows about ports.
 *
 * The loop lock.  Other threads start and stop watchers while the loop
 * runs, so the loop has a lock, the libev way: the loop drops it while
 * it sleeps in epoll, and a thread that holds it may start or stop
 * watchers, then fsb_loop_wake() so the loop sees the change.  Watcher
 * callbacks run with it held.  It is the innermost lock: taken after
 * ctx->lock and any port lock, never before, so a callback must not
 * take those (it would invert the order).  Work that needs them goes to
 * fsb_loop_defer() and runs after the loop turn, lock released.  Not
 * recursive: no path takes it twice.
 */
#ifndef FSB_LOOP_H
#define FSB_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct ev_loop;

/* Create the loop (the control thread's start).  0 or -ENOMEM. */
int fsb_loop_open(void);
/* Destroy it; the thread running it has stopped.  Idempotent. */
void fsb_loop_close(void);

/* The loop, or NULL when there is none (no context). */
struct ev_loop *fsb_loop(void);
void fsb_loop_lock(void);
void fsb_loop_unlock(void);

/* Make the loop turn.  Async-signal-safe (ev_async_send); a no-op
 * without a loop. */
void fsb_loop_wake(void);

/*
 * Deferred work: a source embeds one struct fsb_work per kind of work
 * and queues it from a watcher callback (loop lock held).  Queuing work
 * already queued does nothing, so the queue is bounded by construction:
 * one entry per struct, nothing is ever dropped.
 */
struct fsb_work {
	void (*fn)(void *arg);
	void *arg;
	struct fsb_work *next;          /* loop lock */
	bool queued;                    /* loop lock */
};
void fsb_loop_defer(struct fsb_work *w);

/*
 * The control thread: run one loop iteration (blocking until something
 * happens), then run the deferred work with the loop lock released.
 * Returns true when the loop was woken or its timer fired (the caller
 * then runs its pass), or work ran.
 */
bool fsb_loop_turn(void);

/* Control thread: make the loop wake at @deadline_ns (CLOCK_MONOTONIC;
 * 0 = no timer).  Loop lock not held. */
void fsb_loop_timer_set(uint64_t deadline_ns);

#endif /* FSB_LOOP_H */
