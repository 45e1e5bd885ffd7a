/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_vfio.c - the VFIO device request (src/vfio.c) and the planned
 * release it drives in the port's sync routine.
 *
 * There is no /dev/vfio here, so the test plays the kernel: it replaces
 * the seam (struct fsb_vfio_ops), records every VFIO_DEVICE_SET_IRQS
 * request and every close of a device fd, and "asks for the device" by
 * writing to the eventfd the library armed, as vfio_pci_core_request()
 * does.  The device is the ring kind's fake one (vfio=1, a memfd).
 *
 * What is counted comes from outside the port: sequence numbers at the
 * two ring peers, and the seam's own record of when the device fd was
 * closed.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "vfio.h"
#include "vfio_pci.h"

/* ------------------------------------------------------------------ */
/* The fake kernel                                                     */
/* ------------------------------------------------------------------ */

#define MAXFD 1024

static struct {
	pthread_mutex_t lock;
	unsigned arms, disarms, closes, double_closes, bad_reqs;
	int fail_set;                   /* set_irqs returns this when < 0 */
	unsigned char last[FSB_VFIO_REQ_MAX + 8];
	size_t last_len;
	bool open[MAXFD];               /* devfd armed and not yet closed */
	int efd;                        /* eventfd of the last arm, -1 none */
	int efd_devfd;                  /* its device fd */
	uint64_t close_ns;              /* last close_device */
	uint64_t rx_at_close;           /* port RX count then (traffic test) */
} k = { .lock = PTHREAD_MUTEX_INITIALIZER, .efd = -1, .efd_devfd = -1 };

static _Atomic uint64_t port_rx;    /* frames the port received (dp) */

static int fake_set_irqs(int devfd, const struct vfio_irq_set *req)
{
	pthread_mutex_lock(&k.lock);
	int rc = k.fail_set;
	size_t n = req->argsz <= sizeof(k.last) ? req->argsz : sizeof(k.last);
	memcpy(k.last, req, n);
	k.last_len = n;
	if (rc == 0 && devfd >= 0 && devfd < MAXFD) {
		if (req->flags == (VFIO_IRQ_SET_DATA_EVENTFD |
				   VFIO_IRQ_SET_ACTION_TRIGGER) &&
		    req->count == 1 && req->argsz == sizeof(*req) + 4) {
			int32_t fd;
			memcpy(&fd, req->data, 4);
			k.arms++;
			k.open[devfd] = true;
			k.efd = fd;
			k.efd_devfd = devfd;
		} else if (req->flags == (VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_ACTION_TRIGGER) &&
			   req->count == 0) {
			k.disarms++;
			if (k.efd_devfd == devfd)
				k.efd = -1;     /* the kernel lets go of it */
		} else {
			k.bad_reqs++;
		}
	}
	pthread_mutex_unlock(&k.lock);
	return rc;
}

static int fake_close_device(int devfd)
{
	pthread_mutex_lock(&k.lock);
	k.close_ns = fsb_now_ns();
	k.rx_at_close = atomic_load(&port_rx);
	k.closes++;
	if (devfd >= 0 && devfd < MAXFD) {
		if (!k.open[devfd])
			k.double_closes++;
		k.open[devfd] = false;
	}
	if (k.efd_devfd == devfd)
		k.efd = -1;
	pthread_mutex_unlock(&k.lock);
	return close(devfd) < 0 ? -errno : 0;
}

static const struct fsb_vfio_ops fake_ops = {
	.set_irqs = fake_set_irqs,
	.close_device = fake_close_device,
};

static unsigned k_read(unsigned *field)
{
	pthread_mutex_lock(&k.lock);
	unsigned v = *field;
	pthread_mutex_unlock(&k.lock);
	return v;
}

/* The kernel asks for the device: signal the armed eventfd once.
 * Returns the time of the write, 0 when nothing is armed. */
static uint64_t kernel_request(void)
{
	pthread_mutex_lock(&k.lock);
	int efd = k.efd;
	uint64_t t = 0;
	if (efd >= 0) {
		uint64_t one = 1;
		t = fsb_now_ns();
		assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
	}
	pthread_mutex_unlock(&k.lock);
	return t;
}

/* The library's log, captured (and kept off the test's output). */
static struct {
	pthread_mutex_t lock;
	unsigned n;
	char line[128][200];
} logc = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void log_capture(void *arg, enum fsb_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	pthread_mutex_lock(&logc.lock);
	snprintf(logc.line[logc.n % 128], sizeof(logc.line[0]), "%s", msg);
	logc.n++;
	pthread_mutex_unlock(&logc.lock);
}

/* Was a line containing @needle logged since the capture began? */
static bool logged(const char *needle)
{
	bool found = false;
	pthread_mutex_lock(&logc.lock);
	unsigned from = logc.n > 128 ? logc.n - 128 : 0;
	for (unsigned i = from; i < logc.n && !found; i++)
		found = strstr(logc.line[i % 128], needle) != NULL;
	pthread_mutex_unlock(&logc.lock);
	return found;
}

static void log_capture_start(struct env *e)
{
	pthread_mutex_lock(&logc.lock);
	logc.n = 0;
	pthread_mutex_unlock(&logc.lock);
	fsb_ctx_set_log(e->ctx, log_capture, NULL, FSB_LOG_INFO);
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	fsb_vfio_set_ops(&fake_ops);
	pthread_mutex_lock(&k.lock);
	k.fail_set = 0;
	pthread_mutex_unlock(&k.lock);
	return t_setup(state);
}

static int teardown(void **state)
{
	int rc = t_teardown(state);
	fsb_vfio_set_ops(NULL);
	return rc;
}

/* Wait until the control thread consumed every mark on @p. */
static bool settled(struct fsb_port *p)
{
	for (unsigned i = 0; i < p->nslots; i++)
		if (atomic_load(&p->slot[i].marks))
			return false;
	if (atomic_load(&p->sync_pending))
		return false;
	pthread_mutex_lock(&p->lock);     /* a pass in progress ends */
	pthread_mutex_unlock(&p->lock);
	return true;
}

static int slot_state_of(struct fsb_port *p, unsigned slot)
{
	struct fsb_slot_info si;
	fsb_port_slot_info(p, slot, &si);
	return si.state;
}

/* ------------------------------------------------------------------ */
/* The request, byte by byte                                           */
/* ------------------------------------------------------------------ */

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the expected bytes below are little-endian");

static void test_req_bytes(void **state)
{
	(void)state;
	/* VFIO_PCI_REQ_IRQ_INDEX is 4: INTX, MSI, MSIX, ERR, REQ. */
	assert_int_equal(VFIO_PCI_REQ_IRQ_INDEX, 4);
	union {
		struct vfio_irq_set h;
		unsigned char b[64];
	} u;
	memset(&u, 0xAA, sizeof(u));
	assert_int_equal(fsb_vfio_req_build(&u, sizeof(u), 0x01020304), 24);
	static const unsigned char arm[24] = {
		24, 0, 0, 0,            /* argsz: 20-byte header + one s32 */
		0x24, 0, 0, 0,          /* DATA_EVENTFD (1<<2) | ACTION_TRIGGER (1<<5) */
		4, 0, 0, 0,             /* index: VFIO_PCI_REQ_IRQ_INDEX */
		0, 0, 0, 0,             /* start */
		1, 0, 0, 0,             /* count */
		0x04, 0x03, 0x02, 0x01, /* data[0..3]: the eventfd */
	};
	for (unsigned i = 0; i < sizeof(arm); i++)
		if (u.b[i] != arm[i])
			fail_msg("arm byte %u: 0x%02x, want 0x%02x", i, u.b[i], arm[i]);
	assert_int_equal(u.b[24], 0xAA);        /* nothing written past argsz */

	memset(&u, 0xAA, sizeof(u));
	assert_int_equal(fsb_vfio_req_build(&u, sizeof(u), -1), 20);
	static const unsigned char disarm[20] = {
		20, 0, 0, 0,            /* argsz: the header alone */
		0x21, 0, 0, 0,          /* DATA_NONE (1<<0) | ACTION_TRIGGER (1<<5) */
		4, 0, 0, 0,             /* index */
		0, 0, 0, 0,             /* start */
		0, 0, 0, 0,             /* count 0: tear the trigger down */
	};
	for (unsigned i = 0; i < sizeof(disarm); i++)
		if (u.b[i] != disarm[i])
			fail_msg("disarm byte %u: 0x%02x, want 0x%02x", i, u.b[i],
				 disarm[i]);
	assert_int_equal(u.b[20], 0xAA);

	/* too short a buffer is refused, not overrun */
	assert_int_equal(fsb_vfio_req_build(&u, 23, 5), -ENOSPC);
	assert_int_equal(fsb_vfio_req_build(&u, 19, -1), -ENOSPC);
	assert_int_equal(fsb_vfio_req_build(NULL, 64, 5), -ENOSPC);
}

/* What the library hands the seam at probe and close is that request,
 * with a live eventfd; a seam failure fails the probe, leaks nothing. */
static void test_req_seam(void **state)
{
	struct env *e = *state;
	int fds0 = count_fds();
	unsigned arms = k_read(&k.arms), disarms = k_read(&k.disarms);
	unsigned closes = k_read(&k.closes);
	struct fsb_bare *pa = ring_peer(e->ctx, "vs1", e->mp);
	struct fsb_port *p = port_up(e->ctx, "vs,dev(ring,name=vs1,vfio=1)",
				     e->mp, NULL);
	assert_int_equal(k_read(&k.arms), arms + 1);
	pthread_mutex_lock(&k.lock);
	assert_int_equal(k.last_len, 24);
	uint32_t w[5];
	int32_t efd;
	memcpy(w, k.last, 20);
	memcpy(&efd, k.last + 20, 4);
	assert_int_equal(w[0], 24);
	assert_int_equal(w[1], VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER);
	assert_int_equal(w[2], VFIO_PCI_REQ_IRQ_INDEX);
	assert_int_equal(w[3], 0);
	assert_int_equal(w[4], 1);
	assert_int_equal(efd, k.efd);
	pthread_mutex_unlock(&k.lock);
	/* it is an eventfd the library keeps open */
	char path[64], link[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", efd);
	ssize_t ln = readlink(path, link, sizeof(link) - 1);
	assert_true(ln > 0);
	link[ln] = '\0';
	assert_string_equal(link, "anon_inode:[eventfd]");

	fsb_port_close(p);
	assert_int_equal(k_read(&k.disarms), disarms + 1);
	assert_int_equal(k_read(&k.closes), closes + 1);
	pthread_mutex_lock(&k.lock);
	assert_int_equal(k.last_len, 20);       /* the disarm came last */
	memcpy(w, k.last, 20);
	assert_int_equal(w[1], VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER);
	assert_int_equal(w[4], 0);
	/* no request came: nothing to time */
	pthread_mutex_unlock(&k.lock);

	/* the kernel refuses the request IRQ: the probe fails, the port
	 * runs on its standby, and the fake device fd is not leaked */
	pthread_mutex_lock(&k.lock);
	k.fail_set = -ENOTTY;
	pthread_mutex_unlock(&k.lock);
	struct fsb_bare *pb = ring_peer(e->ctx, "vs2", e->mp);
	log_capture_start(e);
	p = port_up(e->ctx, "vs,dev(ring,name=vs1,vfio=1),dev(ring,name=vs2)",
		    e->mp, NULL);
	fsb_ctx_set_log(e->ctx, NULL, NULL, FSB_LOG_WARNING);
	assert_true(logged("vs.0: arming the VFIO device request failed: "
			   "Inappropriate ioctl for device"));
	assert_int_equal(active_slot(p), 1);
	struct fsb_slot_info si;
	fsb_port_slot_info(p, 0, &si);
	assert_int_equal(si.state, FSB_SUBDEV_PARSED);
	assert_int_equal(si.last_reason, FSB_REASON_PROBE_FAILED);
	pthread_mutex_lock(&k.lock);
	k.fail_set = 0;
	pthread_mutex_unlock(&k.lock);
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
	assert_int_equal(k_read(&k.double_closes), 0);
	assert_int_equal(k_read(&k.bad_reqs), 0);
	assert_int_equal(count_fds(), fds0);
}

/* ------------------------------------------------------------------ */
/* Request under traffic: TX moves, the device goes, nothing is lost   */
/* ------------------------------------------------------------------ */

#define SEQ_MAX (1u << 24)
#define INFLIGHT 256

static struct fsb_port *tp;
static struct fsb_mempool *tpool;
static struct fsb_bare *tpeer[2];
static _Atomic bool dp_stop, rx_stop;
/* RX burst size of the datapath; below 32 it also naps 20 us per turn,
 * so that frames wait in the device when it is asked for. */
static _Atomic unsigned dp_rx_max = 32;
static _Atomic uint64_t dp_sent, dp_refused, peer_rx[2], peer_bad;
static uint8_t *seen;

static void pin(int cpu)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? (n > 1 ? n - 1 : 0) : cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* The application's datapath: TX with sequence numbers, RX counted. */
static void *dp_main(void *arg)
{
	(void)arg;
	pin(-1);
	uint64_t seq = atomic_load(&dp_sent);
	struct fsb_buf *b[32];
	while (!atomic_load_explicit(&dp_stop, memory_order_relaxed)) {
		unsigned rmax = atomic_load_explicit(&dp_rx_max,
						     memory_order_relaxed);
		uint16_t r = fsb_rx_burst(tp, 0, b, (uint16_t)rmax);
		if (r) {
			atomic_fetch_add(&port_rx, r);
			fsb_buf_free_bulk(b, r);
		}
		if (rmax < 32) {
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
		}
		uint64_t got = atomic_load(&peer_rx[0]) + atomic_load(&peer_rx[1]);
		if (seq - got > INFLIGHT || seq + 32 >= SEQ_MAX ||
		    fsb_buf_alloc_bulk(tpool, b, 32) < 0) {
			fsb_tx_burst(tp, 0, b, 0);      /* a quiescent point */
			sched_yield();
			continue;
		}
		for (unsigned i = 0; i < 32; i++) {
			uint64_t s = seq + i;
			memcpy(fsb_buf_data(b[i]), &s, sizeof(s));
			b[i]->data_len = b[i]->pkt_len = 64;
		}
		uint16_t n = fsb_tx_burst(tp, 0, b, 32);
		if (n < 32) {
			atomic_fetch_add(&dp_refused, 32u - n);
			fsb_buf_free_bulk(b + n, 32u - n);
		}
		seq += n;
		atomic_store(&dp_sent, seq);
	}
	return NULL;
}

/* The peers, outside the port: who got which sequence number. */
static void *peer_main(void *arg)
{
	(void)arg;
	struct fsb_buf *b[64];
	for (;;) {
		unsigned got = 0;
		for (int i = 0; i < 2; i++) {
			uint16_t n = fsb_bare_rx_burst(tpeer[i], 0, b, 64);
			for (uint16_t j = 0; j < n; j++) {
				uint64_t s;
				memcpy(&s, fsb_buf_data(b[j]), sizeof(s));
				if (s >= SEQ_MAX || seen[s]++)
					atomic_fetch_add(&peer_bad, 1);
			}
			fsb_buf_free_bulk(b, n);
			if (n)
				atomic_fetch_add(&peer_rx[i], n);
			got += n;
		}
		if (!got) {
			if (atomic_load(&rx_stop))
				break;
			/* a nap, not a yield-spin: the control thread
			 * shares this CPU */
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static bool closed_since(unsigned closes)
{
	return k_read(&k.closes) > closes;
}

static void test_release_under_traffic(void **state)
{
	struct env *e = *state;
	enum { RUNS = 7 };
	seen = calloc(SEQ_MAX, 1);
	assert_non_null(seen);
	tpool = e->mp;
	atomic_store(&dp_sent, 0);
	atomic_store(&dp_refused, 0);
	atomic_store(&peer_rx[0], 0);
	atomic_store(&peer_rx[1], 0);
	atomic_store(&peer_bad, 0);
	atomic_store(&port_rx, 0);
	atomic_store(&dp_stop, false);
	atomic_store(&rx_stop, false);
	struct fsb_mempool *ppool = fsb_mempool_create(e->ctx, "vpeer", 4096,
						       256, 0, -1);
	assert_non_null(ppool);
	tpeer[0] = ring_peer(e->ctx, "vfio_a", ppool);
	tpeer[1] = ring_peer(e->ctx, "vfio_b", ppool);
	e->log.n = 0;
	tp = port_up(e->ctx, "fsb0,hold_down=0,dev(ring,name=vfio_a,vfio=1),"
		     "dev(ring,name=vfio_b)", e->mp, &e->log);
	assert_int_equal(active_slot(tp), 0);

	cpu_set_t all;
	pthread_getaffinity_np(pthread_self(), sizeof(all), &all);
	pin(0);         /* peers and this thread on CPU 0, datapath last (§6) */
	pthread_t dp, pr;
	pthread_create(&pr, NULL, peer_main, NULL);
	pthread_create(&dp, NULL, dp_main, NULL);

	uint64_t took_us[RUNS], lib_us[RUNS];
	unsigned closes0 = k_read(&k.closes), arms0 = k_read(&k.arms);
	/* RUNS timed runs, then one where the device holds received frames
	 * when the request comes (a slow RX poller): the release must
	 * deliver them first (the drain), which a surprise removal skips */
	for (int run = 0; run <= RUNS; run++) {
		bool drain_run = run == RUNS;
		/* traffic on the primary first */
		uint64_t a0 = atomic_load(&peer_rx[0]);
		assert_true(WAIT_UNTIL(atomic_load(&peer_rx[0]) > a0 + 2000, 3000));
		if (drain_run)
			atomic_store(&dp_rx_max, 2);
		uint64_t rx0 = atomic_load(&port_rx);
		struct fsb_buf *b[32];
		unsigned toport = 0;
		for (int i = 0; drain_run && i < 4; i++) {
			assert_int_equal(fsb_buf_alloc_bulk(ppool, b, 32), 0);
			for (int j = 0; j < 32; j++)
				b[j]->data_len = b[j]->pkt_len = 60;
			uint16_t n = fsb_bare_tx_burst(tpeer[0], 0, b, 32);
			fsb_buf_free_bulk(b + n, 32u - n);
			toport += n;
		}
		unsigned closes = k_read(&k.closes);
		uint64_t t0 = kernel_request();
		assert_true(t0 != 0);
		assert_true(WAIT_UNTIL(closed_since(closes), 2000));
		pthread_mutex_lock(&k.lock);
		uint64_t took = (k.close_ns - t0) / 1000;
		uint64_t rx_then = k.rx_at_close;
		pthread_mutex_unlock(&k.lock);
		assert_int_equal(active_slot(tp), 1);
		/* what the device had received was delivered before it went */
		if (drain_run) {
			print_message("vfio: drain run: %u frames waiting in the "
				      "device, %llu delivered before its close "
				      "(%llu us after the request)\n", toport,
				      (unsigned long long)(rx_then - rx0),
				      (unsigned long long)took);
			assert_int_equal(rx_then - rx0, toport);
			atomic_store(&dp_rx_max, 32);
		}
		assert_true(WAIT_UNTIL(slot_state_of(tp, 0) == FSB_SUBDEV_PARSED, 2000));
		uint64_t lib = xstat(tp, "last_release_us");
		assert_true(lib > 0 && lib < 100000);
		/* generous: the release is a few ms of work at most */
		if (took > 100000)
			fail_msg("run %d: released %llu us after the request",
				 run, (unsigned long long)took);
		if (!drain_run) {
			took_us[run] = took;
			lib_us[run] = lib;
		}
		/* traffic goes on on the standby */
		uint64_t b0 = atomic_load(&peer_rx[1]);
		assert_true(WAIT_UNTIL(atomic_load(&peer_rx[1]) > b0 + 2000, 3000));
		/* the VF comes back (uevent add): re-probed, re-armed */
		fsb_port_mark(tp, 0, FSB_DEVSIG_APPEARED,
			      FSB_REASON_UEVENT_ADD);
		assert_true(WAIT_UNTIL(active_slot(tp) == 0, 3000));
		assert_int_equal(k_read(&k.arms), arms0 + (unsigned)run + 1);
	}
	atomic_store(&dp_stop, true);
	pthread_join(dp, NULL);
	uint64_t sent = atomic_load(&dp_sent);
	WAIT_UNTIL(atomic_load(&peer_rx[0]) + atomic_load(&peer_rx[1]) >= sent, 5000);
	atomic_store(&rx_stop, true);
	pthread_join(pr, NULL);

	uint64_t missing = 0;
	for (uint64_t s = 0; s < sent; s++)
		missing += !seen[s];
	uint64_t ra = atomic_load(&peer_rx[0]), rb = atomic_load(&peer_rx[1]);
	print_message("vfio: sent %llu, at peer a %llu, at peer b %llu, missing %llu, "
		      "dup/bad %llu, refused %llu, tx_no_path %llu\n",
		      (unsigned long long)sent, (unsigned long long)ra,
		      (unsigned long long)rb, (unsigned long long)missing,
		      (unsigned long long)atomic_load(&peer_bad),
		      (unsigned long long)atomic_load(&dp_refused),
		      (unsigned long long)xstat(tp, "tx_no_path"));
	assert_int_equal(missing, 0);
	assert_int_equal(ra + rb, sent);
	assert_int_equal(atomic_load(&peer_bad), 0);
	assert_int_equal(atomic_load(&dp_refused), 0);
	assert_int_equal(xstat(tp, "tx_no_path"), 0);
	assert_int_equal(xstat(tp, "switch_reason_vfio_request"), RUNS + 1);
	assert_int_equal(xstat(tp, "switch_reason_uevent_add"), RUNS + 1);
	assert_int_equal(k_read(&k.closes), closes0 + RUNS + 1);
	assert_int_equal(k_read(&k.double_closes), 0);

	/* the reason is on the events an application (fsb-fwd) prints */
	bool seen_line = false;
	pthread_mutex_lock(&e->log.lock);
	for (unsigned i = 0; i < e->log.n; i++) {
		const struct fsb_event *ev = &e->log.ev[i];
		if (ev->type != FSB_EVENT_ACTIVE_CHANGE ||
		    ev->reason != FSB_REASON_VFIO_REQUEST)
			continue;
		char line[160];
		fsb_event_format(ev, line, sizeof(line));
		assert_int_equal(ev->from_slot, 0);
		assert_int_equal(ev->to_slot, 1);
		seen_line = strstr(line, "tx slot 0 -> slot 1 (vfio-request)") != NULL;
	}
	pthread_mutex_unlock(&e->log.lock);
	assert_true(seen_line);

	qsort(took_us, RUNS, sizeof(took_us[0]), cmp_u64);
	qsort(lib_us, RUNS, sizeof(lib_us[0]), cmp_u64);
	print_message("vfio: request -> released: %llu us (median of %d; min %llu, "
		      "max %llu; library's own last_release_us median %llu us)\n",
		      (unsigned long long)took_us[RUNS / 2], RUNS,
		      (unsigned long long)took_us[0],
		      (unsigned long long)took_us[RUNS - 1],
		      (unsigned long long)lib_us[RUNS / 2]);
	fsb_port_close(tp);
	fsb_bare_close(tpeer[0]);
	fsb_bare_close(tpeer[1]);
	free(seen);
	pthread_setaffinity_np(pthread_self(), sizeof(all), &all);
}

/* ------------------------------------------------------------------ */
/* Repeats, idle queues, a queue that stops polling                    */
/* ------------------------------------------------------------------ */

/* An application that holds on (the test knob): the first ask is read
 * and ignored, nothing moves; the kernel's second ask is answered.  The
 * release time counts from the first. */
static void test_request_ignored(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "vfio_h1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "vfio_h2", e->mp);
	setenv("FSB_TEST_VFIO_REQUEST_IGNORE", "1", 1);
	struct fsb_port *p = port_up(e->ctx,
		"vfioh,hold_down=0,dev(ring,name=vfio_h1,vfio=1),dev(ring,name=vfio_h2)",
		e->mp, NULL);
	unsetenv("FSB_TEST_VFIO_REQUEST_IGNORE");
	unsigned closes = k_read(&k.closes);
	log_capture_start(e);
	assert_true(kernel_request() != 0);
	assert_true(WAIT_UNTIL(logged("vfioh.0: VFIO device request #1 ignored "
				      "(FSB_TEST_VFIO_REQUEST_IGNORE=1)"), 1000));
	assert_true(WAIT_UNTIL(settled(p), 1000));
	assert_int_equal(k_read(&k.closes), closes);
	assert_int_equal(active_slot(p), 0);
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	assert_true(kernel_request() != 0);     /* the kernel's re-ask */
	assert_true(WAIT_UNTIL(closed_since(closes), 1000));
	assert_true(WAIT_UNTIL(logged(" ms after the kernel's first request "
				      "(2 requests)"), 1000));
	fsb_ctx_set_log(e->ctx, NULL, NULL, FSB_LOG_WARNING);
	assert_int_equal(active_slot(p), 1);
	assert_true(xstat(p, "last_release_us") >= 20000);
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

static void test_release_idempotent(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "vfio_i1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "vfio_i2", e->mp);
	struct fsb_port *p = port_up(e->ctx,
		"vfio1,hold_down=0,dev(ring,name=vfio_i1,vfio=1),dev(ring,name=vfio_i2)",
		e->mp, NULL);
	unsigned closes = k_read(&k.closes);
	uint64_t saved = atomic_load(&fsb_grace_timeout_ns);

	/* 1. every queue idle (offline): nothing holds the release */
	log_capture_start(e);
	assert_true(kernel_request() != 0);
	assert_true(WAIT_UNTIL(closed_since(closes), 1000));
	assert_true(WAIT_UNTIL(logged(" ms after the kernel's first request (1 request)"), 1000));
	fsb_ctx_set_log(e->ctx, NULL, NULL, FSB_LOG_WARNING);
	assert_true(logged("vfio1.0: the kernel asks for the device back "
			   "(vfio-request): releasing it"));
	assert_true(logged("vfio1.0: released the VFIO device "));
	assert_int_equal(xstat(p, "grace_timeouts"), 0);
	assert_true(WAIT_UNTIL(settled(p), 1000));
	uint64_t dup0 = xstat(p, "dup_signals");

	/* 2. the uevent "remove" that follows a release, and a stray
	 * re-ask: the same removal, counted, nothing closed twice */
	fsb_port_mark(p, 0, FSB_DEVSIG_GONE, FSB_REASON_UEVENT_REMOVE);
	assert_true(WAIT_UNTIL(settled(p), 1000));
	fsb_port_mark(p, 0, FSB_DEVSIG_RELEASE, FSB_REASON_VFIO_REQUEST);
	assert_true(WAIT_UNTIL(settled(p), 1000));
	assert_int_equal(xstat(p, "dup_signals"), dup0 + 2);
	assert_int_equal(k_read(&k.closes), closes + 1);
	struct fsb_slot_info si;
	fsb_port_slot_info(p, 0, &si);
	assert_int_equal(si.state, FSB_SUBDEV_PARSED);
	assert_int_equal(si.last_reason, FSB_REASON_VFIO_REQUEST);
	assert_int_equal(xstat(p, "switch_reason_vfio_request"), 1);
	assert_int_equal(xstat(p, "switch_reason_uevent_remove"), 0);

	/* 3. a port restart does not grab the device back from the
	 * kernel: it waits for it to re-appear */
	unsigned arms = k_read(&k.arms);
	assert_int_equal(fsb_port_stop(p), 0);
	assert_int_equal(fsb_port_start(p), 0);
	fsb_queue_offline(p, 0);
	assert_int_equal(slot_state_of(p, 0), FSB_SUBDEV_PARSED);
	assert_int_equal(active_slot(p), 1);
	assert_int_equal(k_read(&k.arms), arms);

	/* it comes back and is armed again */
	fsb_port_mark(p, 0, FSB_DEVSIG_APPEARED, FSB_REASON_UEVENT_ADD);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));
	assert_int_equal(k_read(&k.arms), arms + 1);

	/* 4. a queue online but not polling: TX still moves at once, the
	 * close waits (bounded grace, counted, logged), the kernel's
	 * re-ask meanwhile is a duplicate, and once the queue goes offline
	 * the device is released, once */
	atomic_store(&fsb_grace_timeout_ns, 50000000ull);
	assert_int_equal(fsb_queue_online(p, 0), 0);
	closes = k_read(&k.closes);
	dup0 = xstat(p, "dup_signals");
	log_capture_start(e);           /* expected warnings, checked */
	uint64_t t0 = kernel_request();
	assert_true(t0 != 0);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 1000));
	t_sleep_ms(200);
	assert_int_equal(k_read(&k.closes), closes);       /* still held */
	assert_true(xstat(p, "grace_timeouts") >= 1);
	assert_true(kernel_request() != 0);                 /* the re-ask */
	assert_true(WAIT_UNTIL(xstat(p, "dup_signals") == dup0 + 1, 1000));
	assert_int_equal(k_read(&k.closes), closes);
	assert_int_equal(fsb_queue_offline(p, 0), 0);
	assert_true(WAIT_UNTIL(closed_since(closes), 2000));
	t_sleep_ms(50);
	fsb_ctx_set_log(e->ctx, NULL, NULL, FSB_LOG_WARNING);
	assert_true(logged("vfio1.0: VFIO release delayed: a queue is online "
			   "but not polling"));
	assert_true(logged("vfio1.0: the kernel asks again for the VFIO device "
			   "(request #2)"));
	assert_true(logged("vfio1.0: released the VFIO device "));
	assert_int_equal(k_read(&k.closes), closes + 1);
	uint64_t held_us = xstat(p, "last_release_us");
	assert_true(held_us >= 200000);      /* it measures the wait */
	assert_int_equal(xstat(p, "switch_reason_vfio_request"), 2);
	atomic_store(&fsb_grace_timeout_ns, saved);

	/* 5. stats reset leaves the gauge alone */
	assert_int_equal(fsb_port_stats_reset(p), 0);
	assert_int_equal(xstat(p, "last_release_us"), held_us);

	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
	assert_int_equal(k_read(&k.double_closes), 0);
	assert_int_equal(k_read(&k.bad_reqs), 0);
}

/* The ring option is validated like any other. */
static void test_ring_option(void **state)
{
	struct env *e = *state;
	char err[FSB_ERRMSG_MAX];
	assert_null(fsb_port_open(e->ctx, "vo,dev(ring,name=x,vfio=2)", err,
				  sizeof(err)));
	assert_non_null(strstr(err, "bad boolean"));
}

/* ------------------------------------------------------------------ */
/* Group handling: type1 and no-IOMMU, on a sysfs tree of our own      */
/* ------------------------------------------------------------------ */

static void put(const char *root, const char *rel, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	for (char *s = strchr(p + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(p, 0700);
		*s = '/';
	}
	if (text) {
		FILE *f = fopen(p, "w");
		assert_non_null(f);
		fputs(text, f);
		fclose(f);
	}
}

static void group_link(const char *root, const char *addr, const char *grp)
{
	char p[512], t[128];
	snprintf(t, sizeof(t), "bus/pci/devices/%s/x", addr);
	put(root, t, NULL);
	snprintf(p, sizeof(p), "%s/bus/pci/devices/%s/iommu_group", root, addr);
	snprintf(t, sizeof(t), "../../../../kernel/iommu_groups/%s", grp);
	unlink(p);
	assert_int_equal(symlink(t, p), 0);
}

/*
 * VFIO no-IOMMU cannot run here (Debian's kernels are built without it):
 * what decides it is tested on a sysfs tree of our own.  A group named
 * vfio-noiommu with the unsafe mode on is opened as /dev/vfio/noiommu-N
 * and the device gets physical addresses (the translation is
 * test_virtio_pci's test_kind_phys, the same path as UIO); the same
 * group with the mode off, and a device with no group, are refused with
 * one line that says what to do.
 */
static void test_group_noiommu(void **state)
{
	(void)state;
	char root[] = "/tmp/fsb-sysfs.XXXXXX";
	assert_non_null(mkdtemp(root));
	char node[64], err[512];
	bool noiommu = true;
	/* an IOMMU group: type1 */
	put(root, "kernel/iommu_groups/7/name", NULL);
	group_link(root, "0000:02:00.0", "7");
	assert_int_equal(fsb_vfio_pci_group(root, "0000:02:00.0", node, sizeof(node),
					    &noiommu, err, sizeof(err)), 0);
	assert_string_equal(node, "/dev/vfio/7");
	assert_false(noiommu);
	/* a no-IOMMU group, the mode off: refused */
	put(root, "kernel/iommu_groups/9/name", "vfio-noiommu\n");
	group_link(root, "0000:03:00.0", "9");
	put(root, "module/vfio/parameters/enable_unsafe_noiommu_mode", "N\n");
	assert_int_equal(fsb_vfio_pci_group(root, "0000:03:00.0", node, sizeof(node),
					    &noiommu, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "no-IOMMU mode is off"));
	assert_null(strchr(err, '\n'));
	/* the mode on: the noiommu node, physical addresses */
	put(root, "module/vfio/parameters/enable_unsafe_noiommu_mode", "Y\n");
	assert_int_equal(fsb_vfio_pci_group(root, "0000:03:00.0", node, sizeof(node),
					    &noiommu, err, sizeof(err)), 0);
	assert_string_equal(node, "/dev/vfio/noiommu-9");
	assert_true(noiommu);
	/* no group at all: what to do, in one line */
	put(root, "bus/pci/devices/0000:04:00.0/x", NULL);
	assert_int_equal(fsb_vfio_pci_group(root, "0000:04:00.0", node, sizeof(node),
					    &noiommu, err, sizeof(err)), -ENODEV);
	assert_non_null(strstr(err, "is the device bound to vfio-pci?"));
	put(root, "module/vfio/parameters/enable_unsafe_noiommu_mode", "N\n");
	assert_int_equal(fsb_vfio_pci_group(root, "0000:04:00.0", node, sizeof(node),
					    &noiommu, err, sizeof(err)), -ENODEV);
	assert_non_null(strstr(err, "driver=uio, or VFIO's no-IOMMU mode"));
	assert_null(strchr(err, '\n'));
	/* a group name that is not a number */
	group_link(root, "0000:05:00.0", "../x");
	assert_int_equal(fsb_vfio_pci_group(root, "0000:05:00.0", node, sizeof(node),
					    &noiommu, err, sizeof(err)), -EINVAL);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_req_bytes),
		cmocka_unit_test(test_group_noiommu),
		cmocka_unit_test_setup_teardown(test_ring_option, setup, teardown),
		cmocka_unit_test_setup_teardown(test_req_seam, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_under_traffic, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
