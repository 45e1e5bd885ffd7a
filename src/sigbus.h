/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sigbus.h - the process-wide registry of device BAR mappings and the
 * SIGBUS handler that turns a fault on a dead BAR into "gone" (internal).
 *
 * A kind that maps device memory registers each mapping *before* its
 * first access to it (probe included) and unregisters it at close,
 * before it unmaps it.  A fault inside a registered range is answered by
 * replacing the whole range with memory that reads all-ones, telling the
 * owning slot it is gone (reason "sigbus") through its notifier;
 * the faulting load then re-executes and reads 0xFF...  Every other
 * SIGBUS goes to the action that was installed before ours.  See the
 * essay atop sigbus.c.
 *
 * Thread safety: register/unregister/log_pending are thread-safe (one
 * mutex, never taken by the handler).  The handler is lock-free.
 */
#ifndef FSB_SIGBUS_H
#define FSB_SIGBUS_H

#include <stddef.h>
#include <stdint.h>

#include "devsignal.h"

/* Slots in the registry: BARs of all ports together. */
#define FSB_SIGBUS_MAX_RANGES 64

/*
 * Register [@addr, @addr + @len) as a BAR of sub-device @name, whose
 * slot is told through @notify (copied; its fn is called from the
 * signal handler, so it must be async-signal-safe; NULL or fn == NULL:
 * a bare sub-device, remapped but nobody to tell).  @addr must be
 * page-aligned; @len is rounded up to whole pages.  Installs the
 * handler on the first registration.  Returns a handle >= 0, or
 * -EINVAL (unaligned, empty), -EEXIST (overlaps a registered range),
 * -ENOSPC (registry full), or the -errno of sigaction().
 */
int fsb_sigbus_register(void *addr, size_t len,
			const struct fsb_slot_notify *notify, const char *name);

/*
 * Forget handle @h (a no-op for h < 0).  Logs a fault the control loop
 * has not logged yet.  Afterwards the handler no longer looks at the
 * range; the caller then unmaps it (the replacement memory, when the
 * range faulted), once no thread can touch it any more (after the
 * datapath's grace period).  Returns 1 when the range had faulted, 0
 * when not, -EINVAL for a bad handle.
 */
int fsb_sigbus_unregister(int h);

/*
 * Put all-ones memory over handle @h's range now, as a fault would, but
 * without one: the owner learned by other means that the device is gone
 * (a re-plugged device may get the same bus address, and our mapping
 * must not reach it).  Nobody is told; nothing is logged.  0; 1 when a
 * fault had replaced it already; -EINVAL (bad handle); -errno (the
 * replacement failed: accesses may fault, and are handled as faults).
 */
int fsb_sigbus_revoke(int h);

/* Control thread, once per loop turn: log every fault not logged yet,
 * one line each.  Cheap (one atomic exchange) when there is none. */
void fsb_sigbus_log_pending(void);

/* Counters since the process started (tests, diagnostics). */
struct fsb_sigbus_stats {
	uint64_t remapped;      /* faults that replaced a range */
	uint64_t waited;        /* faults that found a remap in progress */
	uint64_t stale;         /* faults on a range already remapped */
	uint64_t chained;       /* faults passed to the previous action */
	uint64_t last_fault_ns; /* CLOCK_MONOTONIC of the last remap */
	uintptr_t last_fault_addr;
};
void fsb_sigbus_stats_get(struct fsb_sigbus_stats *st);

/* Tests: take the action installed now as the previous one and put ours
 * back on top (the chaining tests install a new previous action each).
 * 0 or -errno. */
int fsb_sigbus_test_reinstall(void);

#endif /* FSB_SIGBUS_H */
