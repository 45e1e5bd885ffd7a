/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * port.c - the port's lifecycle and admin calls: open, configure,
 * start, stop, close, detach, attach, queues online and offline, and
 * the getters.
 *
 * Each call changes what the port wants (configured, started, a slot's
 * admin state) under port->lock and lets the sync routine (sync.c) make
 * it so, in the same call: the caller sees the result when it returns.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "port.h"

struct fsb_subdev *fsb_port_subdev(struct fsb_port *port, unsigned slot)
{
	return slot < port->nslots ? &port->slot[slot].sd : NULL;
}

struct fsb_port *fsb_port_open(struct fsb_ctx *ctx, const char *spec,
			       char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!ctx || !spec) {
		errno = EINVAL;
		return NULL;
	}
	struct fsb_port *port = aligned_alloc(FSB_CACHE_LINE,
		(sizeof(*port) + FSB_CACHE_LINE - 1) & ~(size_t)(FSB_CACHE_LINE - 1));
	if (!port)
		return NULL;
	memset(port, 0, sizeof(*port));
	int rc = fsb_spec_parse(spec, &port->spec, err, errlen);
	if (rc < 0) {
		free(port);
		errno = -rc;
		return NULL;
	}

	pthread_mutex_lock(&ctx->lock);
	int id = -1;
	for (unsigned i = 0; i < FSB_MAX_PORTS; i++) {
		if (ctx->ports[i] &&
		    strcmp(ctx->ports[i]->spec.name, port->spec.name) == 0) {
			pthread_mutex_unlock(&ctx->lock);
			if (err && errlen)
				snprintf(err, errlen, "port name '%s' is in use",
					 port->spec.name);
			free(port);
			errno = EEXIST;
			return NULL;
		}
		if (id < 0 && !ctx->ports[i])
			id = (int)i;
	}
	if (id < 0) {
		pthread_mutex_unlock(&ctx->lock);
		if (err && errlen)
			snprintf(err, errlen, "too many ports (max %d)",
				 FSB_MAX_PORTS);
		free(port);
		errno = ENOSPC;
		return NULL;
	}

	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	/* Recursive: event callbacks run under the lock and may call the
	 * getters, which take it too (port.h). */
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&port->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	port->ctx = ctx;
	port->id = (uint16_t)id;
	port->nslots = port->spec.ndev;
	atomic_init(&port->active_slot, -1);
	if (port->spec.has_mac) {
		memcpy(port->mac, port->spec.mac, sizeof(port->mac));
		port->mac_set = true;
	}
	FSB_FOREACH_SLOT(port, s) {
		unsigned i = fsb_slot_index(port, s);
		fsb_subdev_init(&s->sd, &port->spec.dev[i], port->id, (int)i,
				port->spec.name);
		s->port = port;
		s->sd.announce = port->spec.announce.mode != FSB_ANNOUNCE_OFF;
		s->sd.stall_ms = port->spec.stall_ms;
		s->sd.notify.fn = fsb_slot_notify;
		s->sd.notify.arg = s;
		atomic_init(&s->state, FSB_SUBDEV_PARSED);
		atomic_init(&s->mark_reason, -1);
		s->admin_up = true;
		s->last_reason = FSB_REASON_ADMIN;
	}
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		atomic_init(&port->txq[q].qs, FSB_QSBR_OFFLINE);
		atomic_init(&port->rxq[q].qs, FSB_QSBR_OFFLINE);
	}
	if (fsb_announce_open(port) < 0) {
		pthread_mutex_unlock(&ctx->lock);
		pthread_mutex_destroy(&port->lock);
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		free(port);
		errno = ENOMEM;
		return NULL;
	}
	ctx->ports[id] = port;
	pthread_mutex_unlock(&ctx->lock);
	return port;
}

void fsb_port_close(struct fsb_port *port)
{
	if (!port)
		return;
	struct fsb_ctx *ctx = port->ctx;
	/* Unpublish first; the control thread holds ctx->lock while it
	 * syncs, so once this returns it is done with the port. */
	pthread_mutex_lock(&ctx->lock);
	ctx->ports[port->id] = NULL;
	/* and the control socket's thread, if it is in a call */
	while (port->ext_refs)
		pthread_cond_wait(&ctx->ref_cond, &ctx->lock);
	pthread_mutex_unlock(&ctx->lock);

	pthread_mutex_lock(&port->lock);
	port->started = false;
	port->configured = false;
	atomic_store(&port->running, false);
	fsb_announce_close(port);
	FSB_FOREACH_SLOT(port, s)
		s->admin_up = false;
	/* The datapath must have stopped polling (DPDK's rule for close):
	 * no grace period is needed, and none could complete. */
	atomic_store(&port->rx_mask, 0);
	fsb_port_tx_publish(port, -1);
	FSB_FOREACH_SLOT(port, s)
		fsb_slot_step_down(port, s, FSB_SUBDEV_ABSENT, FSB_REASON_ADMIN);
	pthread_mutex_unlock(&port->lock);
	pthread_mutex_destroy(&port->lock);
	free(port->xstats_zero);
	free(port);
}

struct fsb_port *fsb_port_ref_get(struct fsb_ctx *ctx, unsigned id)
{
	if (id >= FSB_MAX_PORTS)
		return NULL;
	pthread_mutex_lock(&ctx->lock);
	struct fsb_port *port = ctx->ports[id];
	if (port)
		port->ext_refs++;
	pthread_mutex_unlock(&ctx->lock);
	return port;
}

void fsb_port_ref_put(struct fsb_port *port)
{
	struct fsb_ctx *ctx = port->ctx;
	pthread_mutex_lock(&ctx->lock);
	port->ext_refs--;
	pthread_cond_broadcast(&ctx->ref_cond);
	pthread_mutex_unlock(&ctx->lock);
}

uint16_t fsb_port_id(const struct fsb_port *port)
{
	return port->id;
}

const char *fsb_port_name(const struct fsb_port *port)
{
	return port->spec.name;
}

void fsb_port_set_event_cb(struct fsb_port *port, fsb_event_fn fn, void *arg)
{
	FSB_ASSERT(port != NULL);
	pthread_mutex_lock(&port->lock);
	port->ev_fn = fn;
	port->ev_arg = arg;
	pthread_mutex_unlock(&port->lock);
}

int fsb_port_configure(struct fsb_port *port, const struct fsb_port_conf *conf)
{
	FSB_ASSERT(port != NULL);
	if (!conf || conf->nb_rxq < 1 || conf->nb_rxq > FSB_MAX_QUEUES ||
	    conf->nb_txq < 1 || conf->nb_txq > FSB_MAX_QUEUES) {
		fsb_log(FSB_LOG_ERR, "%s: queue counts must be 1..%d",
			port->spec.name, FSB_MAX_QUEUES);
		return -EINVAL;
	}
	pthread_mutex_lock(&port->lock);
	if (port->started) {
		pthread_mutex_unlock(&port->lock);
		return -EBUSY;
	}
	if (port->configured) {
		/* Reconfigure: close every sub-device, then start over. */
		port->configured = false;
		fsb_port_sync_locked(port, NULL);
	}
	/* announcements made for the old queues and pool */
	fsb_announce_flush(port);
	port->conf = *conf;
	if (!port->conf.nb_rxd)
		port->conf.nb_rxd = 1024;
	if (!port->conf.nb_txd)
		port->conf.nb_txd = 1024;
	FSB_FOREACH_SLOT(port, s) {
		/* probe everything again, except a device we let go on the
		 * kernel's request: it is on its way out, and re-opening it
		 * would make the kernel wait for us again.  It comes back
		 * with an APPEARED mark (or an admin attach). */
		s->gone = s->gone && s->released;
	}
	port->configured = true;
	int cfg_err = 0;
	fsb_port_sync_locked(port, &cfg_err);
	if (cfg_err) {
		port->configured = false;
		fsb_port_sync_locked(port, NULL);
	}
	pthread_mutex_unlock(&port->lock);
	return cfg_err;
}

int fsb_rx_queue_setup(struct fsb_port *port, uint16_t qid,
		       struct fsb_mempool *mp)
{
	FSB_ASSERT(port != NULL);
	if (!mp)
		return -EINVAL;
	pthread_mutex_lock(&port->lock);
	int rc = 0;
	if (!port->configured || qid >= port->conf.nb_rxq)
		rc = -EINVAL;
	else if (port->started)
		rc = -EBUSY;
	else
		port->rxq[qid].pool = mp;
	pthread_mutex_unlock(&port->lock);
	return rc;
}

int fsb_port_start(struct fsb_port *port)
{
	FSB_ASSERT(port != NULL);
	pthread_mutex_lock(&port->lock);
	int rc = 0;
	if (port->started) {
		rc = -EALREADY;
		goto out;
	}
	if (!port->configured) {
		fsb_log(FSB_LOG_ERR, "%s: start before configure",
			port->spec.name);
		rc = -EINVAL;
		goto out;
	}
	for (unsigned q = 0; q < port->conf.nb_rxq; q++) {
		if (!port->rxq[q].pool) {
			fsb_log(FSB_LOG_ERR, "%s: rx queue %u has no mempool",
				port->spec.name, q);
			rc = -EINVAL;
			goto out;
		}
	}
	/* Queues start offline; each one's first burst brings it online
	 * (qsbr.h), so queues the application never polls block nothing. */
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		/* a claimed queue is offline already; its claimer puts
		 * OFFLINE back (qsbr.h) */
		if (atomic_load(&port->txq[q].qs) != FSB_QSBR_CLAIMED)
			atomic_store(&port->txq[q].qs, FSB_QSBR_OFFLINE);
		atomic_store(&port->rxq[q].qs, FSB_QSBR_OFFLINE);
	}
	/* At start the best usable slot is used at once: no hold-down. */
	FSB_FOREACH_SLOT(port, s) {
		s->gone = s->gone && s->released;   /* as in configure */
		s->usable_since_ns = 0;
	}
	port->started = true;
	port->link_reported_valid = false;
	fsb_port_sync_locked(port, NULL);
	/* Slots that came up during this sync were stamped "now"; at start
	 * they are all eligible at once. */
	FSB_FOREACH_SLOT(port, s)
		if (s->link_up)
			s->usable_since_ns = 0;
	fsb_port_sync_locked(port, NULL);
	atomic_store(&port->running, true);
	/* the control thread's first look at kinds that watch their
	 * device (subdev.h) */
	fsb_loop_wake();
out:
	pthread_mutex_unlock(&port->lock);
	return rc;
}

int fsb_port_stop(struct fsb_port *port)
{
	FSB_ASSERT(port != NULL);
	pthread_mutex_lock(&port->lock);
	if (!port->started) {
		pthread_mutex_unlock(&port->lock);
		return 0;
	}
	atomic_store(&port->running, false);
	port->started = false;
	fsb_port_tx_publish(port, -1);
	atomic_store(&port->rx_mask, 0);
	FSB_FOREACH_SLOT(port, s) {
		if (fsb_slot_state(s) == FSB_SUBDEV_STARTED)
			fsb_slot_step_down(port, s, FSB_SUBDEV_CONFIGURED,
				       FSB_REASON_ADMIN);
	}
	fsb_port_sync_locked(port, NULL);
	struct fsb_event ev = {
		.type = FSB_EVENT_PORT_LINK, .reason = FSB_REASON_ADMIN,
		.slot = -1, .link_up = false, .from_slot = -1, .to_slot = -1,
	};
	if (port->link_reported_valid && port->link_reported) {
		port->link_reported = false;
		fsb_port_event_emit(port, &ev);
	}
	pthread_mutex_unlock(&port->lock);
	return 0;
}

int fsb_queue_offline(struct fsb_port *port, uint16_t qid)
{
	FSB_ASSERT(port != NULL);
	if (qid >= FSB_MAX_QUEUES)
		return -EINVAL;
	/* A claimed queue is offline already, and its claimer puts
	 * OFFLINE back (qsbr.h): only our own epoch is ours to clear. */
	_Atomic uint64_t *tqs = &port->txq[qid].qs;
	if (atomic_load_explicit(tqs, memory_order_relaxed) < FSB_QSBR_CLAIMED)
		atomic_store_explicit(tqs, FSB_QSBR_OFFLINE,
				      memory_order_release);
	atomic_store_explicit(&port->rxq[qid].qs, FSB_QSBR_OFFLINE,
			      memory_order_release);
	return 0;
}

int fsb_queue_online(struct fsb_port *port, uint16_t qid)
{
	FSB_ASSERT(port != NULL);
	if (qid >= FSB_MAX_QUEUES)
		return -EINVAL;
	/* TX waits out a claim (qsbr.h); RX is never claimed */
	fsb_qsbr_online(port, &port->txq[qid].qs, &port->txq[qid].active);
	uint64_t e = atomic_load_explicit(&port->qsbr_epoch,
					  memory_order_seq_cst);
	atomic_store_explicit(&port->rxq[qid].qs, e, memory_order_seq_cst);
	/* See qsbr.h: this seq_cst load orders our next burst after any
	 * publication the control side made while we were offline. */
	(void)atomic_load_explicit(&port->rx_mask, memory_order_seq_cst);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Admin calls                                                         */
/* ------------------------------------------------------------------ */

int fsb_port_detach(struct fsb_port *port, unsigned slot)
{
	FSB_ASSERT(port != NULL);
	if (slot >= port->nslots)
		return -ENOENT;
	pthread_mutex_lock(&port->lock);
	struct fsb_slot *s = &port->slot[slot];
	int rc = 0;
	if (!s->admin_up) {
		rc = -EALREADY;
	} else {
		s->admin_up = false;
		s->last_reason = FSB_REASON_ADMIN;
		s->signal_ns = fsb_now_ns();
		fsb_port_sync_locked(port, NULL);
	}
	pthread_mutex_unlock(&port->lock);
	return rc;
}

int fsb_port_attach(struct fsb_port *port, unsigned slot)
{
	FSB_ASSERT(port != NULL);
	if (slot >= port->nslots)
		return -ENOENT;
	pthread_mutex_lock(&port->lock);
	struct fsb_slot *s = &port->slot[slot];
	int rc = 0;
	if (s->admin_up) {
		rc = -EALREADY;
	} else {
		s->admin_up = true;
		s->gone = false;
		s->released = false;
		s->last_reason = FSB_REASON_ADMIN;
		s->signal_ns = fsb_now_ns();
		s->last_err = 0;
		fsb_port_sync_locked(port, NULL);
		if (port->configured && fsb_slot_state(s) < FSB_SUBDEV_CONFIGURED &&
		    s->last_err != -EINPROGRESS) {
			/* not up: the admin's attach did not happen (a step
			 * still under way, a slow vhost-user handshake, is
			 * an attach that completes later) */
			rc = s->last_err ? s->last_err : -EIO;
			s->admin_up = false;
			fsb_port_sync_locked(port, NULL);
		}
	}
	pthread_mutex_unlock(&port->lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Info                                                                */
/* ------------------------------------------------------------------ */

int fsb_port_link_get(struct fsb_port *port, struct fsb_link *l)
{
	FSB_ASSERT(port != NULL);
	memset(l, 0, sizeof(*l));
	int a = atomic_load(&port->active_slot);
	l->up = a >= 0;
	if (a >= 0) {
		pthread_mutex_lock(&port->lock);
		struct fsb_slot *s = &port->slot[a];
		struct fsb_link sl = { 0 };
		if (fsb_slot_state(s) == FSB_SUBDEV_STARTED &&
		    s->sd.ops->link_get(&s->sd, &sl) == 0) {
			l->speed_mbps = sl.speed_mbps;
			l->full_duplex = sl.full_duplex;
		}
		pthread_mutex_unlock(&port->lock);
	}
	return 0;
}

int fsb_port_info_get(struct fsb_port *port, struct fsb_port_info *info)
{
	FSB_ASSERT(port != NULL);
	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&port->lock);
	snprintf(info->name, sizeof(info->name), "%s", port->spec.name);
	info->port_id = port->id;
	info->nb_rxq = port->conf.nb_rxq;
	info->nb_txq = port->conf.nb_txq;
	info->nb_slots = port->nslots;
	info->active_slot = atomic_load(&port->active_slot);
	info->hold_down_ms = port->spec.hold_down_ms;
	memcpy(info->mac, port->mac, 6);
	info->mtu = port->mtu ? port->mtu : 1500;
	info->promisc = port->promisc;
	info->allmulti = port->allmulti;
	info->started = port->started;
	pthread_mutex_unlock(&port->lock);
	return 0;
}

int fsb_port_slot_info(struct fsb_port *port, unsigned slot,
		       struct fsb_slot_info *info)
{
	FSB_ASSERT(port != NULL);
	if (slot >= port->nslots)
		return -ENOENT;
	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&port->lock);
	struct fsb_slot *s = &port->slot[slot];
	snprintf(info->kind, sizeof(info->kind), "%s", s->sd.spec.kind);
	snprintf(info->spec, sizeof(info->spec), "%s", s->sd.spec.text);
	info->state = fsb_slot_state(s);
	info->link_up = s->link_up;
	info->active = atomic_load(&port->active_slot) == (int)slot;
	info->last_reason = s->last_reason;
	pthread_mutex_unlock(&port->lock);
	return 0;
}

