/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ring.c - the ring sub-device: an in-process pair.
 *
 * Two ring sub-devices with the same name= (in any ports, or bare) are
 * the two ends of one link.  Per queue index q there is one SPSC ring in
 * each direction; end e transmits into ring[q][e] and receives from
 * ring[q][1-e].  Buffers pass by pointer, payload untouched.
 *
 * The pair (and its rings) lives while either end is probed, so packets
 * in flight survive one end's detach and re-attach: a planned detach
 * loses nothing.  Only when the last end closes are leftovers freed, and
 * counted in the log.
 *
 * Link: up while both ends are started (and the test hook allows).  An
 * end that starts or stops signals the other end's port, as a cable
 * would.
 *
 * Queue objects are mapped with mmap() and, at close, made PROT_NONE and
 * kept in a small quarantine (the oldest is unmapped when it is full), so
 * that any access after close (a missing grace period) faults in every
 * build, not only under ASan, and the address is not handed straight
 * back to the next configure.
 *
 * fsb_ring_test_tx_delay_ns holds each tx_burst between receiving its
 * queue and touching it, to widen the window a grace period must cover
 * (the stress test).
 *
 * Test hook: fsb_ring_test_hook() forces chosen ops to -ENOTSUP and the
 * link down, to exercise config replay and link-driven failover.
 *
 * bar=1 gives the end a fake device BAR: one page of a memfd, mapped
 * shared and registered with the SIGBUS registry before its first
 * access.  Its first word is a doorbell/status register that probe and
 * every burst read (one load): all-ones means the device is gone and
 * the burst moves nothing.  Truncating the memfd
 * (fsb_ring_test_bar_fd) kills the BAR for real: the next burst takes a
 * SIGBUS, the handler remaps the page to all-ones and marks the end
 * gone, the burst refuses, and the port fails over.  Close unregisters
 * and unmaps it (after the port's grace period).
 *
 * vfio=1 gives the end a fake VFIO device: a memfd stands for the device
 * fd, armed for device requests through src/vfio.c at probe and closed
 * through its seam at close, exactly as a VFIO kind would (tests replace
 * the seam and play the kernel with the eventfd it is handed).  With the
 * real seam the ioctl on a memfd fails (ENOTTY) and so does the probe:
 * the option is for tests only.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ring.h"
#include "subdev.h"
#include "sigbus.h"
#include "vfio.h"

struct ring_pair {
	char name[FSB_NAME_MAX];
	struct ring_pair *next;
	struct fsb_subdev *end[2];
	_Atomic bool started[2];
	struct fsb_spsc *ring[FSB_MAX_QUEUES][2];
	uint32_t ring_size;
};

struct ring_queue {
	const volatile uint32_t *bar;   /* doorbell, read once per burst */
	struct fsb_spsc *ring;
	uint16_t port_id, qid;          /* rx: stamped into every buffer */
	_Atomic uint64_t pkts, bytes, errors;
};

struct ring_priv {
	struct ring_pair *pair;
	int end;
	struct ring_queue *q;          /* mmap'd: rx [0..N), tx [N..2N) */
	size_t q_len;
	struct fsb_ring_config cfg;
	/* bar=1: the fake BAR (a memfd page) and its registry handle */
	int bar_fd;
	uint32_t *bar;
	size_t bar_len;
	int bar_h;
	struct fsb_vfio_req *vfio;     /* vfio=1: the fake device */
};

/* What a burst reads without bar=1: a doorbell that is always fine, so
 * the burst makes the same one load either way. */
static const uint32_t no_bar;

static pthread_mutex_t pairs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ring_pair *pairs;

_Atomic uint32_t fsb_ring_test_tx_delay_ns;
_Atomic bool fsb_ring_test_bar_dead_at_probe;

#define QUARANTINE 64
static struct { void *addr; size_t len; } quarantine[QUARANTINE];
static unsigned quarantine_next;

static int ring_validate(const struct fsb_devspec *d, char *msg, size_t len)
{
	if (!fsb_devspec_get(d, "name")) {
		snprintf(msg, len, "ring needs name=");
		return -EINVAL;
	}
	return 0;
}

static const struct fsb_opt_desc ring_opts[] = {
	{ "name", FSB_OPT_NAME, 0, 0 },
	{ "bar", FSB_OPT_BOOL, 0, 0 },
	{ "vfio", FSB_OPT_BOOL, 0, 0 },
	{ NULL, 0, 0, 0 },
};

static bool hooked(struct fsb_subdev *sd, unsigned op)
{
	return atomic_load(&sd->test_enotsup) & op;
}

/* Tell the other end's port that its link may have changed. */
static void peer_signal(struct ring_pair *p, int end, bool up)
{
	struct fsb_subdev *peer = p->end[1 - end];
	if (peer)
		fsb_subdev_notify(peer,
				  up ? FSB_DEVSIG_LINK_UP : FSB_DEVSIG_LINK_DOWN,
				  up ? FSB_REASON_LINK_UP : FSB_REASON_LINK_DOWN);
}

static void ring_close(struct fsb_subdev *sd);

/* vfio=1: a memfd stands for the VFIO device fd; arm its request. */
static int ring_fake_vfio_open(struct fsb_subdev *sd, struct ring_priv *priv)
{
	int fd = memfd_create("fsb-fake-vfio", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	priv->vfio = fsb_vfio_req_open(fd, sd->name, &sd->notify);
	if (!priv->vfio) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return 0;
}

static void ring_bar_close(struct ring_priv *priv)
{
	if (!priv->bar)
		return;
	fsb_sigbus_unregister(priv->bar_h);
	munmap(priv->bar, priv->bar_len);
	close(priv->bar_fd);
	priv->bar = NULL;
	priv->bar_fd = -1;
}

/* bar=1: map the fake BAR, register it, then read the doorbell, as a
 * driver's probe reads a device register (a fault here is covered). */
static int ring_bar_open(struct fsb_subdev *sd, struct ring_priv *priv)
{
	priv->bar_fd = -1;
	priv->bar_h = -1;
	if (!fsb_devspec_get_u64(&sd->spec, "bar", 0))
		return 0;
	priv->bar_len = (size_t)sysconf(_SC_PAGESIZE);
	int fd = memfd_create("fsb-ring-bar", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)priv->bar_len) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	void *m = mmap(NULL, priv->bar_len, PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	int h = fsb_sigbus_register(m, priv->bar_len, &sd->notify, sd->name);
	if (h < 0) {
		munmap(m, priv->bar_len);
		close(fd);
		return h;
	}
	priv->bar_fd = fd;
	priv->bar = m;
	priv->bar_h = h;
	/* test: the device vanishes between mapping and first read */
	if (atomic_load(&fsb_ring_test_bar_dead_at_probe))
		(void)!ftruncate(fd, 0);
	if (*(const volatile uint32_t *)priv->bar == UINT32_MAX) {
		fsb_log(FSB_LOG_WARNING, "%s: BAR reads all-ones: no device",
			sd->name);
		ring_bar_close(priv);
		return -ENODEV;
	}
	return 0;
}

_Atomic unsigned fsb_ring_test_probe_eagain;

static int ring_probe(struct fsb_subdev *sd)
{
	if (hooked(sd, FSB_OP_PROBE))
		return -ENOTSUP;
	/* test: a device that is there but not ready yet */
	unsigned left = atomic_load(&fsb_ring_test_probe_eagain);
	while (left && !atomic_compare_exchange_weak(&fsb_ring_test_probe_eagain,
						     &left, left - 1))
		;
	if (left)
		return -EAGAIN;
	const char *name = fsb_devspec_get(&sd->spec, "name");
	struct ring_priv *priv = calloc(1, sizeof(*priv));
	if (!priv)
		return -ENOMEM;
	int brc = ring_bar_open(sd, priv);
	if (brc < 0) {
		free(priv);
		return brc;
	}
	pthread_mutex_lock(&pairs_lock);
	struct ring_pair *p;
	for (p = pairs; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			break;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p) {
			pthread_mutex_unlock(&pairs_lock);
			ring_bar_close(priv);
			free(priv);
			return -ENOMEM;
		}
		snprintf(p->name, sizeof(p->name), "%s", name);
		p->next = pairs;
		pairs = p;
	}
	int end = !p->end[0] ? 0 : !p->end[1] ? 1 : -1;
	if (end < 0) {
		pthread_mutex_unlock(&pairs_lock);
		ring_bar_close(priv);
		free(priv);
		fsb_log(FSB_LOG_ERR, "%s: ring '%s' already has two ends",
			sd->name, name);
		return -EBUSY;
	}
	p->end[end] = sd;
	priv->pair = p;
	priv->end = end;
	sd->priv = priv;
	pthread_mutex_unlock(&pairs_lock);
	if (fsb_devspec_get_u64(&sd->spec, "vfio", 0)) {
		int rc = ring_fake_vfio_open(sd, priv);
		if (rc < 0) {
			ring_close(sd);
			return rc;
		}
	}
	return 0;
}

/* Retire the queue objects: inaccessible from now on (pairs_lock held). */
static void ring_queues_retire(struct ring_priv *priv)
{
	if (!priv->q)
		return;
	mprotect(priv->q, priv->q_len, PROT_NONE);
	unsigned i = quarantine_next++ % QUARANTINE;
	if (quarantine[i].addr)
		munmap(quarantine[i].addr, quarantine[i].len);
	quarantine[i].addr = priv->q;
	quarantine[i].len = priv->q_len;
	priv->q = NULL;
}

static int ring_configure(struct fsb_subdev *sd)
{
	if (hooked(sd, FSB_OP_CONFIGURE))
		return -ENOTSUP;
	struct ring_priv *priv = sd->priv;
	struct ring_pair *p = priv->pair;
	unsigned nq = sd->conf.nb_rxq > sd->conf.nb_txq ?
		sd->conf.nb_rxq : sd->conf.nb_txq;

	pthread_mutex_lock(&pairs_lock);
	ring_queues_retire(priv);
	pthread_mutex_unlock(&pairs_lock);
	priv->q_len = sizeof(struct ring_queue) * 2 * FSB_MAX_QUEUES;
	void *m = mmap(NULL, priv->q_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -errno;
	priv->q = m;

	pthread_mutex_lock(&pairs_lock);
	if (!p->ring_size)
		p->ring_size = fsb_pow2_ceil(sd->conf.nb_txd > sd->conf.nb_rxd ?
					     sd->conf.nb_txd : sd->conf.nb_rxd);
	for (unsigned q = 0; q < nq; q++) {
		for (int e = 0; e < 2; e++) {
			if (p->ring[q][e])
				continue;
			p->ring[q][e] = fsb_spsc_new(p->ring_size);
			if (!p->ring[q][e]) {
				ring_queues_retire(priv);
				pthread_mutex_unlock(&pairs_lock);
				return -ENOMEM;
			}
		}
	}
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		struct ring_queue *rx = &priv->q[q], *tx = &priv->q[FSB_MAX_QUEUES + q];
		rx->bar = tx->bar = priv->bar ? priv->bar : &no_bar;
		rx->ring = q < sd->conf.nb_rxq ? p->ring[q][1 - priv->end] : NULL;
		rx->port_id = sd->port_id;
		rx->qid = (uint16_t)q;
		tx->ring = q < sd->conf.nb_txq ? p->ring[q][priv->end] : NULL;
		sd->rxq[q] = rx->ring ? rx : NULL;
		sd->txq[q] = tx->ring ? tx : NULL;
	}
	pthread_mutex_unlock(&pairs_lock);
	return 0;
}

static int ring_start(struct fsb_subdev *sd)
{
	if (hooked(sd, FSB_OP_START))
		return -ENOTSUP;
	struct ring_priv *priv = sd->priv;
	pthread_mutex_lock(&pairs_lock);
	atomic_store(&priv->pair->started[priv->end], true);
	peer_signal(priv->pair, priv->end, true);
	pthread_mutex_unlock(&pairs_lock);
	return 0;
}

static void ring_stop(struct fsb_subdev *sd)
{
	struct ring_priv *priv = sd->priv;
	pthread_mutex_lock(&pairs_lock);
	atomic_store(&priv->pair->started[priv->end], false);
	peer_signal(priv->pair, priv->end, false);
	pthread_mutex_unlock(&pairs_lock);
}

static void ring_close(struct fsb_subdev *sd)
{
	struct ring_priv *priv = sd->priv;
	if (!priv)
		return;
	pthread_mutex_lock(&pairs_lock);
	ring_queues_retire(priv);
	struct ring_pair *p = priv->pair;
	p->end[priv->end] = NULL;
	atomic_store(&p->started[priv->end], false);
	if (!p->end[0] && !p->end[1]) {
		unsigned long dropped = 0;
		for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
			for (int e = 0; e < 2; e++) {
				struct fsb_spsc *r = p->ring[q][e];
				void *b;
				if (!r)
					continue;
				while (fsb_spsc_dequeue(r, &b, 1) == 1) {
					fsb_buf_free(b);
					dropped++;
				}
				fsb_spsc_free(r);
			}
		}
		if (dropped)
			fsb_log(FSB_LOG_NOTICE,
				"ring '%s': %lu packets left in flight were freed "
				"when its last end closed", p->name, dropped);
		struct ring_pair **pp = &pairs;
		while (*pp != p)
			pp = &(*pp)->next;
		*pp = p->next;
		free(p);
	}
	pthread_mutex_unlock(&pairs_lock);
	ring_bar_close(priv);
	/* releases the device; the time since a request goes to the port */
	sd->release_us = fsb_vfio_req_close(priv->vfio);
	free(priv);
	sd->priv = NULL;
}

static uint16_t ring_rx_burst(void *q, struct fsb_buf **bufs, uint16_t n)
{
	struct ring_queue *rq = q;
	if (FSB_UNLIKELY(*rq->bar == UINT32_MAX))
		return 0;               /* the device is gone */
	unsigned got = fsb_spsc_dequeue(rq->ring, (void **)bufs, n);
	if (got) {
		uint64_t bytes = 0;
		uint16_t port = rq->port_id, qid = rq->qid;
		for (unsigned i = 0; i < got; i++) {
			struct fsb_buf *b = bufs[i];
			bytes += b->pkt_len;
			b->port = port;
			b->queue = qid;
		}
		fsb_counter_add(&rq->pkts, got);
		fsb_counter_add(&rq->bytes, bytes);
	}
	return (uint16_t)got;
}

static void test_delay(uint32_t ns)
{
	uint64_t until = fsb_now_ns() + ns;
	while (fsb_now_ns() < until)
		;
}

static uint16_t ring_tx_burst(void *q, struct fsb_buf **bufs, uint16_t n)
{
	struct ring_queue *tq = q;
	uint32_t delay = atomic_load_explicit(&fsb_ring_test_tx_delay_ns,
					      memory_order_relaxed);
	if (FSB_UNLIKELY(delay))
		test_delay(delay);
	if (FSB_UNLIKELY(*tq->bar == UINT32_MAX))
		return 0;               /* gone: refuse, the caller keeps all */
	unsigned sent = fsb_spsc_enqueue(tq->ring, (void *const *)bufs, n);
	if (sent) {
		uint64_t bytes = 0;
		for (unsigned i = 0; i < sent; i++)
			bytes += bufs[i]->pkt_len;
		fsb_counter_add(&tq->pkts, sent);
		fsb_counter_add(&tq->bytes, bytes);
	}
	return (uint16_t)sent;
}

static unsigned ring_rx_pending(struct fsb_subdev *sd)
{
	struct ring_priv *priv = sd->priv;
	unsigned n = 0;
	if (!priv || !priv->q)
		return 0;
	for (unsigned q = 0; q < sd->conf.nb_rxq; q++)
		if (priv->q[q].ring)
			n += fsb_spsc_count(priv->q[q].ring);
	return n;
}

static int ring_link_get(struct fsb_subdev *sd, struct fsb_link *l)
{
	struct ring_priv *priv = sd->priv;
	memset(l, 0, sizeof(*l));
	if (!priv)
		return 0;
	struct ring_pair *p = priv->pair;
	l->up = atomic_load(&p->started[priv->end]) &&
		atomic_load(&p->started[1 - priv->end]) &&
		!atomic_load(&sd->test_link_down);
	l->speed_mbps = 10000;
	l->full_duplex = true;
	return 0;
}

static int ring_stats_get(struct fsb_subdev *sd, struct fsb_subdev_stats *st)
{
	if (hooked(sd, FSB_OP_STATS_GET))
		return -ENOTSUP;
	struct ring_priv *priv = sd->priv;
	memset(st, 0, sizeof(*st));
	if (!priv || !priv->q)
		return 0;
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		st->rx_packets += fsb_counter_read(&priv->q[q].pkts);
		st->rx_bytes += fsb_counter_read(&priv->q[q].bytes);
		st->tx_packets += fsb_counter_read(&priv->q[FSB_MAX_QUEUES + q].pkts);
		st->tx_bytes += fsb_counter_read(&priv->q[FSB_MAX_QUEUES + q].bytes);
		st->tx_errors += fsb_counter_read(&priv->q[FSB_MAX_QUEUES + q].errors);
	}
	return 0;
}

/* Zero this end's counters, as a device reset would: the port folds. */
static int ring_stats_reset(struct fsb_subdev *sd)
{
	struct ring_priv *priv = sd->priv;
	if (!priv || !priv->q)
		return 0;
	for (unsigned q = 0; q < 2 * FSB_MAX_QUEUES; q++) {
		atomic_store(&priv->q[q].pkts, 0);
		atomic_store(&priv->q[q].bytes, 0);
		atomic_store(&priv->q[q].errors, 0);
	}
	return 0;
}

static int ring_mac_get(struct fsb_subdev *sd, uint8_t mac[6])
{
	struct ring_priv *priv = sd->priv;
	static const uint8_t base[6] = { 0x02, 0x00, 0x52, 0x49, 0x00, 0x00 };
	memcpy(mac, base, 6);
	mac[4] = (uint8_t)(priv->end + 1);
	mac[5] = (uint8_t)sd->port_id;
	return 0;
}

static int ring_mac_set(struct fsb_subdev *sd, const uint8_t mac[6])
{
	struct ring_priv *priv = sd->priv;
	if (hooked(sd, FSB_OP_MAC_SET))
		return -ENOTSUP;
	memcpy(priv->cfg.mac, mac, 6);
	priv->cfg.applied |= FSB_OP_MAC_SET;
	return 0;
}

static int ring_mtu_set(struct fsb_subdev *sd, uint16_t mtu)
{
	struct ring_priv *priv = sd->priv;
	if (hooked(sd, FSB_OP_MTU_SET))
		return -ENOTSUP;
	priv->cfg.mtu = mtu;
	priv->cfg.applied |= FSB_OP_MTU_SET;
	return 0;
}

static int ring_promisc_set(struct fsb_subdev *sd, bool on)
{
	struct ring_priv *priv = sd->priv;
	if (hooked(sd, FSB_OP_PROMISC_SET))
		return -ENOTSUP;
	priv->cfg.promisc = on;
	priv->cfg.applied |= FSB_OP_PROMISC_SET;
	return 0;
}

static int ring_allmulti_set(struct fsb_subdev *sd, bool on)
{
	struct ring_priv *priv = sd->priv;
	if (hooked(sd, FSB_OP_ALLMULTI_SET))
		return -ENOTSUP;
	priv->cfg.allmulti = on;
	priv->cfg.applied |= FSB_OP_ALLMULTI_SET;
	return 0;
}

static int ring_mc_list_set(struct fsb_subdev *sd,
			    const uint8_t (*macs)[6], unsigned n)
{
	struct ring_priv *priv = sd->priv;
	if (hooked(sd, FSB_OP_MC_LIST_SET))
		return -ENOTSUP;
	priv->cfg.mc_count = n;
	memset(priv->cfg.mc_first, 0, sizeof(priv->cfg.mc_first));
	if (n)
		memcpy(priv->cfg.mc_first, macs[0], sizeof(priv->cfg.mc_first));
	priv->cfg.applied |= FSB_OP_MC_LIST_SET;
	return 0;
}

void fsb_ring_test_hook(struct fsb_subdev *sd, unsigned enotsup_mask,
			bool link_down)
{
	atomic_store(&sd->test_enotsup, enotsup_mask);
	bool was = atomic_exchange(&sd->test_link_down, link_down);
	if (was != link_down)
		fsb_subdev_notify(sd, link_down ? FSB_DEVSIG_LINK_DOWN :
				  FSB_DEVSIG_LINK_UP, link_down ?
				  FSB_REASON_LINK_DOWN : FSB_REASON_LINK_UP);
}

int fsb_ring_test_bar_fd(struct fsb_subdev *sd)
{
	struct ring_priv *priv = sd->priv;
	if (sd->ops != &fsb_subdev_ring_ops || !priv || !priv->bar)
		return -ENODEV;
	return priv->bar_fd;
}

int fsb_ring_config_get(struct fsb_subdev *sd, struct fsb_ring_config *c)
{
	struct ring_priv *priv = sd->priv;
	if (!priv || sd->ops != &fsb_subdev_ring_ops)
		return -ENODEV;
	*c = priv->cfg;
	return 0;
}

const struct fsb_subdev_ops fsb_subdev_ring_ops = {
	.desc = { .kind = "ring", .opts = ring_opts, .validate = ring_validate },
	.probe = ring_probe,
	.configure = ring_configure,
	.start = ring_start,
	.stop = ring_stop,
	.close = ring_close,
	.rx_burst = ring_rx_burst,
	.tx_burst = ring_tx_burst,
	.rx_pending = ring_rx_pending,
	.link_get = ring_link_get,
	.stats_get = ring_stats_get,
	.stats_reset = ring_stats_reset,
	.mac_get = ring_mac_get,
	.mac_set = ring_mac_set,
	.mtu_set = ring_mtu_set,
	.promisc_set = ring_promisc_set,
	.allmulti_set = ring_allmulti_set,
	.mc_list_set = ring_mc_list_set,
};
