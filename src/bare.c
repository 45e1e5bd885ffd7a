/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bare.c - one sub-device driven with no failsafe layer.
 *
 * This exists so that the overhead of the failsafe layer can be measured
 * like for like: fsb-fwd --bare 'null' against --port 'fsb0,dev(null)'
 * runs the same sub-device code through the same shared library, and the
 * difference is the port's TX choice, RX polling and QSBR.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "subdev.h"

struct fsb_bare {
	struct fsb_subdev sd;
	int state;
};

struct fsb_bare *fsb_bare_open(struct fsb_ctx *ctx, const char *spec,
			       const struct fsb_port_conf *conf, char *err,
			       size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!ctx || !spec || !conf || conf->nb_rxq < 1 || conf->nb_txq < 1 ||
	    conf->nb_rxq > FSB_MAX_QUEUES || conf->nb_txq > FSB_MAX_QUEUES) {
		errno = EINVAL;
		return NULL;
	}
	struct fsb_bare *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	struct fsb_devspec *d = malloc(sizeof(*d));
	if (!d) {
		free(b);
		return NULL;
	}
	int rc = fsb_devspec_parse(spec, d, err, errlen);
	if (rc < 0) {
		free(d);
		free(b);
		errno = -rc;
		return NULL;
	}
	fsb_subdev_init(&b->sd, d, UINT16_MAX, -1, "bare");
	free(d);
	b->sd.conf.nb_rxq = conf->nb_rxq;
	b->sd.conf.nb_txq = conf->nb_txq;
	b->sd.conf.nb_rxd = conf->nb_rxd ? conf->nb_rxd : 1024;
	b->sd.conf.nb_txd = conf->nb_txd ? conf->nb_txd : 1024;
	rc = b->sd.ops->probe(&b->sd);
	if (rc == 0) {
		rc = b->sd.ops->configure(&b->sd);
		if (rc < 0)
			b->sd.ops->close(&b->sd);
	}
	if (rc < 0) {
		fsb_log(FSB_LOG_ERR, "bare %s: %s", spec, strerror(-rc));
		if (b->sd.ops->release)
			b->sd.ops->release(&b->sd);
		free(b);
		errno = -rc;
		return NULL;
	}
	b->state = FSB_SUBDEV_CONFIGURED;
	return b;
}

int fsb_bare_rx_queue_setup(struct fsb_bare *b, uint16_t qid,
			    struct fsb_mempool *mp)
{
	if (qid >= b->sd.conf.nb_rxq || !mp || b->state == FSB_SUBDEV_STARTED)
		return -EINVAL;
	b->sd.rx_pool[qid] = mp;
	return 0;
}

int fsb_bare_start(struct fsb_bare *b)
{
	if (b->state == FSB_SUBDEV_STARTED)
		return -EALREADY;
	int rc = b->sd.ops->start(&b->sd);
	if (rc == 0)
		b->state = FSB_SUBDEV_STARTED;
	return rc;
}

uint16_t fsb_bare_rx_burst(struct fsb_bare *b, uint16_t qid,
			   struct fsb_buf **bufs, uint16_t n)
{
	if (FSB_UNLIKELY(qid >= FSB_MAX_QUEUES || !b->sd.rxq[qid]))
		return 0;
	uint16_t got = b->sd.ops->rx_burst(b->sd.rxq[qid], bufs, n);
	return got;
}

uint16_t fsb_bare_tx_burst(struct fsb_bare *b, uint16_t qid,
			   struct fsb_buf **bufs, uint16_t n)
{
	if (FSB_UNLIKELY(qid >= FSB_MAX_QUEUES || !b->sd.txq[qid]))
		return 0;
	return b->sd.ops->tx_burst(b->sd.txq[qid], bufs, n);
}

int fsb_bare_stats_get(struct fsb_bare *b, struct fsb_stats *st)
{
	struct fsb_subdev_stats s = { 0 };
	memset(st, 0, sizeof(*st));
	if (b->sd.ops->stats_get) {
		int rc = b->sd.ops->stats_get(&b->sd, &s);
		if (rc < 0)
			return rc;
	}
	st->ipackets = s.rx_packets;
	st->opackets = s.tx_packets;
	st->ibytes = s.rx_bytes;
	st->obytes = s.tx_bytes;
	st->imissed = s.rx_missed;
	st->oerrors = s.tx_errors;
	st->rx_nombuf = s.rx_nombuf;
	return 0;
}

void fsb_bare_close(struct fsb_bare *b)
{
	if (!b)
		return;
	if (b->state == FSB_SUBDEV_STARTED)
		b->sd.ops->stop(&b->sd);
	b->sd.ops->close(&b->sd);
	if (b->sd.ops->release)
		b->sd.ops->release(&b->sd);
	free(b);
}
