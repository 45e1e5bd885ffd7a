/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_sigbus.c - the BAR registry and its SIGBUS handler, with real
 * signals: BARs are memfd pages mapped shared, killed by truncating the
 * memfd, so every read of them takes a real SIGBUS (BUS_ADRERR) from
 * the kernel.
 *
 *   - a registered range reads all-ones after the fault, its owner is
 *     marked gone (reason sigbus) and the fault is logged once;
 *   - end to end: a ring sub-device with bar=1 dies under traffic sent
 *     by a datapath thread; the port fails over to the standby; every
 *     frame is accounted for at the ring peers (outside the port);
 *   - faults elsewhere, and sent signals, go to the previous action:
 *     SA_SIGINFO, plain, SIG_DFL (the process dies of SIGBUS), SIG_IGN
 *     (as Linux does: a sent one is ignored, a fault kills);
 *   - a storm of faults on several ranges from two threads at once;
 *   - errno survives the handler.
 *
 * The test installs SIG_DFL as the previous action before anything
 * registers, so ASan's own SIGBUS handler (handle_sigbus=1) is not in
 * the chain even when ASAN_OPTIONS does not say handle_sigbus=0.
 * cmocka installs its own SIGBUS handler (with signal()) around every
 * test and restores the one before afterwards, so each test that
 * faults first puts ours back on top (ours(): cmocka's becomes the
 * previous action, and a stray fault fails the test cleanly).
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "sigbus.h"

static size_t pg;

/* ---- a log sink that counts the handler's fault lines ---- */

static struct {
	pthread_mutex_t lock;
	unsigned faults;                /* "sigbus: BAR of ..." lines */
	char last[512];
} lg = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void log_sink(void *arg, enum fsb_log_level level, const char *msg)
{
	(void)arg;
	pthread_mutex_lock(&lg.lock);
	if (strncmp(msg, "sigbus: BAR of ", 15) == 0) {
		lg.faults++;
		snprintf(lg.last, sizeof(lg.last), "%s", msg);
	} else if (level <= FSB_LOG_WARNING) {
		fprintf(stderr, "fsb: %s\n", msg);
	}
	pthread_mutex_unlock(&lg.lock);
}

static unsigned log_faults(void)
{
	pthread_mutex_lock(&lg.lock);
	unsigned n = lg.faults;
	pthread_mutex_unlock(&lg.lock);
	return n;
}

static int setup(void **state)
{
	t_setup(state);
	struct env *e = *state;
	fsb_ctx_set_log(e->ctx, log_sink, NULL, FSB_LOG_WARNING);
	pthread_mutex_lock(&lg.lock);
	lg.faults = 0;
	lg.last[0] = '\0';
	pthread_mutex_unlock(&lg.lock);
	return 0;
}

/* ---- fake BARs ---- */

struct fbar {
	int fd;
	size_t len;
	volatile uint32_t *p;
};

/* A memfd of @pages pages mapped shared, every word @fill. */
static void fbar_new(struct fbar *b, unsigned pages, uint32_t fill)
{
	b->len = pages * pg;
	b->fd = memfd_create("fsb-test-sigbus", MFD_CLOEXEC);
	assert_true(b->fd >= 0);
	assert_int_equal(ftruncate(b->fd, (off_t)b->len), 0);
	void *m = mmap(NULL, b->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       b->fd, 0);
	assert_true(m != MAP_FAILED);
	b->p = m;
	for (size_t i = 0; i < b->len / 4; i++)
		b->p[i] = fill;
}

/* Kill it: every page now faults. */
static void fbar_kill(struct fbar *b)
{
	assert_int_equal(ftruncate(b->fd, 0), 0);
}

static void fbar_free(struct fbar *b)
{
	munmap((void *)b->p, b->len);
	close(b->fd);
}

/* One read of a BAR word that may fault.  The compiler barriers make
 * errno (and everything else in memory) really be stored before and
 * loaded after the access: a volatile load alone is no barrier, and
 * errno = X; *p; errno == X would be folded to true. */
static uint32_t touch(volatile uint32_t *p)
{
	__asm__ volatile("" ::: "memory");
	uint32_t v = *p;
	__asm__ volatile("" ::: "memory");
	return v;
}

/* ---- previous actions ---- */

static void prev_set(void (*h)(int), void (*sa)(int, siginfo_t *, void *),
		     int flags)
{
	struct sigaction act;
	memset(&act, 0, sizeof(act));
	sigemptyset(&act.sa_mask);
	if (sa) {
		act.sa_sigaction = sa;
		act.sa_flags = SA_SIGINFO | flags;
	} else {
		act.sa_handler = h;
		act.sa_flags = flags;
	}
	assert_int_equal(sigaction(SIGBUS, &act, NULL), 0);
	assert_int_equal(fsb_sigbus_test_reinstall(), 0);
}

/* What the previous handlers saw; they "repair" the dead page (grow the
 * memfd back), so the access that faulted succeeds when re-executed,
 * and they clobber errno, which the handler must restore. */
static volatile sig_atomic_t prev_runs, prev_code;
static void *volatile prev_addr;
static volatile int repair_fd = -1;
static size_t repair_len;

static void prev_siginfo(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig != SIGBUS)
		return;
	prev_runs++;
	prev_code = si->si_code;
	prev_addr = si->si_addr;
	if (repair_fd >= 0)
		(void)!ftruncate(repair_fd, (off_t)repair_len);
	errno = EIO;
}

static void prev_plain(int sig)
{
	if (sig != SIGBUS)
		return;
	prev_runs++;
	if (repair_fd >= 0)
		(void)!ftruncate(repair_fd, (off_t)repair_len);
	errno = EIO;
}

/* Ours on top of whatever cmocka installed for this test. */
static void ours(void)
{
	assert_int_equal(fsb_sigbus_test_reinstall(), 0);
}

static void prev_reset(void)
{
	repair_fd = -1;
	prev_set(SIG_DFL, NULL, 0);
}

/* ------------------------------------------------------------------ */

static void test_register_errors(void **state)
{
	(void)state;
	struct fbar b;
	fbar_new(&b, 2, 0);
	char *p = (char *)b.p;
	assert_int_equal(fsb_sigbus_register(p + 8, 64, NULL, "x"), -EINVAL);
	assert_int_equal(fsb_sigbus_register(p, 0, NULL, "x"), -EINVAL);
	assert_int_equal(fsb_sigbus_register(NULL, pg, NULL, "x"), -EINVAL);
	int h = fsb_sigbus_register(p, 100, NULL, "x");   /* rounded up */
	assert_true(h >= 0);
	assert_int_equal(fsb_sigbus_register(p, pg, NULL, "y"), -EEXIST);
	int h2 = fsb_sigbus_register(p + pg, pg, NULL, "y");
	assert_true(h2 >= 0);
	assert_int_equal(fsb_sigbus_unregister(h), 0);     /* never faulted */
	assert_int_equal(fsb_sigbus_unregister(h), -EINVAL);
	assert_int_equal(fsb_sigbus_unregister(h2), 0);
	assert_int_equal(fsb_sigbus_unregister(-1), 0);
	assert_int_equal(fsb_sigbus_unregister(FSB_SIGBUS_MAX_RANGES), -EINVAL);
	/* the registry fills up, with a clear error, and empties again */
	struct fbar many;
	fbar_new(&many, FSB_SIGBUS_MAX_RANGES + 1, 0);
	int hs[FSB_SIGBUS_MAX_RANGES];
	for (unsigned i = 0; i < FSB_SIGBUS_MAX_RANGES; i++) {
		hs[i] = fsb_sigbus_register((char *)many.p + i * pg, pg, NULL, "m");
		assert_true(hs[i] >= 0);
	}
	fsb_ctx_set_log(((struct env *)*state)->ctx, NULL, NULL, FSB_LOG_ERR - 1);
	assert_int_equal(fsb_sigbus_register((char *)many.p +
					     FSB_SIGBUS_MAX_RANGES * pg, pg, NULL,
					     "m"), -ENOSPC);
	fsb_ctx_set_log(((struct env *)*state)->ctx, log_sink, NULL, FSB_LOG_WARNING);
	for (unsigned i = 0; i < FSB_SIGBUS_MAX_RANGES; i++)
		assert_int_equal(fsb_sigbus_unregister(hs[i]), 0);
	fbar_free(&many);
	fbar_free(&b);
}

/* The event log has TX moving 0 -> 1 for reason sigbus, and the line
 * the application (fsb-fwd's EVENT lines) prints names it. */
static bool sigbus_switch_seen(struct ev_log *l)
{
	bool seen = false;
	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < l->n; i++) {
		const struct fsb_event *ev = &l->ev[i];
		if (ev->type != FSB_EVENT_ACTIVE_CHANGE ||
		    ev->reason != FSB_REASON_SIGBUS || ev->from_slot != 0 ||
		    ev->to_slot != 1)
			continue;
		char line[160];
		fsb_event_format(ev, line, sizeof(line));
		seen = strstr(line, "tx slot 0 -> slot 1 (sigbus)") != NULL;
		if (!seen)
			fprintf(stderr, "event line: %s\n", line);
	}
	pthread_mutex_unlock(&l->lock);
	return seen;
}

/* A registered range: the read faults, the range reads all-ones, the
 * owner slot is marked gone with reason sigbus, TX moves, and the
 * fault is logged once by the control thread. */
static void test_registered(void **state)
{
	struct env *e = *state;
	ours();
	e->log.n = 0;
	struct fsb_port *p = port_up(e->ctx, "sbr,hold_down=0,dev(null),dev(null)",
				     e->mp, &e->log);
	assert_int_equal(active_slot(p), 0);
	struct fbar b;
	fbar_new(&b, 2, 0x5a5a5a5a);
	int h = fsb_sigbus_register((void *)b.p, b.len,
				    &fsb_port_subdev(p, 0)->notify, "sbr.0");
	assert_true(h >= 0);
	assert_int_equal(b.p[pg / 4 + 3], 0x5a5a5a5a);      /* alive */

	struct fsb_sigbus_stats s0, s1;
	fsb_sigbus_stats_get(&s0);
	fbar_kill(&b);
	errno = 4242;
	uint32_t v = touch(&b.p[pg / 4 + 3]);              /* faults */
	assert_int_equal(errno, 4242);
	assert_int_equal(v, 0xffffffffu);
	/* the whole range, not only the faulting page */
	for (size_t i = 0; i < b.len / 4; i++)
		if (b.p[i] != 0xffffffffu)
			fail_msg("word %zu reads %#x after the remap", i, b.p[i]);
	fsb_sigbus_stats_get(&s1);
	assert_int_equal(s1.remapped, s0.remapped + 1);
	assert_int_equal(s1.chained, s0.chained);
	assert_true(s1.last_fault_addr == (uintptr_t)&b.p[pg / 4 + 3]);

	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	struct fsb_slot_info si;
	fsb_port_slot_info(p, 0, &si);
	assert_int_equal(si.last_reason, FSB_REASON_SIGBUS);
	assert_int_equal(xstat(p, "switch_reason_sigbus"), 1);
	assert_true(sigbus_switch_seen(&e->log));

	/* logged once, by the loop, with what the handler recorded */
	assert_true(WAIT_UNTIL(log_faults() == 1, 2000));
	char want[256];
	snprintf(want, sizeof(want), "sigbus: BAR of sbr.0 at %#lx (len %zu) "
		 "faulted at %#lx; remapped to all-ones", (unsigned long)b.p,
		 b.len, (unsigned long)&b.p[pg / 4 + 3]);
	pthread_mutex_lock(&lg.lock);
	assert_string_equal(lg.last, want);
	pthread_mutex_unlock(&lg.lock);
	assert_int_equal(fsb_sigbus_unregister(h), 1);
	t_sleep_ms(20);
	assert_int_equal(log_faults(), 1);
	fbar_free(&b);
	fsb_port_close(p);
}

/* ---- end to end: a ring with bar=1 dies under traffic ---- */

#define E2E_MAX (1u << 21)

static struct {
	struct fsb_port *p;
	struct fsb_mempool *mp;
	struct fsb_bare *pa, *pb;
	_Atomic bool stop_tx, stop_rx;
	_Atomic uint64_t sent;          /* frames offered to tx_burst */
	uint8_t fate[E2E_MAX];          /* 1 a, 2 b, 4 refused */
	_Atomic uint64_t refused, on_a, on_b, dup;
	_Atomic uint64_t first_b_ns;
	uint64_t max_a, min_b;
} x;

static void *e2e_tx(void *arg)
{
	(void)arg;
	struct fsb_buf *b[32];
	uint64_t seq = 0;
	while (!atomic_load(&x.stop_tx) && seq + 32 < E2E_MAX) {
		if (fsb_buf_alloc_bulk(x.mp, b, 32) < 0) {
			t_sleep_ms(1);
			continue;
		}
		for (unsigned i = 0; i < 32; i++) {
			uint64_t s = seq + i;
			memcpy(fsb_buf_data(b[i]), &s, sizeof(s));
			b[i]->data_len = b[i]->pkt_len = 64;
		}
		uint16_t got = fsb_tx_burst(x.p, 0, b, 32);
		for (unsigned i = got; i < 32; i++)
			x.fate[seq + i] |= 4;   /* handed back to us */
		atomic_fetch_add(&x.refused, 32u - got);
		fsb_buf_free_bulk(b + got, 32u - got);
		seq += 32;
		atomic_store(&x.sent, seq);
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, NULL);
	}
	fsb_queue_offline(x.p, 0);
	return NULL;
}

static unsigned e2e_drain(struct fsb_bare *peer, uint8_t tag)
{
	struct fsb_buf *r[64];
	unsigned total = 0;
	uint16_t n;
	while ((n = fsb_bare_rx_burst(peer, 0, r, 64)) > 0) {
		uint64_t now = fsb_now_ns();
		for (unsigned i = 0; i < n; i++) {
			uint64_t s;
			memcpy(&s, fsb_buf_data(r[i]), sizeof(s));
			if (s >= E2E_MAX || x.fate[s] & 3) {
				atomic_fetch_add(&x.dup, 1);
				continue;
			}
			x.fate[s] |= tag;
			if (tag == 1 && s > x.max_a)
				x.max_a = s;
			if (tag == 2 && s < x.min_b)
				x.min_b = s;
		}
		if (tag == 2 && !atomic_load(&x.first_b_ns))
			atomic_store(&x.first_b_ns, now);
		atomic_fetch_add(tag == 1 ? &x.on_a : &x.on_b, n);
		fsb_buf_free_bulk(r, n);
		total += n;
	}
	return total;
}

static void *e2e_rx(void *arg)
{
	(void)arg;
	while (!atomic_load(&x.stop_rx)) {
		unsigned n = e2e_drain(x.pa, 1) + e2e_drain(x.pb, 2);
		if (!n) {
			struct timespec ts = { 0, 50000 };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void test_ring_bar_failover(void **state)
{
	struct env *e = *state;
	ours();
	memset(&x, 0, sizeof(x));
	x.min_b = UINT64_MAX;
	x.mp = e->mp;
	x.pa = ring_peer(e->ctx, "sigbus_a", e->mp);
	x.pb = ring_peer(e->ctx, "sigbus_b", e->mp);
	e->log.n = 0;
	x.p = port_up(e->ctx, "sbf,hold_down=0,dev(ring,name=sigbus_a,bar=1),"
		      "dev(ring,name=sigbus_b)", e->mp, &e->log);
	assert_true(WAIT_UNTIL(active_slot(x.p) == 0, 2000));
	struct fsb_subdev *sd = fsb_port_subdev(x.p, 0);
	int fd = fsb_ring_test_bar_fd(sd);
	assert_true(fd >= 0);
	assert_int_equal(fsb_ring_test_bar_fd(fsb_port_subdev(x.p, 1)), -ENODEV);
	struct fsb_sigbus_stats s0, s1;
	fsb_sigbus_stats_get(&s0);

	pthread_t tx, rx;
	pthread_create(&rx, NULL, e2e_rx, NULL);
	pthread_create(&tx, NULL, e2e_tx, NULL);
	assert_true(WAIT_UNTIL(atomic_load(&x.on_a) >= 5000, 10000));
	assert_int_equal(atomic_load(&x.on_b), 0);

	/* the device goes: the datapath's next burst faults */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_true(WAIT_UNTIL(atomic_load(&x.on_b) >= 5000, 10000));
	atomic_store(&x.stop_tx, true);
	pthread_join(tx, NULL);
	/* let the peers drain what is in flight, then stop counting */
	uint64_t last = 0;
	for (int i = 0; i < 200; i++) {
		uint64_t now = atomic_load(&x.on_a) + atomic_load(&x.on_b);
		if (i > 5 && now == last)
			break;
		last = now;
		t_sleep_ms(10);
	}
	atomic_store(&x.stop_rx, true);
	pthread_join(rx, NULL);
	e2e_drain(x.pa, 1);
	e2e_drain(x.pb, 2);

	fsb_sigbus_stats_get(&s1);
	assert_int_equal(s1.remapped, s0.remapped + 1);
	assert_int_equal(s1.chained, s0.chained);
	assert_int_equal(active_slot(x.p), 1);
	struct fsb_slot_info si;
	fsb_port_slot_info(x.p, 0, &si);
	assert_int_equal(si.last_reason, FSB_REASON_SIGBUS);
	assert_true(si.state <= FSB_SUBDEV_PARSED);     /* gone, closed */
	assert_int_equal(xstat(x.p, "switch_reason_sigbus"), 1);
	assert_true(sigbus_switch_seen(&e->log));
	assert_true(WAIT_UNTIL(log_faults() == 1, 2000));
	pthread_mutex_lock(&lg.lock);
	assert_non_null(strstr(lg.last, "BAR of sbf.0 at "));
	pthread_mutex_unlock(&lg.lock);

	/* Every frame: on a, on b, or handed back; none twice, none lost. */
	uint64_t sent = atomic_load(&x.sent), lost = 0, refused = 0, a = 0, b = 0;
	for (uint64_t s = 0; s < sent; s++) {
		switch (x.fate[s]) {
		case 1: a++; break;
		case 2: b++; break;
		case 4: refused++; break;
		default: lost++;
		}
	}
	uint64_t no_path = xstat(x.p, "tx_no_path");
	printf("sigbus: %llu frames: %llu on a, %llu on b, %llu refused, "
	       "%llu no path, %llu unaccounted, %llu duplicated\n",
	       (unsigned long long)sent, (unsigned long long)a,
	       (unsigned long long)b, (unsigned long long)refused,
	       (unsigned long long)no_path, (unsigned long long)lost,
	       (unsigned long long)atomic_load(&x.dup));
	assert_int_equal(atomic_load(&x.dup), 0);
	/* tx_no_path frames are handed back too (refused), so every frame
	 * is in exactly one of a, b, refused */
	assert_int_equal(lost, 0);
	assert_int_equal(a + b + refused, sent);
	assert_true(no_path <= refused);
	/* one datapath thread, one switch: all of a's frames came first */
	assert_true(a > 0 && b > 0 && x.max_a < x.min_b);

	uint64_t fb = atomic_load(&x.first_b_ns);
	assert_true(fb > s1.last_fault_ns);
	uint64_t us = (fb - s1.last_fault_ns) / 1000;
	printf("sigbus: fault -> standby tx: %llu us (port's "
	       "last_switch_downtime_us %llu)\n", (unsigned long long)us,
	       (unsigned long long)xstat(x.p, "last_switch_downtime_us"));
	assert_true(us < 1000000);

	fsb_port_close(x.p);
	fsb_bare_close(x.pa);
	fsb_bare_close(x.pb);
}

/* The BAR dies during probe, between its mapping and its first read:
 * registered before that read, the fault is ours; probe reads all-ones
 * and fails, the slot is gone for reason sigbus, the standby carries. */
static void test_ring_bar_probe_fault(void **state)
{
	struct env *e = *state;
	ours();
	struct fsb_bare *pa = ring_peer(e->ctx, "sigbus_pa", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "sigbus_pb", e->mp);
	struct fsb_sigbus_stats s0, s1;
	fsb_sigbus_stats_get(&s0);
	fsb_ctx_set_log(e->ctx, log_sink, NULL, FSB_LOG_ERR);
	atomic_store(&fsb_ring_test_bar_dead_at_probe, true);
	struct fsb_port *p = port_up(e->ctx, "sbp,hold_down=0,"
				     "dev(ring,name=sigbus_pa,bar=1),"
				     "dev(ring,name=sigbus_pb)", e->mp, NULL);
	fsb_ctx_set_log(e->ctx, log_sink, NULL, FSB_LOG_WARNING);
	fsb_sigbus_stats_get(&s1);
	/* once per probe: configure probes, and start probes again when
	 * the control thread consumed the gone mark in between */
	assert_true(s1.remapped >= s0.remapped + 1 &&
		    s1.remapped <= s0.remapped + 2);
	assert_int_equal(s1.chained, s0.chained);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	struct fsb_slot_info si;
	assert_true(WAIT_UNTIL((fsb_port_slot_info(p, 0, &si),
				si.last_reason == FSB_REASON_SIGBUS), 2000));
	assert_true(si.state <= FSB_SUBDEV_PARSED);
	uint64_t seq = 0;
	assert_int_equal(send_seq(p, e->mp, &seq, 64), 64);
	struct fsb_buf *r[64];
	uint16_t n = fsb_bare_rx_burst(pb, 0, r, 64);
	assert_int_equal(n, 64);
	fsb_buf_free_bulk(r, n);
	assert_int_equal(fsb_bare_rx_burst(pa, 0, r, 64), 0);
	fsb_port_close(p);
	atomic_store(&fsb_ring_test_bar_dead_at_probe, false);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/* ---- faults that are not ours ---- */

/* A dead page nobody registered, repaired by the previous handler. */
static volatile uint32_t *stray_page(struct fbar *b)
{
	fbar_new(b, 1, 7);
	fbar_kill(b);
	repair_fd = b->fd;
	repair_len = b->len;
	return b->p;
}

static void test_chain_siginfo(void **state)
{
	(void)state;
	struct fsb_sigbus_stats s0, s1;
	fsb_sigbus_stats_get(&s0);
	prev_set(NULL, prev_siginfo, 0);
	struct fbar b;
	volatile uint32_t *p = stray_page(&b);
	prev_runs = 0;
	errno = 4242;
	uint32_t v = touch(&p[5]);
	assert_int_equal(errno, 4242);          /* the handler restored it */
	assert_int_equal(prev_runs, 1);
	assert_int_equal(prev_code, BUS_ADRERR);
	assert_ptr_equal(prev_addr, (void *)&p[5]);
	assert_int_equal(v, 0);                 /* the repaired (new) page */
	/* a sent SIGBUS is never taken for a BAR fault */
	pthread_kill(pthread_self(), SIGBUS);
	assert_int_equal(prev_runs, 2);
	assert_int_equal(prev_code, SI_TKILL);
	fsb_sigbus_stats_get(&s1);
	assert_int_equal(s1.chained, s0.chained + 2);
	assert_int_equal(s1.remapped, s0.remapped);
	fbar_free(&b);
	prev_reset();
}

static void test_chain_plain(void **state)
{
	(void)state;
	prev_set(prev_plain, NULL, 0);
	struct fbar b;
	volatile uint32_t *p = stray_page(&b);
	prev_runs = 0;
	errno = 4243;
	uint32_t v = touch(&p[0]);
	assert_int_equal(errno, 4243);
	assert_int_equal(prev_runs, 1);
	assert_int_equal(v, 0);
	fbar_free(&b);
	prev_reset();
}

/* Run @fn in a child; return its wait status. */
static int in_child(void (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit nocore = { 0, 0 };
		setrlimit(RLIMIT_CORE, &nocore);
		fn();
		_exit(0);
	}
	int st = 0;
	uint64_t dl = t_now_ms() + 10000;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (t_now_ms() > dl) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("child hung");
		}
		t_sleep_ms(2);
	}
	return st;
}

static bool died_of_sigbus(int st)
{
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS;
}

/* Children: no locks, no cmocka; exit codes say what went wrong. */
static struct fbar child_reg;           /* registered by the parent */
static int child_reg_h;

static void child_stray_fault(void)
{
	struct fbar b;
	b.len = pg;
	b.fd = memfd_create("fsb-test-sigbus", MFD_CLOEXEC);
	if (b.fd < 0 || ftruncate(b.fd, (off_t)pg) < 0)
		_exit(10);
	volatile uint32_t *p = mmap(NULL, pg, PROT_READ, MAP_SHARED, b.fd, 0);
	if (p == MAP_FAILED || ftruncate(b.fd, 0) < 0)
		_exit(11);
	(void)p[1];
	_exit(12);                              /* survived: wrong */
}

/* Ours first (a registered BAR: survives, reads all-ones), then a
 * stray fault, which the previous action gets. */
static void child_ours_then_stray(void)
{
	if (child_reg.p[3] != 0xffffffffu)
		_exit(13);
	child_stray_fault();
}

static void child_raise(void)
{
	raise(SIGBUS);
	_exit(14);                              /* survived */
}

static void child_raise_survives(void)
{
	raise(SIGBUS);
	pthread_kill(pthread_self(), SIGBUS);
	_exit(0);
}

static void child_linux_ign(void)
{
	/* no handler of ours: what Linux itself does with SIG_IGN */
	signal(SIGBUS, SIG_IGN);
	child_stray_fault();
}

static void test_chain_dfl(void **state)
{
	(void)state;
	fbar_new(&child_reg, 1, 1);
	child_reg_h = fsb_sigbus_register((void *)child_reg.p, pg, NULL, "kid");
	assert_true(child_reg_h >= 0);
	fbar_kill(&child_reg);
	prev_set(SIG_DFL, NULL, 0);
	int st = in_child(child_ours_then_stray);
	if (!died_of_sigbus(st))
		fail_msg("child: status %#x, want death by SIGBUS", st);
	st = in_child(child_raise);
	assert_true(died_of_sigbus(st));
	assert_int_equal(fsb_sigbus_unregister(child_reg_h), 0);
	fbar_free(&child_reg);
	prev_reset();
}

static void test_chain_ign(void **state)
{
	(void)state;
	/* Linux: a fault with SIGBUS ignored still kills */
	int st = in_child(child_linux_ign);
	if (!died_of_sigbus(st))
		fail_msg("linux: status %#x", st);

	fbar_new(&child_reg, 1, 1);
	child_reg_h = fsb_sigbus_register((void *)child_reg.p, pg, NULL, "kid");
	assert_true(child_reg_h >= 0);
	fbar_kill(&child_reg);
	prev_set(SIG_IGN, NULL, 0);
	/* ours mirrors it: a sent SIGBUS is ignored ... */
	st = in_child(child_raise_survives);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* ... a stray fault kills, after ours still worked */
	st = in_child(child_ours_then_stray);
	if (!died_of_sigbus(st))
		fail_msg("child: status %#x, want death by SIGBUS", st);
	assert_int_equal(fsb_sigbus_unregister(child_reg_h), 0);
	fbar_free(&child_reg);
	prev_reset();
}

/* ---- storm ---- */

#define STORM_RANGES 6
#define STORM_PAGES 16

/* Rounds start on an atomic, not a barrier, so that both threads fault
 * within a microsecond or so of each other (a futex wake-up is slower
 * than a remap). */
static struct {
	_Atomic unsigned go, done;
	struct fbar r[STORM_RANGES];
	unsigned rounds;
	_Atomic uint64_t bad;
} sm;

static void storm_wait(_Atomic unsigned *v, unsigned want)
{
	for (unsigned spins = 0; atomic_load(v) < want; spins++)
		if (spins % 64 == 63)
			sched_yield();
}

static void *storm_main(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	for (unsigned round = 0; round < sm.rounds; round++) {
		storm_wait(&sm.go, round + 1);
		/* both threads hit the same range at once, on different
		 * pages, then walk every word of every range */
		for (unsigned k = 0; k < STORM_RANGES; k++) {
			struct fbar *b = &sm.r[(k + round) % STORM_RANGES];
			size_t words = b->len / 4;
			size_t start = me * (pg / 4) + 1;
			for (size_t i = 0; i < words; i += 61) {
				size_t w = me ? (start + i) % words :
					(words - 1 - i);
				if (b->p[w] != 0xffffffffu)
					atomic_fetch_add(&sm.bad, 1);
			}
		}
		atomic_fetch_add(&sm.done, 1);
	}
	return NULL;
}

static void test_storm(void **state)
{
	(void)state;
	ours();
	const char *env = getenv("FSB_SIGBUS_ROUNDS");
	sm.rounds = env ? (unsigned)atoi(env) : 300;
	atomic_store(&sm.bad, 0);
	atomic_store(&sm.go, 0);
	atomic_store(&sm.done, 0);
	struct fsb_sigbus_stats s0, s1;
	fsb_sigbus_stats_get(&s0);
	unsigned logged0 = log_faults();
	pthread_t th[2];
	for (uintptr_t i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, storm_main, (void *)i);
	uint64_t t0 = fsb_now_ns();
	for (unsigned round = 0; round < sm.rounds; round++) {
		int h[STORM_RANGES];
		for (unsigned k = 0; k < STORM_RANGES; k++) {
			fbar_new(&sm.r[k], STORM_PAGES, 0x5a5a5a5a);
			h[k] = fsb_sigbus_register((void *)sm.r[k].p, sm.r[k].len,
						   NULL, "storm");
			assert_true(h[k] >= 0);
			fbar_kill(&sm.r[k]);
		}
		atomic_store(&sm.go, round + 1);
		storm_wait(&sm.done, 2 * (round + 1));
		for (unsigned k = 0; k < STORM_RANGES; k++) {
			assert_int_equal(fsb_sigbus_unregister(h[k]), 1);
			fbar_free(&sm.r[k]);
		}
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	uint64_t ms = (fsb_now_ns() - t0) / 1000000;
	fsb_sigbus_stats_get(&s1);
	uint64_t faults = s1.remapped - s0.remapped;
	printf("sigbus: storm: %u rounds x %d ranges, 2 threads: %llu remaps, "
	       "%llu waited on a remap in progress, %llu stale, %llu bad "
	       "reads, %llu ms\n", sm.rounds, STORM_RANGES,
	       (unsigned long long)faults,
	       (unsigned long long)(s1.waited - s0.waited),
	       (unsigned long long)(s1.stale - s0.stale),
	       (unsigned long long)atomic_load(&sm.bad), (unsigned long long)ms);
	assert_int_equal(atomic_load(&sm.bad), 0);
	assert_int_equal(faults, (uint64_t)sm.rounds * STORM_RANGES);
	assert_int_equal(s1.chained, s0.chained);
	/* each fault logged exactly once (by the loop or at unregister) */
	assert_int_equal(log_faults() - logged0, faults);
}

/* errno across the handler: on a remap (whose system calls succeed,
 * so this one guards against a future change), and around a chained
 * handler that clobbers it (this one fails without the restore). */
static void test_errno(void **state)
{
	(void)state;
	ours();
	struct fbar b;
	fbar_new(&b, 1, 0);
	int h = fsb_sigbus_register((void *)b.p, b.len, NULL, "errno");
	assert_true(h >= 0);
	fbar_kill(&b);
	errno = EAGAIN;
	uint32_t v = touch(&b.p[9]);
	int got = errno;
	assert_int_equal(v, 0xffffffffu);
	assert_int_equal(got, EAGAIN);
	assert_int_equal(fsb_sigbus_unregister(h), 1);
	fbar_free(&b);

	prev_set(NULL, prev_siginfo, 0);
	volatile uint32_t *p = stray_page(&b);
	errno = ENOENT;
	v = touch(&p[2]);
	got = errno;
	assert_int_equal(got, ENOENT);
	fbar_free(&b);
	prev_reset();
}

int main(void)
{
	pg = (size_t)sysconf(_SC_PAGESIZE);
	/* Our own previous action, whatever a sanitizer put there. */
	signal(SIGBUS, SIG_DFL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_errors, setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_registered, setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_ring_bar_failover, setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_ring_bar_probe_fault, setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_chain_siginfo, setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_chain_plain, setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_chain_dfl, setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_chain_ign, setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_storm, setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_errno, setup, t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
