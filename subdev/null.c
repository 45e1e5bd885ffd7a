/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * null.c - the null sub-device: TX counts and frees, RX hands out
 * freshly allocated buffers of size= bytes.  For tests and for the
 * overhead benchmark, where it must cost as little as DPDK's net_null
 * so that what is measured is the failsafe layer above it.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "subdev.h"

#define NULL_SIZE_DEFAULT 64

struct null_queue {
	struct fsb_subdev *sd;
	struct fsb_mempool *pool;       /* rx */
	uint16_t size;
	uint16_t port_id, qid;          /* stamped into every rx buffer */
	_Atomic uint64_t pkts, bytes, nombuf;
} FSB_ALIGNED;

struct null_priv {
	uint16_t size;
	uint8_t mac[FSB_ETHER_ADDR_LEN];
	struct null_queue *rxq, *txq;
	_Atomic bool started;
};

static const struct fsb_opt_desc null_opts[] = {
	{ "size", FSB_OPT_UINT, 14, 9600 },
	{ NULL, 0, 0, 0 },
};

static int null_probe(struct fsb_subdev *sd)
{
	struct null_priv *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->size = (uint16_t)fsb_devspec_get_u64(&sd->spec, "size",
						NULL_SIZE_DEFAULT);
	/* A locally administered address derived from the slot. */
	static const uint8_t base[6] = { 0x02, 0x00, 0x4e, 0x55, 0x4c, 0x00 };
	memcpy(p->mac, base, 6);
	p->mac[4] = (uint8_t)sd->port_id;
	p->mac[5] = (uint8_t)(sd->slot < 0 ? 0xff : sd->slot);
	sd->priv = p;
	return 0;
}

static int null_configure(struct fsb_subdev *sd)
{
	struct null_priv *p = sd->priv;
	free(p->rxq);
	free(p->txq);
	p->rxq = aligned_alloc(FSB_CACHE_LINE, sizeof(*p->rxq) * FSB_MAX_QUEUES);
	p->txq = aligned_alloc(FSB_CACHE_LINE, sizeof(*p->txq) * FSB_MAX_QUEUES);
	if (!p->rxq || !p->txq)
		return -ENOMEM;
	memset(p->rxq, 0, sizeof(*p->rxq) * FSB_MAX_QUEUES);
	memset(p->txq, 0, sizeof(*p->txq) * FSB_MAX_QUEUES);
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		p->rxq[q].sd = sd;
		p->rxq[q].size = p->size;
		p->rxq[q].port_id = sd->port_id;
		p->rxq[q].qid = (uint16_t)q;
		p->txq[q].sd = sd;
		sd->rxq[q] = q < sd->conf.nb_rxq ? &p->rxq[q] : NULL;
		sd->txq[q] = q < sd->conf.nb_txq ? &p->txq[q] : NULL;
	}
	return 0;
}

static int null_start(struct fsb_subdev *sd)
{
	struct null_priv *p = sd->priv;
	for (unsigned q = 0; q < sd->conf.nb_rxq; q++) {
		struct fsb_mempool *mp = sd->rx_pool[q];
		if (mp && p->size > mp->data_room - FSB_BUF_HEADROOM) {
			fsb_log(FSB_LOG_ERR,
				"%s: size=%u does not fit the pool's data room "
				"(%u after headroom)", sd->name, p->size,
				mp->data_room - FSB_BUF_HEADROOM);
			return -EINVAL;
		}
		p->rxq[q].pool = mp;
	}
	atomic_store(&p->started, true);
	return 0;
}

static void null_stop(struct fsb_subdev *sd)
{
	struct null_priv *p = sd->priv;
	atomic_store(&p->started, false);
}

static void null_close(struct fsb_subdev *sd)
{
	struct null_priv *p = sd->priv;
	if (!p)
		return;
	free(p->rxq);
	free(p->txq);
	free(p);
	sd->priv = NULL;
}

static uint16_t null_rx_burst(void *q, struct fsb_buf **bufs, uint16_t n)
{
	struct null_queue *nq = q;
	if (FSB_UNLIKELY(!nq->pool || n == 0))
		return 0;
	if (fsb_buf_alloc_bulk(nq->pool, bufs, n) < 0) {
		fsb_counter_add(&nq->nombuf, n);
		return 0;
	}
	uint16_t size = nq->size, port = nq->port_id, qid = nq->qid;
	for (uint16_t i = 0; i < n; i++) {
		struct fsb_buf *b = bufs[i];
		b->data_len = size;
		b->pkt_len = size;
		b->port = port;
		b->queue = qid;
	}
	fsb_counter_add(&nq->pkts, n);
	fsb_counter_add(&nq->bytes, (uint64_t)n * size);
	return n;
}

static uint16_t null_tx_burst(void *q, struct fsb_buf **bufs, uint16_t n)
{
	struct null_queue *nq = q;
	uint64_t bytes = 0;
	for (uint16_t i = 0; i < n; i++)
		bytes += bufs[i]->pkt_len;
	fsb_buf_free_bulk(bufs, n);
	fsb_counter_add(&nq->pkts, n);
	fsb_counter_add(&nq->bytes, bytes);
	return n;
}

static int null_link_get(struct fsb_subdev *sd, struct fsb_link *l)
{
	struct null_priv *p = sd->priv;
	l->up = p && atomic_load(&p->started);
	l->speed_mbps = 100000;
	l->full_duplex = true;
	return 0;
}

static int null_stats_get(struct fsb_subdev *sd, struct fsb_subdev_stats *st)
{
	struct null_priv *p = sd->priv;
	memset(st, 0, sizeof(*st));
	if (!p || !p->rxq)
		return 0;
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		st->rx_packets += fsb_counter_read(&p->rxq[q].pkts);
		st->rx_bytes += fsb_counter_read(&p->rxq[q].bytes);
		st->rx_nombuf += fsb_counter_read(&p->rxq[q].nombuf);
		st->tx_packets += fsb_counter_read(&p->txq[q].pkts);
		st->tx_bytes += fsb_counter_read(&p->txq[q].bytes);
	}
	return 0;
}

static int null_mac_get(struct fsb_subdev *sd, uint8_t mac[6])
{
	struct null_priv *p = sd->priv;
	memcpy(mac, p->mac, 6);
	return 0;
}

static int null_mac_set(struct fsb_subdev *sd, const uint8_t mac[6])
{
	struct null_priv *p = sd->priv;
	memcpy(p->mac, mac, 6);
	return 0;
}

/* null accepts any MTU/promisc/allmulti: there is nothing to filter, so
 * the value has nowhere to go. */
static int null_mtu_set(struct fsb_subdev *sd, uint16_t mtu)
{
	(void)sd;
	(void)mtu;
	return 0;
}

static int null_flag_set(struct fsb_subdev *sd, bool on)
{
	(void)sd;
	(void)on;
	return 0;
}

const struct fsb_subdev_ops fsb_subdev_null_ops = {
	.desc = { .kind = "null", .opts = null_opts },
	.probe = null_probe,
	.configure = null_configure,
	.start = null_start,
	.stop = null_stop,
	.close = null_close,
	.rx_burst = null_rx_burst,
	.tx_burst = null_tx_burst,
	.link_get = null_link_get,
	.stats_get = null_stats_get,
	.mac_get = null_mac_get,
	.mac_set = null_mac_set,
	.mtu_set = null_mtu_set,
	.promisc_set = null_flag_set,
	.allmulti_set = null_flag_set,
};
