/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stats.c - stats that never go backwards, and the xstats set.
 *
 * Each slot keeps base (everything folded from earlier lives of its
 * sub-device) and last (the latest reading of the current life).  A
 * reading lower than the last one means the sub-device reset its
 * counters (a re-plugged VF starts from zero): the last reading is
 * folded into base first.  When a sub-device closes, its final reading
 * is folded and last restarts at zero.  So totals are monotonic across
 * removal, re-plug and resets, unlike DPDK failsafe's, which shift when
 * a sub-device leaves.
 *
 * fsb_port_stats_reset() does not touch any of that: it records the
 * current totals as a baseline that readers subtract.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce.h"
#include "port.h"

#define NFIELDS (sizeof(struct fsb_subdev_stats) / sizeof(uint64_t))

static void fold_reading(struct fsb_slot *s, const struct fsb_subdev_stats *cur)
{
	uint64_t *base = (uint64_t *)&s->base;
	uint64_t *last = (uint64_t *)&s->last;
	const uint64_t *c = (const uint64_t *)cur;
	for (size_t i = 0; i < NFIELDS; i++) {
		if (c[i] < last[i])
			base[i] += last[i];   /* the sub-device reset */
		last[i] = c[i];
	}
}

void fsb_stats_fold(struct fsb_port *port, struct fsb_slot *s)
{
	(void)port;
	if (atomic_load(&s->state) < FSB_SUBDEV_CONFIGURED ||
	    !s->sd.ops->stats_get)
		return;
	struct fsb_subdev_stats cur = { 0 };
	if (s->sd.ops->stats_get(&s->sd, &cur) == 0)
		fold_reading(s, &cur);
}

void fsb_stats_fold_close(struct fsb_port *port, struct fsb_slot *s)
{
	fsb_stats_fold(port, s);
	uint64_t *base = (uint64_t *)&s->base;
	uint64_t *last = (uint64_t *)&s->last;
	for (size_t i = 0; i < NFIELDS; i++) {
		base[i] += last[i];
		last[i] = 0;
	}
}

void fsb_stats_slot_total(const struct fsb_slot *s,
			  struct fsb_subdev_stats *out)
{
	const uint64_t *base = (const uint64_t *)&s->base;
	const uint64_t *last = (const uint64_t *)&s->last;
	uint64_t *o = (uint64_t *)out;
	for (size_t i = 0; i < NFIELDS; i++)
		o[i] = base[i] + last[i];
}

static void stats_raw(struct fsb_port *port, struct fsb_stats *st)
{
	memset(st, 0, sizeof(*st));
	FSB_FOREACH_SLOT(port, s) {
		struct fsb_subdev_stats t;
		fsb_stats_fold(port, s);
		fsb_stats_slot_total(s, &t);
		st->ipackets += t.rx_packets;
		st->opackets += t.tx_packets;
		st->ibytes += t.rx_bytes;
		st->obytes += t.tx_bytes;
		st->imissed += t.rx_missed;
		st->oerrors += t.tx_errors;
		st->rx_nombuf += t.rx_nombuf;
	}
}

int fsb_port_stats_get(struct fsb_port *port, struct fsb_stats *st)
{
	FSB_ASSERT(port != NULL);
	if (!st)
		return -EINVAL;
	pthread_mutex_lock(&port->lock);
	stats_raw(port, st);
	uint64_t *v = (uint64_t *)st;
	const uint64_t *z = (const uint64_t *)&port->stats_zero;
	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		v[i] -= z[i] <= v[i] ? z[i] : v[i];
	pthread_mutex_unlock(&port->lock);
	return 0;
}

/* ---- xstats ---- */

static const char *const sub_fields[] = {
	"rx_packets", "tx_packets", "rx_bytes", "tx_bytes",
	"rx_missed", "tx_errors", "rx_nombuf",
};
_Static_assert(FSB_ARRAY_SIZE(sub_fields) == NFIELDS,
	       "sub<i>_* names match struct fsb_subdev_stats");

enum {
	X_SWITCHOVERS = 0,
	X_REASON0,
	X_DUP = X_REASON0 + FSB_REASON_COUNT,
	X_DOWNTIME,
	X_NO_PATH,
	X_GRACE_TIMEOUTS,
	X_REPLAY_ENOTSUP,
	X_LAST_RELEASE,
	X_ANNOUNCE_SENT,
	X_ANNOUNCE_FAILED,
	X_FIXED
};

unsigned fsb_xstats_count(const struct fsb_port *port)
{
	return X_FIXED + port->nslots * (unsigned)NFIELDS;
}

int fsb_port_xstats_names(struct fsb_port *port, struct fsb_xstat_name *names,
			  unsigned max)
{
	FSB_ASSERT(port != NULL);
	unsigned n = fsb_xstats_count(port);
	for (unsigned i = 0; names && i < n && i < max; i++) {
		char *o = names[i].name;
		size_t l = sizeof(names[i].name);
		if (i == X_SWITCHOVERS) {
			snprintf(o, l, "switchovers");
		} else if (i < X_DUP) {
			snprintf(o, l, "switch_reason_%s",
				 fsb_reason_name(i - X_REASON0));
			for (char *c = o; *c; c++)
				if (*c == '-')
					*c = '_';
		} else if (i == X_DUP) {
			snprintf(o, l, "dup_signals");
		} else if (i == X_DOWNTIME) {
			snprintf(o, l, "last_switch_downtime_us");
		} else if (i == X_NO_PATH) {
			snprintf(o, l, "tx_no_path");
		} else if (i == X_GRACE_TIMEOUTS) {
			snprintf(o, l, "grace_timeouts");
		} else if (i == X_REPLAY_ENOTSUP) {
			snprintf(o, l, "replay_enotsup");
		} else if (i == X_LAST_RELEASE) {
			snprintf(o, l, "last_release_us");
		} else if (i == X_ANNOUNCE_SENT) {
			snprintf(o, l, "announce_sent");
		} else if (i == X_ANNOUNCE_FAILED) {
			snprintf(o, l, "announce_failed");
		} else {
			unsigned k = i - X_FIXED;
			snprintf(o, l, "sub%u_%s", k / (unsigned)NFIELDS,
				 sub_fields[k % NFIELDS]);
		}
	}
	return (int)n;
}

static void xstats_raw(struct fsb_port *port, uint64_t *v)
{
	v[X_SWITCHOVERS] = atomic_load(&port->switchovers);
	for (unsigned r = 0; r < FSB_REASON_COUNT; r++)
		v[X_REASON0 + r] = atomic_load(&port->switch_reason[r]);
	v[X_DUP] = atomic_load(&port->dup_signals);
	v[X_DOWNTIME] = atomic_load(&port->last_switch_downtime_us);
	uint64_t np = 0;
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++)
		np += fsb_counter_read(&port->txq[q].no_path);
	v[X_NO_PATH] = np;
	v[X_GRACE_TIMEOUTS] = atomic_load(&port->grace_timeouts);
	v[X_REPLAY_ENOTSUP] = atomic_load(&port->replay_enotsup);
	v[X_LAST_RELEASE] = atomic_load(&port->last_release_us);
	v[X_ANNOUNCE_SENT] = fsb_announce_sent(port);
	v[X_ANNOUNCE_FAILED] = fsb_announce_failed(port);
	FSB_FOREACH_SLOT(port, s) {
		fsb_stats_fold(port, s);
		fsb_stats_slot_total(s, (struct fsb_subdev_stats *)
				     &v[X_FIXED + fsb_slot_index(port, s) * NFIELDS]);
	}
}

int fsb_port_xstats_get(struct fsb_port *port, uint64_t *values, unsigned max)
{
	FSB_ASSERT(port != NULL);
	unsigned n = fsb_xstats_count(port);
	if (!values || max == 0)
		return (int)n;
	uint64_t v[X_FIXED + FSB_MAX_SUBDEVS * NFIELDS];
	pthread_mutex_lock(&port->lock);
	xstats_raw(port, v);
	for (unsigned i = 0; i < n; i++) {
		/* last_switch_downtime_us and last_release_us are gauges,
		 * not counters. */
		if (port->xstats_zero && i != X_DOWNTIME && i != X_LAST_RELEASE)
			v[i] -= port->xstats_zero[i] <= v[i] ?
				port->xstats_zero[i] : v[i];
		if (i < max)
			values[i] = v[i];
	}
	pthread_mutex_unlock(&port->lock);
	return (int)n;
}

int fsb_port_stats_reset(struct fsb_port *port)
{
	FSB_ASSERT(port != NULL);
	pthread_mutex_lock(&port->lock);
	stats_raw(port, &port->stats_zero);
	if (!port->xstats_zero)
		port->xstats_zero = calloc(fsb_xstats_count(port),
					   sizeof(uint64_t));
	if (port->xstats_zero)
		xstats_raw(port, port->xstats_zero);
	pthread_mutex_unlock(&port->lock);
	return port->xstats_zero ? 0 : -ENOMEM;
}
