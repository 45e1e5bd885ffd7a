/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tests/chaos/chaos.c - in-process chaos: a seeded random schedule of
 * faults under traffic, every frame accounted for, nothing leaked.
 *
 * The port has three ring slots, each with a fake device of its own:
 *
 *   chaos0,hold_down=20,dev(ring,name=chA,bar=1,vfio=1),
 *          dev(ring,name=chB,bar=1),dev(ring,name=chC)
 *
 * Their far ends are bare ring ends that one receiver thread polls; a
 * sender thread sends numbered frames at a steady pace (a frame the port
 * refuses is sent again with its number: refusals stay the sender's).
 * A scheduler draws the faults from a seeded generator, 0-50 ms apart,
 * and hands each to one of two workers, so at most two are in flight;
 * a slot has at most one fault in flight.  The faults:
 *
 *   detach, attach           fsb_port_detach/attach (planned)
 *   link-down, link-up       the ring's link forced (fsb_ring_test_hook)
 *   sigbus                   the slot's BAR memfd truncated for real: the
 *                            next burst faults (surprise)
 *   vfio-request             the fake kernel signals the eventfd the
 *                            library armed (planned: a VFIO release)
 *   return                   a gone device (sigbus, vfio) comes back: an
 *                            appearance, as a uevent add would mark
 *   bounce                   removed and back in one breath: GONE and
 *                            APPEARED marked back to back, while the
 *                            sync routine may be acting on the first
 *                            (surprise)
 *   stats-reset, mtu, mac, promisc   admin calls while all of the above
 *
 * Checked, from outside the port where it can be:
 *   - every frame the port accepted reached a peer once, or lies within
 *     one ring's depth of a surprise fault (each loss is attributed to
 *     one; a loss no surprise fault explains fails the run, so planned
 *     faults lose nothing), and none arrived twice;
 *   - the xstats, sampled every 10 ms, never go backwards (a stats reset
 *     adds the values taken just before it), and their set never changes;
 *   - no crash, no hang (a watchdog thread: no progress for 60 s fails
 *     the run with the seed and the last faults);
 *   - after the last fault, with every device back, the best slot (0)
 *     carries frames within hold_down + CHAOS_SLACK_MS (default 50);
 *   - no leak: fds and threads equal, /proc/self/maps within 4 lines (less
 *     the ring kind's PROT_NONE trap) and resident memory within 8 MiB,
 *     between the 100th fault and the end, both taken with every device
 *     back;
 *     LSan at exit in sanitizer builds.
 * The run prints its seed first; CHAOS_SEED=N replays the same schedule
 * (the interleaving with traffic is the machine's).  A failure prints
 * the seed and the last 20 faults.
 *
 * Environment: CHAOS_EVENTS (default 1000), CHAOS_SEED, CHAOS_RATE
 * (frames/s, default 100000), CHAOS_SLACK_MS, CHAOS_JSON=1 (a JSON line
 * with the figures, for tests/bench/chaos).
 * Exit: 0 pass, 1 fail.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fsb/fsb.h"
#include "port.h"
#include "subdev.h"
#include "vfio.h"

#define NSLOT 3
#define HOLD_MS 20
#define DEPTH 1024              /* the port's nb_txd: one ring's depth */
#define BURST 32
#define NWORK 2
#define LAST_N 20

enum ev_kind {
	E_DETACH, E_ATTACH, E_LINK_DOWN, E_LINK_UP, E_SIGBUS, E_VFIO, E_RETURN,
	E_BOUNCE, E_STATS_RESET, E_MTU, E_MAC, E_PROMISC, E_COUNT
};
static const char *const ev_name[E_COUNT] = {
	"detach", "attach", "link-down", "link-up", "sigbus", "vfio-request",
	"return", "bounce", "stats-reset", "mtu", "mac", "promisc",
};
/* surprise faults may lose what their device held; planned ones none */
static const bool ev_surprise[E_COUNT] = {
	[E_LINK_DOWN] = true, [E_SIGBUS] = true, [E_BOUNCE] = true,
};

static struct fsb_ctx *ctx;
static struct fsb_mempool *mp;
static struct fsb_port *port;
static struct fsb_bare *peer[NSLOT];
static uint64_t seed;
static unsigned nevents;
static unsigned rate;
static unsigned slack_ms;

static _Atomic bool stop_tx, stop_rx, stop_sample;
static _Atomic uint64_t next_seq;       /* every seq below was accepted */
static _Atomic uint64_t refusals;       /* frames handed back, counted
					 * once per refusal (then resent) */
static uint8_t *seen;                   /* per seq: times received */
static uint64_t seen_cap;
static _Atomic uint64_t rx_total, rx_dups, rx_bad;
static _Atomic uint64_t rx_on[NSLOT];
static _Atomic uint64_t first_on0_after_ns; /* stamped by the receiver */
static _Atomic uint64_t watch_from_ns;

static int failures;
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------------ */
/* The fake kernel for vfio=1 (the seam src/vfio.h offers)             */
/* ------------------------------------------------------------------ */

static pthread_mutex_t kl = PTHREAD_MUTEX_INITIALIZER;
static int k_efd = -1;

static int fake_set_irqs(int devfd, const struct vfio_irq_set *req)
{
	(void)devfd;
	pthread_mutex_lock(&kl);
	if (req->count == 1 && (req->flags & VFIO_IRQ_SET_DATA_EVENTFD)) {
		int32_t fd;
		memcpy(&fd, req->data, 4);
		k_efd = fd;
	} else {
		k_efd = -1;
	}
	pthread_mutex_unlock(&kl);
	return 0;
}

static int fake_close_device(int devfd)
{
	pthread_mutex_lock(&kl);
	k_efd = -1;
	pthread_mutex_unlock(&kl);
	return close(devfd) < 0 ? -errno : 0;
}

static const struct fsb_vfio_ops fake_ops = {
	.set_irqs = fake_set_irqs,
	.close_device = fake_close_device,
};

/* The kernel asks for the device back; false when nothing is armed. */
static bool kernel_request(void)
{
	bool done = false;
	pthread_mutex_lock(&kl);
	if (k_efd >= 0) {
		uint64_t one = 1;
		done = write(k_efd, &one, sizeof(one)) == sizeof(one);
	}
	pthread_mutex_unlock(&kl);
	return done;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull),
			       (long)(ns % 1000000000ull) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* splitmix64: small, seedable, good enough to draw faults with */
static uint64_t rnd_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned rnd_below(uint64_t *s, unsigned n)
{
	return (unsigned)(rnd_next(s) % n);
}

static unsigned count_dir(const char *path)
{
	DIR *d = opendir(path);
	unsigned n = 0;
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * Lines of /proc/self/maps, less the anonymous PROT_NONE ones: the ring
 * kind keeps its last 64 closed queue mappings PROT_NONE (its
 * use-after-close trap, subdev/ring.c), and how the kernel merges them
 * with their neighbours changes from run to run.  (A leak that matters
 * is memory someone can use; thread stack guards are counted through
 * the threads.)
 */
static unsigned count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned n = 0;
	char line[512];
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char perms[8] = "", path[256] = "";
		if (sscanf(line, "%*s %7s %*s %*s %*s %255s", perms, path) >= 1 &&
		    strcmp(perms, "---p") == 0 && path[0] == '\0')
			continue;
		n++;
	}
	fclose(f);
	return n;
}

static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, res = 0;
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

struct res {
	unsigned fds, threads, maps;
	uint64_t rss;
};

static void res_take(struct res *r)
{
	r->fds = count_dir("/proc/self/fd");
	r->threads = count_dir("/proc/self/task");
	r->maps = count_maps();
	const char *dump = getenv("CHAOS_MAPS_DUMP");
	if (dump) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "cat /proc/%d/maps > %s.%u", (int)getpid(),
			 dump, r->maps);
		if (system(cmd) != 0)
			fprintf(stderr, "chaos: %s failed\n", cmd);
	}
	r->rss = rss_bytes();
}

/* ------------------------------------------------------------------ */
/* The fault log (the last LAST_N, for a failure's report)             */
/* ------------------------------------------------------------------ */

struct ev_rec {
	unsigned idx;
	enum ev_kind kind;
	int slot;
	int rc;
	uint64_t t_ns;                  /* when it was carried out */
	uint64_t seq_at, seq_end;       /* next_seq before and after */
	uint64_t lost;                  /* frames attributed to it */
};

static pthread_mutex_t evl = PTHREAD_MUTEX_INITIALIZER;
static struct ev_rec *evs;              /* every fault, in draw order */
static uint64_t t_start_ns;

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "chaos: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	failures++;
}

static void print_last(unsigned upto)
{
	unsigned from = upto > LAST_N ? upto - LAST_N : 0;
	fprintf(stderr, "chaos: seed %" PRIu64 "; the last %u faults:\n", seed,
		upto - from);
	for (unsigned i = from; i < upto; i++) {
		struct ev_rec *e = &evs[i];
		fprintf(stderr, "  #%u  %8.3f s  %-12s slot %d  rc %d  seq %" PRIu64
			"..%" PRIu64 "\n", e->idx, (double)(e->t_ns - t_start_ns) / 1e9,
			ev_name[e->kind], e->slot, e->rc, e->seq_at, e->seq_end);
	}
}

/* ------------------------------------------------------------------ */
/* Traffic                                                             */
/* ------------------------------------------------------------------ */

static void *sender(void *arg)
{
	(void)arg;
	struct fsb_buf *pend[BURST];
	unsigned npend = 0;
	uint64_t seq = 0;
	uint64_t period = 1000000ull;   /* 1 ms ticks */
	uint64_t per_tick = rate / 1000 ? rate / 1000 : 1;
	uint64_t next = now_ns();
	fsb_queue_online(port, 0);
	while (!atomic_load(&stop_tx)) {
		uint64_t budget = per_tick;
		while (budget) {
			while (npend < BURST && seq + npend < seen_cap) {
				struct fsb_buf *b;
				if (fsb_buf_alloc_bulk(mp, &b, 1) < 0)
					break;
				uint64_t s = seq + npend;
				unsigned char *d = fsb_buf_data(b);
				memset(d, 0xff, 6);
				memset(d + 6, 0x02, 6);
				d[12] = 0x88;
				d[13] = 0xb5;
				memcpy(d + 14, &s, sizeof(s));
				b->data_len = b->pkt_len = 64;
				pend[npend++] = b;
			}
			if (!npend)
				break;
			unsigned k = npend < budget ? npend : (unsigned)budget;
			unsigned got = fsb_tx_burst(port, 0, pend, (uint16_t)k);
			if (got < k)
				atomic_fetch_add(&refusals, k - got);
			memmove(pend, pend + got, (npend - got) * sizeof(pend[0]));
			npend -= got;
			seq += got;
			atomic_store(&next_seq, seq);
			budget -= got;
			if (got < k)
				break;          /* refused: again next tick */
		}
		next += period;
		uint64_t t = now_ns();
		if (next > t) {
			fsb_queue_offline(port, 0);
			sleep_ns(next - t);
			fsb_queue_online(port, 0);
		} else if (t - next > 100 * period) {
			next = t;       /* we were away: no catch-up burst */
		}
	}
	fsb_queue_offline(port, 0);
	fsb_buf_free_bulk(pend, npend);
	return NULL;
}

static void *receiver(void *arg)
{
	(void)arg;
	struct fsb_buf *b[64];
	while (!atomic_load(&stop_rx)) {
		unsigned any = 0;
		for (int i = 0; i < NSLOT; i++) {
			unsigned n = fsb_bare_rx_burst(peer[i], 0, b, 64);
			any += n;
			for (unsigned j = 0; j < n; j++) {
				uint64_t s;
				memcpy(&s, (char *)fsb_buf_data(b[j]) + 14, sizeof(s));
				if (s >= seen_cap) {
					atomic_fetch_add(&rx_bad, 1);
					continue;
				}
				if (seen[s]++)
					atomic_fetch_add(&rx_dups, 1);
				if (seen[s] == 0)
					seen[s] = 255;  /* saturate */
			}
			if (n) {
				atomic_fetch_add(&rx_total, n);
				atomic_fetch_add(&rx_on[i], n);
				uint64_t w = atomic_load(&watch_from_ns);
				if (i == 0 && w && !atomic_load(&first_on0_after_ns))
					atomic_store(&first_on0_after_ns, now_ns());
			}
			fsb_buf_free_bulk(b, n);
		}
		if (!any)
			sleep_ns(20000);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* xstats: never backwards, a constant set                             */
/* ------------------------------------------------------------------ */

static pthread_mutex_t xl = PTHREAD_MUTEX_INITIALIZER;
static unsigned nx;
static struct fsb_xstat_name *xnames;
static uint64_t *xbase, *xprev;
static bool *xgauge;
static uint64_t samples, stats_resets;

static void *sampler(void *arg)
{
	(void)arg;
	uint64_t *v = calloc(nx, sizeof(*v));
	struct fsb_xstat_name *nm = calloc(nx, sizeof(*nm));
	while (!atomic_load(&stop_sample)) {
		pthread_mutex_lock(&xl);
		int n = fsb_port_xstats_get(port, v, nx);
		int nn = fsb_port_xstats_names(port, nm, nx);
		if (n != (int)nx || nn != (int)nx) {
			fail("the xstats set changed size: %d values, %d names, was %u",
			     n, nn, nx);
		} else {
			for (unsigned i = 0; i < nx; i++) {
				if (strcmp(nm[i].name, xnames[i].name) != 0) {
					fail("xstat %u is now '%s', was '%s'", i,
					     nm[i].name, xnames[i].name);
					break;
				}
				if (xgauge[i])
					continue;
				uint64_t t = xbase[i] + v[i];
				if (t < xprev[i]) {
					fail("xstat %s went backwards: %" PRIu64 " after %"
					     PRIu64, xnames[i].name, t, xprev[i]);
				}
				xprev[i] = t;
			}
		}
		samples++;
		pthread_mutex_unlock(&xl);
		if (failures)
			break;
		sleep_ns(10000000ull);
	}
	free(v);
	free(nm);
	return NULL;
}

/* The reset, with the values just before it added to the base. */
static int do_stats_reset(void)
{
	uint64_t *v = calloc(nx, sizeof(*v));
	pthread_mutex_lock(&xl);
	int n = fsb_port_xstats_get(port, v, nx);
	int rc = fsb_port_stats_reset(port);
	if (n == (int)nx && rc == 0)
		for (unsigned i = 0; i < nx; i++)
			xbase[i] += v[i];
	stats_resets++;
	pthread_mutex_unlock(&xl);
	free(v);
	return rc;
}

static uint64_t xstat_total(const char *name)
{
	uint64_t *v = calloc(nx, sizeof(*v)), r = 0;
	pthread_mutex_lock(&xl);
	if (fsb_port_xstats_get(port, v, nx) == (int)nx)
		for (unsigned i = 0; i < nx; i++)
			if (strcmp(xnames[i].name, name) == 0)
				r = xbase[i] + v[i];
	pthread_mutex_unlock(&xl);
	free(v);
	return r;
}

/* ------------------------------------------------------------------ */
/* Faults                                                              */
/* ------------------------------------------------------------------ */

/* The harness's view of each slot, under evl. */
static struct {
	bool detached, link_down, dead;  /* dead: sigbus/vfio, awaiting return */
	bool busy;                       /* a fault on it is in flight */
} sl[NSLOT];

static unsigned count_by_kind[E_COUNT];

static int fault_do(enum ev_kind k, int slot)
{
	struct fsb_subdev *sd = slot >= 0 ? fsb_port_subdev(port, (unsigned)slot) : NULL;
	switch (k) {
	case E_DETACH:
		return fsb_port_detach(port, (unsigned)slot);
	case E_ATTACH:
		return fsb_port_attach(port, (unsigned)slot);
	case E_LINK_DOWN:
		fsb_ring_test_hook(sd, 0, true);
		return 0;
	case E_LINK_UP:
		fsb_ring_test_hook(sd, 0, false);
		return 0;
	case E_SIGBUS: {
		/* the fd is the ring's own while the slot is probed; the
		 * port's lock keeps it from closing under us */
		pthread_mutex_lock(&port->lock);
		int fd = fsb_ring_test_bar_fd(sd);
		int rc = fd >= 0 && ftruncate(fd, 0) == 0 ? 0 : -ENODEV;
		pthread_mutex_unlock(&port->lock);
		return rc;
	}
	case E_VFIO:
		return kernel_request() ? 0 : -ENODEV;
	case E_RETURN:
		fsb_port_mark(port, (unsigned)slot, FSB_DEVSIG_APPEARED,
			      FSB_REASON_UEVENT_ADD);
		return 0;
	case E_BOUNCE:
		fsb_port_mark(port, (unsigned)slot, FSB_DEVSIG_GONE,
			      FSB_REASON_UEVENT_REMOVE);
		fsb_port_mark(port, (unsigned)slot, FSB_DEVSIG_APPEARED,
			      FSB_REASON_UEVENT_ADD);
		return 0;
	case E_STATS_RESET:
		return do_stats_reset();
	case E_MTU:
		return fsb_port_mtu_set(port, (uint16_t)(1400 + (unsigned)slot * 50));
	case E_MAC: {
		uint8_t mac[6] = { 0x02, 0xc4, 0x05, 0, 0, (uint8_t)slot };
		return fsb_port_mac_set(port, mac);
	}
	case E_PROMISC:
		return fsb_port_promisc_set(port, slot & 1);
	default:
		return -EINVAL;
	}
}

/* Draw the next fault valid for the harness's view (evl held); slot -1
 * for port-wide ones.  Returns false when nothing can be drawn now (every
 * slot busy). */
static bool fault_draw(uint64_t *rs, enum ev_kind *kp, int *sp)
{
	for (int tries = 0; tries < 64; tries++) {
		enum ev_kind k = (enum ev_kind)rnd_below(rs, E_COUNT);
		int s = (int)rnd_below(rs, NSLOT);
		if (k == E_STATS_RESET || k == E_MTU || k == E_MAC || k == E_PROMISC) {
			*kp = k;
			*sp = s;        /* a parameter only */
			return true;
		}
		if (sl[s].busy)
			continue;
		bool ok;
		switch (k) {
		case E_DETACH: ok = !sl[s].detached; break;
		case E_ATTACH: ok = sl[s].detached; break;
		case E_LINK_DOWN: ok = !sl[s].link_down; break;
		case E_LINK_UP: ok = sl[s].link_down; break;
		case E_SIGBUS: ok = s != 2 && !sl[s].detached && !sl[s].dead; break;
		case E_VFIO: ok = s == 0 && !sl[s].detached && !sl[s].dead; break;
		case E_RETURN: ok = sl[s].dead; break;
		case E_BOUNCE: ok = !sl[s].detached; break;
		default: ok = false;
		}
		if (!ok)
			continue;
		*kp = k;
		*sp = s;
		return true;
	}
	return false;
}

static void view_apply(enum ev_kind k, int s, int rc)
{
	switch (k) {
	case E_DETACH: if (rc == 0) { sl[s].detached = true; sl[s].dead = false; } break;
	case E_ATTACH: if (rc == 0) sl[s].detached = false; break;
	case E_LINK_DOWN: sl[s].link_down = true; break;
	case E_LINK_UP: sl[s].link_down = false; break;
	case E_SIGBUS: case E_VFIO: if (rc == 0) sl[s].dead = true; break;
	case E_RETURN: sl[s].dead = false; break;
	default: break;
	}
}

static bool is_slot_fault(enum ev_kind k)
{
	return !(k == E_STATS_RESET || k == E_MTU || k == E_MAC || k == E_PROMISC);
}

/* Workers: take one fault at a time. */
static pthread_mutex_t wl = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wc = PTHREAD_COND_INITIALIZER;
static int wq[NWORK] = { -1, -1 };      /* fault index per worker, -1 idle */
static bool wstop;

static void *worker(void *arg)
{
	int me = (int)(intptr_t)arg;
	pthread_mutex_lock(&wl);
	for (;;) {
		while (wq[me] < 0 && !wstop)
			pthread_cond_wait(&wc, &wl);
		if (wq[me] < 0 && wstop)
			break;
		int i = wq[me];
		pthread_mutex_unlock(&wl);
		struct ev_rec *e = &evs[i];
		e->seq_at = atomic_load(&next_seq);
		e->t_ns = now_ns();
		e->rc = fault_do(e->kind, e->slot);
		/* a surprise's damage shows after the port reacted: give
		 * its window the sync that follows (one loop turn) */
		if (ev_surprise[e->kind])
			sleep_ns(2000000ull);
		e->seq_end = atomic_load(&next_seq);
		pthread_mutex_lock(&evl);
		view_apply(e->kind, e->slot, e->rc);
		if (is_slot_fault(e->kind))
			sl[e->slot].busy = false;
		pthread_mutex_unlock(&evl);
		pthread_mutex_lock(&wl);
		wq[me] = -1;
		pthread_cond_broadcast(&wc);
	}
	pthread_mutex_unlock(&wl);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The run                                                             */
/* ------------------------------------------------------------------ */

/* The hang watchdog: the run makes progress (a fault drawn, a phase
 * of the end done) at least every HANG_S seconds, or it is a hang: say
 * so, with the seed and the last faults, and exit. */
#define HANG_S 60
static _Atomic uint64_t progress_ns;
static _Atomic unsigned progress_drawn;
static _Atomic bool hang_stop;

static void progress(unsigned drawn)
{
	atomic_store(&progress_ns, now_ns());
	atomic_store(&progress_drawn, drawn);
}

static void *hang_watch(void *arg)
{
	(void)arg;
	while (!atomic_load(&hang_stop)) {
		sleep_ns(500000000ull);
		if (now_ns() - atomic_load(&progress_ns) > HANG_S * 1000000000ull) {
			fprintf(stderr, "chaos: FAIL: no progress for %d s: a hang "
				"(a fault or the port's sync never returned)\n", HANG_S);
			print_last(atomic_load(&progress_drawn));
			fflush(stderr);
			_exit(1);
		}
	}
	return NULL;
}

/* Wait for both workers to be idle. */
static void workers_idle(void)
{
	pthread_mutex_lock(&wl);
	while (wq[0] >= 0 || wq[1] >= 0)
		pthread_cond_wait(&wc, &wl);
	pthread_mutex_unlock(&wl);
}

/*
 * Every device back (no fault in flight): links up, gone devices
 * appear, detached slots attached.  Then wait until slot 0, the best,
 * carries frames; returns the ms from the last restoring call to its
 * first frame at its peer, -1 when none came within 5 s.
 */
static double restore_all(void)
{
	pthread_mutex_lock(&evl);
	for (int s = 0; s < NSLOT; s++) {
		if (sl[s].link_down)
			fsb_ring_test_hook(fsb_port_subdev(port, (unsigned)s), 0, false);
		if (sl[s].dead)
			fsb_port_mark(port, (unsigned)s, FSB_DEVSIG_APPEARED,
				      FSB_REASON_UEVENT_ADD);
		if (sl[s].detached) {
			int rc = fsb_port_attach(port, (unsigned)s);
			if (rc < 0 && rc != -EALREADY)
				fail("attach of slot %d: %s", s, strerror(-rc));
		}
		sl[s].link_down = sl[s].dead = sl[s].detached = false;
	}
	pthread_mutex_unlock(&evl);
	uint64_t t_restored = now_ns();
	atomic_store(&first_on0_after_ns, 0);
	atomic_store(&watch_from_ns, t_restored);
	uint64_t dl = t_restored + 5000000000ull;
	while (!atomic_load(&first_on0_after_ns) && now_ns() < dl)
		sleep_ns(1000000ull);
	uint64_t t_first = atomic_load(&first_on0_after_ns);
	atomic_store(&watch_from_ns, 0);
	return t_first ? (double)(t_first - t_restored) / 1e6 : -1;
}

static unsigned env_u(const char *name, unsigned dflt)
{
	const char *v = getenv(name);
	return v && *v ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

int main(void)
{
	nevents = env_u("CHAOS_EVENTS", 1000);
	rate = env_u("CHAOS_RATE", 100000);
	slack_ms = env_u("CHAOS_SLACK_MS", 50);
	const char *sv = getenv("CHAOS_SEED");
	if (sv && *sv) {
		seed = strtoull(sv, NULL, 0);
	} else {
		seed = now_ns() ^ ((uint64_t)getpid() << 32);
		seed &= 0xffffffffffffull;
	}
	printf("chaos: seed %" PRIu64 " (CHAOS_SEED=%" PRIu64 " replays this "
	       "schedule), %u faults, %u frames/s\n", seed, seed, nevents, rate);
	fflush(stdout);

	/* frames: the run's length at the pace, and room to spare */
	seen_cap = (uint64_t)rate * ((uint64_t)nevents * 40 / 1000 + 30);
	seen = mmap(NULL, seen_cap, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	evs = calloc(nevents, sizeof(*evs));
	if (seen == MAP_FAILED || !evs) {
		fprintf(stderr, "chaos: out of memory\n");
		return 1;
	}
	/* resident from the start (and, under TSan, its shadow): the
	 * resource check compares the library's memory, not this map's */
	memset(seen, 0, seen_cap);
	memset(evs, 0, nevents * sizeof(*evs));

	fsb_vfio_set_ops(&fake_ops);
	ctx = fsb_ctx_new();
	fsb_ctx_set_log(ctx, NULL, NULL, getenv("CHAOS_DEBUG") ? FSB_LOG_DEBUG :
			FSB_LOG_ERR);
	mp = fsb_mempool_create(ctx, "chaos", 32768, 2048, 256, -1);
	if (!ctx || !mp) {
		fprintf(stderr, "chaos: no context or mempool\n");
		return 1;
	}
	static const char *const pn[NSLOT] = { "chA", "chB", "chC" };
	char err[FSB_ERRMSG_MAX];
	for (int i = 0; i < NSLOT; i++) {
		char spec[64];
		struct fsb_port_conf pc = { .nb_rxq = 1, .nb_txq = 1,
					    .nb_rxd = DEPTH, .nb_txd = DEPTH };
		snprintf(spec, sizeof(spec), "ring,name=%s", pn[i]);
		peer[i] = fsb_bare_open(ctx, spec, &pc, err, sizeof(err));
		if (!peer[i] || fsb_bare_rx_queue_setup(peer[i], 0, mp) < 0 ||
		    fsb_bare_start(peer[i]) < 0) {
			fprintf(stderr, "chaos: peer %s: %s\n", pn[i], err);
			return 1;
		}
	}
	char spec[256];
	snprintf(spec, sizeof(spec), "chaos0,hold_down=%d,"
		 "dev(ring,name=chA,bar=1,vfio=1),dev(ring,name=chB,bar=1),"
		 "dev(ring,name=chC)", HOLD_MS);
	port = fsb_port_open(ctx, spec, err, sizeof(err));
	struct fsb_port_conf pc = { .nb_rxq = 1, .nb_txq = 1,
				    .nb_rxd = DEPTH, .nb_txd = DEPTH };
	if (!port || fsb_port_configure(port, &pc) < 0 ||
	    fsb_rx_queue_setup(port, 0, mp) < 0 || fsb_port_start(port) < 0) {
		fprintf(stderr, "chaos: port: %s\n", port ? "configure/start failed" : err);
		return 1;
	}
	fsb_queue_offline(port, 0);

	/* The ring kind keeps its last 64 closed queue mappings (PROT_NONE:
	 * its use-after-close trap, subdev/ring.c); fill that first, or the
	 * maps count grows by design until it is full. */
	for (int i = 0; i < 70; i++)
		if (fsb_port_detach(port, 2) < 0 || fsb_port_attach(port, 2) < 0) {
			fprintf(stderr, "chaos: the warm-up detach/attach failed\n");
			return 1;
		}

	int n = fsb_port_xstats_names(port, NULL, 0);
	nx = (unsigned)n;
	xnames = calloc(nx, sizeof(*xnames));
	xbase = calloc(nx, sizeof(*xbase));
	xprev = calloc(nx, sizeof(*xprev));
	xgauge = calloc(nx, sizeof(*xgauge));
	fsb_port_xstats_names(port, xnames, nx);
	for (unsigned i = 0; i < nx; i++)
		xgauge[i] = strcmp(xnames[i].name, "last_switch_downtime_us") == 0 ||
			strcmp(xnames[i].name, "last_release_us") == 0;

	pthread_t tx, rx, sa, wk[NWORK], hw;
	t_start_ns = now_ns();
	progress(0);
	pthread_create(&hw, NULL, hang_watch, NULL);
	pthread_create(&rx, NULL, receiver, NULL);
	pthread_create(&tx, NULL, sender, NULL);
	pthread_create(&sa, NULL, sampler, NULL);
	for (int i = 0; i < NWORK; i++)
		pthread_create(&wk[i], NULL, worker, (void *)(intptr_t)i);

	struct res r100 = { 0 }, rend;
	uint64_t rs = seed;
	unsigned drawn = 0;
	while (drawn < nevents && !failures) {
		sleep_ns((uint64_t)rnd_below(&rs, 51) * 1000000ull);
		enum ev_kind k;
		int s;
		pthread_mutex_lock(&wl);
		int w;
		for (;;) {
			for (w = 0; w < NWORK && wq[w] >= 0; w++)
				;
			if (w < NWORK)
				break;
			pthread_cond_wait(&wc, &wl);
		}
		pthread_mutex_unlock(&wl);
		pthread_mutex_lock(&evl);
		bool ok = fault_draw(&rs, &k, &s);
		if (ok && is_slot_fault(k))
			sl[s].busy = true;
		pthread_mutex_unlock(&evl);
		if (!ok)
			continue;
		evs[drawn] = (struct ev_rec){ .idx = drawn, .kind = k, .slot = s };
		count_by_kind[k]++;
		pthread_mutex_lock(&wl);
		wq[w] = (int)drawn;
		pthread_cond_broadcast(&wc);
		pthread_mutex_unlock(&wl);
		drawn++;
		progress(drawn);
		if (getenv("CHAOS_RSS_EVERY") && drawn % 250 == 0)
			fprintf(stderr, "chaos: %u faults: rss %" PRIu64 " KiB, "
				"maps %u, fds %u\n", drawn, rss_bytes() / 1024,
				count_maps(), count_dir("/proc/self/fd"));
		if (drawn == 100) {
			/* the baseline, once the port has seen a bit of all,
			 * in the state the end is measured in: all back */
			workers_idle();
			if (restore_all() < 0)
				fail("slot 0 carried no frame within 5 s of every "
				     "device's return (after 100 faults)");
			sleep_ns(200000000ull);
			res_take(&r100);
		}
	}
	/* the last faults finish; then every device back: the best path
	 * must carry frames within hold_down + slack of the last restoring
	 * call */
	workers_idle();
	progress(drawn);
	double recovery_ms = restore_all();
	progress(drawn);
	if (recovery_ms < 0)
		fail("slot 0 carried no frame within 5 s of every device's return");
	else if (recovery_ms > HOLD_MS + slack_ms)
		fail("slot 0 carried frames %.1f ms after every device's return "
		     "(want <= hold_down %d + %u ms)", recovery_ms, HOLD_MS, slack_ms);
	sleep_ns(200000000ull);
	/* the same threads run as at the baseline */
	res_take(&rend);

	/* the end: the sender stops, the peers drain */
	atomic_store(&stop_tx, true);
	pthread_join(tx, NULL);
	uint64_t last = UINT64_MAX;
	for (int i = 0; i < 500; i++) {
		uint64_t c = atomic_load(&rx_total);
		if (c == last)
			break;
		last = c;
		sleep_ns(10000000ull);
	}
	atomic_store(&stop_rx, true);
	pthread_join(rx, NULL);
	atomic_store(&stop_sample, true);
	pthread_join(sa, NULL);
	pthread_mutex_lock(&wl);
	wstop = true;
	pthread_cond_broadcast(&wc);
	pthread_mutex_unlock(&wl);
	for (int i = 0; i < NWORK; i++)
		pthread_join(wk[i], NULL);
	atomic_store(&hang_stop, true);
	pthread_join(hw, NULL);

	/* Accounting: every accepted frame reached a peer once, or its
	 * loss is one a surprise fault explains (within a ring's depth of
	 * its window). */
	uint64_t sent = atomic_load(&next_seq), delivered = 0, lost = 0,
		 unexplained = 0, first_unexplained = UINT64_MAX;
	uint64_t tx_errors = 0;
	{
		char nm[32];
		for (int s = 0; s < NSLOT; s++) {
			snprintf(nm, sizeof(nm), "sub%d_tx_errors", s);
			tx_errors += xstat_total(nm);
		}
	}
	uint64_t no_path = xstat_total("tx_no_path");
	unsigned nsur = 0;
	for (unsigned i = 0; i < drawn; i++)
		nsur += ev_surprise[evs[i].kind];
	for (uint64_t q = 0; q < sent; q++) {
		if (seen[q]) {
			delivered++;
			continue;
		}
		lost++;
		bool explained = false;
		for (unsigned i = 0; i < drawn && !explained; i++) {
			struct ev_rec *e = &evs[i];
			if (!ev_surprise[e->kind])
				continue;
			uint64_t lo = e->seq_at > DEPTH ? e->seq_at - DEPTH : 0;
			if (q >= lo && q < e->seq_end + DEPTH) {
				e->lost++;
				explained = true;
			}
		}
		if (!explained) {
			unexplained++;
			if (first_unexplained == UINT64_MAX)
				first_unexplained = q;
		}
	}
	uint64_t worst = 0;
	for (unsigned i = 0; i < drawn; i++)
		if (evs[i].lost > worst)
			worst = evs[i].lost;
	if (atomic_load(&rx_dups))
		fail("%" PRIu64 " frames arrived twice", atomic_load(&rx_dups));
	if (atomic_load(&rx_bad))
		fail("%" PRIu64 " frames with a number never sent", atomic_load(&rx_bad));
	if (unexplained)
		fail("%" PRIu64 " frames lost where no surprise fault was (the first: "
		     "seq %" PRIu64 ")", unexplained, first_unexplained);
	if (worst > DEPTH)
		fail("a surprise fault lost %" PRIu64 " frames, more than a ring (%d)",
		     worst, DEPTH);
	if (delivered + lost != sent)
		fail("accounting: %" PRIu64 " delivered + %" PRIu64 " lost != %" PRIu64
		     " sent", delivered, lost, sent);

	/* Leaks between the 100th fault and the end. */
	if (drawn >= 100) {
		if (rend.fds != r100.fds)
			fail("fds: %u after 100 faults, %u at the end", r100.fds, rend.fds);
		if (rend.threads != r100.threads)
			fail("threads: %u after 100 faults, %u at the end",
			     r100.threads, rend.threads);
		if (rend.maps > r100.maps + 4 || rend.maps + 4 < r100.maps)
			fail("/proc/self/maps: %u lines after 100 faults, %u at the end",
			     r100.maps, rend.maps);
		if (rend.rss > r100.rss + 8ull * 1024 * 1024)
			fail("resident memory: %" PRIu64 " KiB after 100 faults, %"
			     PRIu64 " KiB at the end", r100.rss / 1024, rend.rss / 1024);
	}

	double secs = (double)(now_ns() - t_start_ns) / 1e9;
	printf("chaos: %u faults in %.1f s (seed %" PRIu64 "), by kind:", drawn,
	       secs, seed);
	for (int k = 0; k < E_COUNT; k++)
		printf(" %s %u", ev_name[k], count_by_kind[k]);
	printf("\nchaos: frames: sent (accepted) %" PRIu64 ", delivered %" PRIu64
	       ", lost %" PRIu64 " (at %u surprise faults, worst %" PRIu64 " at one; "
	       "a ring is %d), duplicates %" PRIu64 ", refused and resent %" PRIu64
	       " (tx_no_path %" PRIu64 "), tx_errors %" PRIu64 "\n", sent, delivered,
	       lost, nsur, worst, DEPTH, atomic_load(&rx_dups),
	       atomic_load(&refusals), no_path, tx_errors);
	printf("chaos: after the last fault, slot 0 carried frames %.1f ms after "
	       "every device's return (hold_down %d ms); %" PRIu64 " xstats samples, "
	       "%" PRIu64 " stats resets\n", recovery_ms, HOLD_MS, samples,
	       stats_resets);
	printf("chaos: resources after 100 faults -> at the end: fds %u -> %u, "
	       "threads %u -> %u, maps %u -> %u, rss %" PRIu64 " -> %" PRIu64 " KiB\n",
	       r100.fds, rend.fds, r100.threads, rend.threads, r100.maps, rend.maps,
	       r100.rss / 1024, rend.rss / 1024);
	if (getenv("CHAOS_JSON")) {
		printf("{\"chaos\":\"in-process\",\"seed\":%" PRIu64 ",\"faults\":%u,"
		       "\"secs\":%.1f,\"sent\":%" PRIu64 ",\"delivered\":%" PRIu64
		       ",\"lost\":%" PRIu64 ",\"worst_loss\":%" PRIu64 ",\"dups\":%" PRIu64
		       ",\"refused\":%" PRIu64 ",\"tx_no_path\":%" PRIu64 ",\"tx_errors\":%"
		       PRIu64 ",\"recovery_ms\":%.1f,\"fds\":[%u,%u],\"threads\":[%u,%u],"
		       "\"maps\":[%u,%u],\"rss_kib\":[%" PRIu64 ",%" PRIu64 "],\"by_kind\":{",
		       seed, drawn, secs, sent, delivered, lost, worst,
		       atomic_load(&rx_dups), atomic_load(&refusals), no_path, tx_errors,
		       recovery_ms, r100.fds, rend.fds, r100.threads, rend.threads,
		       r100.maps, rend.maps, r100.rss / 1024, rend.rss / 1024);
		for (int k = 0; k < E_COUNT; k++)
			printf("%s\"%s\":%u", k ? "," : "", ev_name[k], count_by_kind[k]);
		printf("}}\n");
	}
	if (failures)
		print_last(drawn);

	fsb_port_close(port);
	for (int i = 0; i < NSLOT; i++)
		fsb_bare_close(peer[i]);
	int left = fsb_mempool_free(mp);
	if (left != 0) {
		fprintf(stderr, "chaos: FAIL: the mempool still had buffers out at "
			"the end (%d)\n", left);
		failures++;
	}
	fsb_ctx_free(ctx);
	fsb_vfio_set_ops(NULL);
	free(xnames);
	free(xbase);
	free(xprev);
	free(xgauge);
	free(evs);
	munmap(seen, seen_cap);
	printf("chaos: %s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
