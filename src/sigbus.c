/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sigbus.c - a dead device's BAR faults: turn SIGBUS into "gone".
 *
 * What the kernel does.  A sub-device that drives hardware from user
 * space (virtio_pci over VFIO or UIO) maps the device's BARs and reads
 * and writes them with plain loads and stores.  When the device goes
 * away under us (surprise removal, a VF yanked during migration, the
 * VFIO device released after a request), the mapping stays in our
 * address space but its pages are zapped; the next access faults, the
 * fault handler of the mapping (vfio-pci's mmap fault, or the
 * filesystem's for a file mapping) finds nothing to map and returns
 * VM_FAULT_SIGBUS, and the kernel sends SIGBUS to the faulting thread
 * with si_code BUS_ADRERR and si_addr the faulting address.  A shared
 * mapping of a file that was truncated below the access behaves the
 * same way, which is how the tests (and the ring kind's bar=1) make a
 * BAR die for real: a memfd mapped MAP_SHARED, then ftruncate(fd, 0).
 *
 * The signal is synchronous: it is delivered to the thread that made
 * the access, in the middle of the access, and when the handler returns
 * the instruction runs again.  A fault the kernel forces this way
 * ignores SIG_IGN and a blocked mask: Linux resets the action to
 * SIG_DFL and kills the process (measured: a child with SIGBUS ignored
 * that reads a truncated memfd dies of SIGBUS; a SIGBUS sent with
 * kill() to the same child is ignored).  The default kills the datapath
 * and everything with it, which is what we are here to avoid.
 *
 * What we do.  Kinds register each BAR mapping (address, length, owner)
 * here before they first touch it (probe included) and unregister it at
 * close.  On a fault inside a registered range the handler:
 *   1. tells the owning sub-device's slot it is gone (reason "sigbus")
 *      through the notifier the port installed, which is atomics plus
 *      an eventfd write to wake the control loop;
 *   2. replaces the whole range with private memory that reads all-ones,
 *      what PCIe gives for a read to a device that is not there, so the
 *      driver's own checks (a status register reading 0xffffffff) see
 *      a dead device rather than zeroes;
 *   3. returns, and the access re-executes on the new memory.
 * The mark comes first: another thread (the control thread's look at
 * the device) that reads the all-ones memory then finds the slot marked
 * already, and what it says counts as a dup_signal, not as the cause.
 * The control thread then does the real work (TX moves, the sub-device
 * closes after a grace period, which unmaps the range) and logs the
 * fault, once, with time and address recorded here by the handler.
 * Writes to the replaced range land in the private memory and are lost,
 * as they would be on the bus; a later read of a written word returns
 * what was written, not all-ones, which does not matter for a device
 * that is gone.
 *
 * Why mremap and not MAP_FIXED.  mmap(MAP_FIXED|MAP_ANONYMOUS) over the
 * range makes zero pages visible at once; they read 0, not all-ones,
 * until the fill is done, and a second thread faulting at the same time
 * that does its own MAP_FIXED wipes the first one's fill.  Instead the
 * handler fills a scratch mapping elsewhere and moves it over the range
 * with mremap(MREMAP_MAYMOVE|MREMAP_FIXED): the pages appear already
 * filled, in one step under the kernel's mmap lock.  Each range has a
 * CAS-guarded state (armed -> remapping -> remapped), so exactly one
 * thread remaps it; another thread faulting on it meanwhile sees
 * "remapping", waits (bounded: spin, then short sleeps) for "remapped",
 * and returns to re-execute.  A thread that faulted on the old pages
 * but got here after the remap was published just returns.
 *
 * Async-signal-safe only.  The handler runs on whatever thread touched
 * the BAR, at any instruction, possibly inside malloc or with a lock of
 * ours held, so it takes no lock, allocates nothing and logs nothing.
 * It reads the registry, a static array of slots whose fields are all
 * atomics, with a sequence check (each slot's state word carries a
 * generation, bumped on every register and unregister), so a slot being
 * reused while the handler reads it is never mistaken for a match and
 * nothing it reads is ever freed.  It calls only raw system calls (mmap,
 * mremap, munmap through syscall(2), clock_gettime, nanosleep,
 * sigaction, raise) and lock-free atomics, and saves and restores errno.
 *
 * Everything else is chained to the action that was installed before
 * ours, as the kernel would have run it: an SA_SIGINFO handler gets
 * (sig, info, context), a plain one gets sig, both with their sa_mask
 * (and SA_NODEFER, SA_RESETHAND) honoured.  SIG_DFL: restore SIG_DFL,
 * then either return (a fault re-executes and now kills the process at
 * the real instruction, core dump included) or raise() a signal that
 * was sent (it is delivered when the handler returns).  SIG_IGN is
 * respected the way the kernel respects it: a sent SIGBUS is ignored,
 * a fault is handled as SIG_DFL (Linux would not let it be ignored, and
 * ignoring it would re-execute the access forever).  Only faults that
 * re-execute count as ours: si_code BUS_ADRERR, BUS_OBJERR and
 * BUS_MCEERR_AR; a sent signal (si_code <= 0) or an asynchronous memory
 * error report (BUS_MCEERR_AO) is never taken for a dead BAR.
 *
 * The handler is installed at the first registration and stays for the
 * process's life: taking it out could race with a fault in progress,
 * and with a library that installed its own after ours and chains to
 * us.  An application that installs a SIGBUS handler after opening a
 * port with a BAR must chain to the previous action, as we do.
 *
 * ASan installs its own SIGBUS handler (handle_sigbus=1, the default).
 * Ours replaces it and chains to it, so ASan still reports a SIGBUS that
 * is not ours; our tests run with ASAN_OPTIONS=handle_sigbus=0 and also
 * install their own previous action first.  The handler's memory work
 * uses raw system calls, not the sanitizers' mmap interceptors, and the
 * fill is not instrumented: the scratch memory is ours alone.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fsb_private.h"
#include "loop.h"
#include "sigbus.h"

/* The state of a slot, in the low bits of its word; the generation is
 * the rest.  Only the handler moves ARMED -> REMAPPING -> REMAPPED; only
 * (un)register, under reg_lock, moves a slot in and out of FREE/SETUP. */
enum {
	BAR_FREE = 0,
	BAR_SETUP,
	BAR_ARMED,
	BAR_REMAPPING,
	BAR_REMAPPED,
};
#define BAR_STATE_BITS 3
#define BAR_STATE_MASK ((1ull << BAR_STATE_BITS) - 1)
#define BAR_GEN_ONE (1ull << BAR_STATE_BITS)

/* A thread waiting for another one's remap gives up after this long and
 * re-executes (it will fault and wait again): a remap is a few system
 * calls, so only a descheduled remapper takes this long. */
#define WAIT_REMAP_NS 2000000000ull
/* Faults on a range already remapped: a few are races (a thread faulted
 * on the old pages); endless ones mean the replacement itself faults,
 * and such a fault is chained rather than re-executed forever. */
#define STALE_MAX 100000u

struct bar {
	_Atomic uint64_t word;          /* generation << 3 | state */
	_Atomic uintptr_t base;
	_Atomic size_t len;
	/* the owner's notifier (devsignal.h); fn 0 = a bare sub-device */
	_Atomic uintptr_t notify_fn;
	_Atomic uintptr_t notify_arg;
	_Atomic uintptr_t fault_addr;
	_Atomic uint64_t fault_ns;
	_Atomic int remap_err;          /* 0, or the errno of a failed remap */
	_Atomic uint32_t stale;
	/* control side only, under reg_lock */
	bool logged;
	char name[FSB_NAME_MAX + 8];
};

static struct bar bars[FSB_SIGBUS_MAX_RANGES];
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static bool installed;                  /* under reg_lock */

/* The action before ours: written before ours is installed, read by the
 * handler after an acquire of prev_valid. */
static struct sigaction prev;
static _Atomic bool prev_valid;
static _Atomic bool prev_reset;         /* SA_RESETHAND already consumed */

static _Atomic bool log_pending;
static struct {
	_Atomic uint64_t remapped, waited, stale, chained;
	_Atomic uint64_t last_fault_ns;
	_Atomic uintptr_t last_fault_addr;
} stats;

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_POINTER_LOCK_FREE == 2,
	       "the handler needs lock-free 64-bit atomics");

/* ------------------------------------------------------------------ */
/* The handler (async-signal-safe from here to the handler's end)      */
/* ------------------------------------------------------------------ */

static void *raw_mmap(void *addr, size_t len, int prot, int flags)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, -1, 0);
}

static void *raw_mremap(void *old, size_t len, void *to)
{
	return (void *)syscall(SYS_mremap, old, len, len,
			       MREMAP_MAYMOVE | MREMAP_FIXED, to);
}

static void raw_munmap(void *addr, size_t len)
{
	syscall(SYS_munmap, addr, len);
}

static uint64_t sig_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* All-ones into fresh private memory nobody else can see yet.  Volatile
 * stores, so the compiler does not turn this into a call to an
 * (intercepted) memset. */
__attribute__((no_sanitize("address", "thread")))
static void fill_ones(void *p, size_t len)
{
	volatile uint64_t *w = p;
	for (size_t i = 0; i < len / sizeof(*w); i++)
		w[i] = UINT64_MAX;
}

/*
 * Replace [base, base+len) with all-ones memory.  Returns 0 or the
 * errno.  Called by the one thread that won the CAS to REMAPPING.
 */
static int bar_replace(uintptr_t base, size_t len)
{
	void *s = raw_mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS);
	if (s != MAP_FAILED) {
		fill_ones(s, len);
		if (raw_mremap(s, len, (void *)base) == (void *)base)
			return 0;
		raw_munmap(s, len);
	}
	/* No memory for a scratch copy, or mremap refused: fill in place.
	 * Every other thread touching the range is waiting in the handler
	 * (all of its pages fault), so none sees the zeroes. */
	void *m = raw_mmap((void *)base, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
	if (m != (void *)base)
		return errno ? errno : ENOMEM;
	fill_ones(m, len);
	return 0;
}

/* Wait until the remap of generation word @w is published, bounded. */
static void bar_wait(struct bar *b, uint64_t w)
{
	uint64_t deadline = 0;
	for (unsigned spins = 0;; spins++) {
		if (atomic_load_explicit(&b->word, memory_order_acquire) != w)
			return;
		if (spins < 256) {
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
			continue;
		}
		uint64_t now = sig_now_ns();
		if (!deadline)
			deadline = now + WAIT_REMAP_NS;
		else if (now > deadline)
			return;
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, NULL);
	}
}

/* We won the range: replace it, publish, record, mark, wake. */
static void bar_remap(struct bar *b, uint64_t w, uintptr_t base, size_t len,
		      uintptr_t addr)
{
	uint64_t t = sig_now_ns();
	/* the mark before the all-ones memory (see above) */
	typedef void (*notify_fn)(void *, enum fsb_devsig_what, enum fsb_reason);
	struct fsb_slot_notify n = {
		.fn = (notify_fn)atomic_load_explicit(&b->notify_fn,
						      memory_order_relaxed),
		.arg = (void *)atomic_load_explicit(&b->notify_arg,
						    memory_order_relaxed),
	};
	if (n.fn)
		fsb_slot_notify_call(&n, FSB_DEVSIG_GONE, FSB_REASON_SIGBUS);
	int err = bar_replace(base, len);
	atomic_store_explicit(&b->fault_addr, addr, memory_order_relaxed);
	atomic_store_explicit(&b->fault_ns, t, memory_order_relaxed);
	atomic_store_explicit(&b->remap_err, err, memory_order_relaxed);
	atomic_store_explicit(&b->word, (w & ~BAR_STATE_MASK) | BAR_REMAPPED,
			      memory_order_release);
	atomic_store_explicit(&stats.last_fault_addr, addr, memory_order_relaxed);
	atomic_store_explicit(&stats.last_fault_ns, t, memory_order_release);
	atomic_fetch_add_explicit(&stats.remapped, 1, memory_order_relaxed);
	atomic_store_explicit(&log_pending, true, memory_order_release);
	/* The owner's notifier is async-signal-safe by contract (atomics
	 * and the loop's eventfd).  A bare sub-device has none, but the
	 * loop still logs the fault: wake it now that it is recorded. */
	fsb_loop_wake();
}

/*
 * A fault at @addr: ours?  Returns true when the access may re-execute
 * (the range is, or is being, replaced), false when the fault is not in
 * a registered range (or its replacement keeps faulting).
 */
static bool bar_fault(uintptr_t addr)
{
	for (unsigned i = 0; i < FSB_SIGBUS_MAX_RANGES; i++) {
		struct bar *b = &bars[i];
		for (unsigned tries = 0; tries < 1000; tries++) {
			uint64_t w = atomic_load_explicit(&b->word,
							  memory_order_acquire);
			unsigned st = (unsigned)(w & BAR_STATE_MASK);
			if (st < BAR_ARMED)
				break;
			uintptr_t base = atomic_load_explicit(&b->base,
							      memory_order_acquire);
			size_t len = atomic_load_explicit(&b->len,
							  memory_order_acquire);
			/* Sequence check: base/len belong to generation w. */
			if (atomic_load_explicit(&b->word, memory_order_acquire) != w)
				continue;
			if (addr - base >= len)
				break;
			if (st == BAR_ARMED) {
				uint64_t busy = (w & ~BAR_STATE_MASK) | BAR_REMAPPING;
				if (!atomic_compare_exchange_strong_explicit(
					    &b->word, &w, busy,
					    memory_order_acq_rel,
					    memory_order_acquire))
					continue;       /* lost: look again */
				bar_remap(b, busy, base, len, addr);
				return true;
			}
			if (st == BAR_REMAPPING) {
				atomic_fetch_add_explicit(&stats.waited, 1,
							  memory_order_relaxed);
				bar_wait(b, w);
				return true;
			}
			/* BAR_REMAPPED: we faulted on the old pages */
			atomic_fetch_add_explicit(&stats.stale, 1,
						  memory_order_relaxed);
			return atomic_fetch_add_explicit(&b->stale, 1,
				memory_order_relaxed) < STALE_MAX;
		}
	}
	return false;
}

/* Faults that re-execute when the handler returns. */
static bool sync_fault(const siginfo_t *si)
{
	switch (si->si_code) {
	case BUS_ADRALN:
	case BUS_ADRERR:
	case BUS_OBJERR:
#ifdef BUS_MCEERR_AR
	case BUS_MCEERR_AR:
#endif
		return true;
	default:
		return false;
	}
}

/* Give the signal to the action that was there before ours. */
static void chain(int sig, siginfo_t *si, void *uc)
{
	atomic_fetch_add_explicit(&stats.chained, 1, memory_order_relaxed);
	bool fault = si && sync_fault(si);
	void (*h)(int) = SIG_DFL;
	int flags = 0;
	if (atomic_load_explicit(&prev_valid, memory_order_acquire)) {
		h = prev.sa_handler;
		flags = prev.sa_flags;
		if ((flags & SA_RESETHAND) &&
		    atomic_exchange_explicit(&prev_reset, true,
					     memory_order_relaxed))
			h = SIG_DFL, flags = 0;
	}
	/* sa_handler and sa_sigaction share storage: SIG_DFL/SIG_IGN are
	 * dispositions even with SA_SIGINFO set. */
	if (h == SIG_IGN) {
		if (!fault)
			return;         /* a sent SIGBUS: ignored */
		h = SIG_DFL;            /* a fault: the kernel forces it */
	}
	if (h == SIG_DFL) {
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		sigaction(sig, &dfl, NULL);
		if (!fault)
			raise(sig);     /* delivered once we return */
		return;
	}
	/* A handler: run it under its own mask, as the kernel would. */
	sigset_t mask, old;
	mask = prev.sa_mask;
	pthread_sigmask(SIG_BLOCK, &mask, &old);
	if (flags & SA_NODEFER) {
		sigemptyset(&mask);
		sigaddset(&mask, sig);
		pthread_sigmask(SIG_UNBLOCK, &mask, NULL);
	}
	if (flags & SA_SIGINFO)
		prev.sa_sigaction(sig, si, uc);
	else
		h(sig);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	if (!(si && sync_fault(si) && bar_fault((uintptr_t)si->si_addr)))
		chain(sig, si, uc);
	errno = saved;
}

/* ------------------------------------------------------------------ */
/* Registration (control side, under reg_lock)                         */
/* ------------------------------------------------------------------ */

/* Install ours over whatever is there now (reg_lock held). */
static int install_locked(void)
{
	struct sigaction cur, sa;
	if (sigaction(SIGBUS, NULL, &cur) < 0)
		return -errno;
	if (!((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus)) {
		atomic_store_explicit(&prev_valid, false, memory_order_release);
		prev = cur;
		atomic_store(&prev_reset, false);
		atomic_store_explicit(&prev_valid, true, memory_order_release);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	/* SA_ONSTACK: a thread with an alternate stack faults on it */
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | (prev.sa_flags & SA_RESTART);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) < 0)
		return -errno;
	installed = true;
	return 0;
}

int fsb_sigbus_test_reinstall(void)
{
	pthread_mutex_lock(&reg_lock);
	int rc = install_locked();
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

int fsb_sigbus_register(void *addr, size_t len,
			const struct fsb_slot_notify *notify, const char *name)
{
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)addr;
	if (!addr || !len || (a & (uintptr_t)(pg - 1)) ||
	    len > SIZE_MAX - (size_t)pg)
		return -EINVAL;
	len = (len + (size_t)pg - 1) & ~(size_t)(pg - 1);
	if (a + len < a)
		return -EINVAL;

	pthread_mutex_lock(&reg_lock);
	int free_i = -1;
	for (unsigned i = 0; i < FSB_SIGBUS_MAX_RANGES; i++) {
		struct bar *b = &bars[i];
		uint64_t w = atomic_load(&b->word);
		if ((w & BAR_STATE_MASK) == BAR_FREE) {
			if (free_i < 0)
				free_i = (int)i;
			continue;
		}
		uintptr_t ob = atomic_load(&b->base);
		size_t ol = atomic_load(&b->len);
		if (a < ob + ol && ob < a + len) {
			pthread_mutex_unlock(&reg_lock);
			return -EEXIST;
		}
	}
	if (free_i < 0) {
		pthread_mutex_unlock(&reg_lock);
		fsb_log(FSB_LOG_ERR, "sigbus: registry full (%d BARs); %s not "
			"covered", FSB_SIGBUS_MAX_RANGES, name ? name : "?");
		return -ENOSPC;
	}
	if (!installed) {
		int rc = install_locked();
		if (rc < 0) {
			pthread_mutex_unlock(&reg_lock);
			fsb_log(FSB_LOG_ERR, "sigbus: cannot install the "
				"handler: %s", strerror(-rc));
			return rc;
		}
	}
	struct bar *b = &bars[free_i];
	uint64_t gen = (atomic_load(&b->word) & ~BAR_STATE_MASK) + BAR_GEN_ONE;
	atomic_store(&b->word, gen | BAR_SETUP);
	/* release: a handler that reads these sees the SETUP word too */
	atomic_store_explicit(&b->base, a, memory_order_release);
	atomic_store_explicit(&b->len, len, memory_order_release);
	atomic_store_explicit(&b->notify_fn,
			      notify ? (uintptr_t)notify->fn : 0,
			      memory_order_relaxed);
	atomic_store_explicit(&b->notify_arg,
			      notify ? (uintptr_t)notify->arg : 0,
			      memory_order_relaxed);
	atomic_store(&b->fault_addr, 0);
	atomic_store(&b->fault_ns, 0);
	atomic_store(&b->remap_err, 0);
	atomic_store(&b->stale, 0);
	b->logged = false;
	snprintf(b->name, sizeof(b->name), "%s", name ? name : "?");
	atomic_store_explicit(&b->word, gen | BAR_ARMED, memory_order_release);
	pthread_mutex_unlock(&reg_lock);
	return free_i;
}

/* One line per fault (reg_lock held: copies what the log needs). */
struct fault_line {
	char name[FSB_NAME_MAX + 8];
	uintptr_t base, addr;
	size_t len;
	int err;
};

static bool fault_take_locked(struct bar *b, struct fault_line *l)
{
	uint64_t w = atomic_load_explicit(&b->word, memory_order_acquire);
	if ((w & BAR_STATE_MASK) != BAR_REMAPPED || b->logged)
		return false;
	b->logged = true;
	memcpy(l->name, b->name, sizeof(l->name));
	l->base = atomic_load(&b->base);
	l->len = atomic_load(&b->len);
	l->addr = atomic_load(&b->fault_addr);
	l->err = atomic_load(&b->remap_err);
	return true;
}

static void fault_log(const struct fault_line *l)
{
	if (!l->err)
		fsb_log(FSB_LOG_WARNING, "sigbus: BAR of %s at %#lx (len %zu) "
			"faulted at %#lx; remapped to all-ones", l->name,
			(unsigned long)l->base, l->len, (unsigned long)l->addr);
	else
		fsb_log(FSB_LOG_ERR, "sigbus: BAR of %s at %#lx (len %zu) "
			"faulted at %#lx; could not remap it (%s): accesses "
			"will fault again", l->name, (unsigned long)l->base,
			l->len, (unsigned long)l->addr, strerror(l->err));
}

int fsb_sigbus_unregister(int h)
{
	if (h < 0)
		return 0;
	if (h >= FSB_SIGBUS_MAX_RANGES)
		return -EINVAL;
	struct bar *b = &bars[h];
	struct fault_line l;
	pthread_mutex_lock(&reg_lock);
	uint64_t w = atomic_load(&b->word);
	if ((w & BAR_STATE_MASK) < BAR_ARMED) {
		pthread_mutex_unlock(&reg_lock);
		return -EINVAL;
	}
	/* A remap in progress finishes in a few system calls. */
	while ((w & BAR_STATE_MASK) == BAR_REMAPPING) {
		struct timespec ts = { 0, 50000 };
		nanosleep(&ts, NULL);
		w = atomic_load(&b->word);
	}
	bool faulted = (w & BAR_STATE_MASK) == BAR_REMAPPED;
	bool log = fault_take_locked(b, &l);
	/* A new generation: a handler that read the old one sees the
	 * change in its sequence check. */
	atomic_store_explicit(&b->word, (w & ~BAR_STATE_MASK) + BAR_GEN_ONE,
			      memory_order_release);
	pthread_mutex_unlock(&reg_lock);
	if (log)
		fault_log(&l);
	return faulted;
}

int fsb_sigbus_revoke(int h)
{
	if (h < 0 || h >= FSB_SIGBUS_MAX_RANGES)
		return -EINVAL;
	struct bar *b = &bars[h];
	pthread_mutex_lock(&reg_lock);
	uint64_t w = atomic_load(&b->word);
	int rc = -EINVAL;
	if ((w & BAR_STATE_MASK) == BAR_ARMED) {
		uint64_t busy = (w & ~BAR_STATE_MASK) | BAR_REMAPPING;
		if (atomic_compare_exchange_strong(&b->word, &w, busy)) {
			/* as a fault's remap would, minus the fault: a
			 * thread that faults on the old pages meanwhile
			 * waits for it in the handler */
			int err = bar_replace(atomic_load(&b->base),
					      atomic_load(&b->len));
			atomic_store(&b->remap_err, err);
			b->logged = true;       /* no fault to log */
			atomic_store_explicit(&b->word, (busy & ~BAR_STATE_MASK) |
					      BAR_REMAPPED, memory_order_release);
			rc = err ? -err : 0;
		} else {
			w = atomic_load(&b->word);
		}
	}
	if (rc == -EINVAL && (w & BAR_STATE_MASK) >= BAR_REMAPPING)
		rc = 1;                 /* a fault got there first */
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

void fsb_sigbus_log_pending(void)
{
	if (!atomic_load_explicit(&log_pending, memory_order_relaxed) ||
	    !atomic_exchange_explicit(&log_pending, false, memory_order_acq_rel))
		return;
	for (unsigned i = 0; i < FSB_SIGBUS_MAX_RANGES; i++) {
		struct fault_line l;
		pthread_mutex_lock(&reg_lock);
		bool log = fault_take_locked(&bars[i], &l);
		pthread_mutex_unlock(&reg_lock);
		if (log)
			fault_log(&l);
	}
}

void fsb_sigbus_stats_get(struct fsb_sigbus_stats *st)
{
	st->last_fault_ns = atomic_load_explicit(&stats.last_fault_ns,
						 memory_order_acquire);
	st->last_fault_addr = atomic_load(&stats.last_fault_addr);
	st->remapped = atomic_load(&stats.remapped);
	st->waited = atomic_load(&stats.waited);
	st->stale = atomic_load(&stats.stale);
	st->chained = atomic_load(&stats.chained);
}
