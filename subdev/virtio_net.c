/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio_net.c - the virtio-net datapath on split virtqueues (see
 * virtio_net.h): RX refill and receive, TX with the virtio-net header
 * in the headroom, reclaim of completed TX, per-queue counters.
 *
 * Moved here from virtio_user.c unchanged when virtio_pci came, so that
 * both kinds run the same code on their rings.
 */
#include "config.h"

#include <string.h>

#include "virtio_net.h"

#define VNET_RX_REFILL 32
#define VNET_TX_RECLAIM 32

/* Post as many RX buffers as the ring has room for. */
void fsb_vnet_rx_refill(struct fsb_vnet_rxq *rq)
{
	struct fsb_vq *vq = &rq->vq;
	struct fsb_buf *nb[FSB_VNET_BURST_MAX];
	uint64_t addr[FSB_VNET_BURST_MAX];
	uint32_t len[FSB_VNET_BURST_MAX];
	uint16_t hl = rq->hdr_len;
	uint64_t off = (uint64_t)rq->iova_off;
	const struct fsb_vnet_phys *ph = rq->phys;
	while (vq->nfree) {
		unsigned k = vq->nfree < FSB_VNET_BURST_MAX ? vq->nfree : FSB_VNET_BURST_MAX;
		if (fsb_buf_alloc_bulk(rq->pool, nb, k) < 0) {
			fsb_counter_add(&rq->nombuf, k);
			break;
		}
		for (unsigned i = 0; i < k; i++) {
			struct fsb_buf *b = nb[i];
			/* fresh from the pool: data_off is FSB_BUF_HEADROOM */
			uintptr_t va = (uintptr_t)b->buf_addr + FSB_BUF_HEADROOM - hl;
			addr[i] = FSB_UNLIKELY(ph) ? fsb_vnet_phys_addr(ph, va) :
				va + off;
			len[i] = (uint32_t)(b->buf_len - FSB_BUF_HEADROOM + hl);
		}
		fsb_vq_add_bulk(vq, (void **)nb, addr, len, k);
	}
	fsb_vq_publish(vq);
}

/*
 * num_buffers sits in the virtio-net header, in a cache line of the
 * headroom the application never reads; the device fills every buffer
 * of a multi-buffer frame but the last one completely (virtio 1.x
 * 5.1.6.4), so a buffer it did not fill is a frame of its own, and the
 * header is read only for a full one.  A device that lies there hands
 * us wrong frames, never a bad buffer.
 */
uint16_t fsb_vnet_rx_burst(void *q, struct fsb_buf **bufs, uint16_t n)
{
	struct fsb_vnet_rxq *rq = q;
	uint32_t lens[FSB_VNET_BURST_MAX];
	if (n > FSB_VNET_BURST_MAX)
		n = FSB_VNET_BURST_MAX;
	unsigned got = fsb_vq_get_used(&rq->vq, (void **)bufs, lens, n);
	for (unsigned i = 0; i < got; i++)
		__builtin_prefetch(bufs[i], 1);
	unsigned out = 0, drop = 0;
	uint64_t bytes = 0;
	uint16_t hl = rq->hdr_len, port = rq->port_id, qid = rq->qid;
	uint32_t cap = rq->cap;
	for (unsigned i = 0; i < got; i++) {
		struct fsb_buf *b = bufs[i];
		uint32_t len = lens[i];
		if (FSB_UNLIKELY(rq->skip || len < hl)) {
			if (rq->skip)
				rq->skip--;
			fsb_buf_free(b);
			drop++;
			continue;
		}
		if (FSB_UNLIKELY(rq->mrg && len >= cap)) {
			uint16_t nbuf;
			memcpy(&nbuf, (char *)b->buf_addr + FSB_BUF_HEADROOM - 2, 2);
			if (nbuf > 1) {
				rq->skip = nbuf - 1 < rq->vq.size ?
					(uint16_t)(nbuf - 1) : rq->vq.size;
				FSB_DP_NOTE(FSB_LOG_WARNING, rq->vq.name, 0,
					    "%s: a frame in %llu buffers dropped "
					    "(chained buffers are not supported "
					    "yet)", (unsigned long long)nbuf);
				fsb_buf_free(b);
				drop++;
				continue;
			}
		}
		len -= hl;
		b->data_len = (uint16_t)len;
		b->pkt_len = len;
		b->port = port;
		b->queue = qid;
		bytes += len;
		bufs[out++] = b;
	}
	/* a broken ring gets nothing more from us */
	if (rq->vq.nfree >= VNET_RX_REFILL && !rq->vq.broken)
		fsb_vnet_rx_refill(rq);
	if (out) {
		fsb_counter_add(&rq->pkts, out);
		fsb_counter_add(&rq->bytes, bytes);
	}
	if (FSB_UNLIKELY(drop))
		fsb_counter_add(&rq->missed, drop);
	return (uint16_t)out;
}

/*
 * Free the buffers of completed transmissions: one batch of at most
 * FSB_VNET_BURST_MAX per call, not everything the device has finished.  The
 * caller asks when fewer than a burst's worth of descriptors are free,
 * so one batch is enough, and freeing a few dozen at a time matches what
 * the next bursts allocate: the buffers stay in this thread's mempool
 * cache.  Freeing the whole ring at once (hundreds) overflowed the cache
 * into the shared ring and back (perf: 8 % of the TX path in ring
 * put/get at 64 B).
 */
static void vnet_tx_reclaim(struct fsb_vnet_txq *tq)
{
	void *done[FSB_VNET_BURST_MAX];
	unsigned k = fsb_vq_get_used(&tq->vq, done, NULL, FSB_VNET_BURST_MAX);
	if (k)
		fsb_buf_free_bulk((struct fsb_buf **)done, k);
}

/*
 * Zero the virtio-net header in front of the data, but store only where
 * it is not zero already.  Buffers come back from the backend with the
 * header as we left it, so usually nothing is written: the line then
 * stays shared between our cache and the backend's, and the backend's
 * read of it costs no transfer from our core (one cache line per
 * packet; DPDK's virtio PMD does the same).
 */
static inline void vnet_hdr_zero(char *hdr, uint16_t hl)
{
	if (FSB_LIKELY(hl == 12)) {
		uint64_t a;
		uint32_t b;
		memcpy(&a, hdr, 8);
		memcpy(&b, hdr + 8, 4);
		if (FSB_UNLIKELY(a | b)) {
			a = 0;
			b = 0;
			memcpy(hdr, &a, 8);
			memcpy(hdr + 8, &b, 4);
		}
	} else {
		memset(hdr, 0, hl);
	}
}

uint16_t fsb_vnet_tx_burst(void *q, struct fsb_buf **bufs, uint16_t n)
{
	struct fsb_vnet_txq *tq = q;
	struct fsb_vq *vq = &tq->vq;
	if (FSB_UNLIKELY(vq->broken))
		return 0;
	if (vq->nfree < n || vq->nfree < VNET_TX_RECLAIM)
		vnet_tx_reclaim(tq);
	if (n > FSB_VNET_BURST_MAX)
		n = FSB_VNET_BURST_MAX;
	unsigned k = n < vq->nfree ? n : vq->nfree;
	uint16_t hl = tq->hdr_len;
	const uint64_t *known = tq->known_gen;
	const int64_t *ioff = __atomic_load_n(&tq->iova_off, __ATOMIC_ACQUIRE);
	const struct fsb_vnet_phys *phys = tq->phys;
	/* Pools are checked only when one was created after the memory
	 * table was sent: one load per burst, none per packet. */
	bool new_pools = fsb_mempool_epoch() !=
		__atomic_load_n(tq->table_epoch, __ATOMIC_RELAXED);
	void *ck[FSB_VNET_BURST_MAX];
	uint64_t addr[FSB_VNET_BURST_MAX];
	uint32_t len[FSB_VNET_BURST_MAX];
	uint64_t bytes = 0;
	unsigned m = 0, bad = 0;
	for (unsigned i = 0; i < k; i++) {
		struct fsb_buf *b = bufs[i];
		struct fsb_mempool *mp = b->pool;
		if (FSB_UNLIKELY(b->data_off < hl || b->next ||
				 (new_pools && __atomic_load_n(&known[mp->id],
							       __ATOMIC_RELAXED) != mp->gen))) {
			if (b->next)
				FSB_DP_NOTE(FSB_LOG_WARNING, vq->name, 0,
					    "%s: a chained tx buffer was dropped "
					    "(tx_errors): chains are not "
					    "supported yet");
			else if (b->data_off < hl)
				FSB_DP_NOTE(FSB_LOG_WARNING, vq->name, 0,
					    "%s: a tx buffer with %llu bytes of "
					    "headroom was dropped (tx_errors): "
					    "the virtio-net header needs %llu",
					    (unsigned long long)b->data_off,
					    (unsigned long long)hl);
			else
				FSB_DP_NOTE(FSB_LOG_WARNING, vq->name, 0,
					    "%s: a tx buffer was dropped "
					    "(tx_errors): its pool was created "
					    "after the device was given the "
					    "memory (restart the port)");
			fsb_buf_free(b);
			bad++;
			continue;
		}
		char *hdr = (char *)b->buf_addr + b->data_off - hl;
		vnet_hdr_zero(hdr, hl);
		ck[m] = b;
		addr[m] = (uintptr_t)hdr;
		if (FSB_UNLIKELY(phys))
			addr[m] = fsb_vnet_phys_addr(&phys[mp->id], (uintptr_t)hdr);
		else if (ioff)
			addr[m] += (uint64_t)__atomic_load_n(&ioff[mp->id],
							     __ATOMIC_RELAXED);
		len[m] = (uint32_t)b->data_len + hl;
		bytes += b->data_len;
		m++;
	}
	fsb_vq_add_bulk(vq, ck, addr, len, m);
	fsb_vq_publish(vq);
	if (m) {
		fsb_counter_add(&tq->pkts, m);
		fsb_counter_add(&tq->bytes, bytes);
	}
	if (FSB_UNLIKELY(bad))
		fsb_counter_add(&tq->errors, bad);
	return (uint16_t)k;
}

/* ---- TX stall watchdog (virtio_net.h) ---- */

void fsb_vnet_watchdog_reset(struct fsb_vnet_watchdog *wd)
{
	memset(wd->q, 0, sizeof(wd->q));
	wd->look_ns = 0;
	wd->progressed = false;
	wd->stalled_ns = 0;
	atomic_store(&wd->stalled, false);
}

#define FSB_VNET_FIRST_USE_NS 1000000000ull

/* How often to look: a fifth of the limit, at most every 10 ms (a
 * stall is then declared within limit + one period). */
static uint64_t stall_period_ns(uint64_t limit_ns)
{
	uint64_t p = limit_ns / 5;
	if (p > 10000000ull)
		p = 10000000ull;
	if (p < 1000000ull)
		p = 1000000ull;
	return p;
}

uint64_t fsb_vnet_watchdog_run(struct fsb_vnet_watchdog *wd,
			       struct fsb_subdev *sd,
			       struct fsb_vnet_txq *const *txq, unsigned n,
			       uint64_t now)
{
	if (!sd->stall_ms)
		return 0;
	uint64_t limit = (uint64_t)sd->stall_ms * 1000000ull;
	uint64_t period = stall_period_ns(limit);
	/* a device that has used nothing yet since its start may still be
	 * starting its own side (testpmd polls ~1 s after the setup): it
	 * gets at least a second before its first use is called late */
	if (!wd->progressed && limit < FSB_VNET_FIRST_USE_NS)
		limit = FSB_VNET_FIRST_USE_NS;
	/* late: we, not the device, were away; judge from now on */
	bool fresh = !wd->look_ns || now - wd->look_ns > 3 * period + 5000000ull;
	wd->look_ns = now;
	bool moved = false;
	int stuck = -1;
	unsigned stuck_pending = 0;
	uint64_t stuck_for = 0, stuck_since = 0;
	for (unsigned i = 0; i < n && i < FSB_MAX_QUEUES; i++) {
		struct fsb_vnet_txq *tq = txq[i];
		struct fsb_vnet_stall_q *w = &wd->q[i];
		if (!tq || !tq->vq.used)
			continue;
		uint16_t u = __atomic_load_n(&tq->vq.used->idx, __ATOMIC_ACQUIRE);
		uint16_t a = __atomic_load_n(&tq->vq.avail->idx, __ATOMIC_ACQUIRE);
		uint16_t pending = (uint16_t)(a - u);
		if (u != w->used) {
			moved = true;
			w->used = u;
			w->since_ns = now;
			continue;
		}
		if (pending == 0 || pending > tq->vq.size || fresh) {
			/* idle (or an index we cannot judge: the ring's own
			 * checks deal with a device that writes nonsense) */
			w->since_ns = now;
			continue;
		}
		if (now - w->since_ns >= limit && stuck < 0) {
			stuck = (int)i;
			stuck_pending = pending;
			stuck_for = now - w->since_ns;
			stuck_since = w->since_ns;
		}
	}
	if (moved)
		wd->progressed = true;
	bool was = atomic_load(&wd->stalled);
	if (!was && stuck >= 0) {
		atomic_store(&wd->stalled, true);
		wd->stalled_ns = now;
		fsb_counter_add(&wd->stalls, 1);
		fsb_log(FSB_LOG_WARNING, "%s: tx queue %d: the device has used "
			"none of the %u descriptors waiting for it in %llu ms "
			"(stall_ms=%u): stalled, link down", sd->name, stuck,
			stuck_pending, (unsigned long long)(stuck_for / 1000000),
			(unsigned)sd->stall_ms);
		/* the outage began at the last progress seen, not now: the
		 * failover's downtime counts from there (the same batch) */
		fsb_subdev_notify(sd, FSB_DEVSIG_LINK_DOWN, FSB_REASON_STALLED);
		fsb_subdev_tx_failing(sd, stuck_since);
	} else if (was && moved && stuck < 0) {
		atomic_store(&wd->stalled, false);
		fsb_log(FSB_LOG_NOTICE, "%s: the device uses tx descriptors "
			"again after %llu ms stalled: link up", sd->name,
			(unsigned long long)((now - wd->stalled_ns) / 1000000));
		fsb_subdev_notify(sd, FSB_DEVSIG_LINK_UP, FSB_REASON_LINK_UP);
	}
	return now + period;
}

unsigned fsb_vnet_tx_reclaim_unsent(struct fsb_vnet_txq *tq)
{
	struct fsb_vq *vq = &tq->vq;
	if (!vq->slot)
		return 0;
	unsigned held = fsb_vq_in_flight(vq);
	/* those the device used, and we had not taken back yet, did go */
	uint16_t done = (uint16_t)(__atomic_load_n(&vq->used->idx,
						   __ATOMIC_ACQUIRE) - vq->used_idx);
	if (vq->broken || done > held)
		done = 0;       /* a device that lied: count what we know */
	unsigned unsent = held - done;
	fsb_vq_reclaim(vq, fsb_vnet_buf_free, NULL);
	if (unsent)
		fsb_counter_add(&tq->errors, unsent);
	return unsent;
}

void fsb_vnet_buf_free(void *cookie, void *arg)
{
	(void)arg;
	fsb_buf_free(cookie);
}

void fsb_vnet_stats_add(const struct fsb_vnet_rxq *rq,
			const struct fsb_vnet_txq *tq,
			struct fsb_subdev_stats *st)
{
	struct fsb_vnet_rxq *r = (struct fsb_vnet_rxq *)rq;
	struct fsb_vnet_txq *t = (struct fsb_vnet_txq *)tq;
	st->rx_packets += fsb_counter_read(&r->pkts);
	st->rx_bytes += fsb_counter_read(&r->bytes);
	st->rx_missed += fsb_counter_read(&r->missed);
	st->rx_nombuf += fsb_counter_read(&r->nombuf);
	st->tx_packets += fsb_counter_read(&t->pkts);
	st->tx_bytes += fsb_counter_read(&t->bytes);
	st->tx_errors += fsb_counter_read(&t->errors);
}

void fsb_vnet_stats_reset(struct fsb_vnet_rxq *rq, struct fsb_vnet_txq *tq)
{
	atomic_store(&rq->pkts, 0);
	atomic_store(&rq->bytes, 0);
	atomic_store(&rq->missed, 0);
	atomic_store(&rq->nombuf, 0);
	atomic_store(&tq->pkts, 0);
	atomic_store(&tq->bytes, 0);
	atomic_store(&tq->errors, 0);
}
